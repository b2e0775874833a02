"""Trains the MLP over k folds x seeds, then prunes a hidden layer by distinctiveness
(and the magnitude / random baselines) step by step, evaluating every step.

    python experiments/prune_mlp.py --flagfile=experiments/configs/scp1_prune_mlp.cfg \
        --workdir=workdirs/scp1_prune_mlp

Writes prune_table.csv, results.json, checkpoints/<criterion>/<units pruned>/ and plots.
"""

from absl import app, flags

from eegjax.errors import ConfigError
from eegjax.studies import cli, prune_study

cli.define_classify_flags(hidden_sizes=["30"], epochs=1500, learning_rate=0.01, num_folds=10)
cli.define_mlp_flags()
cli.define_prune_flags(["distinctiveness", "magnitude", "random"])
FLAGS = flags.FLAGS


@cli.exit_on_user_error
def main(argv):
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments {argv[1:]}; flags take the form --name=value")
  classify = cli.classify_config(FLAGS, "mlp", activation=FLAGS.activation,
                                 inputs=FLAGS.inputs)
  cfg = cli.prune_config(FLAGS, classify)
  names = cli.COMMON_FLAGS + ["activation", "inputs", *cli.PRUNE_FLAGS]
  prune_study.run(cfg, flagfile_text=cli.flagfile_text(FLAGS, names))


if __name__ == "__main__":
  app.run(main)
