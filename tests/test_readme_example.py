"""The README's "Prune your own Flax model" example runs as written."""

import pathlib
import re

import jax.numpy as jnp

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_pruning_example_runs_and_prunes():
  text = README.read_text()
  section = text[text.index("## Prune your own Flax model"):]
  code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  ns = {}
  exec(compile(code, str(README), "exec"), ns)   # noqa: S102 - our own README
  small, params, record = ns["small"], ns["params"], ns["record"]
  assert small["params"]["GRUCell_0"]["hn"]["kernel"].shape == (12, 12)
  assert small["params"]["Dense_0"]["kernel"].shape == (12, 4)
  assert params["params"]["GRUCell_0"]["hn"]["kernel"].shape == (16, 16)
  assert ns["run"](small, ns["x"]).shape == (64, 2)
  assert jnp.isfinite(ns["run"](small, ns["x"])).all()
  assert len(record["GRUCell_0"]["steps"]) == 2 and record["Dense_0"]["units_left"] == 4


def test_readme_nnx_example_runs_and_prunes():
  text = README.read_text()
  section = text[text.index("## Prune your own Flax model"):]
  first, second = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
  ns = {}
  exec(compile(first.split("for g in")[0] + second, str(README), "exec"), ns)  # noqa: S102
  net = ns["net"]
  assert ns["small_nnx"]["layers"][0]["kernel"].shape == (4, 10)
  assert net.layers[0].kernel[...].shape == (4, 10)
  assert net(ns["x"][:, -1]).shape == (64, 2)
