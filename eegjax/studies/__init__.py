"""The studies, each a package that composes the layers below into one experiment:

  classify/  train a classifier over folds x seeds (train_mlp.py, train_rnn.py)
  prune/     prune a classifier's hidden layer step by step, every criterion x compensation
             (prune_mlp.py, prune_rnn.py)
  alcohol/   the alcoholism study: direct classifier, autoencoder codes, pruned classifier
             (classify_alcohol.py, compress_alcohol.py)
  gan/       the alcoholism study's AC-GANs and their discriminators (train_gan.py)
  common/    what every study shares and no study owns: the classifier's config, data
             preparation and training (classifier.py), pruning one hidden layer of every
             model (pruned_layer.py), a classifier binary's flags (cli.py)

A study imports `common` and the layers below, never another study.
"""
