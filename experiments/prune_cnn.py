"""Trains an EEG conv network (--model=shallow|eegnet|deep4) over folds x seeds, then
prunes a share of every filter group (--prune_percent, default 25 and 50) under each
criterion and compensation through the engine, and measures the pruned networks: test
accuracy with paired tests against random and the unpruned network, parameters,
multiply-adds and inference time.

    python experiments/prune_cnn.py --flagfile=experiments/configs/scp1_cnn.cfg \
        --model=deep4 --workdir=/tmp/eegjax/scp1_prune_deep4

Writes results.json (its "pruning" section), prune_table.csv, predictions.npz, pruned/.
"""

from absl import app

from eegjax.pruning.progressive import PruneConfig
from eegjax.studies import prune_cnn
from eegjax.studies.common import cli

cli.define_study("cnn", study=[(prune_cnn.PruneCnnConfig, None),
                               (PruneConfig, ("merge_rule", "prune_step", "similar_deg",
                                              "complementary_deg", "order"))],
                 epochs=100, learning_rate=0.001, num_folds=5)


@cli.binary
def main(fv):
  prune_cnn.run(cli.study_config(fv, "cnn", prune_cnn.PruneCnnConfig),
                flagfile_text=cli.run_flags_text(fv))


if __name__ == "__main__":
  app.run(main)
