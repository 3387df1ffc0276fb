"""Small display helpers shared by the views (no maths here)."""

from __future__ import annotations

import traceback

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend so .opts works anywhere)
import panel as pn

hv.Store.set_current_backend("bokeh")

CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def error_alert(exc: BaseException, what: str = "This view") -> pn.pane.Alert:
    """A red box that tells the user what went wrong, in words (the server keeps going)."""
    if isinstance(exc, (ValueError, TypeError, KeyError, RuntimeError)):
        text = str(exc).strip("'\"") or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}"
    traceback.print_exception(exc)
    return pn.pane.Alert(f"**{what} could not be shown.** {text}", alert_type="danger")


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"
