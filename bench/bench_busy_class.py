"""While other students run the heaviest jobs, do everyone else's controls still answer? (issue 10, item 2)

One served app (`bash run.sh serve`'s flags, on a free loopback port), warm. ``HEAVY``
students each start the MILP stable-unit search of ``digits-cnn-orth`` (Linear regions tab,
"Find stable units and compress" at a large ε: minutes of solver time) and keep it running.
Then ``STUDENTS`` other students arrive one after another (``bokeh.client``), each on
``digits-mlp``, and each

- changes the Overview's test sample: seconds from the change until the server pushed the
  redrawn sample (its title "Sample #k"), and
- opens the Linear regions tab on a slice no one computed before (an exact partition, itself
  a job in a worker process): seconds from the click until its plot was pushed.

The same students are measured first with nobody computing (idle), in the same run. Printed:
the worst and median seconds of each, idle and busy, and how many job processes ran. The
client's own CPU while it waits (reading the redrawn plots: a browser's work, on the
student's machine in a class) is reported, and the headline's answer time leaves it out.
Knobs (environment): ``BUSY_HEAVY=2`` (students with heavy jobs), ``BUSY_STUDENTS=5``.
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np

from tests.served import ROOT, app_tabs, browser_ready, click, job_processes, run_until

HEAVY = int(os.environ.get("BUSY_HEAVY", "2"))
STUDENTS = int(os.environ.get("BUSY_STUDENTS", "5"))
TIMEOUT = 120.0
HEAVY_EPS = (0.3, 0.35, 0.4, 0.45)  # one large radius per heavy student: minutes of MILP each


def _wait(session, condition) -> tuple[float, float]:
    """Seconds until ``condition()`` holds (nan after TIMEOUT), and the client's own CPU seconds
    meanwhile (reading the server's changes: a browser's work)."""
    start, cpu = time.monotonic(), time.process_time()
    seconds = time.monotonic() - start if run_until(session, condition, TIMEOUT) else float("nan")
    return seconds, time.process_time() - cpu


def start_heavy_job(url: str, eps: float):
    """A student who clicks "Find stable units and compress" on digits-cnn-orth at radius ``eps``."""
    from bokeh.client import pull_session

    session = pull_session(url=url, arguments={"model": "digits-cnn-orth", "tab": "Linear regions",
                                               "regions.eps": str(eps)})
    browser_ready(session)
    click(session, "Find stable units and compress")
    return session


def one_student(url: str, k: int) -> tuple[float, float, float, float]:
    """Seconds for the sample change to come back and to open Linear regions on a new slice, each
    with the client's own CPU seconds in it."""
    from bokeh.client import pull_session
    from bokeh.models import Plot

    samples = f"{3 * k}, {3 * k + 1}, {3 * k + 2}"  # a slice no earlier student asked for
    session = pull_session(url=url, arguments={"model": "digits-mlp", "regions.samples": samples})
    try:
        browser_ready(session)
        doc = session.document
        sample = next(m for m in doc.models if getattr(m, "title", None) == "Test sample #")
        wanted = 10 + k
        sample.value = wanted  # sent to the server as a PATCH-DOC

        def redrawn() -> bool:
            return any(str(getattr(m, "text", "")).startswith(f"Sample #{wanted} ") for m in doc.models)

        sample_s, sample_cpu = _wait(session, redrawn)
        tabs = app_tabs(doc)
        index = [p.title for p in tabs.tabs].index("Linear regions")
        tabs.active = index
        tab_s, tab_cpu = _wait(session, lambda: any(isinstance(m, Plot) for m in tabs.tabs[index].child.references()))
        return sample_s, sample_cpu, tab_s, tab_cpu
    finally:
        session.close()


def main() -> None:
    import panel.models  # noqa: F401  (Panel's own models, to read the pulled documents)
    import panel.models.file_dropper  # noqa: F401

    from bench.bench_classroom import Server

    asyncio.set_event_loop(asyncio.new_event_loop())
    print(f"busy class: {HEAVY} students run MILP stable units on digits-cnn-orth while {STUDENTS} others "
          "change a sample and open Linear regions", flush=True)
    with Server(ROOT / "app.py", ROOT) as server:
        one_student(server.url, 100)  # warm: imports done, digits-mlp evaluated in this process
        one_student(server.url, 101)  # (two server processes: warm both, most likely)
        idle = [one_student(server.url, k) for k in range(STUDENTS)]
        heavy = [start_heavy_job(server.url, HEAVY_EPS[i % len(HEAVY_EPS)]) for i in range(HEAVY)]
        deadline = time.monotonic() + TIMEOUT
        while len(job_processes(server.url)) < HEAVY and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5.0)  # past IBP and CROWN: the MILP runs
        running = len(job_processes(server.url))
        busy = [one_student(server.url, STUDENTS + k) for k in range(STUDENTS)]
        still = len(job_processes(server.url))
        for session in heavy:
            session.close()

    for label, rows in (("idle", idle), (f"{HEAVY} heavy jobs", busy)):
        sample_s, sample_cpu, tab_s, tab_cpu = np.array(rows).T
        print(f"  {label:14s}: sample change median {np.nanmedian(sample_s):.2f} s, worst {np.nanmax(sample_s):.2f} s "
              f"(the client's own CPU {np.nanmedian(sample_cpu):.2f} s); Linear regions tab median "
              f"{np.nanmedian(tab_s):.2f} s, worst {np.nanmax(tab_s):.2f} s "
              f"({int(np.isnan(tab_s).sum() + np.isnan(sample_s).sum())} timed out)")
    print(f"  job processes: {running} when the busy students started, {still} when they were done")
    idle_answer, busy_answer = (np.nanmax(np.array(rows)[:, 0] - np.array(rows)[:, 1]) for rows in (idle, busy))
    busy_tab, idle_tab = np.nanmax(np.array(busy)[:, 2]), np.nanmax(np.array(idle)[:, 2])
    print(f"busy class: with {HEAVY} heavy jobs running, a sample change answers in at most {busy_answer:.2f} s "
          f"without the client's own work (idle {idle_answer:.2f} s), a new Linear regions slice in at most "
          f"{busy_tab:.2f} s (idle {idle_tab:.2f} s)")


if __name__ == "__main__":
    main()
