"""Serving a class: everything that reaches into Bokeh's, Panel's or Tornado's internals lives here.

- :mod:`.session_pool`  pages built before their students arrive (per process, ready documents
                        handed to the next session that asks for the same page)
- :mod:`.warm_up`       the ``--setup`` script of ``bash run.sh serve``: caches filled, job
                        workers started, the pool started, before the first student
- :mod:`.offline`       the page loads nothing from outside hosts (Panel's files from this
                        server, no web font), and the design's selected-toggle style
- :mod:`.jobs`          heavy work in worker processes (a forkserver that has imported explorer):
                        progress, time and memory caps, cancellation when a session closes
- :mod:`.uploads`       the upload box: a file in numbered chunks, the size limit held on both
                        sides of the websocket

The views get what they need from here as callables handed to them by :mod:`dashboard.app`
(the share box's ``keep_ready``), or as the upload widget; never a pool or a framework object.

:data:`FRAMEWORK_INTERNALS` names every private name of a framework this package relies on;
``tests/dashboard/serving/test_framework_contract.py`` checks that each still exists, so an upgrade that
removes one fails by its name rather than by a session that hangs.
"""

from __future__ import annotations

# what :mod:`.warm_up` prints once a server process has filled its caches (tests and benches wait for it)
WARMED_UP = "Network Explorer: this server process has warmed up"

# (module, attribute path, who relies on it and why); an attribute set in ``__init__`` is
# written ``Class.self.name`` and checked in the class's source
FRAMEWORK_INTERNALS = (
    ("bokeh.server.contexts", "Document",
     "session_pool replaces it while a pool is installed, to hand a ready document to a new session"),
    ("bokeh.server.contexts", "_RequestProxy",
     "session_pool builds a stand-in request for a page built ahead"),
    ("bokeh.server.contexts", "ApplicationContext.self._sessions",
     "session_pool checks that a session id is new before handing it a ready document"),
    ("bokeh.server.contexts", "ApplicationContext.self._pending_sessions",
     "session_pool, the same check for sessions still being created"),
    ("bokeh.server.contexts", "BokehSessionContext.self._request",
     "session_pool sets the request a ready document's session reads"),
    ("panel.io.state", "state._thread_id_",
     "session_pool marks the thread a ready document was built on"),
    ("panel.widgets.input", "FileDropper._process_event",
     "uploads keeps a file's chunks by number and drops a file over the limit"),
    ("panel.widgets.input", "FileDropper._rename",
     "uploads keeps its limit and its refusal on the server side (not sent to the browser)"),
    ("panel.theme.fast", "Fast._resources",
     "offline drops the Fast design's web font"),
    ("tornado.netutil", "_DEFAULT_BACKLOG",
     "warm_up keeps each process's listen backlog at 1, so connections spread over the processes"),
)
