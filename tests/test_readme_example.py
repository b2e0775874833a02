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


def test_readme_prune_to_example_meets_its_target_and_runs():
  text = README.read_text()
  section = text[text.index("## Prune your own Flax model"):]
  blocks = re.findall(r"```python\n(.*?)```", section, re.S)
  ns = {}
  exec(compile(blocks[0].split("for g in")[0] + "run = pruning.resized_apply(model.apply, "  # noqa: S102
               "params, x)\n" + blocks[2], str(README), "exec"), ns)
  before, report = ns["before"], ns["report"]
  assert (before.macs, before.params) == (19344, 1178)
  assert report.after.macs <= before.macs / 2
  assert {n: g["units_after"] for n, g in report.groups.items()} == {"GRUCell_0": 10,
                                                                     "Dense_0": 4}
  assert ns["run"](ns["half"], ns["x"]).shape == (64, 2)


def test_readme_resnet_and_gpt2_examples_reach_half_their_multiply_adds_and_run():
  text = README.read_text()
  section = text[text.index("## Prune your own Flax model"):]
  blocks = re.findall(r"```python\n(.*?)```", section, re.S)
  ns = {}
  exec(compile("import jax\nfrom eegjax import pruning\n" + blocks[3], str(README), "exec"),  # noqa: S102
       ns)
  r, g = ns["r_report"], ns["g_report"]
  assert (r.before.macs, r.after.macs) == (11060480, 5488008)
  assert (g.before.macs, g.after.macs) == (3932160, 1862656)
  assert [g.groups[f"h_{i}/c_attn.heads"]["units_after"] for i in (0, 1)] == [1, 2]
  assert ns["g_half"]["params"]["h_0"]["c_attn"]["kernel"].shape == (64, 16 + 16 + 7)  # q, k, v of one head
  assert ns["jax"].jit(g.apply)(ns["g_half"], ns["tokens"]).shape == (8, 32, 256)
  assert ns["jax"].jit(r.apply)(ns["r_half"], ns["images"]).shape == (8, 10)
