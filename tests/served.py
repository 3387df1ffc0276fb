"""Start `panel serve app.py` on a free loopback port for the tests that need a real server.

A server takes 30-60 s of both cores to start (two processes, each warming up), so the tests
share one where they can. In a new served test file:

* Ask for the ``served_url`` fixture (tests/conftest.py): the URL of the app served with run.sh's
  flags (but SHARED_NUM_PROCS processes) and a teacher's data folder (:func:`teachers_folder`),
  started once per test process and shared by every test that asks for it::

      def test_something(page, served_url):
          page.goto(served_url + "?tab=Spectra")

  Under ``pytest -n 2 --dist loadfile`` the files that name ``served_url`` go to one worker
  together (tests/conftest.py), so one server serves them all; were they more than that worker's
  share of the run, each worker would start one. A worker runs its tests one at a time: a test has
  the server to itself, but it may find what earlier tests left (sessions not yet discarded, pages
  the session pool keeps built, jobs of closed sessions still stopping: wait for
  ``job_processes(url)`` to be empty if that matters), and it must leave the server serving (no
  stopping its processes).
* Start one of its own with ``with served_app(...) as url:`` (or a module-scoped fixture around it)
  only when the test needs a server unlike the shared one: other flags or ``num_procs``, another
  data folder, or one whose state the test ruins.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil
import requests

from dashboard.serving import WARMED_UP, jobs

ROOT = Path(__file__).resolve().parent.parent


def serve_flags() -> list[str]:
    """The flags `bash run.sh serve` gives panel serve (read from run.sh, so the tests serve the same)."""
    text = (ROOT / "run.sh").read_text()
    return re.search(r'^SERVE_FLAGS="([^"]*)"', text, re.M).group(1).split()


SERVE_FLAGS = serve_flags()


def serve_command() -> list[str]:
    """How `bash run.sh serve` starts panel serve: ``python -c "<imports the app>; panel's main()"`` (the app's
    modules imported once before the server processes fork), read from run.sh so the tests launch the same."""
    text = (ROOT / "run.sh").read_text()
    return [sys.executable, "-c", re.search(r'^\s*exec "\$PY" -c "([^"]*)"', text, re.M).group(1)]


SERVE_COMMAND = serve_command()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# pages each server process keeps built ahead (dashboard/serving/session_pool.py): run.sh serves 20, which
# costs 20-50 s of CPU per process at start and after every test that takes pages, CPU the other test
# worker needs; 2 still serve each test's first pages from the pool (tests/dashboard/serving/test_session_pool.py
# tests the pool itself, in process)
TEST_POOL_SIZE = "2"
# a closed page's session is discarded (its jobs stopped, its memory freed) 8-10 s after its websocket
# closes, where Bokeh's defaults take 15-32 s: a test's closed pages stop costing the next test CPU
# sooner; 8 s still leaves a busy machine's browser time to connect a page it has just been served
TEST_SESSION_FLAGS = ["--unused-session-lifetime", "8000", "--check-unused-sessions", "2000"]


# the shared server (``served_url``) runs one process: a second one cost every run its imports, warm-up and
# ready pages again (20-40 s of a core) and no served test needs two (the classroom's spread over processes
# is measured by `python -m bench classroom`)
SHARED_NUM_PROCS = 1

# the shared server offers a teacher's data folder (``--data``) as a class might have it: a file whose name is
# markup that would run a script if a page rendered it as HTML, and a broken file (tests/ui/test_hostile_ui.py)
HOSTILE_MARKER = "window.__hostile_ran"
HOSTILE = f"<img src=x onerror={HOSTILE_MARKER}=1>"


def blobs_csv(header=("u", "v", "kind"), classes=("red", "blue"), n=60, seed=0) -> bytes:
    """A 2-D CSV with two Gaussian blobs labelled ``classes``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(scale=0.4, size=(n, 2)) + np.where(y[:, None] == 1, 0.8, -0.8)
    lines = [",".join(header)] + [f"{a:.4f},{b:.4f},{classes[k]}" for (a, b), k in zip(X, y)]
    return ("\n".join(lines) + "\n").encode()


def teachers_folder(folder: Path) -> Path:
    """Fill ``folder`` with the shared server's data folder: a hostile file name (50 samples, a hostile
    column and class name) and a broken archive."""
    (folder / f"{HOSTILE}.csv").write_bytes(blobs_csv(header=("u", HOSTILE, "kind"), classes=(HOSTILE, "b"), n=50))
    (folder / "broken.npz").write_bytes(b"PK\x03\x04 a truncated archive")
    return folder


@contextlib.contextmanager
def served_app(timeout: float = 300.0, num_procs: int | None = None, data_dir: Path | None = None):
    """Yield the app's URL while a `panel serve app.py` subprocess runs (with ``num_procs`` server
    processes instead of SERVE_FLAGS' number, if given; the datasets in ``data_dir`` offered to every
    session, if given; TEST_POOL_SIZE ready pages and TEST_SESSION_FLAGS); stop it afterwards."""
    from dashboard.data_store import DATA_ENV

    flags = list(SERVE_FLAGS)
    if num_procs is not None:
        flags[flags.index("--num-procs") + 1] = str(num_procs)
    port = free_port()
    # the server's output goes to a file: an unread pipe would stall the server once full
    log = tempfile.NamedTemporaryFile("w+", prefix="served-app-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [*SERVE_COMMAND, "serve", "app.py", "--port", str(port), "--address", "127.0.0.1",
         "--allow-websocket-origin", f"127.0.0.1:{port}", *flags, *TEST_SESSION_FLAGS],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "EXPLORER_POOL_SIZE": os.environ.get("EXPLORER_POOL_SIZE", TEST_POOL_SIZE),
             **({DATA_ENV: str(data_dir)} if data_dir is not None else {})})
    url = f"http://127.0.0.1:{port}/app"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"panel serve exited early:\n{Path(log.name).read_text()}")
            try:
                if requests.get(url, timeout=30).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"panel serve did not answer within {timeout} s")
            time.sleep(0.3)
        # each process fills its caches once its first page is served: wait for all (as before a class)
        processes = int(flags[flags.index("--num-procs") + 1]) if "--num-procs" in flags else 1
        while Path(log.name).read_text().count(WARMED_UP) < processes:
            if proc.poll() is not None or time.monotonic() > deadline + 2 * timeout:
                raise TimeoutError(f"panel serve did not warm up:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.3)
        # every process keeps ready pages, as `bash run.sh serve`'s do (a one-process server once had none)
        assert "no ready sessions" not in Path(log.name).read_text(), Path(log.name).read_text()[-3000:]
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True`` and every process it forked
    (``--num-procs`` workers, job processes): the whole process group."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # forked workers that outlived their parent
    except ProcessLookupError:
        pass


def server_processes(url: str) -> list[psutil.Process]:
    """The processes of the server at ``url`` (its ``--num-procs`` workers and the one that forked them)."""
    port = str(urlsplit(url).port)
    return [p for p in psutil.process_iter(["cmdline"]) if port in (p.info["cmdline"] or [])]


def job_processes(url: str) -> list[psutil.Process]:
    """The worker processes running jobs for the server at ``url``: children of its forkservers that have
    their job (named ``jobs.JOB_NAME``; the spare workers waiting for one are not counted,
    dashboard/serving/jobs.py)."""
    servers = server_processes(url)
    forkservers = [child for server in servers for child in server.children()
                   if "forkserver" in " ".join(child.cmdline())]
    return [job for forkserver in forkservers for job in forkserver.children() if _name(job) == jobs.JOB_NAME]


def _name(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.Error:  # ended meanwhile
        return ""


# -- a bokeh.client session standing in for a browser (the classroom test and benches) -----------

def browser_ready(session) -> None:
    """Send what a browser sends once it has rendered the page (Panel holds some updates until then)."""
    from bokeh.document.events import MessageSentEvent
    from bokeh.events import DocumentReady

    doc = session.document
    doc.callbacks.trigger_on_change(MessageSentEvent(doc, "bokeh_event", DocumentReady()))
    session.force_roundtrip()


def server_process_of(session, url: str) -> int:
    """The pid of the server process that serves a pulled ``session``: the one holding its websocket."""
    client_port = session._connection._socket._socket.protocol.stream.socket.getsockname()[1]
    port = urlsplit(url).port
    for process in server_processes(url):
        for c in process.net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == client_port:
                return process.pid
    raise LookupError(f"no process of the server at {url} holds the websocket from port {client_port}")


def click(session, label: str) -> None:
    """Click the button labelled ``label`` in the session's document."""
    from bokeh.document.events import MessageSentEvent
    from bokeh.events import ButtonClick
    from bokeh.models import Button

    doc = session.document
    button = next(m for m in doc.models if isinstance(m, Button) and m.label == label)
    doc.callbacks.trigger_on_change(MessageSentEvent(doc, "bokeh_event", ButtonClick(button)))
    session.force_roundtrip()


def run_until(session, condition, timeout: float) -> bool:
    """Run the client's own IOLoop (it runs only while we wait) until ``condition()`` holds or
    ``timeout`` seconds pass; whether it holds."""
    loop = session._connection._loop
    stop = loop.call_later(timeout, loop.stop)
    session._connection._loop_until(condition)
    loop.remove_timeout(stop)
    return bool(condition())


def app_tabs(doc):
    """The app's Tabs model in a pulled document (a view may hold tabs of its own); None if absent."""
    from bokeh.models import Tabs

    return next((m for m in doc.models if isinstance(m, Tabs) and "Overview" in [p.title for p in m.tabs]), None)
