"""Trains the many-to-one Elman RNN (tanh) on raw sequences over k folds x seeds.

    python experiments/train_rnn.py --flagfile=experiments/configs/scp1_rnn.cfg \
        --workdir=/tmp/eegjax/scp1_rnn

--channels picks the input channels (names or indices); sequences of unequal length are
masked so each trial's last valid state is the one classified.
"""

from absl import app, flags

from eegjax.errors import ConfigError
from eegjax.studies import classification, cli

cli.define_classify_flags(hidden_sizes=["50"], epochs=200, learning_rate=0.003, num_folds=5)
cli.define_rnn_flags()
FLAGS = flags.FLAGS


@cli.exit_on_user_error
def main(argv):
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments {argv[1:]}; flags take the form --name=value")
  cfg = cli.classify_config(FLAGS, "rnn", cell=FLAGS.cell)
  text = cli.flagfile_text(FLAGS, cli.COMMON_FLAGS + cli.rnn_flag_names(FLAGS))
  classification.run(cfg, flagfile_text=text,
                     study="train_rnn")


if __name__ == "__main__":
  app.run(main)
