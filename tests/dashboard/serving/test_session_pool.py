"""Ready-built sessions (dashboard/serving/session_pool.py): a student gets a page built before she arrived,
wired to her own session; no two students share one; a link is kept ready once opened; the
pool builds only while its process is idle.

The served tests run a Panel server in this process (its event loop in a thread), so that they
can look at the pool; the app stamps each page with the number of its build.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time

import panel as pn
import panel.models  # noqa: F401  (Panel's own bokeh models, needed to read the pulled documents)
import pytest
from bokeh.client import pull_session
from bokeh.document import Document
from bokeh.models import Div, TextInput
from panel.io.server import get_server

from dashboard.serving import session_pool
from dashboard.serving.session_pool import (
    LANDING,
    SessionPool,
    _serialize_ahead,
    page_key,
)
from tests.served import free_port, run_until

pytestmark = pytest.mark.usefixtures("event_loop_of_its_own")  # bokeh.client (tests/dashboard/conftest.py)


class StampedApp:
    """A page that says which build it is and which link it was built for, and echoes what is typed."""

    def __init__(self):
        self.built = 0
        self.destroyed: list[int] = []

    def __call__(self):
        number, self.built = self.built, self.built + 1
        page = pn.state.location.query_params.get("page", "landing")
        typed = pn.widgets.TextInput(label="type here")
        echo = pn.pane.Str("", name="echo")
        typed.param.watch(lambda event: setattr(echo, "object", event.new.upper()), "value")
        pn.state.on_session_destroyed(lambda context: self.destroyed.append(number))
        return pn.Column(pn.pane.Str(f"build {number} page {page}"), typed, echo)


def _wait(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def served():
    """(url, pool, app): a Panel server in this process with a pool of 2 ready pages per link."""
    app = StampedApp()
    port = free_port()
    server = get_server({"app": app.__call__}, port=port, address="127.0.0.1", websocket_origin=f"127.0.0.1:{port}",
                        check_unused_sessions_milliseconds=200, unused_session_lifetime_milliseconds=200)
    server.start()
    pools = []
    server.io_loop.add_callback(lambda: pools.append(SessionPool(
        server._tornado._applications["/app"], size=2, max_links=1).install()))
    thread = threading.Thread(target=server.io_loop.start, daemon=True)
    thread.start()
    try:
        assert _wait(lambda: pools)
        yield f"http://127.0.0.1:{port}/app", pools[0], app
    finally:
        server.io_loop.add_callback(server.io_loop.stop)
        thread.join(timeout=10)
        server.stop()


def _stamp(session) -> str:
    """``build N page P`` as the pulled page shows it."""
    texts = [html.unescape(m.text) for m in session.document.models if isinstance(getattr(m, "text", None), str)]
    return next(found.group(0) for text in texts if (found := re.search(r"build \d+ page \w+", text)))


def _shows(session, text: str) -> bool:
    return any(text in html.unescape(m.text) for m in session.document.models
               if isinstance(getattr(m, "text", None), str))


def test_a_student_gets_a_page_built_before_she_arrived_and_wired_to_her_session(served):
    url, pool, app = served
    assert _wait(lambda: len(pool.ready[LANDING]) == 2), "the pool did not fill while idle"
    built_before = app.built
    session = pull_session(url=url)
    try:
        number = int(_stamp(session).split()[1])
        assert number < built_before, "the page was built on arrival, not taken from the pool"
        assert pool.handed_over == 1 and len(pool.ready[LANDING]) == 1
        typed = next(m for m in session.document.models if isinstance(m, TextInput))
        typed.value = "hello"  # the server answers through this session's own callbacks
        assert run_until(session, lambda: _shows(session, "HELLO"), 10)
    finally:
        session.close()
    assert _wait(lambda: number in app.destroyed, 20), "the session's destroy callbacks did not run"


def test_no_two_students_share_a_page(served):
    url, pool, app = served
    assert _wait(lambda: len(pool.ready[LANDING]) == 2)
    first, second, third = (pull_session(url=url) for _ in range(3))  # the third: built on arrival
    try:
        stamps = {_stamp(s) for s in (first, second, third)}
        assert len(stamps) == 3
        assert pool.handed_over == 2
        typed = next(m for m in first.document.models if isinstance(m, TextInput))
        typed.value = "only mine"
        assert run_until(first, lambda: _shows(first, "ONLY MINE"), 10)
        second.force_roundtrip()
        assert not _shows(second, "ONLY MINE")
    finally:
        for s in (first, second, third):
            s.close()


def _on_loop(pool, call):
    """Run ``call()`` on the server's event loop (where the pool lives) and return its result."""
    done = []
    pool.app_context.io_loop.add_callback(lambda: done.append(call()))
    assert _wait(lambda: done)
    return done[0]


def test_a_link_is_kept_ready_once_shared_and_not_when_merely_opened(served):
    url, pool, app = served
    key = page_key({"page": [b"spectra"]})
    teacher = pull_session(url=url, arguments={"page": "spectra"})  # opened: built on arrival
    try:
        assert pool.handed_over == 0 and _stamp(teacher).endswith("page spectra")
        assert key not in pool.pages, "a link merely opened is not kept ready"
        pool.share(session_pool.request_record("/app", "?page=spectra"))  # from this thread, as a button's callback
        assert _wait(lambda: len(pool.ready[key]) == 2), "the shared link was not kept ready"
        student = pull_session(url=url, arguments={"page": "spectra"})
        assert pool.handed_over == 1
        assert _stamp(student).endswith("page spectra")  # built for the link's query string
        student.close()
        pool.share(session_pool.request_record("/app", "page=other"))
        assert _wait(lambda: key not in pool.pages and key not in pool.ready), "max_links=1: the older link goes"
    finally:
        teacher.close()


def test_a_page_that_cannot_be_built_is_not_tried_again(served, monkeypatch):
    url, pool, app = served
    key = page_key({"page": ["broken"]})
    pool.pages[key] = session_pool.request_record("/app", "page=broken")

    def initialize_fails(doc):
        raise RuntimeError("Bokeh could not build this page")

    monkeypatch.setattr(pool, "_initialize_document", initialize_fails)
    assert _on_loop(pool, lambda: pool.build(key)) is None
    assert key not in pool.pages and not pool.ready[key]


# -- the pool's bookkeeping, without a server --------------------------------------------------

class _Context:
    """What SessionPool reads of a Bokeh ApplicationContext."""

    url = "/app"
    application = type("App", (), {"initialize_document": lambda self, doc: None})()
    io_loop = type("Loop", (), {"add_callback": lambda self, call, *args: call(*args)})()

    async def create_session_if_needed(self, *args):
        raise AssertionError("not called here")


def test_a_page_key_is_the_query_string_whatever_its_order_and_encoding():
    assert page_key({"b": [b"2"], "a": ["1"], "bokeh-session-id": [b"x"]}) == page_key({"a": [b"1"], "b": ["2"]})
    record = session_pool.request_record("/app", "dataset=caf%C3%A9")  # as a browser sends "café"
    assert page_key(record["arguments"]) == page_key({"dataset": ["café".encode()]})
    assert session_pool._stand_in_request(record).arguments == {"dataset": ["café".encode()]}
    assert page_key({}) == LANDING
    assert page_key({"a": ["1"]}) != page_key({"a": ["2"]})


def test_a_change_in_a_sessions_page_counts_as_activity(monkeypatch):
    monkeypatch.setattr(session_pool, "QUIET_SECONDS", 0.3)
    pool = SessionPool(_Context(), size=1)
    doc = Document()
    pool._initialize_or_adopt(doc)  # a session's page, built on arrival
    doc.add_root(Div(text="a student's page"))
    pool.idle()
    time.sleep(0.35)
    assert pool.idle()
    doc.roots[0].text = "she moved a slider"
    assert not pool.idle()


def test_idle_means_no_arrival_lately_and_little_cpu_besides_the_pools_own(monkeypatch):
    monkeypatch.setattr(session_pool, "QUIET_SECONDS", 0.3)
    pool = SessionPool(_Context(), size=1)
    pool.idle()
    time.sleep(0.2)
    assert pool.idle(), "nothing happened: idle"
    pool._note_activity(None)
    assert not pool.idle(), "a student just did something"
    time.sleep(0.35)
    pool.idle()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # the process computes for somebody
        pass
    assert not pool.idle()
    started = time.process_time()
    while time.process_time() < started + 0.3:  # the pool's own building does not count
        pass
    pool._own_cpu += time.process_time() - started
    assert pool.idle()


def test_a_shared_link_reaches_the_other_server_processes_and_garbage_in_the_file_is_skipped(tmp_path):
    shared = str(tmp_path / "links.jsonl")
    first, second = SessionPool(_Context(), shared_file=shared), SessionPool(_Context(), shared_file=shared)
    with open(shared, "a") as f:
        f.write("not json\n{\"no\": \"arguments\"}\n")
    first.share(session_pool.request_record("/app", "model=digits-cnn"))
    second._read_shared()
    assert list(second.pages) == [LANDING, page_key({"model": [b"digits-cnn"]})]
    assert second._wanted() == page_key({"model": ["digits-cnn"]}), "the newest link is filled first"


def test_a_ready_page_sends_its_serialization_made_ahead_unless_it_changed_since():
    unchanged, changed = Document(), Document()
    for doc in (unchanged, changed):
        doc.add_root(Div(text="as built"))
        _serialize_ahead(doc)
    ahead = unchanged.to_json()
    assert json.dumps(ahead.content) == json.dumps(Document.to_json(unchanged).content)
    assert "to_json" not in vars(unchanged), "only the session's first reply is made ahead"
    changed.roots[0].text = "changed after the build"
    assert "changed after the build" in json.dumps(changed.to_json().content)
