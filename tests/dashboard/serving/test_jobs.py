"""Worker processes for heavy jobs: results, progress, errors, limits and cancellation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard.serving import jobs
from explorer import regions, stability, zoo

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def processes():
    jobs.use_processes(True)
    yield
    jobs.use_processes(False)


def test_a_job_in_a_process_returns_what_the_library_returns():
    model = zoo.load("moons-mlp")
    box = (-2, 2, -2, 2)
    there = jobs.run(stability.stable_units, model, box, method="crown")
    here = stability.stable_units(model, box, method="crown")
    assert all(np.array_equal(a, b) for a, b in zip(there.status, here.status))
    assert all(np.array_equal(a, b) for a, b in zip(there.lower, here.lower))


def test_progress_comes_back_to_the_caller():
    calls = []
    part = jobs.run(regions.partition_2d, zoo.load("moons-mlp"), box=(-2, 2, -2, 2),
                    progress=lambda done, total: calls.append((done, total)))
    assert part.num_regions > 1
    assert calls and calls[-1][0] == calls[-1][1]  # the last report says: all done
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_the_jobs_exception_is_raised_with_its_message():
    with pytest.raises(ValueError, match="polygon must be"):
        jobs.run(regions.partition_plane, zoo.load("moons-mlp"), np.zeros(2), np.eye(2), np.zeros((2, 2)))


def test_a_job_over_its_time_limit_is_stopped():
    start = time.monotonic()
    with pytest.raises(jobs.JobError, match="longer than 1 s"):
        jobs.run(time.sleep, 30, max_seconds=1)
    assert time.monotonic() - start < 10


def report_forever(progress):
    """A job that reports progress every millisecond and never ends (a worker unpickles it by name)."""
    done = 0
    while True:
        done += 1
        progress(done, done + 1)
        time.sleep(0.001)


def test_a_job_that_reports_often_is_still_stopped_at_its_time_limit():
    reports = []  # (done, when): timed from the first report, so a slow process start (a loaded machine) is not counted
    with pytest.raises(jobs.JobError, match="longer than 1 s"):
        jobs.run(report_forever, progress=lambda done, total: reports.append((done, time.monotonic())), max_seconds=1)
    assert len(reports) > 10 and time.monotonic() - reports[0][1] < 10


def test_a_job_over_its_memory_limit_is_stopped():
    with pytest.raises(jobs.JobError, match="more than 0.2 GB"):
        jobs.run(np.ones, 200_000_000, max_memory=200 * 2**20)  # 1.6 GB asked


def _in_thread(owner, fn, *args, **kwargs):
    """Run ``jobs.run`` for ``owner`` in a thread; returns the thread and a dict with the outcome."""
    outcome = {}

    def work():
        jobs.OWNER.set(owner)
        try:
            outcome["result"] = jobs.run(fn, *args, **kwargs)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    return thread, outcome


def test_a_session_has_at_most_its_limit_of_jobs_and_closing_it_stops_them():
    session, other = object(), object()
    threads = [_in_thread(session, time.sleep, 30) for _ in range(jobs.MAX_JOBS_PER_SESSION)]
    deadline = time.monotonic() + 30
    while jobs._jobs_of.get(id(session), 0) < jobs.MAX_JOBS_PER_SESSION and time.monotonic() < deadline:
        time.sleep(0.05)
    extra, extra_outcome = _in_thread(session, time.sleep, 0)
    extra.join(10)
    assert isinstance(extra_outcome.get("error"), jobs.JobError)
    assert "already have" in str(extra_outcome["error"])
    while len(jobs._processes_of.get(id(session), ())) < len(threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.monotonic()
    assert jobs.cancel_owner(session) == len(threads)
    for thread, outcome in threads:
        thread.join(10)
        assert isinstance(outcome.get("error"), jobs.JobCancelled)
    assert time.monotonic() - start < 10
    other_thread, other_outcome = _in_thread(other, abs, -3)  # the freed workers serve another session
    other_thread.join(30)
    assert other_outcome == {"result": 3}
    assert id(session) not in jobs._jobs_of  # the session's account is closed


def _wait_for_processes(owners, timeout=30.0):
    deadline = time.monotonic() + timeout
    while any(not jobs._processes_of.get(id(owner)) for owner in owners):
        assert time.monotonic() < deadline, "the background jobs did not start"
        time.sleep(0.05)


def test_a_drawing_job_never_waits_behind_background_jobs():
    """Every core busy with a background job (a button's MILP, say): a tab that needs a partition
    to draw itself still gets it at once, while the background jobs keep running."""
    owners = [object() for _ in range(jobs.WORKERS)]
    threads = [_in_thread(owner, time.sleep, 30) for owner in owners]
    try:
        _wait_for_processes(owners)
        part = jobs.run(regions.partition_2d, zoo.load("moons-mlp"), box=(-2, 2, -2, 2))
        assert part.num_regions == regions.partition_2d(zoo.load("moons-mlp"), box=(-2, 2, -2, 2)).num_regions
        assert all(proc.is_alive() for owner in owners for proc in jobs._processes_of[id(owner)])
    finally:
        for owner in owners:
            jobs.cancel_owner(owner)
        for thread, _ in threads:
            thread.join(10)


def test_background_jobs_run_at_a_lower_priority_than_drawing_jobs():
    here = os.nice(0)
    thread, outcome = _in_thread(object(), os.nice, 0)
    thread.join(30)
    assert outcome == {"result": min(here + jobs.NICE, 19)}
    assert jobs.run(os.nice, 0) == here


def test_tensors_come_back_by_value_even_with_torch_multiprocessing_loaded():
    """torch.multiprocessing would send tensors as shared-memory handles that die with the worker."""
    import torch
    import torch.multiprocessing  # noqa: F401  (registers torch's reductions, as the server's imports do)

    model = zoo.load("moons-mlp")
    small, report = jobs.run(stability.compress, model, (-2, 2, -2, 2), method="crown")
    x = torch.rand(64, 2, dtype=torch.float64) * 4 - 2
    with torch.no_grad():
        assert torch.allclose(small.double()(x), model.double()(x), atol=1e-9)
    assert report.widths_after == stability.compress(model, (-2, 2, -2, 2), method="crown")[1].widths_after


def wait_for_file(path: str, limit: float = 60.0) -> bool:
    """A job that runs until ``path`` exists (a worker unpickles it by name)."""
    deadline = time.monotonic() + limit
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.path.exists(path)


def kill_myself() -> None:
    """A job whose process dies without a word, as under ``kill -9``."""
    os.kill(os.getpid(), 9)


def test_a_killed_job_is_reported_while_other_jobs_still_run(tmp_path):
    """The killed job's answer must not wait for the other workers (they may hold its pipe open)."""
    release = str(tmp_path / "release")
    others = [threading.Thread(target=jobs.run, args=(wait_for_file, release)) for _ in range(2)]
    for thread in others:
        thread.start()
    try:
        for _ in range(3):
            with pytest.raises(jobs.JobError, match="stopped unexpectedly"):
                jobs.run(kill_myself)
            assert all(thread.is_alive() for thread in others)  # answered before any other job ended
    finally:
        open(release, "w").close()
        for thread in others:
            thread.join()


def test_a_job_does_not_run_the_servers_main_script_again(tmp_path):
    """Under `panel serve` the main script is the `panel` command: a job must not import it anew
    (it cost each job about a second). A main script that records each run, and a job from it."""
    marks = tmp_path / "runs"
    script = tmp_path / "server_main.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(marks)!r}, 'a').write(__name__ + '\\n')\n"
        "if __name__ == '__main__':\n"
        f"    sys.path.insert(0, {str(ROOT)!r})\n"
        "    from dashboard.serving import jobs\n"
        "    jobs.use_processes(True)\n"
        "    print(jobs.run(os.getpid) != os.getpid(), jobs.run(os.getpid) != os.getpid())\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True"]  # two jobs, each in a process of its own
    assert marks.read_text().split() == ["__main__"]  # the script ran once: never as a job's __mp_main__


def _spare_pids() -> set:
    with jobs._spare_lock:
        return {worker.proc.pid for worker in jobs._spares}


def _wait_for_spares(count: int, timeout: float = 60.0) -> set:
    deadline = time.monotonic() + timeout
    while len(pids := _spare_pids()) < count:
        assert time.monotonic() < deadline, "the spare workers were not started"
        time.sleep(0.02)
    return pids


def process_name() -> str:
    """The job's own process name, as ps shows it (a worker unpickles it by name)."""
    with open("/proc/self/comm") as comm:
        return comm.read().strip()


@pytest.mark.skipif(not os.path.exists("/proc/self/comm"), reason="process names are Linux's")
def test_a_job_runs_in_a_spare_started_before_it_and_the_spare_is_replaced():
    jobs.run(os.getpid)  # starts the spares
    spares = _wait_for_spares(jobs.SPARES)
    deadline = time.monotonic() + 30
    while not all(open(f"/proc/{pid}/comm").read().strip() == jobs.SPARE_NAME for pid in spares):
        assert time.monotonic() < deadline, "the spares did not name themselves"  # once their start-up is done
        time.sleep(0.02)
    pid = jobs.run(os.getpid)
    assert pid in spares and pid != os.getpid()  # a process that was waiting before the job was asked for
    assert jobs.run(process_name) == jobs.JOB_NAME  # renamed once it has its job: tests/served.py counts it
    replaced = _wait_for_spares(jobs.SPARES)
    assert pid not in replaced and len(replaced) == jobs.SPARES
    assert jobs.run(os.getpid) not in {os.getpid(), pid}  # one job per process, ever


def test_a_spare_that_died_is_passed_over():
    jobs.run(os.getpid)
    spares = _wait_for_spares(jobs.SPARES)
    with jobs._spare_lock:
        for worker in jobs._spares:
            worker.proc.kill()
            worker.proc.join()
    pid = jobs.run(os.getpid)  # the dead spares cannot take the job: a new worker does
    assert pid not in spares and pid != os.getpid()


def test_turning_processes_off_stops_the_spares():
    jobs.run(os.getpid)
    _wait_for_spares(jobs.SPARES)
    with jobs._spare_lock:
        procs = [worker.proc for worker in jobs._spares]
    jobs.use_processes(False)
    assert not jobs._spares
    for proc in procs:
        proc.join(10)
        assert proc.exitcode is not None
