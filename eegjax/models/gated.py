"""Many-to-one GRU and LSTM classifiers (flax.linen cells), the gated counterparts of
eegjax.models.ElmanRNN with the same call: `model.apply(params, x, lengths)`.

    h_t = cell(h_{t-1}, x_t)      (GRUCell, or LSTMCell with its (c, h) carry)
    logits = h_L @ readout/kernel + readout/bias,  L = the sequence's true length

flax's `nn.RNN` with `seq_lengths` keeps the carry unchanged after each sequence's length,
so padding never changes the result. The hidden units (the gate kernels' columns, the
recurrent kernels' rows and the readout's rows) are found by
`eegjax.pruning.discover_groups`; a pruned model is rebuilt from its params'
sizes (`gated_from_params`).
"""

from __future__ import annotations

import flax.linen as nn

CELLS = ("gru", "lstm")


class GatedRNN(nn.Module):
  hidden_size: int
  num_classes: int
  cell: str = "gru"

  @nn.compact
  def __call__(self, x, lengths=None):
    """x: (B, T, C); lengths: (B,) ints or None (all T). Returns logits (B, K)."""
    make = {"gru": nn.GRUCell, "lstm": nn.LSTMCell}[self.cell]
    carry, _ = nn.RNN(make(self.hidden_size), return_carry=True, name="rnn")(
        x, seq_lengths=lengths)
    h = carry[1] if self.cell == "lstm" else carry      # LSTM carry is (c, h)
    return nn.Dense(self.num_classes, name="readout")(h)

