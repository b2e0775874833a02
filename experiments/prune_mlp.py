"""Trains the MLP over k folds x seeds, then prunes a hidden layer by distinctiveness
(and the magnitude / random baselines) step by step, evaluating every step.

    python experiments/prune_mlp.py --flagfile=experiments/configs/scp1_prune_mlp.cfg \
        --workdir=workdirs/scp1_prune_mlp

Writes prune_table.csv, results.json, checkpoints/<criterion>/<units pruned>/ and plots.
"""

from absl import app

from eegjax.studies import cli, prune_study

cli.define_classify_flags(hidden_sizes=["30"], epochs=1500, learning_rate=0.01, num_folds=10)
cli.define_mlp_flags()
cli.define_prune_flags(["distinctiveness", "magnitude", "random"])


@cli.binary
def main(fv):
  classify = cli.classify_config(fv, "mlp", activation=fv.activation, inputs=fv.inputs)
  prune_study.run(cli.prune_config(fv, classify), flagfile_text=cli.identity_text(fv))


if __name__ == "__main__":
  app.run(main)
