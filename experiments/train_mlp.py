"""Trains the MLP over k folds x seeds and writes metrics to --workdir.

    python experiments/train_mlp.py --flagfile=experiments/configs/scp1_mlp.cfg \
        --workdir=/tmp/eegjax/scp1_mlp

On a sequence dataset (built-in or .ts) the MLP sees the 25 trial features per channel
(--inputs=raw flattens the samples instead); on a feature table, its columns.
"""

from absl import app

from eegjax.studies import classify
from eegjax.studies.common import cli

cli.define_study("mlp", hidden_sizes=["30"], epochs=1500, learning_rate=0.01, num_folds=10)


@cli.binary
def main(fv):
  classify.run(cli.study_config(fv, "mlp"), flagfile_text=cli.run_flags_text(fv),
                     study="train_mlp")


if __name__ == "__main__":
  app.run(main)
