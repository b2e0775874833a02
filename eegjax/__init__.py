"""eegjax: EEG classification and pruning by distinctiveness in JAX.

Layers, lowest first (a layer never imports a higher one):

  eegjax.data      load, validate, preprocess, split        -> Dataset
  eegjax.models    flax.linen MLP and Elman RNN (pure apply)
  eegjax.train     one jitted, scanned, vmapped k-fold training program
  eegjax.evaluate  metrics, summaries with confidence intervals, timing
  eegjax.studies   runners composing the rest; called by experiments/*.py
"""

__version__ = "0.1.0"
