"""Axis classes of a traced program: which array axes must always have the same size.

Every axis of every value in a traced program gets a *dim* (an integer id). Two axes that
the computation ties together (an elementwise op, a contraction, a scan carry, a bias
broadcast) are unified into one class with a union-find. An axis built from others (a
concatenation, a flatten, a pad) is a *composite* dim: a list of segments laid end to end,
each segment a row-major product of factor dims, e.g.

    concatenate([a (B, 16), b (B, 8)], axis=1)  -> axis 1 = [(A,), (B8,)]
    reshape(x (N, 5, 5, C), (N, 25 C))          -> axis 1 = [(H5, W5, C)]

A hidden-unit class is an atom (an undefined dim) with a parameter axis that produces it;
its slices in another parameter are wherever it appears in that parameter axis's expansion.
Classes can be pinned (their size is fixed by the data: inputs, outputs, constants) or
blocked (an operation the tracer cannot follow touches them); both make a class unprunable
and say why.
"""

from __future__ import annotations

import math
from fractions import Fraction


class LayoutError(Exception):
  """Two axis layouts cannot be matched (the tracer blocks the classes involved)."""


class Dims:
  """Union-find over axis dims with composite definitions, pins and blocks."""

  def __init__(self):
    self.parent: list[int] = []
    self.orig: list[int] = []
    self.defn: dict[int, tuple[tuple[int, ...], ...]] = {}
    self.pins: dict[int, set[str]] = {}
    self.blocks: dict[int, set[str]] = {}
    self.notes: dict[int, set[str]] = {}

  def new(self, size: int, defn=None) -> int:
    i = len(self.parent)
    self.parent.append(i)
    self.orig.append(int(size))
    if defn is not None:
      segs = tuple(tuple(s) for s in defn if self.segment_size(s) > 0)
      if len(segs) == 1 and len(segs[0]) == 1:       # a plain alias
        self.unify(i, segs[0][0])
      elif segs:
        self.defn[i] = segs
    return i

  def find(self, a: int) -> int:
    root = a
    while self.parent[root] != root:
      root = self.parent[root]
    while self.parent[a] != root:
      self.parent[a], a = root, self.parent[a]
    return root

  def size(self, a: int) -> int:
    return self.orig[self.find(a)]

  def segment_size(self, seg) -> int:
    return math.prod(self.size(f) for f in seg)

  def _mark(self, table, a, reason):
    table.setdefault(self.find(a), set()).add(reason)

  def pin(self, a, reason):
    self._mark(self.pins, a, reason)

  def block(self, a, reason):
    for atom in self.atoms(a):
      self._mark(self.blocks, atom, reason)
    self._mark(self.blocks, a, reason)

  def note(self, a, reason):
    for atom in self.atoms(a):
      self._mark(self.notes, atom, reason)

  def unify(self, a: int, b: int) -> None:
    ra, rb = self.find(a), self.find(b)
    if ra == rb:
      return
    if self.orig[ra] != self.orig[rb]:
      raise LayoutError(f"axes of sizes {self.orig[ra]} and {self.orig[rb]} meet")
    if rb in self.atoms(ra) or ra in self.atoms(rb):
      raise LayoutError("an axis is defined through itself")
    da, db = self.defn.pop(ra, None), self.defn.pop(rb, None)
    self.parent[rb] = ra
    for table in (self.pins, self.blocks, self.notes):
      if rb in table:
        table.setdefault(ra, set()).update(table.pop(rb))
    if da is not None and db is not None:
      self.defn[ra] = da
      self._align(self._expand_def(da), self._expand_def(db))
    elif da is not None or db is not None:
      self.defn[ra] = da if da is not None else db

  # -- layouts ---------------------------------------------------------------------------

  def expand(self, a: int) -> list[list[int]]:
    """The canonical layout of dim `a`: segments of atom roots (size-1 factors dropped)."""
    r = self.find(a)
    d = self.defn.get(r)
    return [[r]] if d is None else self._expand_def(d)

  def _expand_def(self, defn) -> list[list[int]]:
    out = []
    for seg in defn:
      if len(seg) == 1:
        out.extend(self.expand(seg[0]))
        continue
      flat = []
      for f in seg:
        e = self.expand(f)
        if len(e) == 1:
          flat.extend(e[0])
        else:          # a concatenation inside a product: its units are not simple strides
          self.block(f, "a concatenated axis is flattened together with other axes")
          flat.append(self.find(f))
      out.append(flat)
    cleaned = []
    for seg in out:
      seg = [f for f in seg if self.orig[f] != 1] or seg[:1]
      if self.segment_size(seg) > 0:
        cleaned.append(seg)
    return cleaned

  def atoms(self, a: int) -> set[int]:
    """Every atom root inside dim a's layout (a itself if it is an atom)."""
    r = self.find(a)
    d = self.defn.get(r)
    if d is None:
      return {r}
    return set().union(*(self.atoms(f) for seg in d for f in seg))

  def _align(self, ea, eb) -> None:
    """Unifies two layouts of one axis: factor by factor when their shapes match; by
    splitting atoms at each other's boundaries when both are plain concatenations."""
    def shape(e):
      return [[self.orig[f] for f in seg] for seg in e]
    if shape(ea) == shape(eb):
      for sa, sb in zip(ea, eb):
        for fa, fb in zip(sa, sb):
          self.unify(fa, fb)
      return
    if all(len(s) == 1 for s in ea + eb):
      cuts = sorted(set(_bounds(shape(ea))) | set(_bounds(shape(eb))))
      pa = self._split_plain([s[0] for s in ea], cuts)
      pb = self._split_plain([s[0] for s in eb], cuts)
      for x, y in zip(pa, pb):
        self.unify(x, y)
      return
    raise LayoutError("two layouts of one axis (a concatenation and a product) cannot "
                      "be matched")

  def _split_plain(self, atoms, cuts) -> list[int]:
    """Splits a row of atoms at absolute positions `cuts`; returns the pieces."""
    pieces, start = [], 0
    for atom in atoms:
      size = self.orig[self.find(atom)]
      inner = [c - start for c in cuts if start < c < start + size]
      pieces.extend(self.split(atom, [0] + inner + [size]))
      start += size
    return pieces

  def split(self, atom: int, bounds) -> list[int]:
    """Defines atom as the concatenation of fresh atoms between `bounds`."""
    if len(bounds) <= 2:
      return [self.find(atom)]
    r = self.find(atom)
    if r in self.defn:
      raise LayoutError("a composite axis cannot be split inside a segment")
    parts = [self.new(hi - lo) for lo, hi in zip(bounds[:-1], bounds[1:])]
    self.defn[r] = tuple((p,) for p in parts)
    for table in (self.pins, self.blocks):
      for reason in table.get(r, ()):
        for p in parts:
          self._mark(table, p, reason)
    return parts

  def cut(self, a: int, lo: int, hi: int) -> int:
    """The dim of positions lo..hi of axis `a` (refining its layout so that lo and hi are
    segment boundaries)."""
    e = self.expand(a)
    sizes = [self.segment_size(s) for s in e]
    starts = [0] + list(_bounds([[s] for s in sizes]))
    pieces = []
    for seg, size, start in zip(e, sizes, starts):
      if start + size <= lo or start >= hi:
        continue
      a_lo, a_hi = max(lo, start) - start, min(hi, start + size) - start
      if (a_lo, a_hi) == (0, size):
        pieces.append(tuple(seg))
      elif len(seg) == 1:
        parts = self.split(seg[0], sorted({0, a_lo, a_hi, size}))
        offset = 0
        for p in parts:
          if a_lo <= offset < a_hi:
            pieces.append((p,))
          offset += self.orig[p]
      else:
        raise LayoutError("a slice cuts through a flattened product of axes")
    if len(pieces) == 1 and len(pieces[0]) == 1:
      return self.find(pieces[0][0])
    return self.new(hi - lo, pieces)

  def current(self, a: int, table: dict[int, int], memo: dict[int, int]) -> int:
    """Dim a's size when the atoms in `table` have the given sizes (others: original)."""
    r = self.find(a)
    if r in memo:
      return memo[r]
    d = self.defn.get(r)
    if d is None:
      out = table.get(r, self.orig[r])
    else:
      out = sum(math.prod(self.current(f, table, memo) for f in seg) for seg in d)
    memo[r] = out
    return out

  def segment_bounds(self, a, table, memo):
    """[(old start, old size, new start, new size)] of each segment of a's layout."""
    out, old, new = [], 0, 0
    for seg in self.expand(a):
      o = self.segment_size(seg)
      n = math.prod(self.current(f, table, memo) for f in seg)
      out.append((old, o, new, n))
      old, new = old + o, new + n
    return out


def _bounds(shape):
  total, out = 0, []
  for seg in shape:
    total += math.prod(seg)
    out.append(total)
  return out


def solve_products(equations, known: dict) -> dict:
  """Sizes of factors that no axis holds alone, from axes laid out as sums of products.

  equations: [(segments, n)], each saying sum over segments of the product of its factors
  = n; a factor is an int (a fixed size) or a key whose size is in `known` or unknown.
  Each product of unknown factors is taken as one variable of a linear system solved
  exactly (fractions): GPT-2's fused query-key-value kernel, laid out (heads, 64) +
  (heads, 64) + (heads, value dims), with the output kernel's (heads, value dims), gives
  heads from the difference. A variable whose factors are all known but one gives that
  one. Repeats until nothing new; returns `known` with what was solved (whole sizes only)."""
  known = dict(known)
  while True:
    rows = [row for row in (_linear_row(segs, n, known) for segs, n in equations)
            if row[0]]
    found = False
    for mono, value in _eliminate(rows).items():
      unknown = [f for f in set(mono) if f not in known]
      if len(unknown) != 1 or mono.count(unknown[0]) != 1:
        continue
      size = value / math.prod(known[f] for f in mono if f != unknown[0])
      if size.denominator == 1 and size > 0:
        known[unknown[0]] = int(size)
        found = True
    if not found:
      return known


def _linear_row(segments, n, known):
  """({product of unknown factors: coefficient}, right-hand side) of one equation."""
  row, rhs = {}, Fraction(n)
  for seg in segments:
    coef, mono = 1, []
    for f in seg:
      if isinstance(f, int):
        coef *= f
      elif f in known:
        coef *= known[f]
      else:
        mono.append(f)
    if mono:
      key = tuple(sorted(mono, key=repr))
      row[key] = row.get(key, 0) + coef
    else:
      rhs -= coef
  return row, rhs


def _eliminate(rows) -> dict:
  """{variable: value} of the variables a linear system fixes (Gauss-Jordan, exact)."""
  names = list(dict.fromkeys(m for row, _ in rows for m in row))
  a = [[Fraction(row.get(m, 0)) for m in names] + [rhs] for row, rhs in rows]
  r = 0
  for c in range(len(names)):
    pivot = next((i for i in range(r, len(a)) if a[i][c] != 0), None)
    if pivot is None:
      continue
    a[r], a[pivot] = a[pivot], a[r]
    a[r] = [x / a[r][c] for x in a[r]]
    for i in range(len(a)):
      if i != r and a[i][c] != 0:
        a[i] = [x - a[i][c] * y for x, y in zip(a[i], a[r])]
    r += 1
  out = {}
  for row in a[:r]:
    nonzero = [j for j in range(len(names)) if row[j] != 0]
    if len(nonzero) == 1:
      out[names[nonzero[0]]] = row[-1]
  return out
