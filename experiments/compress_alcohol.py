"""The EEG alcoholism study's compression route on UCI SMNI data: an autoencoder squeezes
each trial's 64 electrodes x 3 bands of log band power to 16 x 3 (a 64->16 encoder per band;
--noper_band for one 192->48 encoder), its reconstruction error tracked per epoch, then a
3-layer classifier learns alcoholic vs control from the codes. By default it also trains the
direct classifier and its distinctiveness-pruned form on the same splits and seeds, for the
study's comparison table.

    python experiments/compress_alcohol.py \
        --flagfile=experiments/configs/alcohol_compress.cfg --workdir=workdirs/alcohol_ae

Writes comparison.csv / .md / .png, reconstruction.png, prune_table.csv, results.json,
timing.json, history.npz and checkpoints/ (a rerun resumes).
"""

from absl import app

from eegjax.errors import ConfigError
from eegjax.studies import alcohol
from eegjax.studies.common import cli

cli.define_study("mlp", study=alcohol.FLAGS, **alcohol.BINARY_DEFAULTS,
                 approaches=["direct", "codes", "pruned"])


@cli.binary
def main(fv):
  if "codes" not in fv.approaches:
    raise ConfigError(f"--approaches={','.join(fv.approaches)}: compress_alcohol.py "
                      "trains the autoencoder; include codes (or use classify_alcohol.py)")
  alcohol.run(cli.study_config(fv, "mlp", alcohol.AlcoholConfig),
              flagfile_text=cli.run_flags_text(fv), study="compress_alcohol")


if __name__ == "__main__":
  app.run(main)
