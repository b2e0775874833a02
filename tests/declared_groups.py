"""Hand-written unit groups of the project's own models: the test oracles that discovery
(`eegjax.pruning.discover_groups`) must reproduce (tests/test_discover.py)."""

from eegjax.pruning import Slice, UnitGroup


def _out(module, axis=0, bias_axis=1):
  return Slice(("params", module, "kernel"), axis, None, (("params", module, "bias"),
                                                          bias_axis))


def mlp_hidden_group(layer: int, activation: str = "sigmoid") -> UnitGroup:
  """Hidden layer `layer` of eegjax.models.MLP: Dense_i columns in, Dense_{i+1} rows out."""
  cur, nxt = f"Dense_{layer}", f"Dense_{layer + 1}"
  return UnitGroup(incoming=(Slice(("params", cur, "kernel"), 1),
                             Slice(("params", cur, "bias"), 0)),
                   outgoing=(_out(nxt),), centre=0.5 if activation == "sigmoid" else 0.0,
                   name=cur)


def rnn_hidden_group() -> UnitGroup:
  """The hidden units of eegjax.models.ElmanRNN (tanh: centre 0)."""
  return UnitGroup(incoming=(Slice(("params", "ih", "kernel"), 1),
                             Slice(("params", "ih", "bias"), 0),
                             Slice(("params", "hh", "kernel"), 1)),
                   outgoing=(_out("readout"), Slice(("params", "hh", "kernel"), 0)),
                   centre=0.0, name="hh+ih")


def conv_channel_group(layer: int, params) -> UnitGroup:
  """Output channels of Conv_`layer` of eegjax.models.gan.Discriminator: kernel (last
  axis) and bias in; the next conv's kernel input channels (axis 2) out, or after the last
  conv (global average pooling) the heads' kernel rows."""
  tree = params["params"]
  convs = sorted(k for k in tree if k.startswith("Conv_"))
  incoming = (Slice(("params", f"Conv_{layer}", "kernel"), 3),
              Slice(("params", f"Conv_{layer}", "bias"), 0))
  if layer + 1 < len(convs):
    outgoing = (_out(f"Conv_{layer + 1}", 2, 3),)
  else:
    outgoing = tuple(_out(h) for h in ("head", "cls_head", "adv_head") if h in tree)
  return UnitGroup(incoming=incoming, outgoing=outgoing, centre=0.0, name=f"Conv_{layer}")


def same_slices(a: UnitGroup, b: UnitGroup) -> bool:
  """Same incoming and outgoing slices (in any order) and the same centre."""
  key = lambda s: (s.path, s.axis, s.segments, s.bias)  # noqa: E731
  return (sorted(map(key, a.incoming)) == sorted(map(key, b.incoming)) and
          sorted(map(key, a.outgoing)) == sorted(map(key, b.outgoing)) and
          a.centre == b.centre)
