"""Trains the MLP over k folds x seeds, then prunes a hidden layer by distinctiveness
(and the magnitude / random baselines) step by step, evaluating every step.

    python experiments/prune_mlp.py --flagfile=experiments/configs/scp1_prune_mlp.cfg \
        --workdir=workdirs/scp1_prune_mlp

Writes prune_table.csv, results.json, checkpoints/<criterion>/<units pruned>/ and plots.
"""

from absl import app

from eegjax.pruning.progressive import PruneConfig
from eegjax.studies import prune
from eegjax.studies.common import cli

cli.define_study("mlp", study=[(prune.PruneStudyConfig, None), (PruneConfig, None)],
                 hidden_sizes=["30"], epochs=1500, learning_rate=0.01, num_folds=10,
                 criteria=["distinctiveness", "magnitude", "random"])


@cli.binary
def main(fv):
  prune.run(cli.study_config(fv, "mlp", prune.PruneStudyConfig),
                  flagfile_text=cli.run_flags_text(fv))


if __name__ == "__main__":
  app.run(main)
