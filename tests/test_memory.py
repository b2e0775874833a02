"""eegjax.train.memory: a sweep that cannot fit is refused in one line before anything is
compiled; the estimate counts what a sweep holds."""

import jax.numpy as jnp
import pytest
from absl import flags
from absl.testing import flagsaver

from eegjax.models import MLP
from eegjax.train import memory


def test_the_estimate_counts_parameters_rows_and_activations():
  model = MLP(hidden_sizes=(30,), num_classes=3)
  data = (jnp.zeros((576, 25)), jnp.zeros(576, jnp.int32), None)
  need, _ = memory.check_sweep(model, data, num_models=10, batch=32, eval_batch=512)
  params = 25 * 30 + 30 + 30 * 3 + 3
  per_model = 6 * params + 3 * 576 * 25 + 3 * 512 * (30 + 3)
  assert need == 4 * (10 * per_model + 576 * 25)
  more, _ = memory.check_sweep(model, data, num_models=20, batch=32, eval_batch=512)
  assert more > need
  wide, _ = memory.check_sweep(MLP(hidden_sizes=(300,), num_classes=3), data, 10, 32, 512)
  assert wide > need


def test_a_sweep_that_cannot_fit_is_refused_in_one_line(binary, tmp_path, capsys,
                                                        monkeypatch):
  monkeypatch.setattr(memory, "available_bytes", lambda: 64 * 2 ** 20)   # 64 MiB
  mod = binary("train_mlp")
  with flagsaver.flagsaver():
    flags.FLAGS(["train_mlp", "--dataset=music_features", "--num_seeds=200", "--epochs=1",
                 f"--workdir={tmp_path}"])
    with pytest.raises(SystemExit) as stop:
      mod.main(["train_mlp"])
  assert stop.value.code == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(
      "error: train: 10 folds x 200 seeds (--num_seeds) = 2000 models of this size need "
      "about") and "(64 MiB available); expected fewer models" in err[0]
  assert not (tmp_path / "checkpoints").exists()
