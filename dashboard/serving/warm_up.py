"""Fill one server process's caches before its first student: `panel serve app.py --setup dashboard/warm_up.py`.

With ``--num-procs N`` Panel runs this file in every server process once it has started.
It builds the landing page, the Spectra link and the tabs whose first build in a process
costs more than the next ones (zoo models, evaluations, decision maps, spectra land in the
process's ``pn.cache``; the plotting code is imported; measured: Training 0.8 s, Linear
regions 0.55 s, Symmetry 0.3 s more the first time, the other tabs the same) and
starts the worker-process server of :mod:`dashboard.serving.jobs`, so that the first sessions
cost what every later one costs.
"""

import panel as pn
import tornado.netutil
from bokeh.document import Document

from dashboard.app import create_app
from dashboard.serving import jobs, session_pool
from dashboard.state import AppState
from explorer.nets.threads import one_thread_per_process

# The server processes share one listening socket, and Tornado accepts up to 128 waiting
# connections per wake-up: one process would take a whole class arriving at once while the
# other idles. One connection per wake-up lets both processes take their share.
tornado.netutil._DEFAULT_BACKLOG = 1

pn.extension("filedropper", sizing_mode="stretch_width", notifications=True)
jobs.use_processes(True)
one_thread_per_process()
jobs.warm_up()
# the landing page ready-built for the first students (dashboard/session_pool.py); before the first
# create_app, whose gc.freeze() hides from gc.get_objects() the application context the pool looks for
session_pool.start()
PAGES = [("moons-mlp", "Overview"), ("digits-cnn", "Spectra"), ("digits-mlp", "Overview"),
         ("moons-mlp", "Linear regions"), ("moons-mlp", "Symmetry"), ("moons-mlp", "Training")]
for model_name, tab in PAGES:
    create_app(AppState(model_name=model_name, tab=tab)).server_doc(Document())
