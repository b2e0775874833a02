"""Trains the many-to-one Elman RNN over k folds x seeds, then prunes its hidden units step by
step: structurally (merge by distinctiveness, delete the unit) and the music study's way
(zero the unit's weight vectors, keep the size), next to the magnitude and random baselines.
`--cell=gru` or `--cell=lstm` trains and prunes a GRU or LSTM classifier (flax.linen cells)
instead of the study's Elman RNN, with the same table.

    python experiments/prune_rnn.py --flagfile=experiments/configs/music_prune_rnn.cfg \
        --workdir=workdirs/music_prune_rnn

Angles come from the hidden states over every valid time step of every training sequence.
Writes prune_table.csv, results.json, checkpoints/ and plots (as prune_mlp.py).
"""

from absl import app

from eegjax.studies import cli, prune_study

cli.define_classify_flags(hidden_sizes=["50"], epochs=200, learning_rate=0.003, num_folds=5)
cli.define_prune_flags(["distinctiveness", "distinctiveness_masked", "magnitude", "random"])
cli.define_rnn_flags()


@cli.binary
def main(fv):
  cfg = cli.prune_config(fv, cli.classify_config(fv, "rnn", cell=fv.cell))
  prune_study.run(cfg, flagfile_text=cli.identity_text(fv))


if __name__ == "__main__":
  app.run(main)
