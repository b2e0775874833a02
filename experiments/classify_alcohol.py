"""The EEG alcoholism study's classifiers on UCI SMNI data: the 4-layer dense classifier on
the 192 band-power features (64 electrodes x theta/alpha/beta), and the same classifier with
its hidden layers pruned by distinctiveness, compared on the same splits and seeds.

    python experiments/classify_alcohol.py \
        --flagfile=experiments/configs/alcohol_classify.cfg --workdir=workdirs/alcohol

On your copy of the SMNI data: --data_path=DIR (subject folders, .tar / .tar.gz archives or
trial files; --data_format=smni_csv for the CSV export). Writes comparison.csv / .md / .png,
prune_table.csv, results.json, timing.json, history.npz and checkpoints/ (a rerun resumes).
--approaches=direct,codes,pruned adds the autoencoder route (see compress_alcohol.py).
"""

from absl import app

from eegjax.studies import alcohol
from eegjax.studies.common import cli

cli.define_study("mlp", study=alcohol.FLAGS, **alcohol.BINARY_DEFAULTS,
                 approaches=["direct", "pruned"])


@cli.binary
def main(fv):
  alcohol.run(cli.study_config(fv, "mlp", alcohol.AlcoholConfig),
              flagfile_text=cli.run_flags_text(fv), study="classify_alcohol")


if __name__ == "__main__":
  app.run(main)
