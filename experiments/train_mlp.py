"""Trains the MLP over k folds x seeds and writes metrics to --workdir.

    python experiments/train_mlp.py --flagfile=experiments/configs/scp1_mlp.cfg \
        --workdir=/tmp/eegjax/scp1_mlp

On a sequence dataset (built-in or .ts) the MLP sees the 25 trial features per channel
(--inputs=raw flattens the samples instead); on a feature table, its columns.
"""

from absl import app, flags

from eegjax.errors import ConfigError
from eegjax.studies import classification, cli

cli.define_classify_flags(hidden_sizes=["30"], epochs=1500, learning_rate=0.01, num_folds=10)
cli.define_mlp_flags()
FLAGS = flags.FLAGS


@cli.exit_on_user_error
def main(argv):
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments {argv[1:]}; flags take the form --name=value")
  cfg = cli.classify_config(FLAGS, "mlp", activation=FLAGS.activation, inputs=FLAGS.inputs)
  text = cli.flagfile_text(FLAGS, cli.COMMON_FLAGS + ["activation", "inputs"])
  classification.run(cfg, flagfile_text=text, study="train_mlp")


if __name__ == "__main__":
  app.run(main)
