"""The run shell every binary stands on, below train/ and pruning/: the workdir (lock,
identity, atomic writes, log), checkpoints (orbax, resume, damaged-step fallback), JAX's
compilation cache, and flags from settings with one-line errors."""
