"""How long a trivial worker job takes when the server's main script is heavy (issue 30).

Under ``panel serve`` the process's ``__main__`` is the ``panel`` command, which imports Panel
and Bokeh. multiprocessing used to run that script again in every job process (as
``__mp_main__``) before the job: about a second per job. :mod:`dashboard.serving.jobs` starts a job
without it, in a spare worker started ahead (``jobs.SPARES``) that waits for its job.

Measured in a fresh process whose main script imports panel and bokeh as the command does, after
:func:`jobs.warm_up` (as ``dashboard/serving/warm_up.py`` does in each server process):

- a trivial job (``os.getpid`` in a worker) ``JOBS`` times, each ``PAUSE`` seconds after the last
  (students' clicks: the spares are replaced meanwhile); the median is the figure of the target;
- the same jobs back to back (each job after the spares are used up pays its worker's start);
- a trivial job with no spare (``SPARES = 0``): what every job paid before the spares;
- the script's imports in a fresh interpreter: what each job paid before ``__main__`` was hidden.

Last line: the median trivial job against the target of 50 ms, as a ratio (at most 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOBS = 20
PAUSE = 0.25
TARGET = 0.050
SERVER_MAIN = """
import json, os, statistics, sys, time
import panel, bokeh.server.server  # what the `panel serve` command imports
sys.path.insert(0, {root!r})
from dashboard.serving import jobs
jobs.use_processes(True)
jobs.warm_up()

def timed(pause):
    times = []
    for _ in range({jobs}):
        time.sleep(pause)
        start = time.perf_counter()
        jobs.run(os.getpid)
        times.append(time.perf_counter() - start)
    return statistics.median(times)

paced = timed({pause})
back_to_back = timed(0.0)
jobs.discard_spares()
jobs.SPARES = 0
no_spare = timed(0.0)
print(json.dumps(dict(paced=paced, back_to_back=back_to_back, no_spare=no_spare)))
"""
IMPORTS_ONLY = "import panel, bokeh.server.server"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "server_main.py"
        script.write_text(SERVER_MAIN.format(root=str(ROOT), jobs=JOBS, pause=PAUSE))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=ROOT)
        t = json.loads(out.stdout.splitlines()[-1])
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS_ONLY], check=True)
    imports = time.perf_counter() - start
    print("the server's main script's imports in a fresh interpreter (what each job paid before __main__ was "
          f"hidden): {1e3 * imports:.0f} ms")
    print(f"trivial job with no spare worker (its process started for it): median {1e3 * t['no_spare']:.1f} ms "
          f"of {JOBS}; back to back with spares: {1e3 * t['back_to_back']:.1f} ms")
    print(f"trivial worker job under a heavy main script, {PAUSE:.2f} s apart: median {1e3 * t['paced']:.1f} ms "
          f"of {JOBS}: job/target {t['paced'] / TARGET:.2f} (target 50 ms, at most 1)")


if __name__ == "__main__":
    main()
