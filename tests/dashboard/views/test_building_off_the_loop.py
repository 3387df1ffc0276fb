"""A long build (a 2-D or 3-D slice's partition) runs off the event loop: the other sessions of the
server process keep answering meanwhile (dashboard/views/common.py, ``show_built``).

An in-process Panel server serves a page whose button starts a build that holds until the test
releases it, and a box that echoes what is typed. While one session's build holds, a second session
opens and its echo answers; once released, the first session shows the result.
"""

from __future__ import annotations

import html
import threading
import time

import panel as pn
import panel.models  # noqa: F401  (Panel's own bokeh models, needed to read the pulled documents)
import pytest
from bokeh.client import pull_session
from bokeh.models import TextInput
from panel.io.server import get_server

from dashboard.views.common import show_built
from tests.served import browser_ready, click, free_port, run_until

pytestmark = pytest.mark.usefixtures("event_loop_of_its_own")  # bokeh.client (tests/dashboard/conftest.py)


class HeldBuildApp:
    """A button whose build waits for ``release``; a text box echoed in capitals."""

    def __init__(self):
        self.release = threading.Event()
        self.building = threading.Event()
        self.build_threads: list[int] = []
        self.outs: list[pn.Column] = []  # each session's result box, read here on the server's side

    def build(self):
        self.build_threads.append(threading.get_ident())
        self.building.set()
        self.release.wait(60)
        return pn.pane.Str("the slice is drawn")

    def __call__(self):
        out = pn.Column()
        self.outs.append(out)
        start = pn.widgets.Button(label="build")
        start.on_click(lambda event: show_built(out, self.build, "the slice"))
        typed = pn.widgets.TextInput(label="type here")
        echo = pn.pane.Str("")
        typed.param.watch(lambda event: setattr(echo, "object", event.new.upper()), "value")
        return pn.Column(start, out, typed, echo)


def _shows(session, text: str) -> bool:
    """Whether a text the session's page held when pulled now shows ``text``."""
    return any(text in html.unescape(m.text) for m in session.document.models
               if isinstance(getattr(m, "text", None), str))


def _holds(out: pn.Column, css_class: str | None = None, text: str | None = None) -> bool:
    """Whether the server-side box ``out`` holds one object with that CSS class or that text."""
    objects = list(out.objects)
    if len(objects) != 1:
        return False
    return css_class in objects[0].css_classes if css_class else getattr(objects[0], "object", None) == text


def _wait(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def served():
    """(url, app, the server loop's thread id) of the app in a Panel server in this process."""
    app = HeldBuildApp()
    port = free_port()
    server = get_server({"app": app.__call__}, port=port, address="127.0.0.1", websocket_origin=f"127.0.0.1:{port}")
    server.start()
    thread = threading.Thread(target=server.io_loop.start, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/app", app, thread.ident
    finally:
        app.release.set()
        server.io_loop.add_callback(server.io_loop.stop)
        thread.join(timeout=10)
        server.stop()


def test_a_second_session_answers_while_a_long_build_runs(served):
    url, app, loop_thread = served
    first = pull_session(url=url)
    second = None
    try:
        browser_ready(first)
        click(first, "build")
        (out,) = app.outs
        assert _wait(lambda: _holds(out, css_class="building")), "no 'Building the slice…' first"
        assert app.building.wait(20), "the build did not start"
        # the build holds: a new session still opens, and its callbacks still answer
        second = pull_session(url=url)
        browser_ready(second)
        typed = next(m for m in second.document.models if isinstance(m, TextInput))
        typed.value = "still here"
        assert run_until(second, lambda: _shows(second, "STILL HERE"), 20)
        assert not app.release.is_set() and _holds(out, css_class="building")
        assert app.build_threads[0] != loop_thread  # built in a thread of its own
        app.release.set()
        assert _wait(lambda: _holds(out, text="the slice is drawn")), "the result did not replace the message"
    finally:
        for session in (first, second):
            if session is not None:
                session.close()


def test_of_several_calls_only_the_last_builds_and_outside_a_server_it_builds_at_once():
    out, built = pn.Column(), []

    def build(n):
        built.append(n)
        return pn.pane.Str(f"build {n}")

    for n in range(3):
        show_built(out, lambda n=n: build(n), "the slice")
    assert built == [0, 1, 2] and out.objects[0].object == "build 2"  # no served document: each at once
