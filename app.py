"""Network Explorer: `panel serve app.py` (or `python app.py`)."""

import panel as pn

from dashboard import data_store
from dashboard.app import create_app
from dashboard.serving import jobs
from explorer.nets.threads import one_thread_per_process

data_store.remember_data_dir()  # `panel serve app.py --args --data DIR`: the folder of datasets

pn.extension("filedropper", sizing_mode="stretch_width", notifications=True, nthreads=4)  # the upload boxes

if pn.state.served:
    jobs.use_processes(True)  # heavy computations in worker processes, never on the shared event loop
    one_thread_per_process()  # the sessions' threads share the cores with the other server processes
    create_app().servable()

if __name__ == "__main__":
    jobs.use_processes(True)
    one_thread_per_process()
    pn.serve(create_app, port=5006, show=False, title="Network Explorer")
