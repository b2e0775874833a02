"""The code's rooms: study modules use the framework and never each other."""

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDIES = ("classification", "prune_study", "alcohol", "gan_study")


def _imported_modules(path):
  tree = ast.parse(open(path, encoding="utf-8").read())
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module:
      names.add(node.module)
      names.update(f"{node.module}.{a.name}" for a in node.names)
    elif isinstance(node, ast.Import):
      names.update(a.name for a in node.names)
  return names


def test_studies_never_import_each_other():
  folder = os.path.join(REPO, "eegjax", "studies")
  for name in os.listdir(folder):
    if not name.endswith(".py"):
      continue
    own = name[:-3]
    imported = _imported_modules(os.path.join(folder, name))
    others = {f"eegjax.studies.{s}" for s in STUDIES if s != own}
    assert not imported & others, f"{name} imports the studies {sorted(imported & others)}"


def test_no_library_module_over_400_lines():
  for root, _, files in os.walk(os.path.join(REPO, "eegjax")):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(root, name)
        n = sum(1 for _ in open(path, encoding="utf-8"))
        assert n <= 400, f"{os.path.relpath(path, REPO)} has {n} lines"
