"""Five sessions opened at once on one served app each render their own link (issue 10; no timing),
and a closed session's running job is stopped.

Each session is pulled with ``bokeh.client.pull_session`` from its own thread, all released
together, with a different URL. Every pulled document must have rendered (roots, the active
tab's content) and show its own URL's model, dataset, tab and tab setting: no cross-talk
between sessions that were built at the same time.
"""

from __future__ import annotations

import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import panel.models  # noqa: F401  (Panel's own bokeh models, needed to read the pulled documents)
import panel.models.file_dropper  # noqa: F401  (loaded lazily by Panel; the upload boxes use it)
import pytest
from bokeh.client import pull_session
from bokeh.models import Select, Tabs

from dashboard.app import TABS
from explorer import zoo
from tests.served import (
    browser_ready,
    click,
    job_processes,
    run_until,
    server_process_of,
)

TITLES = [title for title, _ in TABS]

# (query arguments, model, tab, a text the open tab must show)
CASES = [
    ({}, "moons-mlp", "Overview", "moons-mlp"),
    ({"model": "spirals-mlp"}, "spirals-mlp", "Overview", "spirals-mlp"),
    ({"model": "digits-cnn", "tab": "Spectra"}, "digits-cnn", "Spectra", "Layer 0"),
    ({"model": "digits-mlp", "tab": "Overview"}, "digits-mlp", "Overview", "digits-mlp"),
    ({"model": "digits-mlp-l1", "tab": "Spectra", "spectra.layer": "1"}, "digits-mlp-l1", "Spectra", "Layer 1"),
]


pytestmark = pytest.mark.usefixtures("event_loop_of_its_own")  # bokeh.client (tests/dashboard/conftest.py)


def _texts(model) -> str:
    """All the text the HTML/Markdown panes under ``model`` show."""
    return "\n".join(html.unescape(m.text) for m in model.references() if isinstance(getattr(m, "text", None), str))


def _select(doc, title: str) -> Select:
    found = [m for m in doc.models if isinstance(m, Select) and m.title == title]
    assert len(found) == 1, f"expected one {title!r} select, found {len(found)}"
    return found[0]


def test_five_sessions_at_once_each_render_their_own_link(served_url):
    url = served_url
    start = threading.Barrier(len(CASES))

    def pull(arguments):
        start.wait(timeout=60)
        return pull_session(url=url, arguments=arguments)

    with ThreadPoolExecutor(len(CASES)) as pool:
        sessions = list(pool.map(pull, [args for args, *_ in CASES]))
    try:
        assert len({s.id for s in sessions}) == len(CASES)
        for session, (args, model, tab, shown) in zip(sessions, CASES):
            doc = session.document
            assert doc.roots, f"{args}: the document has no roots"
            assert _select(doc, "Model").value == model, args
            assert _select(doc, "Dataset").value == zoo.card(model)["dataset"], args
            tabs = [m for m in doc.models if isinstance(m, Tabs) and [p.title for p in m.tabs] == TITLES]
            assert len(tabs) == 1  # the app's tabs (a view may hold tabs of its own)
            assert tabs[0].active == TITLES.index(tab), args
            page = _texts(tabs[0].tabs[tabs[0].active].child)
            assert shown in page, f"{args}: {shown!r} not in the {tab} tab"
            if tab == "Overview":  # the header names this session's model and dataset
                assert f"{model}</strong> on <strong>{zoo.card(model)['dataset']}" in page, args
    finally:
        for session in sessions:
            session.close()


def test_one_students_clicks_send_nothing_to_another_students_page(served_url):
    """Student A opens a tab (which says it is being built, then is) and changes the model; student
    B's page gets no message meanwhile (Panel's busy spinner follows one flag per process, and would
    patch every page at every click)."""
    # both sessions in the same server process: of three sessions, two share one whatever the number
    # of the shared server's processes (one, tests/served.py; two with run.sh's flags)
    url = served_url
    sessions = [pull_session(url=url) for _ in range(3)]
    try:
        by_process = {}
        for session in sessions:
            by_process.setdefault(server_process_of(session, url), []).append(session)
        a, b = next(pair[:2] for pair in by_process.values() if len(pair) >= 2)
        for session in (a, b):
            browser_ready(session)
        received = []
        handle = b._handle_patch
        b._handle_patch = lambda message: (received.append(message), handle(message))
        tabs = next(m for m in a.document.models if isinstance(m, Tabs) and [p.title for p in m.tabs] == TITLES)
        seen = []  # what A's Spectra tab shows after each message
        handle_a = a._handle_patch
        a._handle_patch = lambda message: (handle_a(message), seen.append(_texts(tabs.tabs[tabs.active].child)))
        tabs.active = TITLES.index("Spectra")
        assert run_until(a, lambda: "Layer 0" in _texts(tabs.tabs[tabs.active].child), timeout=60)
        # the tab said it was being built before it was
        building = [i for i, text in enumerate(seen) if "Building the Spectra tab" in text]
        assert building and building[0] < next(i for i, text in enumerate(seen) if "Layer 0" in text)
        spectra_of_moons = _texts(tabs.tabs[tabs.active].child)
        _select(a.document, "Model").value = "digits-mlp"
        assert run_until(a, lambda: _texts(tabs.tabs[tabs.active].child) != spectra_of_moons, timeout=60)
        run_until(b, lambda: bool(received), timeout=3)  # B's client reads what the server sent it
        assert received == [], [m.content for m in received]
    finally:
        for session in sessions:
            session.close()


def _wait_until(condition, timeout: float, step: float = 0.25) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(step)
    return time.monotonic() - start


def test_closing_a_session_stops_its_running_job(served_url):
    """A student starts the MILP stable-unit search on digits-cnn-orth at eps 0.3 (about 300 s of
    solver time, measured) and closes the tab: the job's process is gone once the server discards
    the session (8-10 s with the test server's TEST_SESSION_FLAGS, tests/served.py), long before the
    job would end."""
    url = served_url
    _wait_until(lambda: not job_processes(url), timeout=120)  # jobs of the earlier tests' closed sessions
    session = pull_session(url=url, arguments={"model": "digits-cnn-orth", "tab": "Linear regions",
                                               "regions.eps": "0.3"})
    browser_ready(session)
    click(session, "Find stable units and compress")
    long_running = {}

    def a_job_runs_for_five_seconds() -> bool:  # IBP and CROWN come first and end in a second
        now = time.monotonic()
        jobs = job_processes(url)
        for job in jobs:
            long_running.setdefault(job.pid, now)
        return any(now - long_running[job.pid] > 5 for job in jobs)

    _wait_until(a_job_runs_for_five_seconds, timeout=120)
    session.close()
    _wait_until(lambda: not job_processes(url), timeout=60)  # the job alone would run 300 s
    time.sleep(3)
    assert not job_processes(url), "the session's next job started after it closed"
