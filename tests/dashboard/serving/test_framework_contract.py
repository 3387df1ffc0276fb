"""Every framework internal dashboard.serving relies on still exists (an upgrade fails here, by name)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from dashboard.serving import FRAMEWORK_INTERNALS

ROOT = Path(__file__).resolve().parents[3]


def _exists(module_name: str, path: str) -> bool:
    obj = importlib.import_module(module_name)
    parts = path.split(".")
    if "self" in parts:  # an attribute the class sets on its instances
        cls_path, attribute = parts[: parts.index("self")], parts[-1]
        for part in cls_path:
            obj = getattr(obj, part)
        return f"self.{attribute}" in inspect.getsource(obj)
    for part in parts:
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


FRAMEWORKS = ("bokeh", "panel", "tornado")


@pytest.mark.parametrize("module_name, path, why", FRAMEWORK_INTERNALS,
                         ids=[f"{m}.{p}" for m, p, _ in FRAMEWORK_INTERNALS])
def test_the_framework_internal_still_exists(module_name, path, why):
    assert _exists(module_name, path), f"{module_name}.{path} is gone; {why}"


def _private_framework_names(path: Path) -> set[str]:
    """The private names (``_x``) a module reaches for on bokeh, panel or tornado objects it imports."""
    tree = ast.parse(path.read_text())
    framework = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FRAMEWORKS:
            framework.update({alias.asname or alias.name: node.module for alias in node.names})
        elif isinstance(node, ast.Import):
            framework.update({alias.asname or alias.name: alias.name for alias in node.names
                              if alias.name.split(".")[0] in ("bokeh", "panel", "tornado")})
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in FRAMEWORKS:
            found.update(alias.name for alias in node.names if alias.name.startswith("_"))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in framework:
                found.add(node.attr)
    return found


def test_only_the_serving_package_reaches_into_framework_internals_and_it_names_each():
    named = {path.split(".")[-1] for _, path, _ in FRAMEWORK_INTERNALS}
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        used = _private_framework_names(path)
        if "serving" in path.parts:
            assert used <= named, f"{path.relative_to(ROOT)} uses {sorted(used - named)}, not in FRAMEWORK_INTERNALS"
        else:
            assert not used, f"{path.relative_to(ROOT)} reaches into {sorted(used)}: move it to dashboard/serving"
