"""The compute package never imports a UI library (checked in a fresh interpreter)."""

import pkgutil
import subprocess
import sys

import explorer


def test_explorer_imports_no_ui_library():
    modules = [f"explorer.{m.name}" for m in pkgutil.iter_modules(explorer.__path__) if not m.name.startswith("_")]
    assert len(modules) >= 5
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('panel', 'bokeh', 'holoviews', 'hvplot'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"explorer imported UI modules: {out.stdout.strip()}"
