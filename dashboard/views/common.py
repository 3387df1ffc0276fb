"""Small display helpers shared by the views (no maths here)."""

from __future__ import annotations

import asyncio
import traceback

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend so .opts works anywhere)
import panel as pn

from .. import jobs

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


class BackgroundWork:
    """Mixin for Viewers that run long computations off the event loop.

    The Viewer provides ``self.state`` and ``self._progress`` (a ``pn.indicators.Progress``);
    the work function may report through :meth:`_set_progress` as its ``progress`` callback.
    It runs in a thread, and the heavy calls inside it go through :func:`dashboard.jobs.run`
    to a worker process on the session's account.
    """

    def _set_progress(self, done: int, total: int) -> None:
        self._progress.value = int(100 * done / max(total, 1))

    async def _in_background(self, fn, out: pn.Column, draw, what: str = "The computation") -> None:
        """Run ``fn`` in a worker thread with a spinner in ``out``, then show ``draw(result)`` or the error."""
        self._progress.param.update(value=0, visible=True)
        out.objects = [pn.indicators.LoadingSpinner(value=True, size=30)]
        owner = jobs.OWNER.set(self.state)  # the thread (and any worker process) works for this session
        try:
            result = await asyncio.to_thread(fn)
            out.objects = [draw(result)]
        except Exception as exc:  # shown to the user, the server keeps going
            out.objects = [error_alert(exc, what)]
        finally:
            jobs.OWNER.reset(owner)
            self._progress.visible = False
