"""The package map's import rules (docs/architecture.md), read from every import statement.

``explorer`` is built in layers (DESIGN.md), each importing only the layers below it:

- ``nets`` and ``data`` import no other package of ``explorer``;
- ``modelfiles`` and ``training`` import ``nets`` and ``data``;
- each topic (``regions``, ``stability``, ...) imports those four; any other edge between
  topics must be listed in ``NAMED_EDGES`` (and in the docs);
- ``zoo`` sits on top and may import any of them (each topic trains its own zoo models).

Names are resolved through the files of the package, never through ``explorer``'s attributes:
``explorer.X`` is the package ``explorer/X/`` or the module ``explorer/X.py``. The old paths
(``explorer.models``, ``explorer.robustness``, ``explorer.threads``, ...) are deprecation shims
that no module of ``explorer`` may import. Nothing in ``explorer`` imports the dashboard or a UI
library, and the import graph of the whole package has no cycle. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPLORER = ROOT / "explorer"

# package -> the explorer packages it may import (besides itself)
BASE = {"nets": set(), "data": set(), "modelfiles": {"nets", "data"}, "training": {"nets", "data"}}
TOPICS = ("regions", "stability", "spectra", "attacks", "inversion", "inverse", "equivariance", "koopman")
TOP = {"zoo": set(BASE) | set(TOPICS)}
NAMED_EDGES = {
    ("stability", "regions"): "exact 2-D verdicts read the partition's vertices",
    ("attacks", "regions"): "the adversarial plane and the exact 2-D distance use the partition",
    ("attacks", "spectra"): "the certified radius uses the per-layer Lipschitz bounds",
    ("equivariance", "attacks"): "DeepFool on a rotated digit is checked against the rotated perturbation",
}
# old paths kept as modules that forward with a DeprecationWarning (removed in 0.3.0)
SHIMS = {"models", "robustness", "generators", "orthogonal", "evaluation", "certified", "bounds", "threads"}
# names that explorer/__init__.py binds to a module of another name (the public API's `datasets`)
REEXPORTED = {"datasets": "explorer.data.datasets"}
UI_LIBRARIES = ("panel", "bokeh", "holoviews", "hvplot", "dashboard")


def allowed(package: str) -> set[str]:
    if package in BASE:
        return BASE[package]
    if package in TOP:
        return TOP[package]
    return set(BASE) | {dst for (src, dst) in NAMED_EDGES if src == package}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path | None:
    """The file of an ``explorer`` module, or None when ``name`` is no module (an attribute)."""
    parts = name.split(".")
    if parts[0] != "explorer":
        return None
    base = ROOT.joinpath(*parts)
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


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


def resolved(name: str) -> str:
    """``name`` with the re-exported short names replaced by their module."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "explorer" and parts[1] in REEXPORTED:
        return ".".join([REEXPORTED[parts[1]], *parts[2:]])
    return name


def package_of(module: str) -> str | None:
    """The package (``nets``, ``regions``, ``zoo``, a shim, ...) of an explorer module, read from the files."""
    parts = resolved(module).split(".")
    if len(parts) < 2 or parts[0] != "explorer":
        return None
    if (EXPLORER / parts[1]).is_dir() or (EXPLORER / f"{parts[1]}.py").is_file():
        return parts[1]
    return None  # an attribute of the explorer package itself (__version__, ...)


PACKAGES = set(BASE) | set(TOPICS) | set(TOP)
MODULES = sorted(p for p in EXPLORER.rglob("*.py") if p.parent != EXPLORER and p.parent.name not in SHIMS)
SHIM_FILES = sorted([p for p in EXPLORER.rglob("*.py") if p.parent.name in SHIMS]
                    + [EXPLORER / f"{name}.py" for name in SHIMS if (EXPLORER / f"{name}.py").is_file()])


def test_every_module_sits_in_a_package_of_the_map():
    loose = [p.stem for p in EXPLORER.glob("*.py")
             if p.stem not in SHIMS | {"__init__", "__main__", "_deprecation"}]
    assert not loose, f"modules outside a package: {loose}"
    dirs = {p.name for p in EXPLORER.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert dirs <= PACKAGES | SHIMS, f"a new package needs its line in BASE / TOPICS / TOP: {dirs - PACKAGES - SHIMS}"
    assert {p.parent.name for p in MODULES} <= PACKAGES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(EXPLORER)))
def test_imports_follow_the_package_rules(path):
    own = path.parent.name
    bad = []
    for line, target in imported_modules(path):
        if target.split(".")[0] in UI_LIBRARIES:
            bad.append(f"line {line}: {target} (no UI in explorer)")
            continue
        package = package_of(target)
        if package in SHIMS or (package == "_deprecation"):
            bad.append(f"line {line}: {target} (a deprecated path; import the module at its new home)")
            continue
        if package is None or package == own or package not in PACKAGES:
            continue  # third-party, own package, or an attribute of the explorer package itself
        if package not in allowed(own):
            bad.append(f"line {line}: {own} -> {package} ({target})")
    assert not bad, "forbidden imports:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", SHIM_FILES, ids=lambda p: str(p.relative_to(EXPLORER)))
def test_old_paths_are_only_forwarding_shims(path):
    """A shim holds its docstring and one forwarding call: nothing lives at an old path."""
    tree = ast.parse(path.read_text())
    imports = [t for _, t in imported_modules(path)]
    assert set(imports) <= {"explorer._deprecation", "explorer._deprecation.forward"}, imports
    defined = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert not defined, f"{path.name} defines {[n.name for n in defined]}"


def test_the_rule_reader_sees_relative_imports():
    """The reader resolves `from ..nets import x` and lazy imports, so a bad edge cannot hide."""
    found = dict((t, l) for l, t in imported_modules(EXPLORER / "stability" / "units.py"))
    assert "explorer.nets" in found and "explorer.nets.bounds" in found
    lazy = {t for _, t in imported_modules(EXPLORER / "attacks" / "certified.py")}
    assert "explorer.spectra" in lazy  # imported inside a function
    assert package_of("explorer.zoo.architectures") == "zoo" and package_of("explorer.datasets") == "data"
    assert package_of("explorer.threads") == "threads" and package_of("explorer.__version__") is None


# --- the import graph of the whole package ---------------------------------------------------

def import_graph() -> dict[str, set[str]]:
    """module -> the explorer modules it imports (every statement, function-level ones included).

    ``from pkg import name`` is an edge to the module ``pkg.name`` when that is a module, else
    to ``pkg``; shims are nodes too (they import nothing of explorer but the forwarding helper).
    """
    graph = {}
    for path in sorted(EXPLORER.rglob("*.py")):
        here = module_name(path)
        edges = set()
        tree = ast.parse(path.read_text(), filename=str(path))
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                names = [f"{target}.{alias.name}" if module_path(resolved(f"{target}.{alias.name}")) else target
                         for alias in node.names]
            else:
                continue
            edges |= {resolved(n) for n in names if module_path(resolved(n))}
        edges.discard(here)
        graph[here] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_names_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    graph = import_graph()
    assert "explorer.data.npz_files" in graph["explorer.data.idx_files"]  # module-level edges
    assert "explorer.stability.graph_milp" in graph["explorer.stability.units"]
    assert "explorer.spectra" in graph["explorer.attacks.certified"]  # function-level import
    assert "explorer.equivariance.training" in graph["explorer.zoo"]  # the zoo imports the p4 trainer


def _code_lines(source: str) -> int:
    """Lines of a module outside its docstrings (numpydoc docstrings document ideas; they do not add any)."""
    docs = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docs.update(range(first.lineno, first.end_lineno + 1))
    return len(source.splitlines()) - len(docs)


def test_no_module_is_longer_than_about_400_lines():
    long = {str(p.relative_to(EXPLORER)): n for p in EXPLORER.rglob("*.py")
            if (n := _code_lines(p.read_text())) > 420}
    assert not long, f"split these modules by idea: {long}"


# --- one name per thing: the public API, and the old paths as deprecation shims -----------------

OLD_PATHS = {  # old path -> (an attribute read through it, the module where it lives now)
    "explorer.models": ("stepper", "explorer.training.stepper"),
    "explorer.models.zoo": ("load", "explorer.zoo"),
    "explorer.models.datasets": ("load", "explorer.data.datasets"),
    "explorer.models.training": ("Recipe", "explorer.training"),
    "explorer.models.stepper": ("Setup", "explorer.training.stepper"),
    "explorer.models.checkpoints": ("load_file", "explorer.modelfiles.checkpoints"),
    "explorer.models.generators": ("random_generator", "explorer.inversion.generators"),
    "explorer.models.orthogonal": ("zoo_spec", "explorer.spectra.orthogonal"),
    "explorer.models.reconstruction": ("lista_layers", "explorer.inverse.reconstruction"),
    "explorer.robustness": ("deepfool", "explorer.attacks"),
    "explorer.robustness.certified": ("certified_radius", "explorer.attacks.certified"),
    "explorer.generators": ("random_generator", "explorer.inversion.generators"),
    "explorer.orthogonal": ("zoo_spec", "explorer.spectra.orthogonal"),
    "explorer.evaluation": ("predict_proba", "explorer.training.evaluation"),
    "explorer.certified": ("certified_radius", "explorer.attacks.certified"),
    "explorer.bounds": ("Box", "explorer.nets.bounds"),
    "explorer.threads": ("single_threaded", "explorer.nets.threads"),
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_an_old_path_forwards_with_a_deprecation_warning_naming_the_new_one(old):
    import importlib

    name, new = OLD_PATHS[old]
    shim = importlib.import_module(old)
    assert shim.__file__ and "explorer" in shim.__file__  # a real file, never a sys.modules alias
    with pytest.warns(DeprecationWarning, match=r"removed in 0\.3\.0") as caught:
        value = getattr(shim, name)
    target = importlib.import_module(new)
    assert value is (target if new.endswith(f".{name}") else getattr(target, name))
    assert new in str(caught[0].message) and caught[0].filename == __file__
    assert name in dir(shim)
    with pytest.raises(AttributeError):
        shim.no_such_name


def test_no_module_is_registered_under_a_second_name():
    """No ``sys.modules`` aliases: a module is importable by the path of its file only."""
    for path in EXPLORER.rglob("*.py"):
        assert "sys.modules[" not in path.read_text(), path


def test_every_old_module_of_models_has_its_shim():
    import importlib

    package = importlib.import_module("explorer.models")
    for name, new in package._MOVED.items():
        assert (EXPLORER / "models" / f"{name}.py").is_file(), name
        assert importlib.import_module(new)


def test_the_public_api_imports_without_warnings_and_old_paths_still_import():
    import subprocess
    import sys

    code = ("import warnings; warnings.simplefilter('error')\n"
            "from explorer import zoo, datasets, nets, regions, stability, spectra, attacks, inversion\n"
            "from explorer import data, modelfiles, training, inverse, equivariance, koopman\n"
            "import explorer\n"
            "assert datasets is explorer.data.datasets and zoo.load and training.Recipe and attacks.deepfool\n"
            "import explorer.threads, explorer.models.stepper  # importing an old path does not warn\n"
            "warnings.simplefilter('default')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    from explorer.models.stepper import Setup\n"
            "    from explorer.threads import single_threaded\n"
            "    assert explorer.bounds.Box is nets.Box\n"
            "print(len(w), Setup is explorer.training.stepper.Setup)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "True"]
