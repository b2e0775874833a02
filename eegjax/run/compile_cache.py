"""JAX's persistent compilation cache for the binaries: a rerun, a resumed run or the next
run of the same study loads its compiled programs from disk instead of compiling them.

The folder is --compilation_cache when given, else $EEGJAX_CACHE_DIR, else JAX's own
$JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME/eegjax/jax (~/.cache/eegjax/jax); "none"
turns it off. What is compiled is
the same with or without the cache, so results do not depend on it. XLA keys each entry
by the program, the compiler options and the jax / jaxlib version and device, so a stale
entry is never used.
"""

from __future__ import annotations

import os

from eegjax.errors import ConfigError

MIN_COMPILE_S = 0.02    # XLA compile seconds below which a program is not worth a file


def default_folder() -> str:
  for var in ("EEGJAX_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR"):
    if os.environ.get(var):
      return os.environ[var]
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "eegjax", "jax")


def enable(folder: str = "") -> str:
  """Points JAX's persistent compilation cache at `folder` ("" = the default, "none" =
  off). Returns the folder used ("" when off)."""
  import jax

  folder = folder or default_folder()
  if folder.lower() == "none":
    return ""
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as e:
    raise ConfigError(f"--compilation_cache={folder}: cannot create the folder "
                      f"({e.strerror}); pass another folder or --compilation_cache=none") \
        from None
  if not os.access(folder, os.W_OK):
    raise ConfigError(f"--compilation_cache={folder}: the folder is not writable; pass "
                      "another folder or --compilation_cache=none")
  jax.config.update("jax_compilation_cache_dir", folder)
  if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:   # else as asked
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
  return folder
