"""The package map's import rules (docs/architecture.md), read from every import statement.

Each module of ``explorer`` belongs to one topic package (``explorer.nets``,
``explorer.models``, ...). A topic may import ``nets`` and ``models``; any other edge
between topics must be listed in ``NAMED_EDGES`` (and in the docs). ``nets`` imports no
other topic, ``models`` only ``nets``. Nothing in ``explorer`` imports the dashboard or
a UI library. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import explorer

ROOT = Path(__file__).resolve().parent.parent
EXPLORER = ROOT / "explorer"

# package -> the explorer packages it may import (besides itself)
BASE = {"nets": set(), "models": {"nets"}}
TOPICS = ("regions", "stability", "spectra", "robustness", "inversion", "inverse", "equivariance",
          "koopman")
NAMED_EDGES = {
    ("stability", "regions"): "exact 2-D verdicts read the partition's vertices",
    ("robustness", "regions"): "the adversarial plane and the exact 2-D distance use the partition",
    ("robustness", "spectra"): "the certified radius uses the per-layer Lipschitz bounds",
    ("equivariance", "robustness"): "DeepFool on a rotated digit is checked against the rotated perturbation",
}
UI_LIBRARIES = ("panel", "bokeh", "holoviews", "hvplot", "dashboard")


def allowed(package: str) -> set[str]:
    if package in BASE:
        return BASE[package]
    return {"nets", "models"} | {dst for (src, dst) in NAMED_EDGES if src == package}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Absolute names of every module ``path`` imports, with the line of the statement."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # `from . import regions` imports the module explorer.regions
            out += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            out.append((node.lineno, target))
    return out


def topic_of(module: str) -> str | None:
    """The topic package of an explorer module; short names (``explorer.zoo``) count as their home."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "explorer":
        return None
    short = getattr(explorer, parts[1], None)
    home = short.__name__ if short is not None and hasattr(short, "__name__") else module
    return home.split(".")[1]


MODULES = sorted(p for p in EXPLORER.rglob("*.py") if p.parent != EXPLORER)


def test_every_module_sits_in_a_topic_package():
    known = set(BASE) | set(TOPICS)
    loose = [p.name for p in EXPLORER.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert not loose, f"modules outside a topic package: {loose}"
    assert {p.parent.name for p in MODULES} <= known, "a new topic package needs its line in BASE/TOPICS"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(EXPLORER)))
def test_imports_follow_the_package_rules(path):
    own = path.parent.name
    bad = []
    for line, target in imported_modules(path):
        if target.split(".")[0] in UI_LIBRARIES:
            bad.append(f"line {line}: {target} (no UI in explorer)")
            continue
        topic = topic_of(target)
        if topic is None or topic == own or topic not in set(BASE) | set(TOPICS):
            continue  # third-party, own package, or an attribute of the explorer package itself
        if topic not in allowed(own):
            bad.append(f"line {line}: {own} -> {topic} ({target})")
    assert not bad, "forbidden imports:\n" + "\n".join(bad)


def test_the_rule_reader_sees_relative_imports():
    """The reader resolves `from ..nets import x` and lazy imports, so a bad edge cannot hide."""
    found = dict((t, l) for l, t in imported_modules(EXPLORER / "stability" / "units.py"))
    assert "explorer.nets" in found and "explorer.nets.bounds" in found
    lazy = {t for _, t in imported_modules(EXPLORER / "robustness" / "certified.py")}
    assert "explorer.spectra" in lazy  # imported inside a function
    assert topic_of("explorer.zoo") == "models" and topic_of("explorer.attacks") == "robustness"


def test_no_module_is_longer_than_about_400_lines():
    long = {str(p.relative_to(EXPLORER)): n for p in EXPLORER.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 420}
    assert not long, f"split these modules by idea: {long}"
