"""JSON-ready copies of results: the one conversion the results files, the checkpoints'
metadata and the pruning loop's rows share."""

import numpy as np


def to_json(obj):
  """JSON-ready copy: numpy to Python, non-finite floats to None."""
  if isinstance(obj, dict):
    return {str(k): to_json(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [to_json(v) for v in obj]
  if isinstance(obj, np.ndarray):
    return to_json(obj.tolist())
  if isinstance(obj, (np.floating, float)):
    v = float(obj)
    return v if np.isfinite(v) else None
  if isinstance(obj, (np.integer,)):
    return int(obj)
  if isinstance(obj, (np.bool_,)):
    return bool(obj)
  return obj
