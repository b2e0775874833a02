"""Model families, one per module; each has a `*_sizes(params)` reading its architecture
from a params pytree alone. `zoo` is apart: the layouts of the models people bring to the
pruning engine (ResNet, ViT, GPT-2), at any width, for its tests, examples and benchmark."""

from eegjax.models.autoencoder import BandAutoencoder, CodeClassifier
from eegjax.models.eegconv import Deep4, EEGNet, ShallowConvNet
from eegjax.models.mlp import MLP, count_params, mlp_from_params, mlp_sizes
from eegjax.models.rnn import ElmanRNN, rnn_from_params, rnn_sizes

__all__ = ["BandAutoencoder", "CodeClassifier", "Deep4", "EEGNet", "MLP", "ElmanRNN",
           "ShallowConvNet", "count_params", "mlp_from_params", "mlp_sizes", "rnn_from_params",
           "rnn_sizes"]
