"""A class at once: N sessions opened together against one warm `panel serve app.py` (issue 10).

For each page (the landing page ``/app``, the shared link ``/app?model=digits-cnn&tab=Spectra``
and, as the baseline, a minimal app: a FastListTemplate holding one small HoloViews plot) a
server is started on a free loopback port with the flags of `bash run.sh serve` (SERVE_FLAGS),
warmed with one session (caches filled; for the link, a teacher then presses "Share this view
with a class…"), and before each batch the server is left idle until its processes have built
their ready pages (dashboard/serving/session_pool.py; ``EXPLORER_POOL_SIZE=0`` measures without them).
Then N = 1, 10, 30 sessions are opened at the same moment with ``bokeh.client.pull_session``.
Each session is a separate client process, forked before the start signal, so clients do not
share an interpreter lock. In a class the
browsers build their pages on the students' own machines; here the clients share the
server's 2 cores, so by default (``CLASSROOM_DEFER=1``) each client reads the server's reply
only once every session's reply is in: the server has the cores to itself while it serves,
and a client's reading of its reply (0.1-0.5 s of CPU, a browser's work) is added to the time
its reply arrived.
``CLASSROOM_DEFER=0`` lets every client read at once, competing with the server.

Per batch: median / p95 / max time to first render (start signal to the built document: the
time the server's reply arrived plus the client's CPU to read it), the p95 time until the server's reply
arrived, the server's CPU seconds per session (psutil, user + system, before / after the
batch), its memory with the sessions connected (PSS summed over its processes), and, for the landing page, the time
to open a tab: every connected session sets the Tabs model's ``active`` in its client
document at once and waits for the server to push the tab's content (a plot under the tab;
deferred like the first reply: the time the message holding the plot arrived plus the client's
CPU to read it); then, with those N still connected, ``SOLO_REPEATS`` more students arrive one at a time and
each opens the tab alone (the issue's "opening any tab with 30 sessions connected"). Ratios
are against the baseline app's per-session CPU.

Bounded: at most ``MAX_SESSIONS`` per batch, ``CLASSROOM_TIMEOUT`` seconds per batch (a batch
that times out counts its unfinished sessions as failed and skips the larger sizes of that
page); every server and client process is stopped in the end.

Knobs (environment): ``CLASSROOM_SIZES=1,10,30``, ``CLASSROOM_TIMEOUT=180``,
``CLASSROOM_TAB=Spectra`` (the tab opened from the landing page; a comma-separated list: the
first opened by all at once, each opened alone by later students; empty to skip),
``CLASSROOM_PAGES=baseline,landing,spectra`` (the pages measured),
``CLASSROOM_SERVE_FLAGS`` (the server's flags instead of run.sh's SERVE_FLAGS), ``CLASSROOM_DEFER=1``,
``CLASSROOM_BEFORE=DIR`` (another checkout, e.g. a ``git worktree`` of an older commit with the same
``.venv``: its landing page and Spectra link are measured too, each right before this checkout's,
and the last line compares the two).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import urlopen

import numpy as np
import psutil

from dashboard.serving import WARMED_UP, session_pool
from dashboard.views.share import SHARE_LABEL
from tests.served import (
    ROOT,
    SERVE_FLAGS,
    app_tabs,
    browser_ready,
    click,
    free_port,
    run_until,
    stop,
)

MAX_SESSIONS = 60
SOLO_REPEATS = 5  # students who open the tab one at a time while the batch stays connected
SIZES = tuple(int(n) for n in os.environ.get("CLASSROOM_SIZES", "1,10,30").split(",") if n.strip())
TIMEOUT = float(os.environ.get("CLASSROOM_TIMEOUT", "180"))
# the tabs opened from the landing page: all sessions open the first at once; students who arrive
# later open each alone
SOLO_TABS = [t.strip() for t in os.environ.get("CLASSROOM_TAB", "Spectra").split(",") if t.strip()]
TAB = SOLO_TABS[0] if SOLO_TABS else ""
PAGES = [p.strip() for p in os.environ.get("CLASSROOM_PAGES", "baseline,landing,spectra").split(",") if p.strip()]
# tabs that show no plot before their button is pressed: open once their widgets are pushed
TABS_WITHOUT_PLOTS = ("Inversion", "Inverse problems")
# the server's flags: those of `bash run.sh serve`, or others to compare (e.g. "--num-procs 1")
FLAGS = os.environ.get("CLASSROOM_SERVE_FLAGS", " ".join(SERVE_FLAGS)).split()
# 1: each client reads the server's reply only once every session's reply is in, so that the
# server has the cores to itself, as in a class where the browsers run on the students' machines
DEFER = os.environ.get("CLASSROOM_DEFER", "1") == "1"
# another checkout to compare with in the same run (its app served from its own folder)
BEFORE = Path(os.environ["CLASSROOM_BEFORE"]).resolve() if os.environ.get("CLASSROOM_BEFORE") else None

BASELINE_APP = '''\
import holoviews as hv
import numpy as np
import panel as pn

pn.extension(sizing_mode="stretch_width")
x = np.linspace(0, 6, 100)
plot = hv.Curve((x, np.sin(x)), "x", "sin x").opts(width=500, height=300, tools=["hover"])
pn.template.FastListTemplate(title="Baseline", main=[pn.pane.HoloViews(plot)]).servable()
'''


# -- the server --------------------------------------------------------------------------------

class Server:
    """`panel serve APP` on a free loopback port with the README's flags; stopped on exit."""

    def __init__(self, app: Path, cwd: Path):
        self.port = free_port()
        self.cwd = cwd
        self.url = f"http://127.0.0.1:{self.port}/{app.stem}"
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "panel", "serve", str(app), "--port", str(self.port), "--address", "127.0.0.1",
             "--allow-websocket-origin", f"127.0.0.1:{self.port}", *FLAGS],
            cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.ps = psutil.Process(self.proc.pid)

    def __enter__(self) -> "Server":
        try:
            return self._wait_up()
        except BaseException:
            self.__exit__()  # a server that never came up is stopped too
            raise

    def _wait_up(self) -> "Server":
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"panel serve exited early:\n{self.log.read()[-3000:]}")
            try:  # up once it answers and every process is done warming up (they listen before)
                urlopen(self.url, timeout=60).close()
                self.wait_warmed_up(deadline + 240)
                self.wait_idle(quiet=2.0)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("panel serve did not answer within 120 s") from None
                time.sleep(0.2)

    def wait_warmed_up(self, deadline: float) -> None:
        """This checkout's app: wait until every server process has said it warmed up (it does so
        after its first page, in the background). Another checkout's may never say it: not waited for."""
        if self.cwd != ROOT or "--setup" not in FLAGS:
            return
        processes = int(FLAGS[FLAGS.index("--num-procs") + 1]) if "--num-procs" in FLAGS else 1
        while self._log_text().count(WARMED_UP) < processes:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"panel serve did not warm up:\n{self._log_text()[-3000:]}")
            time.sleep(0.2)

    def _log_text(self) -> str:
        # opened anew: the server writes through the same file offset as self.log
        with open(f"/proc/self/fd/{self.log.fileno()}") as log:
            return log.read()

    def __exit__(self, *exc) -> None:
        stop(self.proc)  # the whole process group: --num-procs workers and job processes too
        self.log.close()

    def _tree(self) -> list:
        """The server and its live children (``--num-procs`` workers, job processes)."""
        return [self.ps, *self.ps.children(recursive=True)]

    def cpu(self) -> float:
        total = 0.0
        for proc in self._tree():
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
        return total

    def wait_idle(self, timeout: float = 180.0, quiet: float = session_pool.QUIET_SECONDS + 3.0) -> float:
        """Wait until the server has used under 5% of a core for ``quiet`` seconds: longer than its
        processes wait after the last session before they build ready pages, so they have built
        them (dashboard/serving/session_pool.py); the seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            cpu0 = self.cpu()
            time.sleep(quiet)
            if self.cpu() - cpu0 < 0.05 * quiet:
                break
        return time.monotonic() - start

    def pss_mb(self) -> float:
        """The server's memory: the proportional set size summed over its process tree. RSS summed
        counted the pages the forkserver shares with each worker it forked once per process (measured:
        3.42 GB RSS, 1.56 GB PSS for a warm `bash run.sh serve`)."""
        total = 0
        for proc in self._tree():
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:
                pass
        return total / 2**20


# -- one client process per session --------------------------------------------------------------

def _shows(content, names) -> bool:
    """Whether a message's JSON content holds a model of one of the bokeh types ``names``."""
    if isinstance(content, dict):
        return (content.get("type") == "object" and content.get("name") in names) or any(
            _shows(value, names) for value in content.values())
    return isinstance(content, list) and any(_shows(value, names) for value in content)


def _client(url, arguments, tab, timeout, t0, go, unpack, t_tab, tab_go, tab_unpack, done, results):
    """Pull a session when ``go`` is set, report; optionally open ``tab``; close when ``done`` is set.

    Once the server's reply is in, the client reads it only when ``unpack`` is set; likewise the
    message that brings the tab's content, when ``tab_unpack`` is set."""
    from bokeh.client import pull_session
    from bokeh.models import Button, Plot
    from bokeh.protocol.messages.pull_doc_reply import pull_doc_reply as PullDocReply

    marks = {}
    push = PullDocReply.push_to_document

    def timed_push(self, doc):  # the server's reply is in: the rest is this client's own work
        marks["reply"] = time.monotonic()
        results.put(("reply",))
        unpack.wait(timeout)
        marks["unpack"] = time.process_time()
        return push(self, doc)

    PullDocReply.push_to_document = timed_push
    session = None
    try:
        go.wait()
        cpu0 = time.process_time()
        session = pull_session(url=url, arguments=arguments)
        end = time.monotonic()
        doc = session.document
        own = time.process_time() - marks.get("unpack", time.process_time())  # CPU to read the reply
        results.put(("pull", marks.get("reply", end) - t0.value, time.process_time() - cpu0, len(doc.roots), own))
        browser_ready(session)
        if tab:
            tabs = app_tabs(doc)
            titles = [p.title for p in tabs.tabs] if tabs is not None else []
            tab_go.wait()
            if tab not in titles:
                results.put(("tab", float("nan")))
            else:
                index = titles.index(tab)
                shown = Button if tab in TABS_WITHOUT_PLOTS else Plot
                shown_names = {cls.__view_model__ for cls in shown.__subclasses__() + [shown]} | {"Figure"}
                handle_patch = session._handle_patch

                def held_patch(message):  # the tab's content is in: reading it is this client's own work
                    if "tab_reply" not in marks and _shows(message.content, shown_names):
                        marks["tab_reply"] = time.monotonic()
                        results.put(("tab_reply",))
                        tab_unpack.wait(timeout)
                        marks["tab_unpack"] = time.process_time()
                    handle_patch(message)

                session._handle_patch = held_patch

                def arrived() -> bool:
                    return any(isinstance(m, shown) for m in tabs.tabs[index].child.references())

                tabs.active = index  # sent to the server as a PATCH-DOC
                opened = run_until(session, arrived, timeout)
                own = time.process_time() - marks.get("tab_unpack", time.process_time())
                reply = marks.get("tab_reply", time.monotonic())
                results.put(("tab", reply - t_tab.value + own if opened else float("nan")))
        done.wait(timeout + 60)
    except Exception as exc:  # reported, the batch goes on
        results.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass


@dataclass
class Batch:
    page: str
    n: int
    replies: list = field(default_factory=list)   # start signal -> server's reply arrived, s
    client_cpu: list = field(default_factory=list)
    own: list = field(default_factory=list)       # the client's CPU to read the reply (a browser's work), s
    tabs: list = field(default_factory=list)      # tab opened -> its content pushed, s
    solo_tabs: dict = field(default_factory=dict)  # tab -> one more student opens it while N sit connected, s
    errors: list = field(default_factory=list)
    server_cpu: float = float("nan")
    tab_cpu: float = float("nan")
    wall: float = float("nan")
    server_done: float = float("nan")  # start signal -> the last reply arrived, s
    pss_before: float = float("nan")
    pss_after: float = float("nan")

    @property
    def ok(self) -> int:
        return len(self.replies)

    @property
    def first_renders(self) -> list:
        """Start signal -> the document is built: the server's reply plus the client's own CPU to read it
        (on a student's machine it would not wait for the others' readings)."""
        return [reply + own for reply, own in zip(self.replies, self.own)]

    @property
    def cpu_per_session(self) -> float:
        return self.server_cpu / self.n


def q(values, p) -> float:
    return float(np.percentile(values, p)) if len(values) else float("nan")


def solo_tab_opens(server: Server, arguments: dict, tab: str, repeats: int = SOLO_REPEATS) -> list[float]:
    """One more student at a time (the others stay connected): pull the page, then open ``tab``
    alone; the seconds from the click until the tab's plots are pushed, one per student."""
    ctx = mp.get_context("fork")
    seconds = []
    for _ in range(repeats):
        t0, t_tab = ctx.Value("d", time.monotonic()), ctx.Value("d", 0.0)
        go, unpack, tab_go, tab_unpack, done = (ctx.Event() for _ in range(5))
        unpack.set(), tab_unpack.set()
        results = ctx.Queue()
        proc = ctx.Process(target=_client, args=(server.url, arguments, tab, TIMEOUT, t0, go, unpack, t_tab, tab_go,
                                                 tab_unpack, done, results), daemon=True)
        proc.start()
        go.set()
        try:
            while (message := results.get(timeout=TIMEOUT))[0] == "reply":
                pass
            if message[0] == "pull":
                time.sleep(0.5)  # the student looks at the page, then clicks
                t_tab.value = time.monotonic()
                tab_go.set()
                while (message := results.get(timeout=TIMEOUT + 5))[0] == "tab_reply":
                    pass
                seconds.append(message[1] if message[0] == "tab" else float("nan"))
        except Exception:
            seconds.append(float("nan"))
        finally:
            tab_go.set(), done.set()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
    return seconds


def run_batch(server: Server, page: str, arguments: dict, n: int, tab: str | None) -> Batch:
    ctx = mp.get_context("fork")  # clients start in milliseconds, with bokeh and panel already imported
    t0, t_tab = ctx.Value("d", 0.0), ctx.Value("d", 0.0)
    go, unpack, tab_go, tab_unpack, done = (ctx.Event() for _ in range(5))
    if not DEFER:
        unpack.set(), tab_unpack.set()
    results = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(server.url, arguments, tab, TIMEOUT, t0, go, unpack, t_tab, tab_go,
                                               tab_unpack, done, results), daemon=True) for _ in range(n)]
    batch = Batch(page, n)
    try:
        for p in procs:
            p.start()
        time.sleep(0.5 + 0.02 * n)  # every client is waiting on `go`
        batch.pss_before = server.pss_mb()
        cpu0 = server.cpu()
        t0.value = time.monotonic()
        go.set()
        deadline = t0.value + TIMEOUT
        pulled = replied = 0
        while pulled + len(batch.errors) < n and time.monotonic() < deadline:
            try:
                msg = results.get(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
            except Exception:
                if not any(p.is_alive() for p in procs):
                    break  # every client died without a word (their tracebacks are above)
                continue
            if msg[0] == "reply":
                replied += 1
                if replied + len(batch.errors) >= n:
                    batch.server_done = time.monotonic() - t0.value
                    unpack.set()  # every reply is in: the clients read theirs
            elif msg[0] == "pull":
                pulled += 1
                batch.replies.append(msg[1])
                batch.client_cpu.append(msg[2])
                batch.own.append(msg[4])
                if msg[3] == 0:
                    batch.errors.append("a session came back with no roots")
            else:
                batch.errors.append(msg[1])
        unpack.set()
        batch.wall = batch.server_done if DEFER and np.isfinite(batch.server_done) else time.monotonic() - t0.value
        batch.server_cpu = server.cpu() - cpu0
        batch.pss_after = server.pss_mb()
        if tab and pulled == n:
            cpu1 = server.cpu()
            t_tab.value = time.monotonic()
            tab_go.set()
            deadline = t_tab.value + TIMEOUT
            tab_replies = 0
            while len(batch.tabs) < n and time.monotonic() < deadline:
                try:
                    msg = results.get(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
                except Exception:
                    if not any(p.is_alive() for p in procs):
                        break
                    continue
                if msg[0] == "tab_reply":
                    tab_replies += 1
                elif msg[0] == "tab":
                    batch.tabs.append(msg[1])
                else:
                    batch.errors.append(msg[1])
                if tab_replies + sum(1 for t in batch.tabs if not np.isfinite(t)) + len(batch.errors) >= n:
                    tab_unpack.set()  # every tab's content is in (or never will be): the clients read theirs
            tab_unpack.set()
            batch.tab_cpu = server.cpu() - cpu1
            if n > 1:
                batch.solo_tabs = {solo: solo_tab_opens(server, arguments, solo) for solo in SOLO_TABS}
        elif tab:
            tab_go.set()
        missing = n - pulled - sum(1 for e in batch.errors if "no roots" not in e)
        if missing > 0:
            batch.errors.append(f"{missing} session(s) not pulled within {TIMEOUT:.0f} s")
    finally:
        go.set(), unpack.set(), tab_go.set(), tab_unpack.set(), done.set()
        for p in procs:
            p.join(timeout=5)
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    return batch


def share_as_teacher(url: str, arguments: dict, links) -> None:
    """The teacher opens the link, presses "Share this view with a class…" (the server keeps its
    page ready, dashboard/serving/session_pool.py) and puts the link it shows on ``links``."""
    import asyncio

    from bokeh.client import pull_session
    from bokeh.models import TextInput

    asyncio.set_event_loop(asyncio.new_event_loop())
    session = pull_session(url=url, arguments=arguments)

    def link_shown() -> str | None:
        return next((m.value for m in session.document.models
                     if isinstance(m, TextInput) and m.title == "Link for the class"), None)

    try:
        browser_ready(session)
        click(session, SHARE_LABEL)
        run_until(session, lambda: link_shown() is not None, 30)
        links.put(link_shown())
    finally:
        session.close()


def shared_link_arguments(server: Server, arguments: dict) -> dict:
    """The query arguments of the link the teacher shares for the page ``arguments`` (the view's
    settings as the page holds them; the students open this link)."""
    ctx = mp.get_context("fork")
    links = ctx.Queue()
    teacher = ctx.Process(target=share_as_teacher, args=(server.url, arguments, links))
    teacher.start()
    try:
        link = links.get(timeout=TIMEOUT)
    finally:
        teacher.join(timeout=10)
    return dict(parse_qsl(urlsplit(link).query))


def run_page(app: Path, cwd: Path, page: str, arguments: dict, tab: str | None = None) -> list[Batch]:
    batches = []
    with Server(app, cwd) as server:
        warm = run_batch(server, page, arguments, 1, tab)  # imports done and caches filled, as in class
        if arguments and app.name == "app.py":
            arguments = shared_link_arguments(server, arguments)
            print(f"  {page}: the teacher shares ?{urlencode(arguments)}", flush=True)
        print(f"  {page}: server up, warm-up session {q(warm.first_renders, 50):.1f} s"
              + (f" + tab {q(warm.tabs, 50):.1f} s" if warm.tabs else "")
              + f", PSS {server.pss_mb():.0f} MB" + (f"; errors: {warm.errors}" if warm.errors else ""), flush=True)
        for n in SIZES:
            waited = server.wait_idle()  # as before a class: the server has been idle
            print(f"  {page}: server idle after {waited:.0f} s, PSS {server.pss_mb():.0f} MB", flush=True)
            b = run_batch(server, page, arguments, min(n, MAX_SESSIONS), tab)
            batches.append(b)
            print(f"  {page} N={b.n}: {b.ok}/{b.n} pulled in {b.wall:.1f} s"
                  + (f"; errors: {b.errors[:3]}" if b.errors else ""), flush=True)
            if b.errors:
                print(f"  {page}: stopping at N={b.n} (larger sizes would fail as well)", flush=True)
                break
    return batches


def main() -> None:
    import bokeh.client  # noqa: F401
    import panel.models  # noqa: F401  (the clients deserialise Panel's own models: import them before forking)
    import panel.models.file_dropper  # noqa: F401  (loaded lazily by Panel; the upload boxes use it)

    print(f"classroom: N sessions at once via bokeh.client.pull_session (one client process each, "
          f"{'reading their replies once all are in' if DEFER else 'reading their replies at once'}), warm server, "
          f"{' '.join(FLAGS)}, {psutil.cpu_count()} cores, sizes {SIZES}, timeout {TIMEOUT:.0f} s/batch", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        baseline_app = Path(tmp) / "baseline.py"
        baseline_app.write_text(BASELINE_APP)
        link = {"model": "digits-cnn", "tab": "Spectra"}
        runs = {
            "baseline": lambda: run_page(baseline_app, Path(tmp), "baseline", {}),
            "landing@before": lambda: run_page(BEFORE / "app.py", BEFORE, "landing@before", {}, TAB or None),
            "landing": lambda: run_page(ROOT / "app.py", ROOT, "landing", {}, TAB or None),
            "spectra@before": lambda: run_page(BEFORE / "app.py", BEFORE, "spectra@before", link),
            "spectra": lambda: run_page(ROOT / "app.py", ROOT, "spectra", link),
        }
        wanted = set(PAGES) | ({f"{page}@before" for page in PAGES} if BEFORE is not None else set())
        pages = {page: runs[page]() if page in wanted else [] for page in runs}

    labels = {"baseline": "baseline (FastListTemplate + 1 plot)", "landing": "landing /app",
              "spectra": "/app?model=digits-cnn&tab=Spectra", "landing@before": "landing /app (before)",
              "spectra@before": "/app?model=digits-cnn&tab=Spectra (before)"}
    print()
    print(f"{'page':44s} {'N':>3s} {'ok':>3s} {'median':>7s} {'p95':>7s} {'max':>7s} {'reply p95':>9s} "
          f"{'CPU/sess':>8s} {'cores':>5s} {'PSS MB':>7s} {'+MB/sess':>8s} {'client CPU':>10s}")
    for page, batches in pages.items():
        for b in batches:
            print(f"{labels[page]:44s} {b.n:3d} {b.ok:3d} {q(b.first_renders, 50):6.2f}s "
                  f"{q(b.first_renders, 95):6.2f}s "
                  f"{max(b.first_renders, default=float('nan')):6.2f}s {q(b.replies, 95):8.2f}s "
                  f"{b.cpu_per_session:7.2f}s {b.server_cpu / b.wall:5.2f} {b.pss_after:7.0f} "
                  f"{(b.pss_after - b.pss_before) / b.n:8.1f} "
                  f"{np.mean(b.client_cpu) if b.client_cpu else np.nan:9.2f}s")
    if TAB:
        print(f"\nopening the {TAB} tab from /app, all N connected sessions at once (until its plots are pushed):")
        for b in pages["landing"]:
            if b.tabs:
                ok = [t for t in b.tabs if np.isfinite(t)]
                print(f"  N={b.n:3d}: {len(ok)}/{b.n} opened, median {q(ok, 50):.2f} s, p95 {q(ok, 95):.2f} s, "
                      f"server CPU {b.tab_cpu / b.n:.2f} s/session")
        print(f"opening a tab alone, one more student at a time while N sessions stay connected "
              f"({SOLO_REPEATS} students a tab; the first in a server process may compute what later ones reuse):")
        for b in pages["landing"]:
            for solo, seconds in b.solo_tabs.items():
                ok = [t for t in seconds if np.isfinite(t)]
                print(f"  {solo:17s} N={b.n:3d}: {len(ok)}/{len(seconds)} opened, median {q(ok, 50):.2f} s, "
                      f"max {max(ok, default=float('nan')):.2f} s")

    base = {b.n: b.cpu_per_session for b in pages["baseline"]}
    if base:
        print("\nper-session server CPU, ours / baseline:")
    headline = {}
    for page in [page for page in ("landing", "spectra") if base and pages[page]]:
        parts = []
        for b in pages[page]:
            if b.n in base and base[b.n] > 0:
                headline[page] = (b.n, b.cpu_per_session / base[b.n], q(b.first_renders, 95), b.ok == b.n)
                parts.append(f"N={b.n}: x{b.cpu_per_session / base[b.n]:.1f}")
        print(f"  {labels[page]:36s} " + ", ".join(parts))
    land, spec = headline.get("landing"), headline.get("spectra")
    held = {page: max((b.n for b in pages[page] if b.ok == b.n and q(b.first_renders, 95) <= 5.0), default=0)
            for page in ("landing", "spectra")}
    if BEFORE is not None:
        print_against_before(pages)
        return
    if land and spec:
        print(f"classroom N={land[0]}: p95 first render landing {land[2]:.1f} s, Spectra link {spec[2]:.1f} s; "
              f"server CPU/session x{land[1]:.1f} (landing), x{spec[1]:.1f} (Spectra) of a minimal Panel app; "
              f"the most students at once within 5 s p95 (of the sizes measured): landing {held['landing']}, "
              f"Spectra link {held['spectra']}")
    elif set(PAGES) >= {"baseline", "landing", "spectra"}:
        print("classroom: incomplete (see the errors above)")
    else:
        last = {page: batches[-1] for page, batches in pages.items() if batches}
        print("classroom (only " + ", ".join(PAGES) + "): " + "; ".join(
            f"{page} N={b.n} p95 first render {q(b.first_renders, 95):.1f} s" for page, b in last.items()))


def print_against_before(pages: dict) -> None:
    """This checkout against CLASSROOM_BEFORE's, page by page at the largest size both measured:
    p95 first render and the server's memory (PSS), before -> now."""
    parts = []
    for page in ("landing", "spectra"):
        now = {b.n: b for b in pages[page] if b.ok == b.n}
        then = {b.n: b for b in pages[f"{page}@before"] if b.ok == b.n}
        if common := sorted(set(now) & set(then)):
            a, b = then[common[-1]], now[common[-1]]
            parts.append(f"{page} N={b.n} p95 {q(a.first_renders, 95):.2f} -> {q(b.first_renders, 95):.2f} s, "
                         f"PSS {a.pss_after / 1024:.2f} -> {b.pss_after / 1024:.2f} GB")
    print(f"classroom, before ({BEFORE}) -> this checkout: " + ("; ".join(parts) or "incomplete"))


if __name__ == "__main__":
    main()
