"""Five sessions opened at once on one served app each render their own link (issue 10; no timing).

Each session is pulled with ``bokeh.client.pull_session`` from its own thread, all released
together, with a different URL. Every pulled document must have rendered (roots, the active
tab's content) and show its own URL's model, dataset, tab and tab setting: no cross-talk
between sessions that were built at the same time.
"""

from __future__ import annotations

import asyncio
import html
import threading
from concurrent.futures import ThreadPoolExecutor

import panel.models  # noqa: F401  (Panel's own bokeh models, needed to read the pulled documents)
import pytest
from bokeh.client import pull_session
from bokeh.models import Select, Tabs

from dashboard.app import TABS
from explorer import zoo
from tests.served import served_app

TITLES = [title for title, _ in TABS]

# (query arguments, model, tab, a text the open tab must show)
CASES = [
    ({}, "moons-mlp", "Overview", "moons-mlp"),
    ({"model": "spirals-mlp"}, "spirals-mlp", "Overview", "spirals-mlp"),
    ({"model": "digits-cnn", "tab": "Spectra"}, "digits-cnn", "Spectra", "Layer 0"),
    ({"model": "digits-mlp", "tab": "Overview"}, "digits-mlp", "Overview", "digits-mlp"),
    ({"model": "digits-mlp-l1", "tab": "Spectra", "spectra.layer": "1"}, "digits-mlp-l1", "Spectra", "Layer 1"),
]


@pytest.fixture(autouse=True)
def event_loop_of_its_own():
    """bokeh.client needs a current event loop; an earlier test's asyncio.run() leaves none."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def _texts(model) -> str:
    """All the text the HTML/Markdown panes under ``model`` show."""
    return "\n".join(html.unescape(m.text) for m in model.references() if isinstance(getattr(m, "text", None), str))


def _select(doc, title: str) -> Select:
    found = [m for m in doc.models if isinstance(m, Select) and m.title == title]
    assert len(found) == 1, f"expected one {title!r} select, found {len(found)}"
    return found[0]


def test_five_sessions_at_once_each_render_their_own_link():
    with served_app() as url:
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
