"""Forwarding for deprecated module paths (the pattern of SciPy's ``scipy/linalg/decomp.py``).

An old path stays a real module whose module-level ``__getattr__`` hands out the object at its
new home and warns with a :class:`DeprecationWarning` naming that home and the release that
removes the old path. No module of ``explorer`` imports a deprecated path.
"""

from __future__ import annotations

import importlib
import warnings

REMOVED_IN = "0.3.0"


def forward(old: str, new: str | None, moved: dict[str, str] | None = None):
    """``(__getattr__, __dir__)`` for the deprecated module ``old`` whose contents live in ``new``.

    ``moved`` maps attribute names of ``old`` (submodules) to their new modules when they do
    not live in ``new`` (``None``: the old package held nothing but those).
    """
    moved = moved or {}

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        if name in moved:
            value, where = importlib.import_module(moved[name]), moved[name]
        elif new is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        else:
            target = importlib.import_module(new)
            where = f"{new}.{name}"
            try:
                value = getattr(target, name)
            except AttributeError:
                try:
                    value = importlib.import_module(where)
                except ModuleNotFoundError:
                    raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        warnings.warn(f"{old}.{name} is deprecated and will be removed in {REMOVED_IN}; use {where}.",
                      DeprecationWarning, stacklevel=2)
        return value

    def __dir__():
        return sorted(set(dir(importlib.import_module(new)) if new else ()) | set(moved))

    return __getattr__, __dir__
