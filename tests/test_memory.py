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



def test_the_loop_layout_counts_one_model_in_flight(monkeypatch):
  """Conv nets train model after model on a CPU (the loop layout): every model's
  parameters are held, but one model's data copies and activations at a time; the
  classifier's check uses the trainer's layout."""
  from eegjax.errors import ConfigError
  from eegjax.models.eegconv import sized_for
  from eegjax.studies.common import classifier
  from eegjax.train import TrainConfig
  from eegjax.train.fit import default_layout
  model = sized_for("shallow", num_classes=2, time=256, sampling_rate=256.0)
  assert default_layout(model) == "loop"
  data = (jnp.zeros((100, 256, 6)), jnp.zeros(100, jnp.int32), None)
  one, _ = memory.check_sweep(model, data, 1, batch=32, eval_batch=512)
  two, _ = memory.check_sweep(model, data, 2, batch=32, eval_batch=512, in_flight=1)
  loop, _ = memory.check_sweep(model, data, 10, batch=32, eval_batch=512, in_flight=1)
  ten, _ = memory.check_sweep(model, data, 10, batch=32, eval_batch=512)
  params = two - one                 # a model more, one in flight: its parameters only
  assert loop == one + 9 * params
  working = one - params - 4 * 100 * 256 * 6        # less the data, held once
  assert working > 10 * params and ten == loop + 9 * working

  class Prep:                        # what check_memory reads of a prepared study
    seeds = list(range(10))

  Prep.data = data
  cfg = TrainConfig(batch_size=32, eval_batch_size=512)
  monkeypatch.setattr(memory, "available_bytes", lambda: (loop + ten) // 2)
  from eegjax.train import Trainer
  trainer = Trainer(model, cfg, has_val=False)          # the layout check_memory is given
  classifier.check_memory(None, Prep, model, cfg, 1, None,
                          vmapped=trainer.vmapped)      # one at a time: it fits
  with pytest.raises(ConfigError, match="10 models of this size need"):
    classifier.check_memory(None, Prep, model, cfg, 1, None, vmapped=True)
