"""Pages built before their students arrive: every server process keeps sessions ready.

Building one session's page costs the server 0.5-1 s of CPU (Panel objects and Bokeh models,
README "Serving a class"), so a class of 30 arriving at once on 2 cores waits for 30 builds.
Each server process therefore keeps up to ``size`` documents built in advance for each page
asked for recently (app.py run for them, as for a student) and gives one to each browser that
connects: that session then costs only sending its document. The pages kept ready:

- the landing page, from the start;
- a link (its query string, e.g. ``?model=digits-cnn&tab=Spectra``) once a teacher shared it with
  the sidebar's "Share this view with a class" (:func:`share_page`), in whichever server process
  (they tell each other through a small file). At most ``max_links`` links are kept ready; the
  one shared first goes first. Links merely opened are not kept: a student reloading her own
  view would have the server build pages nobody else asks for.

Replacements are built only while the process is idle: under ``IDLE_CPU`` of a core in the last
tick, and no session arrived and no session's document changed (a student's control, a job's
progress) in the last ``QUIET_SECONDS``. One document is built at a time (0.5-1.2 s on the event
loop), so a class at work does not wait for the pool; a student who acts during a build waits
for that one build at most.

The idea is Voila's preheated kernels (voila-dashboards/voila, ``preheat_kernel``): do the
per-user start-up work before the user asks.

How it meets Bokeh: Bokeh builds a session in ``ApplicationContext.create_session_if_needed``:
a new ``Document``, a session context for it, ``Application.initialize_document`` (which runs
app.py), and a ``ServerSession``. The pool makes the new ``Document`` a ready one and makes
``initialize_document`` pass over it. Everything else stays Bokeh's own: the session context,
its request, the session-created hooks and the session. A ready document was built under a
stand-in session context that has the same query string, which is what the page reads through
``pn.state.location``.
"""

from __future__ import annotations

import collections
import contextvars
import gc
import json
import logging
import os
import tempfile
import threading
import time
import types
import weakref
from urllib.parse import parse_qs

from bokeh.document import Document
from bokeh.server import contexts
from bokeh.server.contexts import ApplicationContext, BokehSessionContext, _RequestProxy
from bokeh.util.token import generate_session_id, get_token_payload
from tornado import process
from tornado.ioloop import IOLoop, PeriodicCallback

POOL_SIZE = int(os.environ.get("EXPLORER_POOL_SIZE", "20"))  # per page and server process; 0: no pool
MAX_LINKS = 2
TICK_SECONDS = 0.5
IDLE_CPU = 0.2  # of a core during the last tick, besides the pool's own building
QUIET_SECONDS = 5.0
MAX_SHARED_BYTES = 2**20  # the file through which the server processes share links

LANDING: tuple = ()  # the key of the page without a query string
log = logging.getLogger(__name__)

# The ready document that the Document() in Bokeh's create_session_if_needed returns, while the
# pool hands it over (a one-item list, emptied once taken).
_HANDED: contextvars.ContextVar = contextvars.ContextVar("handed_document", default=None)


def _new_or_handed_document() -> Document:
    """``bokeh.server.contexts.Document`` while a pool is installed: the handed-over ready
    document if there is one, else a new one."""
    handed = _HANDED.get()
    return handed.pop() if handed else Document()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _serialize_ahead(doc: Document) -> None:
    """Serialize ``doc`` now, for the first ``PULL-DOC-REPLY`` of its session: the reply sends
    this serialization if nothing in the document changed since (a Bokeh change event), so that
    the session costs no serialization when it starts (0.05-0.15 s of its CPU, measured)."""
    ready = Document.to_json(doc)
    changed = []

    def note_change(event) -> None:
        changed.append(event)

    def to_json(*, deferred: bool = True):
        del doc.to_json  # once: later replies serialize the document as it is then
        doc.remove_on_change(note_change)
        if deferred and not changed:
            doc.models.flush_synced()
            return ready
        return Document.to_json(doc, deferred=deferred)

    doc.on_change(note_change)
    doc.to_json = to_json


def page_key(arguments: dict) -> tuple:
    """The page a request asks for: its query arguments (without Bokeh's own) as text, sorted."""
    return tuple(sorted((name, tuple(map(_text, values))) for name, values in arguments.items()
                        if not name.startswith("bokeh-")))


def request_record(app_url: str, query: str, protocol: str = "http", host: str = "localhost") -> dict:
    """What a ready document's stand-in request holds (JSON-able): the websocket request of the
    page ``app_url?query`` (e.g. ``/app``, ``model=digits-cnn&tab=Spectra``)."""
    query = query.lstrip("?")
    uri = f"{app_url}/ws" + (f"?{query}" if query else "")
    return {"protocol": protocol, "host": host, "uri": uri, "path": f"{app_url}/ws",
            "arguments": {name: list(values) for name, values in parse_qs(query, keep_blank_values=True).items()}}


def _stand_in_request(record: dict) -> _RequestProxy:
    """A request as ``Location.from_request`` and ``pn.state.session_args`` read it."""
    arguments = {name: [v.encode("utf-8") for v in values] for name, values in record["arguments"].items()}
    fields = {k: record[k] for k in ("protocol", "host", "uri", "path")}
    return _RequestProxy(types.SimpleNamespace(**fields, arguments=arguments), arguments=arguments,
                         cookies={}, headers={})


class SessionPool:
    """Ready documents of the pages of one Bokeh ``ApplicationContext`` (one app in one process)."""

    def __init__(self, app_context: ApplicationContext, size: int = POOL_SIZE, max_links: int = MAX_LINKS,
                 shared_file: str | None = None):
        self.app_context = app_context
        self.size = size
        self.max_links = max_links
        self.ready: dict[tuple, collections.deque] = collections.defaultdict(collections.deque)
        # the pages to keep ready (the landing page, then the shared links, the newest last): key -> request
        self.pages: collections.OrderedDict = collections.OrderedDict()
        self.pages[LANDING] = request_record(app_context.url, "")
        self.handed_over = 0  # sessions that got a ready document
        self._prebuilt: weakref.WeakSet = weakref.WeakSet()
        self._shared_file = shared_file
        self._shared_offset = 0
        self._last_activity = 0.0  # a session arrived or a session's document changed
        self._mark = (time.monotonic(), time.process_time())
        self._own_cpu = 0.0
        self._just_built = False
        self._ticker: PeriodicCallback | None = None
        app = app_context.application
        self._initialize_document = app.initialize_document
        self._create_session = app_context.create_session_if_needed

    # -- installing ------------------------------------------------------------------------------
    def install(self) -> "SessionPool":
        """Hook into the context's session creation and start building when idle (call it on the
        server's event loop)."""
        contexts.Document = _new_or_handed_document
        self.app_context.create_session_if_needed = self._create_session_if_needed
        self.app_context.application.initialize_document = self._initialize_or_adopt
        self._ticker = PeriodicCallback(self.tick, TICK_SECONDS * 1000)
        self._ticker.start()
        return self

    # -- a session arrives -----------------------------------------------------------------------
    async def _create_session_if_needed(self, session_id, request=None, token=None):
        ctx = self.app_context
        if request is None or session_id in ctx._sessions or session_id in ctx._pending_sessions:
            return await self._create_session(session_id, request, token)
        arguments = _RequestProxy(request, arguments=get_token_payload(token).get("arguments") if token
                                  else None).arguments
        self._last_activity = time.monotonic()
        ready = self.ready.get(page_key(arguments))
        if not ready:
            return await self._create_session(session_id, request, token)
        handed = _HANDED.set([ready.popleft()])
        try:
            session = await self._create_session(session_id, request, token)
        finally:
            _HANDED.reset(handed)
        self.handed_over += 1
        return session

    def _initialize_or_adopt(self, doc: Document) -> None:
        """``initialize_document``: build a session's page, or, for a ready document, bind it to
        this thread and to the request's path prefix (what Panel's initialize_document reads of
        the real request). Either way, note the session's activity from now on."""
        if doc in self._prebuilt:
            self._prebuilt.discard(doc)
            from panel.io.state import state

            state._thread_id_[doc] = threading.get_ident()
            set_prefix = getattr(self.app_context.application, "_set_session_prefix", None)
            if set_prefix is not None:
                set_prefix(doc)
        else:
            self._initialize_document(doc)
        doc.on_change(self._note_activity)

    def _note_activity(self, event) -> None:
        """A session's document changed (a student's control, a job's progress): not idle."""
        self._last_activity = time.monotonic()

    def share(self, record: dict) -> None:
        """Keep the page of ``record`` (a request, as :func:`request_record` makes it) ready in
        this process and, through the shared file, in the others. Safe from any thread (a
        button's callback runs in one): the pool changes on the server's event loop."""
        self.app_context.io_loop.add_callback(self._share_now, record)

    def _share_now(self, record: dict) -> None:
        self._keep_ready(page_key(record["arguments"]), record)
        self._share(record)

    def _keep_ready(self, key: tuple, record: dict) -> None:
        if key in self.pages:
            if key != LANDING:
                self.pages.move_to_end(key)  # shared again: the newest
            return
        self.pages[key] = record
        links = [k for k in self.pages if k != LANDING]
        for old in links[:max(0, len(links) - self.max_links)]:
            del self.pages[old]
            for doc in self.ready.pop(old, ()):
                self.app_context.io_loop.add_callback(self._discard, doc)

    async def _discard(self, doc: Document) -> None:
        """Free a ready document nobody will get, as Bokeh ends a session."""
        context = doc.session_context
        try:
            await self.app_context.application.on_session_destroyed(context)
        finally:
            self._prebuilt.discard(doc)
            doc.destroy(None)

    # -- building when idle ----------------------------------------------------------------------
    def build(self, key: tuple) -> Document | None:
        """Build one ready document of the page ``key`` (None, and the page no longer kept, if
        building raised or left the document empty)."""
        ctx = self.app_context
        doc = Document()
        context = BokehSessionContext(generate_session_id(), ctx.server_context, doc, logout_url=ctx._logout_url)
        context._request = _stand_in_request(self.pages[key])
        doc._session_context = lambda: context
        started = time.process_time()
        try:
            self._initialize_document(doc)
            built = bool(doc.roots)
            if built:
                _serialize_ahead(doc)
        except Exception:
            log.exception("could not build a ready document for %s", key)
            built = False
        finally:
            self._own_cpu += time.process_time() - started
        if not built:
            self.pages.pop(key, None)  # app.py fails on this page: sessions get Bokeh's own handling
            return None
        self._prebuilt.add(doc)
        self.ready[key].append(doc)
        return doc

    def _wanted(self) -> tuple | None:
        """The page to build for next: the most recently asked for that is not full."""
        for key in reversed(self.pages):
            if len(self.ready[key]) < self.size:
                return key
        return None

    def idle(self) -> bool:
        """Whether the process used under IDLE_CPU of a core since the last call (besides the
        pool's own building), and no session arrived and no session's document changed for
        QUIET_SECONDS."""
        now, cpu = time.monotonic(), time.process_time()
        (then, cpu_then), self._mark = self._mark, (now, cpu)
        used = (cpu - cpu_then - self._own_cpu) / max(now - then, 1e-6)
        self._own_cpu = 0.0
        return used < IDLE_CPU and now - self._last_activity >= QUIET_SECONDS

    def tick(self) -> None:
        """Every TICK_SECONDS: take the links other processes saw; build one document if idle.
        A tick after a build only measures: a build holds the event loop, so what the sessions
        asked for meanwhile shows in the tick after it."""
        self._read_shared()
        idle = self.idle()
        if self._just_built:
            self._just_built = False
        elif idle and (key := self._wanted()) is not None:
            self._just_built = self.build(key) is not None

    # -- links shared between server processes ---------------------------------------------------
    def _share(self, record: dict) -> None:
        if self._shared_file is None:
            return
        try:
            if os.path.exists(self._shared_file) and os.path.getsize(self._shared_file) > MAX_SHARED_BYTES:
                return
            with open(self._shared_file, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError:
            log.warning("could not share a link with the other server processes", exc_info=True)

    def _read_shared(self) -> None:
        if self._shared_file is None or not os.path.exists(self._shared_file):
            return
        with open(self._shared_file) as f:
            f.seek(self._shared_offset)
            lines = f.readlines()
            self._shared_offset = f.tell()
        for line in lines:
            try:
                record = json.loads(line)
                key = page_key(record["arguments"])
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if key not in self.pages:
                self._keep_ready(key, record)


def _shared_file() -> str | None:
    """The file the processes of one ``panel serve --num-procs N`` share links in (None in a
    single-process server)."""
    if process.task_id() is None:
        return None
    return os.path.join(tempfile.gettempdir(), f"network-explorer-links-{os.getppid()}.jsonl")


_pools: dict[str, SessionPool] = {}  # this process's pools, by app URL


def share_page(query: str, url: str = "/app", protocol: str = "http", host: str = "localhost") -> bool:
    """Keep the page ``url?query`` ready in every server process (a teacher's shared link);
    whether this process keeps pages ready at all (False outside ``bash run.sh serve``)."""
    pool = _pools.get(url)
    if pool is None:
        return False
    pool.share(request_record(url, query, protocol, host))
    return True


APP_WAIT_TRIES = 20  # turns of 0.5 s a one-process server's setup script waits for the server's application


def start(url: str = "/app", size: int = POOL_SIZE) -> SessionPool | None:
    """Keep ready documents of the app served at ``url`` in this server process (call it from
    ``panel serve --setup``, which runs on the server's event loop). None if ``size`` is 0 or
    the app is not served here yet: a server of one process runs its setup script before it has
    its applications (one of ``--num-procs N`` runs it after), so the pool then starts on one of
    the event loop's next turns."""
    if size <= 0:
        return None
    if not hasattr(contexts, "Document"):  # a Bokeh whose session creation this pool does not know
        log.warning("this Bokeh builds sessions differently: no ready sessions")
        return None
    context = _application_context(url)
    if context is None:
        IOLoop.current().add_callback(_start_when_served, url, size, APP_WAIT_TRIES)
        return None
    return _install(url, context, size)


def _install(url: str, context: ApplicationContext, size: int) -> SessionPool:
    _pools[url] = SessionPool(context, size=size, shared_file=_shared_file()).install()
    return _pools[url]


def _application_context(url: str) -> ApplicationContext | None:
    # Panel does not expose the server's application contexts to a setup script; find ours
    found = [obj for obj in gc.get_objects() if type(obj) is ApplicationContext and obj.url == url]
    return found[0] if found else None


def _start_when_served(url: str, size: int, tries: int) -> None:
    if url in _pools:
        return
    context = _application_context(url)
    if context is not None:
        _install(url, context, size)
    elif tries > 1:
        IOLoop.current().call_later(0.5, _start_when_served, url, size, tries - 1)
    else:
        log.warning("no Bokeh application at %s in this process: no ready sessions", url)
