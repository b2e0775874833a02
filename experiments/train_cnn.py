"""Trains an EEG convolutional network on raw trials over k folds x seeds: ShallowConvNet
or Deep4 (Schirrmeister et al. 2017) or EEGNet-8,2 (Lawhern et al. 2018), with BatchNorm's
running statistics, dropout and EEGNet's max-norm constraints, through the one training
driver (vmapped over folds x seeds, checkpointed, resumable).

    python experiments/train_cnn.py --flagfile=experiments/configs/scp1_cnn.cfg \
        --model=eegnet --workdir=/tmp/eegjax/scp1_eegnet

The networks' kernel and pool lengths are the papers' durations at the data's sampling
rate (eegjax.models.eegconv.sized_for); trials of unequal length are cut to the shortest.
"""

from absl import app

from eegjax.studies import classify
from eegjax.studies.common import cli

cli.define_study("cnn", epochs=100, learning_rate=0.001, num_folds=5)


@cli.binary
def main(fv):
  classify.run(cli.study_config(fv, "cnn"), flagfile_text=cli.run_flags_text(fv),
               study="train_cnn")


if __name__ == "__main__":
  app.run(main)
