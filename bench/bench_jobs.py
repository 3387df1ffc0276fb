"""Does a heavy job block the other sessions? Event-loop lag during one, in a thread vs a worker process.

The server's sessions share one asyncio event loop and one interpreter lock. While a
heavy computation runs (MILP stable units of ``digits-cnn-orth``, the robustness sweep of
``digits-cnn``, an inversion sweep, an exact partition), a timer on the loop asks to run every 20 ms;
its lateness is how long any other student's click would wait. Measured twice in this process: the job in a thread
(as the app did before ``dashboard.serving.jobs``), and through ``dashboard.serving.jobs.run`` in a worker
process (as the served app does now). Printed: the worst and the 99th-percentile lag.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from dashboard.serving import jobs
from explorer import attacks, datasets, inversion, regions, stability, zoo

TICK = 0.02


def heavy_jobs():
    orth, cnn = zoo.load("digits-cnn-orth"), zoo.load("digits-cnn")
    digits = datasets.load("digits")
    box = stability.Box.linf_ball(digits.X_test[0], 0.05, clip=digits.domain)
    return {
        "MILP stable units, digits-cnn-orth": (stability.stable_units, (orth, box), {"method": "milp",
                                                                                     "time_limit": 0.5}),
        "robustness sweep, digits-cnn": (attacks.robustness, (cnn, digits.X_test, digits.y_test),
                                         {"clip": digits.domain}),
        "inversion sweep (success vs expansion)": (
            inversion.success_vs_expansion, (), {"ratios": [1.5, 2, 3, 4], "trials": 6, "methods": ["layered", "lp"]}),
        "exact regions, plane through 3 digits": (regions.partition_plane, (cnn, *regions.plane_through(
            digits.X_test[:3])), {}),
    }


async def lag_during(fn, args, kwargs) -> tuple[float, np.ndarray]:
    """Run the job off the loop; return its wall time and the loop's lateness at every tick."""
    lags = []
    task = asyncio.ensure_future(asyncio.to_thread(jobs.run, fn, *args, **kwargs))
    start = time.perf_counter()
    while not task.done():
        before = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - before - TICK)
    await task
    return time.perf_counter() - start, np.array(lags)


def main() -> None:
    results = {}
    for name, (fn, args, kwargs) in heavy_jobs().items():
        for mode in ("thread", "process"):
            jobs.use_processes(mode == "process")
            if mode == "process":
                jobs.warm_up()
            wall, lags = asyncio.run(lag_during(fn, args, kwargs))
            results[name, mode] = lags
            print(f"{name:38s} in a {mode:7s}: job {wall:5.1f} s, loop lag max {1e3 * lags.max():7.1f} ms, "
                  f"p99 {1e3 * np.percentile(lags, 99):7.1f} ms over {len(lags)} ticks", flush=True)
    jobs.use_processes(False)
    worst_thread = max(results[k].max() for k in results if k[1] == "thread")
    worst_process = max(results[k].max() for k in results if k[1] == "process")
    print(f"event-loop lag during a heavy job: worst {1e3 * worst_process:.0f} ms in a worker process vs "
          f"{1e3 * worst_thread:.0f} ms in a thread (x{worst_thread / max(worst_process, 1e-6):.0f})")


if __name__ == "__main__":
    main()
