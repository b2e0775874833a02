"""eegjax.models.registry: every family round-trips through its JSON spec to a module that
computes the same outputs; unknown names and arguments are refused naming them."""

import json

import chex
import jax
import jax.numpy as jnp
import pytest

from eegjax.errors import ConfigError
from eegjax.models import registry
from eegjax.models.autoencoder import BandAutoencoder, CodeClassifier
from eegjax.models.eegconv import Deep4, EEGNet, ShallowConvNet
from eegjax.models.gan import DeconvGenerator, Discriminator
from eegjax.models.gated import GatedRNN
from eegjax.models.mlp import MLP
from eegjax.models.rnn import ElmanRNN
from eegjax.models.unet import UNetGenerator

X_SEQ = jnp.ones((2, 7, 3))
CASES = [
    (MLP(hidden_sizes=(5, 4), num_classes=3, activation="tanh"), (jnp.ones((2, 6)),)),
    (ElmanRNN(hidden_size=4, num_classes=2), (X_SEQ,)),
    (GatedRNN(hidden_size=4, num_classes=2, cell="lstm"), (X_SEQ,)),
    (BandAutoencoder(num_electrodes=8, code_size=2), (jnp.ones((2, 24)),)),
    (CodeClassifier(autoencoder=BandAutoencoder(num_electrodes=8, code_size=2),
                    hidden_sizes=(4,), num_classes=2), (jnp.ones((2, 24)),)),
    (DeconvGenerator(noise_dim=4, features=(8, 4, 4)),
     (jnp.ones((2, 4)), jnp.array([0, 1]))),
    (Discriminator(features=(4, 8, 8)), (jnp.ones((2, 32, 32, 3)),)),
    (ShallowConvNet(num_classes=2, n_filters_time=4, n_filters_spat=4, pool_time_length=8,
                    pool_time_stride=4), (jnp.ones((2, 3, 40)),)),
    (EEGNet(num_classes=2, f1=2, d=2, kernel_length=4), (jnp.ones((2, 3, 64)),)),
    (Deep4(num_classes=2, n_filters=(2, 2, 2, 2), filter_length=2, pool_length=2),
     (jnp.ones((2, 3, 64)),)),
]


@pytest.mark.parametrize("model, args", CASES, ids=[type(m).__name__ for m, _ in CASES])
def test_a_model_is_built_again_from_its_json_spec(model, args):
  spec = json.loads(json.dumps(registry.spec(model)))       # through JSON, as stored
  again = registry.from_spec(spec)
  assert type(again) is type(model) and registry.spec(again) == spec
  params = model.init(jax.random.key(0), *args)
  chex.assert_trees_all_close(again.apply(params, *args), model.apply(params, *args))


def test_every_family_is_registered():
  assert {registry.name_of(m) for m, _ in CASES} | {"unet_generator"} == set(registry.MODELS)
  assert registry.name_of(UNetGenerator()) == "unet_generator"


def test_unknown_models_and_arguments_are_refused():
  with pytest.raises(ConfigError, match=r"model 'vae': not registered; expected one of"):
    registry.from_spec({"name": "vae", "args": {}})
  with pytest.raises(ConfigError, match=r"model 'mlp': unknown arguments \['depth'\]"):
    registry.from_spec({"name": "mlp", "args": {"depth": 3}})
  with pytest.raises(ConfigError, match=r"expected \{'name'"):
    registry.from_spec(["mlp"])
