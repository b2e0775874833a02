"""Trains the many-to-one Elman RNN (tanh) on raw sequences over k folds x seeds.

    python experiments/train_rnn.py --flagfile=experiments/configs/scp1_rnn.cfg \
        --workdir=/tmp/eegjax/scp1_rnn

--channels picks the input channels (names or indices); sequences of unequal length are
masked so each trial's last valid state is the one classified.
"""

from absl import app

from eegjax.studies import classify
from eegjax.studies.common import cli

cli.define_study("rnn", hidden_sizes=["50"], epochs=200, learning_rate=0.003, num_folds=5)


@cli.binary
def main(fv):
  classify.run(cli.study_config(fv, "rnn"), flagfile_text=cli.run_flags_text(fv),
                     study="train_rnn")


if __name__ == "__main__":
  app.run(main)
