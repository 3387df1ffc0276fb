"""How long a trivial worker job takes when the server's main script is heavy (issue 30).

Under ``panel serve`` the process's ``__main__`` is the ``panel`` command, which imports Panel
and Bokeh. multiprocessing used to run that script again in every job process (as
``__mp_main__``) before the job: about a second per job. :mod:`dashboard.serving.jobs` now starts a job
without it. Measured in a fresh process whose main script imports panel and bokeh as the
command does: the median of 20 trivial jobs (``os.getpid`` in a worker), against the time that
script's imports take in a fresh interpreter (what each job paid before), in the same run.
Target: a trivial job under 50 ms.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOBS = 20
SERVER_MAIN = """
import os, statistics, sys, time
import panel, bokeh.server.server  # what the `panel serve` command imports
sys.path.insert(0, {root!r})
from dashboard.serving import jobs
jobs.use_processes(True)
jobs.warm_up()
times = []
for _ in range({jobs}):
    start = time.perf_counter()
    jobs.run(os.getpid)
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""
IMPORTS_ONLY = "import panel, bokeh.server.server"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "server_main.py"
        script.write_text(SERVER_MAIN.format(root=str(ROOT), jobs=JOBS))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, cwd=ROOT)
        job = float(out.stdout.split()[-1])
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS_ONLY], check=True)
    imports = time.perf_counter() - start
    print("the server's main script's imports in a fresh interpreter (what each job paid before): "
          f"{1e3 * imports:.0f} ms")
    print(f"trivial worker job under a heavy main script: median {1e3 * job:.1f} ms of {JOBS} (target 50 ms; "
          f"{imports / job:.0f}x under the imports each job paid before)")


if __name__ == "__main__":
    main()
