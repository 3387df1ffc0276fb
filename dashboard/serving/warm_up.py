"""Fill one server process's caches before its first student: `panel serve app.py --setup dashboard/serving/warm_up.py`.

With ``--num-procs N`` Panel runs this file in every server process once it has started, on the
process's event loop. It does at once only what is cheap (the listen backlog, the worker-process
switch, the session pool) so that the process answers its first page as soon as the app's modules
are imported. The rest runs in the background once that first page is served (or after
``QUIET_START_SECONDS`` if none is asked for): the worker processes' forkserver starts (it imports
explorer in its own process, waited for in a thread), then the landing page, the Spectra link and
the tabs whose first build in a process costs more than the next ones are built, one per turn of
the event loop, so a session that arrives meanwhile waits for one build at most (zoo models,
evaluations, decision maps, spectra land in the process's ``pn.cache``; the plotting code is
imported; measured: Training 0.8 s, Linear regions 0.55 s, Symmetry 0.3 s more the first time, the
other tabs the same). So the first sessions cost what every later one costs, and the first page
does not wait for them.
"""

import asyncio

import panel as pn
import tornado.netutil
from bokeh.document import Document
from tornado.ioloop import IOLoop

from dashboard.app import create_app
from dashboard.serving import WARMED_UP, jobs, session_pool
from dashboard.state import AppState
from explorer.nets.threads import one_thread_per_process

# The server processes share one listening socket, and Tornado accepts up to 128 waiting
# connections per wake-up: one process would take a whole class arriving at once while the
# other idles. One connection per wake-up lets both processes take their share.
tornado.netutil._DEFAULT_BACKLOG = 1

PAGES = [("moons-mlp", "Overview"), ("digits-cnn", "Spectra"), ("digits-mlp", "Overview"),
         ("moons-mlp", "Linear regions"), ("moons-mlp", "Symmetry"), ("moons-mlp", "Training")]
QUIET_START_SECONDS = 10.0  # a process no page was asked of warms up after this long
AFTER_FIRST_PAGE_SECONDS = 0.5  # the first page is written before the warm-up starts


async def _fill_caches(started: list) -> None:
    """Start the job workers and build :data:`PAGES` once, yielding the event loop between pages."""
    if started:
        return
    started.append(True)
    await asyncio.to_thread(jobs.warm_up)  # the forkserver imports explorer; this loop keeps serving
    for model_name, tab in PAGES:
        create_app(AppState(model_name=model_name, tab=tab)).server_doc(Document())
        await asyncio.sleep(0)  # a session that arrived meanwhile is served before the next page
    print(WARMED_UP, flush=True)


def _start() -> None:
    loop, started = IOLoop.current(), []

    def soon(delay: float) -> None:
        loop.call_later(delay, lambda: loop.add_callback(_fill_caches, started))

    pn.state.on_session_created(lambda context: soon(AFTER_FIRST_PAGE_SECONDS) if not started else None)
    soon(QUIET_START_SECONDS)


pn.extension("filedropper", sizing_mode="stretch_width", notifications=True)
jobs.use_processes(True)
one_thread_per_process()
# the landing page ready-built for the first students (dashboard/serving/session_pool.py); before the first
# create_app, whose gc.freeze() hides from gc.get_objects() the application context the pool looks for
session_pool.start()
_start()
