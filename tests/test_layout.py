"""The code's rooms (DESIGN.md "Layout"): a lower layer never imports a higher one, two
packages of one layer never import each other, no two modules import each other (directly
or round a longer circle), and a study imports `studies.common`, never another study."""

import ast
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# lowest first; a package may import its own modules and any package of a lower layer
LAYERS = (
    ("eegjax", "errors", "settings", "jsonable", "arrays"),
    ("data", "models", "evaluate"),
    ("run",),
    ("train", "pruning"),
    ("studies", "studies.common"),
    ("studies.classify", "studies.prune", "studies.prune_cnn", "studies.alcohol",
     "studies.gan"),
)
RANK = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def room(module: str) -> str:
  """The room of a module: its package below eegjax (a study: studies.<name>)."""
  parts = module.split(".")
  if len(parts) == 1:
    return "eegjax"
  if parts[1] == "studies" and len(parts) > 2:
    return "studies." + parts[2]
  return parts[1]


def modules() -> dict:
  """{module name: the eegjax modules it imports, at any depth of its code}."""
  out = {}
  for root, _, files in os.walk(os.path.join(REPO, "eegjax")):
    for name in files:
      if not name.endswith(".py"):
        continue
      path = os.path.join(root, name)
      mod = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".").removesuffix(".__init__")
      imported = set()
      for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.ImportFrom) and node.module and \
            node.module.startswith("eegjax"):
          for a in node.names:   # `from eegjax.x import y`: y is a module or a name in x
            full = f"{node.module}.{a.name}"
            imported.add(full if _is_module(full) else node.module)
        elif isinstance(node, ast.Import):
          imported.update(a.name for a in node.names if a.name.startswith("eegjax"))
      out[mod] = imported
  return out


def _is_module(name: str) -> bool:
  base = os.path.join(REPO, *name.split("."))
  return os.path.exists(base + ".py") or os.path.isdir(base)


def test_rooms_are_known():
  unknown = {room(m) for m in modules()} - set(RANK)
  assert not unknown, f"rooms without a layer in LAYERS: {sorted(unknown)}"


def test_no_import_up_or_across_the_layers():
  bad = []
  for mod, imported in modules().items():
    mine = room(mod)
    for other in imported:
      theirs = room(other)
      if theirs != mine and RANK[theirs] >= RANK[mine]:
        bad.append(f"{mod} (layer {RANK[mine]}) imports {other} (layer {RANK[theirs]})")
  assert not bad, "\n".join(bad)


def test_no_import_circle():
  graph = {m: {i for i in imported if i in modules_cache()} - {m}
           for m, imported in modules_cache().items()}
  # a package's __init__ re-exporting its own modules is not a circle
  graph = {m: {i for i in deps if not m.startswith(i + ".") and not i.startswith(m + ".")}
           for m, deps in graph.items()}
  state, stack, circles = {}, [], []

  def visit(m):
    state[m] = 1
    stack.append(m)
    for n in sorted(graph[m]):
      if state.get(n) == 1:
        circles.append(" -> ".join(stack[stack.index(n):] + [n]))
      elif n not in state:
        visit(n)
    stack.pop()
    state[m] = 2

  for m in sorted(graph):
    if m not in state:
      visit(m)
  assert not circles, "\n".join(circles)


_CACHE = {}


def modules_cache():
  if not _CACHE:
    _CACHE.update(modules())
  return _CACHE


def test_a_planted_import_up_is_caught(monkeypatch):
  """The checks above can fail: a data module importing the training layer is reported."""
  mods = dict(modules_cache())
  mods["eegjax.data.tabular"] = mods["eegjax.data.tabular"] | {"eegjax.train.fit"}
  monkeypatch.setattr(sys.modules[__name__], "modules", lambda: mods)
  try:
    test_no_import_up_or_across_the_layers()
  except AssertionError as e:
    assert "eegjax.data.tabular (layer 1) imports eegjax.train.fit (layer 3)" in str(e)
  else:
    raise AssertionError("an import up the layers went unreported")


def test_no_library_module_over_400_lines():
  for root, _, files in os.walk(os.path.join(REPO, "eegjax")):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        n = sum(1 for _ in open(path, encoding="utf-8"))
        assert n <= 400, f"{os.path.relpath(path, REPO)} has {n} lines"


def _long_functions_without_a_reason(source: str, limit: int = 60) -> list[str]:
  """Functions of more than `limit` lines whose docstring does not say why ("Long...")."""
  import ast
  out = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      length = node.end_lineno - node.lineno + 1
      if length > limit and "Long" not in (ast.get_docstring(node) or ""):
        out.append(f"{node.name} ({length} lines, line {node.lineno})")
  return out


def test_no_long_function_without_a_reason_in_its_docstring():
  for root, _, files in os.walk(os.path.join(REPO, "eegjax")):
    for f in files:
      if f.endswith(".py"):
        path = os.path.join(root, f)
        with open(path, encoding="utf-8") as fh:
          found = _long_functions_without_a_reason(fh.read())
        assert not found, f"{os.path.relpath(path, REPO)}: {found}"
  # the check itself: a long function without a reason is found, one with a reason is not
  body = "".join(f"  x{i} = {i}\n" for i in range(61))
  assert _long_functions_without_a_reason(f"def f():\n  '''Short.'''\n{body}")
  assert not _long_functions_without_a_reason(f"def f():\n  '''Long: one loop.'''\n{body}")
