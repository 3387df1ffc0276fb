"""Every public function and class of ``explorer`` documents itself the numpydoc way (issue 29).

``help(f)`` lists each of ``f``'s parameters under a Parameters section and what it gives back
under Returns (or Yields); a class says what it is (its constructor's Parameters or its fields'
Attributes). Read from the source, so a deprecation shim (a module ``__getattr__``) is left out.
The examples in those docstrings run in tests/test_docstring_examples.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

EXPLORER = Path(__file__).resolve().parent.parent / "explorer"
MODULES = sorted(p for p in EXPLORER.rglob("*.py") if p.name != "_deprecation.py")


def _public(tree: ast.Module):
    """The module's public functions and classes, and the public methods of its public classes."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            yield node.name, node
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                        yield f"{node.name}.{item.name}", item


def _section(doc: str, title: str) -> str:
    """The text of a numpydoc section (empty if absent)."""
    match = re.search(rf"^{title}\n-+\n(.*?)(?=^\w[\w ]*\n-+\n|\Z)", doc, re.M | re.S)
    return match.group(1) if match else ""


def _documented_names(parameters: str) -> set[str]:
    """The names a Parameters section describes (``name : type`` lines; ``a, b : type`` names two)."""
    names = set()
    for line in parameters.splitlines():
        if line and not line[0].isspace():
            names |= {name.strip().lstrip("*") for name in line.split(":")[0].split(",")}
    return names


def _problems(node: ast.AST) -> list[str]:
    doc = ast.get_docstring(node) or ""
    if not doc:
        return ["no docstring"]
    if isinstance(node, ast.ClassDef):
        return []
    if any(getattr(d, "id", getattr(d, "attr", "")) in ("property", "cached_property") for d in node.decorator_list):
        return []
    problems = []
    args = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            if a.arg not in ("self", "cls")]
    args += [a.arg for a in (node.args.vararg, node.args.kwarg) if a is not None]
    missing = set(args) - _documented_names(_section(doc, "Parameters"))
    if missing:
        problems.append(f"Parameters does not describe {sorted(missing)}")
    gives = any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(node))
    yields = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node))
    if gives and not _section(doc, "Returns") and not yields:
        problems.append("no Returns section")
    if yields and not (_section(doc, "Yields") or _section(doc, "Returns")):
        problems.append("no Yields section")
    return problems


@pytest.mark.parametrize("path", MODULES, ids=[p.relative_to(EXPLORER).as_posix() for p in MODULES])
def test_every_public_function_lists_its_parameters_and_returns(path):
    tree = ast.parse(path.read_text())
    found = [f"{name}: {problem}" for name, node in _public(tree) for problem in _problems(node)]
    assert not found, "\n".join(found)
