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
from eegjax.studies import alcohol, cli

cli.define_classify_flags(hidden_sizes=["128", "64", "32"], epochs=40, learning_rate=0.001,
                          num_folds=5, dataset="smni_synthetic", split="holdout")
cli.define_mlp_flags(activation="relu", inputs="band_power")
cli.define_alcohol_flags(["direct", "codes", "pruned"])


@cli.binary
def main(fv):
  if "codes" not in fv.approaches:
    raise ConfigError(f"--approaches={','.join(fv.approaches)}: compress_alcohol.py "
                      "trains the autoencoder; include codes (or use classify_alcohol.py)")
  classify = cli.classify_config(fv, "mlp", activation=fv.activation, inputs=fv.inputs)
  alcohol.run(cli.alcohol_config(fv, classify), flagfile_text=cli.identity_text(fv),
              study="compress_alcohol")


if __name__ == "__main__":
  app.run(main)
