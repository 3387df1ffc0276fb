"""The Linear regions tab against the library, on the same slice in one run (issue 30).

The library: :func:`explorer.regions.partition_plane` of the spirals-mlp slice the tab opens with
(the data's box), in this process, single-threaded, warm (median of 3 runs, before and after the
served measurement). The tab: a fresh ``panel serve app.py`` with the flags of `bash run.sh serve`
(SERVE_FLAGS), left idle until its processes have warmed up; then one ``bokeh.client`` session
(a browser's stand-in, tests/served.py) opens the link ``/app?model=spirals-mlp&tab=Linear regions``
and waits until its document holds the plot with the exact count (the counts pane names the
library's number of regions). Times from opening the link: the server's reply (the page), the
first picture of the regions (a plot under the tab), and the exact partition shown. The server
computes the slice for the first time (its caches are per process and cold for this slice).

Last line: tab / library (target at most 1.5x). ``REGIONS_TAB_MODEL=spirals-mlp`` picks another 2-D
zoo model.
"""

from __future__ import annotations

import html
import os
import statistics
import time

import numpy as np
import psutil
import torch

from explorer import datasets, regions, zoo
from explorer.nets.threads import single_threaded
from explorer.training import evaluation
from tests.served import browser_ready, run_until, served_app, server_processes

MODEL = os.environ.get("REGIONS_TAB_MODEL", "spirals-mlp")
TIMEOUT = 180.0


def wait_idle(url: str, quiet: float = 8.0, timeout: float = 240.0) -> None:
    """Wait until the server's processes (and their job processes) have used under 5% of a core for
    ``quiet`` seconds: warmed up, their ready pages built (dashboard/serving/session_pool.py)."""
    def cpu() -> float:
        total = 0.0
        for proc in server_processes(url):
            for p in [proc, *proc.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
        return total

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(quiet)
        if cpu() - before < 0.05 * quiet:
            return


def library_seconds(model, plane, repeat: int = 3) -> tuple[float, int]:
    """Median seconds of the library's exact partition of ``plane``, and its number of regions."""
    times, count = [], 0
    with single_threaded():
        for _ in range(repeat):
            start = time.perf_counter()
            count = regions.partition_plane(model, *plane).num_regions
            times.append(time.perf_counter() - start)
    return statistics.median(times), count


def _texts(doc, css: str) -> list[str]:
    return [html.unescape(getattr(m, "text", "") or "") for m in doc.models
            if css in (getattr(m, "css_classes", None) or [])]


def open_tab(url: str, count: int) -> dict:
    """Open the link in one bokeh.client session; seconds to the reply, the first picture, the exact count."""
    from bokeh.client import pull_session
    from bokeh.models import Plot

    marks = {}
    start = time.perf_counter()
    session = pull_session(url=url, arguments={"model": MODEL, "tab": "Linear regions"})
    marks["page"] = time.perf_counter() - start
    doc = session.document
    try:
        browser_ready(session)

        def plot_shown() -> bool:
            if "picture" not in marks and any(isinstance(m, Plot) and "regions" in str(getattr(m.title, "text", ""))
                                              for m in doc.models):
                marks["picture"] = time.perf_counter() - start
            return "picture" in marks

        def exact_shown() -> bool:
            plot_shown()
            return any(f"<strong>{count:,}</strong> activation regions" in t for t in _texts(doc, "regions-counts"))

        if run_until(session, exact_shown, TIMEOUT):
            marks["exact"] = time.perf_counter() - start
    finally:
        session.close()
    return marks


def main() -> None:
    import panel.models  # noqa: F401  (the client deserialises Panel's own models)
    import panel.models.file_dropper  # noqa: F401  (loaded lazily by Panel; the upload boxes use it)

    torch.set_num_threads(1)
    model, data = zoo.load(MODEL), datasets.load(zoo.ENTRIES[MODEL].dataset)
    box = evaluation.data_box(np.concatenate([data.X_train, data.X_test]))
    plane = (np.zeros(2), np.eye(2), regions.box_polygon(*box))
    regions.partition_plane(model, *plane)  # imports and caches warm, as in a warm server
    before, count = library_seconds(model, plane)
    with served_app(timeout=300) as url:
        wait_idle(url)
        marks = open_tab(url, count)
    after, _ = library_seconds(model, plane)
    library = 0.5 * (before + after)
    print(f"library: partition_plane of the {MODEL} slice, {count:,} regions: {library:.3f} s "
          f"(median of 3 before {before:.3f} s, after {after:.3f} s; one thread)")
    print(f"tab, from opening the link: page {marks['page']:.2f} s, first picture "
          f"{marks.get('picture', float('nan')):.2f} s, exact partition shown {marks.get('exact', float('nan')):.2f} s")
    if "exact" not in marks:
        print(f"regions tab: the exact count was not shown within {TIMEOUT:.0f} s")
        return
    print(f"regions tab {MODEL}: exact partition shown {marks['exact']:.2f} s after the link was opened, "
          f"library {library:.3f} s: tab/library {marks['exact'] / library:.1f}x (target 1.5x)")


if __name__ == "__main__":
    main()
