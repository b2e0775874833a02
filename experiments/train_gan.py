"""The alcoholism study's GANs on 32x32x3 EEG images (theta / alpha / beta band power drawn
on the scalp): a discriminator that also classifies alcoholic vs control (AC-GAN; K+1
outputs with --semi_supervised), and the generators deconv, U-Net with resize upsampling
and U-Net with transposed convolutions, compared on the same split and seeds. Optionally
prunes the discriminators' conv channels by distinctiveness afterwards.

    python experiments/train_gan.py --flagfile=experiments/configs/gan.cfg \
        --workdir=workdirs/gan

Writes gan_comparison.csv / .md / .png, gan_curves.png, epoch_log_<variant>.csv,
images/<variant>_epoch_N.png, gan_prune_table.csv, results.json, timing.json, history.npz
and checkpoints/<variant>/{last,best}/ (a rerun resumes from the last checkpoint).
"""

from absl import app

from eegjax.studies import cli, gan_study

cli.define_classify_flags(hidden_sizes=["128", "64", "32"], epochs=40, learning_rate=0.001,
                          num_folds=5, dataset="smni_synthetic", split="holdout")
cli.define_mlp_flags(activation="relu", inputs="band_power")
cli.define_gan_flags()


@cli.binary
def main(fv):
  classify = cli.classify_config(fv, "mlp", activation=fv.activation, inputs=fv.inputs)
  gan_study.run(cli.gan_config(fv, classify), flagfile_text=cli.identity_text(fv))


if __name__ == "__main__":
  app.run(main)
