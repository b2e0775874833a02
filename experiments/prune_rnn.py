"""Trains the many-to-one Elman RNN over k folds x seeds, then prunes its hidden units step by
step by distinctiveness, magnitude or at random, each under every --compensation (merge:
the structural study's rule; none: the music study's zeroed weight vectors, which with
--masked also keeps the layer's size).
`--cell=gru` or `--cell=lstm` trains and prunes a GRU or LSTM classifier (flax.linen cells)
instead of the study's Elman RNN, with the same table.

    python experiments/prune_rnn.py --flagfile=experiments/configs/music_prune_rnn.cfg \
        --workdir=workdirs/music_prune_rnn

Angles come from the hidden states over every valid time step of every training sequence.
Writes prune_table.csv, results.json, checkpoints/ and plots (as prune_mlp.py).
"""

from absl import app

from eegjax.pruning.progressive import PruneConfig
from eegjax.studies import prune
from eegjax.studies.common import cli

cli.define_study("rnn", study=[(prune.PruneStudyConfig, None), (PruneConfig, None)],
                 hidden_sizes=["50"], epochs=200, learning_rate=0.003, num_folds=5,
                 criteria=["distinctiveness", "magnitude", "random"])


@cli.binary
def main(fv):
  prune.run(cli.study_config(fv, "rnn", prune.PruneStudyConfig),
                  flagfile_text=cli.run_flags_text(fv))


if __name__ == "__main__":
  app.run(main)
