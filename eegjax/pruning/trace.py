"""Follows every array axis through a traced program (its jaxpr) to find hidden units.

`Trace(closed_jaxpr, n_params)` walks the equations once, nested jaxprs included (jit calls,
custom_jvp / custom_vjp primals, scan and while bodies with their carries, cond branches),
and gives every axis of every value a dim of `dims.Dims`. Each primitive says how its axes
relate: dot_general unifies the contracted axes and passes the free ones on, conv does the
same with feature axes, elementwise ops unify equal axes (size-1 axes broadcast), reshape
merges or splits axes into products, concatenate / pad / slice / split lay axes end to end.

Parameter axes get roles: a kernel's free axis of a contraction with data *produces* a
class (its units), a contracted axis *consumes* it (outgoing weights), a parameter combined
elementwise with data belongs to it (bias, scale). Consumptions are kept with the data
operand, from which `site` walks back to where the class's activation is: the output of
the nonlinearity, or the recurrent state carried by a scan.

A primitive without a rule blocks every class it touches, with its name as the reason:
a group is never silently wrong.
"""

from __future__ import annotations

import dataclasses

from jax.extend import core as jcore

from eegjax.pruning.dims import Dims, LayoutError
from eegjax.pruning.layout_rules import LayoutRules, Val

ELEMENTWISE = frozenset("""
add sub mul div max min pow integer_pow exp exp2 log log1p expm1 tanh logistic neg abs sign
sqrt rsqrt cbrt square select_n convert_element_type erf erfc erf_inv sin cos tan asin acos
atan atan2 sinh cosh asinh acosh atanh ge gt lt le eq ne and or not xor clamp nextafter rem
floor ceil round is_finite copy copy_p reduce_precision stop_gradient imag real conj lgamma
digamma logistic_p optimization_barrier shift_left shift_right_logical shift_right_arithmetic
population_count""".split())
LINEAR_ELEMENTWISE = frozenset("add sub neg convert_element_type copy copy_p".split())
REDUCE = frozenset("reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or argmax "
                   "argmin".split())
WINDOW = frozenset("reduce_window_sum reduce_window_max reduce_window_min".split())
CALLS = {"jit": "jaxpr", "pjit": "jaxpr", "closed_call": "call_jaxpr", "core_call":
         "call_jaxpr", "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr",
         "custom_vjp_call_jaxpr": "fun_jaxpr", "remat": "jaxpr", "remat2": "jaxpr",
         "checkpoint": "jaxpr"}
TRAINING_BN = ("BatchNorm in training mode (the model returns updated batch_stats): trace "
               "the model in inference mode (use_running_average=True, or train=False)")
# Ops that carry a unit's value on unchanged (or linearly, per unit) when walking back
# from a consumer to the activation.
PASS = frozenset("reshape transpose squeeze broadcast_in_dim convert_element_type copy "
                 "slice reduce_sum reduce_max reduce_min concatenate pad dynamic_slice "
                 "gather reduce_window_sum split".split())
# (a max pool is not passed: its output, what the next layer reads, is the activation, so
# the mean a compensation folds is the mean the next layer sees, not the pre-pool mean)


@dataclasses.dataclass
class Consumer:
  leaf: int
  leaf_axis: int
  out_axis: int | None          # the leaf axis that the consumer's output features come from
  data: tuple                   # (level path, var) of the data operand
  out: tuple                    # (level path, var) of the consumer's output
  data_axis: int
  scan_depth: int
  order: int


def _level_jaxpr(p):
  return (p.jaxpr, p.consts) if isinstance(p, jcore.ClosedJaxpr) else (p, ())


class Trace(LayoutRules):
  """One pass over `closed` whose first `n_params` inputs are parameter leaves."""

  def __init__(self, closed: jcore.ClosedJaxpr, n_params: int, n_args: int,
               out_names=()):
    self.dims = Dims()
    self.vals: dict = {}           # (path, var) -> Val
    self.producer: dict = {}       # (path, var) -> eqn
    self.position: dict = {}       # (path, var) -> (path, eqn index, output index)
    self.outvar_src: dict = {}     # (path, var) -> (inner path, inner var) for calls
    self.invar_src: dict = {}      # (path, var) -> ("call", key) | ("carry", key)
    self.scan_length: dict = {}     # scan path -> dim of its length
    self.roles: list = []          # (leaf, leaf_axis, kind), in program order
    self.consumers: list[Consumer] = []
    self.bias_add: dict = {}       # (path, var) -> (1-D parameter leaf added to it, sign)
    self.conv_groups: dict = {}    # eqn path -> dim whose size is its feature_group_count
    self.head_dims: list = []      # batch axes of products of two activations (heads)
    self.key_dims: list = []       # their contracted axes (attention's query-key dims)
    self._order = 0
    jaxpr = closed.jaxpr
    inputs = []
    for i, v in enumerate(jaxpr.invars):
      dims = tuple(self.dims.new(s) for s in v.aval.shape)
      if i >= n_params:
        for a, d in enumerate(dims):
          self.dims.pin(d, f"input {i - n_params} axis {a} (set by the data)")
      origin = ((i, tuple(range(len(dims)))),) if i < n_params else ()
      inputs.append(Val(dims, origin))
    self.leaf_dims = [v.dims for v in inputs[:n_params]]
    self.input_dims = [v.dims for v in inputs[n_params:]]
    outs = self.run(jaxpr, closed.consts, (), inputs, 0)
    for i, o in enumerate(outs):
      name = out_names[i] if i < len(out_names) else ""
      for a, d in enumerate(o.dims):
        self.dims.pin(d, TRAINING_BN if "batch_stats" in name else f"model output axis {a}")

  # -- plumbing --------------------------------------------------------------------------

  def read(self, path, v) -> Val:
    if isinstance(v, jcore.Literal):
      return Val(tuple(self.dims.new(s) for s in getattr(v.aval, "shape", ())))
    return self.vals[(path, v)]

  def run(self, jaxpr, consts, path, inputs, depth):
    for v, c in zip(jaxpr.constvars, consts):
      dims = tuple(self.dims.new(s) for s in getattr(c, "shape", ()))
      for d in dims:
        self.dims.pin(d, "a constant of the traced program")
      self.vals[(path, v)] = Val(dims)
    for v, x in zip(jaxpr.invars, inputs):
      self.vals[(path, v)] = x
    for i, eqn in enumerate(jaxpr.eqns):
      ins = [self.read(path, v) for v in eqn.invars]
      try:
        outs = self.eqn(eqn, ins, path, path + (i,), depth)
      except LayoutError as e:
        outs = self.opaque(eqn, ins, f"{eqn.primitive.name}: {e}")
      for j, (v, o) in enumerate(zip(eqn.outvars, outs)):
        if isinstance(v, jcore.DropVar):
          continue
        self.vals[(path, v)] = o
        self.producer[(path, v)] = eqn
        self.position[(path, v)] = (path, i, j)
    return [self.read(path, v) for v in jaxpr.outvars]

  def fresh(self, aval) -> tuple[int, ...]:
    return tuple(self.dims.new(s) for s in getattr(aval, "shape", ()))

  def opaque(self, eqn, ins, reason):
    """An op the tracer cannot follow: every class it touches is blocked."""
    for x in ins:
      for d in x.dims:
        self.dims.block(d, reason)
    outs = [Val(self.fresh(v.aval)) for v in eqn.outvars]
    for o in outs:
      for d in o.dims:
        self.dims.block(d, reason)
    return outs

  def role(self, x: Val, axis_kinds: dict):
    for leaf, amap in x.origin:
      for axis, kind in axis_kinds.items():
        if amap[axis] is not None:
          self.roles.append((leaf, amap[axis], kind))

  # -- rules -----------------------------------------------------------------------------

  def eqn(self, eqn, ins, path, here, depth):
    name = eqn.primitive.name
    p = eqn.params
    if name in CALLS and CALLS[name] in p:
      jaxpr, consts = _level_jaxpr(p[CALLS[name]])
      args = ins[len(ins) - len(jaxpr.invars):]
      for v, x in zip(jaxpr.invars, eqn.invars[len(ins) - len(jaxpr.invars):]):
        if not isinstance(x, jcore.Literal):
          self.invar_src[(here, v)] = ("call", (path, x))
      outs = self.run(jaxpr, consts, here, args, depth)
      for v, inner in zip(eqn.outvars, jaxpr.outvars):
        if not isinstance(inner, jcore.Literal):
          self.outvar_src[(path, v)] = (here, inner)
      return outs
    if name == "scan":
      return self.scan(eqn, ins, here, depth)
    if name == "while":
      return self.while_(eqn, ins, here, depth)
    if name == "cond":
      return self.cond(eqn, ins, here, depth)
    if name in ELEMENTWISE:
      return [self.elementwise(eqn, ins, path)]
    rule = getattr(self, "_" + name, None)
    if rule is None:
      return self.opaque(eqn, ins, f"{name} (no rule to follow its axes)")
    self._here = here               # the equation's path, for rules that record it
    return rule(eqn, ins, path=path, depth=depth)

  def elementwise(self, eqn, ins, path=()):
    shape = eqn.outvars[0].aval.shape
    dims = []
    for a, size in enumerate(shape):
      ds = [x.dims[a] for x in ins if len(x.dims) == len(shape) and
            self.dims.size(x.dims[a]) == size]
      if not ds:
        ds = [self.dims.new(size)]
      for d in ds[1:]:
        self.dims.unify(ds[0], d)
      dims.append(ds[0])
    data = [x for x in ins if not x.origin and x.dims]
    params = [x for x in ins if x.origin]
    if params and not data:          # parameters combined with parameters: still weights
      return Val(tuple(dims), tuple(o for x in params for o in x.origin))
    for x in params:
      self.role(x, {a: "elementwise" for a in range(len(x.dims))})
    name = eqn.primitive.name
    if name in ("add", "sub") and len(params) == 1 and len(params[0].origin) == 1:
      leaf, _ = params[0].origin[0]
      subtracted = name == "sub" and ins[1] is params[0]
      if len(self.leaf_dims[leaf]) == 1 and (name == "add" or subtracted):
        # a bias added to a layer's output, or a per-channel value subtracted from it
        # (BatchNorm's running mean in inference mode: a shift of the input moves it)
        for v in eqn.invars:
          if not isinstance(v, jcore.Literal) and not self.read(path, v).origin:
            self.bias_add.setdefault((path, v), (leaf, -1.0 if subtracted else 1.0))
    return Val(tuple(dims))

  def _dot_general(self, eqn, ins, path, depth):
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = ins
    for a, b in zip(lc, rc):
      self.dims.unify(lhs.dims[a], rhs.dims[b])
    for a, b in zip(lb, rb):
      self.dims.unify(lhs.dims[a], rhs.dims[b])
    lfree = [a for a in range(len(lhs.dims)) if a not in lc and a not in lb]
    rfree = [a for a in range(len(rhs.dims)) if a not in rc and a not in rb]
    dims = ([lhs.dims[a] for a in lb] + [lhs.dims[a] for a in lfree] +
            [rhs.dims[a] for a in rfree])
    if lhs.origin and rhs.origin:
      return [Val(tuple(dims))]      # weights times weights (a factorised kernel)
    if not lhs.origin and not rhs.origin:
      self.head_dims.extend(lhs.dims[a] for a in lb)
      self.key_dims.extend(lhs.dims[a] for a in lc)
      # activations times activations (attention's queries . keys): units contracted here
      # act bilinearly, so removing or merging one is not exact
      for a in lc:
        self.dims.block(lhs.dims[a], "its units are multiplied by other activations and "
                        "summed (e.g. attention's query-key head dimension): they act "
                        "bilinearly, so pruning one is not exact")
    for w, w_index, wc, dc, wfree in ((rhs, 1, rc, lc, rfree), (lhs, 0, lc, rc, lfree)):
      if not w.origin:
        continue
      self.role(w, {a: "producer" for a in wfree})
      self.role(w, {a: "consumer" for a in wc})
      self._consumers(w, eqn, w_index, wc, dc, wfree, path, depth)
    return [Val(tuple(dims))]

  def _consumers(self, w, eqn, w_index, wc, dc, wfree, path, depth):
    data_var = eqn.invars[1 - w_index]
    for leaf, amap in w.origin:
      out_axis = amap[wfree[-1]] if len(wfree) == 1 else None
      for a, b in zip(wc, dc):
        if amap[a] is not None:
          self._order += 1
          self.consumers.append(Consumer(leaf, amap[a], out_axis, (path, data_var),
                                         (path, eqn.outvars[0]), b, depth, self._order))

  def _conv_general_dilated(self, eqn, ins, path, depth):
    p = eqn.params
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    lhs, rhs = ins
    dims = list(self.fresh(eqn.outvars[0].aval))
    dims[out_spec[0]] = lhs.dims[lhs_spec[0]]
    dims[out_spec[1]] = rhs.dims[rhs_spec[0]]
    if p["batch_group_count"] != 1:
      for d in (lhs.dims[lhs_spec[1]], rhs.dims[rhs_spec[0]], rhs.dims[rhs_spec[1]]):
        self.dims.block(d, "a convolution with batch groups (a gradient's form)")
    elif p["feature_group_count"] != 1:
      self._grouped(lhs.dims[lhs_spec[1]], rhs.dims[rhs_spec[1]], rhs.dims[rhs_spec[0]],
                    p["feature_group_count"], self._here)
    else:
      self.dims.unify(lhs.dims[lhs_spec[1]], rhs.dims[rhs_spec[1]])
    for a in rhs_spec[2:]:
      self.dims.block(rhs.dims[a], "a convolution window axis")
    if rhs.origin and not lhs.origin:
      self.role(rhs, {rhs_spec[0]: "producer", rhs_spec[1]: "consumer"})
      self._consumers(rhs, eqn, 1, [rhs_spec[1]], [lhs_spec[1]], [rhs_spec[0]], path, depth)
    return [Val(tuple(dims))]

  def _grouped(self, data_in, kernel_in, kernel_out, groups: int, here) -> None:
    """A grouped convolution: input feature g * c_in + j feeds outputs g * c_out .. (g+1)
    * c_out - 1 through kernel input j. The input features are laid out (groups, c_in) and
    the outputs (groups, c_out), so a unit of the layer before spans the outputs of its
    group: with c_in = 1 (depthwise) the groups are the input features themselves and the
    group count follows their number; otherwise a fresh class of `groups` entries (pruned
    as whole groups, so every group keeps its size)."""
    c_in, c_out = self.dims.size(kernel_in), self.dims.size(kernel_out) // groups
    per_group_out = [self.dims.new(c_out)] if c_out > 1 else []
    if c_in == 1:
      g = data_in
    else:
      g = self.dims.new(groups)
      self.dims.unify(data_in, self.dims.new(groups * c_in, [(g, kernel_in)]))
    self.dims.unify(kernel_out, self.dims.new(groups * c_out, [(g, *per_group_out)]))
    self.conv_groups[here] = g

  # -- control flow ----------------------------------------------------------------------

  def scan(self, eqn, ins, here, depth):
    p = eqn.params
    body, consts = _level_jaxpr(p["jaxpr"])
    nc, ncar = p["num_consts"], p["num_carry"]
    length = self.dims.new(p["length"])
    inner = list(ins[:nc]) + [Val(x.dims) for x in ins[nc:nc + ncar]]
    for x in ins[nc + ncar:]:
      self.dims.unify(length, x.dims[0])
      inner.append(Val(x.dims[1:], tuple((leaf, am[1:]) for leaf, am in x.origin)))
    for v, outv in zip(body.invars[nc:nc + ncar], body.outvars[:ncar]):
      self.invar_src[(here, v)] = ("carry", (here, outv))
    outs = self.run(body, consts, here, inner, depth + 1)
    for x, o in zip(ins[nc:nc + ncar], outs[:ncar]):
      for a, b in zip(x.dims, o.dims):
        self.dims.unify(a, b)
    ys = [Val((length,) + o.dims) for o in outs[ncar:]]
    self.scan_length[here] = length
    return [Val(o.dims) for o in outs[:ncar]] + ys

  def while_(self, eqn, ins, here, depth):
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    body, bconsts = _level_jaxpr(p["body_jaxpr"])
    cond, cconsts = _level_jaxpr(p["cond_jaxpr"])
    carry = [Val(x.dims) for x in ins[cn + bn:]]
    outs = self.run(body, bconsts, here + ("body",), ins[cn:cn + bn] + carry, depth + 1)
    for x, o in zip(carry, outs):
      for a, b in zip(x.dims, o.dims):
        self.dims.unify(a, b)
    self.run(cond, cconsts, here + ("cond",), ins[:cn] + carry, depth + 1)
    return [Val(x.dims) for x in carry]

  def cond(self, eqn, ins, here, depth):
    results = []
    for b, branch in enumerate(eqn.params["branches"]):
      jaxpr, consts = _level_jaxpr(branch)
      results.append(self.run(jaxpr, consts, here + (b,), ins[1:], depth))
    for outs in results[1:]:
      for x, o in zip(results[0], outs):
        for a, b in zip(x.dims, o.dims):
          self.dims.unify(a, b)
    return [Val(x.dims) for x in results[0]]


for _name in REDUCE:
  setattr(Trace, "_" + _name, lambda self, eqn, ins, **_: self._reduce(eqn, ins))
for _name in WINDOW:
  setattr(Trace, "_" + _name, lambda self, eqn, ins, **_: self._window(eqn, ins))
