"""Every example in explorer's docstrings runs and prints what it says (doctest)."""

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import explorer


def _is_deprecated_path(info: pkgutil.ModuleInfo) -> bool:
    """An old path that only forwards to the new home (explorer/_deprecation.py): it holds no examples, and
    importing its submodules here would set them on it as attributes, so the import-rule test that asks
    the old path for a name would get it without the warning."""
    spec = info.module_finder.find_spec(info.name.rsplit(".", 1)[-1])
    origin = spec.origin if spec is not None else None
    return origin is not None and "from explorer._deprecation import forward" in Path(origin).read_text()


MODULES = sorted(m.name for m in pkgutil.walk_packages(explorer.__path__, "explorer.")
                 if m.name != "explorer.__main__" and not _is_deprecated_path(m))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
