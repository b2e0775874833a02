"""Unit groups of any JAX/Flax model, discovered from its traced computation.

    groups = discover_groups(model.apply, params, x)

traces `model.apply(params, x)` to a jaxpr, follows every parameter axis through it
(`trace.Trace`) and returns one `UnitGroup` per class of hidden units: the parameter axes
that produce them (a Dense kernel's columns, a conv kernel's output channels, a bias, the
gate kernels of a GRU or LSTM cell), the axes that consume them (the next kernel's rows,
strided after a flatten or offset after a concatenation; a recurrent kernel's rows), and
where their activation is read (the nonlinearity's output, or the recurrent state). Units
coupled by a residual add are one group. Nothing is read from module names or shapes.

A group that cannot be pruned says why (`prunable`, `reason`): its size is fixed by the
data or the outputs, an operation the tracer does not follow touches it, or a parameter
axis both computes and consumes it (tied weights).
"""

from __future__ import annotations

import flax.errors
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.extend import core as jcore

from eegjax.errors import ConfigError
from eegjax.pruning.dims import solve_products
from eegjax.pruning.surgery import Site, Slice, UnitGroup
from eegjax.pruning.trace import PASS, Trace
from eegjax.pruning.tree_edit import key_name


class Program:
  """A model's traced program: the jaxpr of apply_fn(params, *args, **kwargs) and the
  axis analysis of it. Arguments after params are the example inputs; the first one's
  leading axis is the patterns' axis."""

  def __init__(self, apply_fn, params, *args, **kwargs):
    self.apply_fn, self.kwargs = apply_fn, kwargs
    leaves, self.params_def = jax.tree_util.tree_flatten_with_path(params)
    self.paths = [tuple(key_name(k) for k in path) for path, _ in leaves]
    _check_inputs(apply_fn, leaves, self.paths)
    arg_leaves, self.args_def = jax.tree.flatten(args)
    arg_leaves = _two_patterns(arg_leaves)
    n = len(leaves)

    def flat(*xs):
      p = jax.tree.unflatten(self.params_def, xs[:n])
      a = jax.tree.unflatten(self.args_def, xs[n:])
      return apply_fn(p, *a, **kwargs)

    try:
      self.closed, out_shape = jax.make_jaxpr(flat, return_shape=True)(
          *[x for _, x in leaves], *arg_leaves)
    except flax.errors.ScopeParamShapeError as e:
      raise ConfigError(
          f"apply_fn(params, *args) does not run: {str(e).splitlines()[0]} Either an input "
          "has another width than the parameters were made for, or the parameters are a "
          "pruned linen model's, which the module's own apply cannot take: run and prune it "
          "again through pruning.resized_apply(model.apply, full_params, *args), where "
          "full_params may be the shapes jax.eval_shape(model.init, key, *args)") from None
    self.out_def = jax.tree.structure(out_shape)
    self.n_params, self.n_args = n, len(arg_leaves)
    out_names = [jax.tree_util.keystr(path) for path, _ in
                 jax.tree_util.tree_flatten_with_path(out_shape)[0]]
    self.trace = Trace(self.closed, n, len(arg_leaves), out_names)
    self.groups = _groups(self)


def _check_inputs(apply_fn, leaves, paths):
  """One sentence instead of a raw error from deep inside tracing: an NNX module passed
  as apply_fn (as params, a module is a pytree of arrays like any other), or parameters
  that are not all arrays."""
  if isinstance(apply_fn, nnx.Module):
    raise ConfigError("an NNX module was passed as apply_fn, where the engine expects "
                      "(apply_fn, params, *inputs): use apply_fn, params = "
                      "pruning.from_nnx(module), and pruning.update_nnx(module, pruned) to "
                      "write the result back")
  for (_, x), path in zip(leaves, paths):
    if not isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct, bool,
                          int, float, complex)):          # what jax can trace
      raise ConfigError(
          f"params: the leaf {'/'.join(path) or '(root)'} is a {type(x).__name__}, not an "
          "array; pass the arrays alone (for an Equinox module: params, static = "
          "eqx.partition(model, eqx.is_array) and apply_fn = lambda p, x: "
          "eqx.combine(p, static)(x))")


def _two_patterns(arg_leaves):
  """The inputs as shapes, with one example pattern made two: traced on a single
  pattern, every size-1 axis (BatchNorm's broadcast statistics, a kept dimension) would be
  indistinguishable from the patterns' axis, and the program could not run on another
  batch size. Only shapes are traced, so no values are copied."""
  def shape(x):
    return jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x))
  out = [shape(x) for x in arg_leaves]
  if out and out[0].shape[:1] == (1,):
    out = [jax.ShapeDtypeStruct((2,) + x.shape[1:], x.dtype) if x.shape[:1] == (1,) else x
           for x in out]
  return out


def discover_groups(apply_fn, params, *example_args, **kwargs) -> list[UnitGroup]:
  """The unit groups of `apply_fn(params, *example_args, **kwargs)`, in program order
  (prunable or not: see each group's `prunable` and `reason`)."""
  return Program(apply_fn, params, *example_args, **kwargs).groups


def _groups(prog: Program) -> list[UnitGroup]:
  tr, dims = prog.trace, prog.trace.dims
  for root in list(dims.pins):
    for atom in dims.atoms(root):
      for reason in dims.pins[root]:
        dims.pin(atom, reason)
  occurrences: dict[int, list] = {}          # atom -> [(leaf, axis, expansion)]
  for leaf, leaf_dims in enumerate(tr.leaf_dims):
    for axis, d in enumerate(leaf_dims):
      exp = dims.expand(d)
      for atom in {f for seg in exp for f in seg}:
        occurrences.setdefault(atom, []).append((leaf, axis, exp))
  _pin_inseparable(dims, occurrences)
  roles: dict[tuple, list] = {}
  first: dict[int, int] = {}
  for order, (leaf, axis, kind) in enumerate(tr.roles):
    roles.setdefault((leaf, axis), []).append(kind)
    if kind == "producer":
      for atom in {f for seg in dims.expand(tr.leaf_dims[leaf][axis]) for f in seg}:
        first.setdefault(atom, order)
  units = sorted(first, key=first.get)
  names = _names(prog, units, occurrences, roles)
  prog.atoms = {names[u]: u for u in units}     # each group's axis class (its size's dim)
  return [_group(prog, u, names, occurrences, roles) for u in units]


INSEPARABLE = ("only its product with another factor of a reshaped axis is in the parameters "
               "(e.g. GroupNorm's channels per group, or the inner factor of a reshape), "
               "so its size could not be told from theirs: another factor of the axis is "
               "pruned instead")


def _pin_inseparable(dims, occurrences) -> None:
  """Factors of reshaped axes whose sizes the parameters' shapes cannot determine (no
  axis holds them alone, and every axis holds them multiplied together: GroupNorm's
  (groups, channels per group)) are pinned, inner factors first, until the rest are
  solvable: a pruned model's sizes must follow from its arrays (`dims.solve_products`)."""
  def known_of(atom):
    return (atom in dims.pins or atom in dims.blocks or
            any(exp == [[atom]] for _, _, exp in occurrences.get(atom, ())))
  equations = {(leaf, axis): ([[("dim", f) for f in seg] for seg in exp],
                              sum(dims.segment_size(seg) for seg in exp))
               for atom, occ in occurrences.items() for leaf, axis, exp in occ
               if exp != [[atom]]}
  while True:
    known = {("dim", a): dims.orig[a] for a in occurrences if known_of(a)}
    solved = solve_products(list(equations.values()), known)
    left = [a for a in occurrences if ("dim", a) not in solved]
    if not left:
      return
    inner = max(left, key=lambda a: max(seg.index(a) for _, _, exp in occurrences[a]
                                        for seg in exp if a in seg))
    dims.pin(inner, INSEPARABLE)


def _names(prog, units, occurrences, roles) -> dict[int, str]:
  dims = prog.trace.dims
  heads = {a for d in prog.trace.head_dims for a in dims.atoms(d)}
  keys = {a for d in prog.trace.key_dims for a in dims.atoms(d)} - heads
  names = {}
  for u in units:
    mods = [_module(prog.paths[leaf]) for leaf, axis, _ in occurrences[u]
            if "producer" in roles.get((leaf, axis), ())]
    common = mods[0]
    for m in mods[1:]:
      n = 0
      while n < min(len(common), len(m)) and common[n] == m[n]:
        n += 1
      common = common[:n]
    common = tuple(k for k in common if k != "params")
    plain = [_module(prog.paths[leaf]) for leaf, axis, exp in occurrences[u]
             if "producer" in roles.get((leaf, axis), ()) and exp == [[u]]]
    if not common and len(set(plain)) == 1:   # one layer's units, spread by grouped convs
      common = tuple(k for k in plain[0] if k != "params")
    elif not common and not plain and mods:   # only a factor of products: per-group filters
      common = tuple(k for k in mods[0] if k != "params")[:-1] + (
          "/".join(k for k in mods[0] if k != "params").split("/")[-1] + ".per_group",)
    name = "/".join(common) if common else "+".join(sorted({"/".join(
        k for k in m if k != "params") for m in mods}))
    if u in heads:      # attention heads: a batch axis of the products of activations
      name += ".heads"
    elif u in keys:     # their contracted axis: attention's query-key dimension
      name += ".query_key_dim"
    if name in names.values():      # a second unit class of one layer: say which axis
      prod = [(leaf, axis, exp) for leaf, axis, exp in occurrences[u]
               if "producer" in roles.get((leaf, axis), ())]
      if prod:
        leaf, axis, exp = prod[0]
        seg = next((seg for seg in exp if u in seg), [u])
        name += f".axis{axis}" + (f".factor{seg.index(u)}" if exp != [[u]] else "")
    base, n = name, 1
    while name in names.values():
      n += 1
      name = f"{base}.{n}"
    names[u] = name
  return names


def _module(path):
  """A leaf's module path; a parameter declared directly on the top module names itself."""
  inner = path[1:-1] if path[0] == "params" else path[:-1]
  return path[:-1] if inner else path


def _group(prog, u, names, occurrences, roles) -> UnitGroup:
  dims = prog.trace.dims
  name = names[u]
  reasons = sorted(dims.pins.get(u, ())) + sorted(dims.blocks.get(u, ()))
  if dims.orig[u] < 2:
    reasons.append("a single unit (at least one must remain)")
  incoming, outgoing, probes = [], [], {}
  bias_of = _biases(prog)
  for leaf, axis, exp in occurrences[u]:
    kinds = roles.get((leaf, axis), [])
    path = prog.paths[leaf]
    if "consumer" in kinds and ("producer" in kinds or "elementwise" in kinds):
      reasons.append(f"{'/'.join(path)} axis {axis} both computes and consumes these units "
                     "(tied weights)")
    if any(seg.count(u) > 1 for seg in exp):
      reasons.append(f"{'/'.join(path)} axis {axis} holds these units twice in one product")
    segments = _segments(dims, names, u, exp)
    for seg in exp:
      for f in seg:
        if f != u and f in names:
          probes.setdefault(names[f], _probe(prog, f, occurrences))
    if "consumer" in kinds:
      outgoing.append(Slice(path, axis, segments, bias_of.get((leaf, axis))))
    else:
      incoming.append(Slice(path, axis, segments))
  site, centre = _site(prog, u, names)
  notes = tuple(sorted(dims.notes.get(u, ())))
  # the layouts of the factors no axis holds alone: their sizes are solved from them
  related = tuple(Slice(prog.paths[leaf], axis, _segments(dims, names, f, exp))
                  for f in {f for f in names if probes.get(names[f], 0) is None}
                  for leaf, axis, exp in occurrences.get(f, ()) if exp != [[f]])
  fixed = ((name, dims.orig[u]),) if u in dims.pins or u in dims.blocks else ()
  return UnitGroup(incoming=tuple(incoming), outgoing=tuple(outgoing), centre=centre,
                   name=name, activation=site, prunable=not reasons,
                   reason="; ".join(dict.fromkeys(reasons)), notes=notes,
                   probes=tuple((n, *p) for n, p in probes.items() if p is not None),
                   related=related, fixed=fixed)


def _segments(dims, names, u, exp):
  """A slice's layout for group u (None: entry i is unit i): u and every factor that may
  be pruned by name, a factor that never is (pinned or blocked) by its fixed size."""
  if exp == [[u]]:
    return None
  return tuple(tuple(names[f] if f == u or (f in names and f not in dims.pins
                                           and f not in dims.blocks) else dims.orig[f]
                     for f in seg) for seg in exp)


def _probe(prog, atom, occurrences):
  for leaf, axis, exp in occurrences.get(atom, ()):
    if exp == [[atom]]:
      return prog.paths[leaf], axis
  return None


def _biases(prog) -> dict:
  """(kernel leaf, consumed axis) -> (bias path, output axis): the 1-D parameter added
  right after the product through which that kernel axis acts, if any."""
  tr = prog.trace
  outer = {inner: key for key, inner in tr.outvar_src.items()}
  out = {}
  for c in tr.consumers:
    key, found = c.out, tr.bias_add.get(c.out)
    while found is None and key in outer:      # the product is what a call returns (e.g.
      key = outer[key]                          # a custom_vjp conv): the bias added after
      found = tr.bias_add.get(key)
    if found is not None and c.out_axis is not None:
      leaf, sign = found
      out.setdefault((c.leaf, c.leaf_axis), (prog.paths[leaf], c.out_axis) +
                     ((sign,) if sign != 1.0 else ()))
  return out


def _site(prog, u, names):
  """Where unit class u's activation is: walking back from each consumer's data operand
  over ops that only carry it (reshape, slice, pooling, ...) to the op that computes it.
  A recurrent state (a scan carry) is preferred, then the last consumer."""
  tr, dims = prog.trace, prog.trace.dims
  cons = [c for c in tr.consumers
          if u in {f for seg in dims.expand(tr.leaf_dims[c.leaf][c.leaf_axis]) for f in seg}]
  cons.sort(key=lambda c: (c.scan_depth, c.order), reverse=True)
  batch = dims.find(tr.input_dims[0][0]) if tr.input_dims and tr.input_dims[0] else None
  for c in cons:
    key, scan, prim = c.data, None, None
    for _ in range(10_000):
      if key in tr.outvar_src:
        key = tr.outvar_src[key]
        continue
      eqn = tr.producer.get(key)
      if eqn is None:
        src = tr.invar_src.get(key)
        if src is None:
          break
        kind, key = src
        if kind == "carry":
          scan = key[0]
          prim = "carry"
          break
        continue
      nxt = _carrier(tr, key[0], eqn, u)
      if nxt is None:
        prim = eqn.primitive.name
        break
      key = nxt
    val = tr.vals.get(key)
    if val is None or key not in tr.position or "body" in key[0] or "cond" in key[0]:
      continue               # a value inside a while loop is not captured step by step
    axes, product = _unit_axes(dims, val, u, names)
    if len(axes) != 1:
      continue
    b = [a for a, d in enumerate(val.dims) if batch is not None and dims.find(d) == batch]
    level = key[0]
    scans = [level[:i] for i in range(1, len(level) + 1) if level[:i] in tr.scan_length]
    if scan is None and scans:
      # a value inside a scan body (not a carry): captured stacked over the scan's steps,
      # read like a recurrent state; inside nested scans it is not read
      if len(scans) > 1:
        continue
      scan = scans[0]
    what = ("the recurrent state carried by a scan" if prim == "carry" else
            f"the output of {prim}" + (" in a scan's body" if scan else "") if prim else
            "an input of the traced program")
    site = Site(key=tr.position[key], axis=axes[0], batch_axis=b[0] if b else None, scan=scan,
                description=what, product=product)
    return site, _centre(tr, key)
  return None, 0.0


def _unit_axes(dims, val, u, names):
  """The axes of a value that hold unit class u: whole axes, or else axes laid out as one
  product with u a factor (a grouped conv's channels), with that product's factors."""
  axes = [a for a, d in enumerate(val.dims) if dims.find(d) == u]
  product = None
  if not axes:
    for a, d in enumerate(val.dims):
      e = dims.expand(d)
      if len(e) == 1 and e[0].count(u) == 1 and len(e[0]) > 1:
        axes.append(a)
        product = tuple(names.get(f, dims.orig[f]) if f == u or f in names
                        else dims.orig[f] for f in e[0])
  return axes, product


def _centre(tr, key, depth=0) -> float:
  """0.5 for a sigmoid's output (its "silent" value), else 0; a stack of sigmoids too."""
  while key in tr.outvar_src:
    key = tr.outvar_src[key]
  eqn = tr.producer.get(key)
  if eqn is None or depth > 4:
    return 0.0
  if eqn.primitive.name == "logistic":
    return 0.5
  if eqn.primitive.name in ("stack", "concatenate"):
    parts = [_centre(tr, (key[0], v), depth + 1) for v in eqn.invars
             if not isinstance(v, jcore.Literal)]
    return 0.5 if parts and all(c == 0.5 for c in parts) else 0.0
  return 0.0


def _carrier(tr, path, eqn, u):
  """The operand of a pass-through op (or of a product with a constant) that carries u."""
  name = eqn.primitive.name
  ins = [v for v in eqn.invars if not isinstance(v, jcore.Literal)]
  if name in ("mul", "div") and len(ins) == 1:
    pass
  elif name not in PASS:
    return None
  for v in ins:
    val = tr.vals.get((path, v))
    if val is not None and any(u in tr.dims.atoms(d) for d in val.dims):
      if val.origin:        # read from a parameter (an embedding's rows): the activation
        return None         # is this op's output
      return (path, v)
  return None
