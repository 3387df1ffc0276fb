"""Heavy computations in worker processes, so that no session waits for another's.

The server's sessions share one event loop and one interpreter lock; an MILP pass
or a robustness sweep run in a thread would hold both for seconds. :func:`run` calls
an :mod:`explorer` function in a fresh process forked from a *forkserver* that has
already imported ``explorer`` and ``torch._dynamo`` (a job starts in milliseconds, not the
seconds of a torch import), waits for it without holding the lock, and returns its result.
Every job gets a process of its own, but the process is started ahead: ``SPARES`` workers wait
for a job each (named ``SPARE_NAME``, then ``JOB_NAME`` once they have one), so a job is a pipe
write away (about 1 ms) and the next spare starts while the job runs; a job that finds none
starts its worker itself (50-100 ms on a loaded machine). A job that has answered is not waited
for: its process ends by itself, and the forkserver, its parent, reaps it.

Two kinds of job:

- *Background jobs*: what a button starts (the views run it with :data:`OWNER` set to
  their session). At most ``MAX_JOBS_PER_SESSION`` of one session at once, at most one
  per core running (the others wait their turn), at a lower CPU priority (``NICE``), and
  :func:`cancel_owner` stops them when their session closes.
- *Drawing jobs*: what a view needs to draw itself (an exact partition when a tab opens;
  no :data:`OWNER`). Bounded by the view's own limits, they never wait behind background
  jobs, so a class keeps its pages while some students run minutes of MILP.

Both: the job's ``progress(done, total)`` calls come back to the caller's callback, and
at most ``MAX_SECONDS`` and ``MAX_MEMORY_BYTES`` (resident, checked every 0.1 s) per job.

Why processes and not Dask: the jobs are few, independent and short; the standard
library's ``multiprocessing`` gives kill-on-cancel, memory caps and progress without
another server to run. Outside a served app (notebooks, Viewer tests) jobs run in
the calling thread unless :func:`use_processes` turned processes on.
"""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import os
import pickle
import sys
import threading
import time
from typing import Callable

MAX_SECONDS = 300.0
MAX_MEMORY_BYTES = 3 * 2**30
MAX_JOBS_PER_SESSION = 2
WORKERS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
POLL_SECONDS = 0.1
NICE = 10  # background jobs' niceness: the server and the drawing jobs get the cores first
# workers started ahead, waiting for their job: a job is then a pipe write away (about 1 ms, measured), where
# starting its process (a fork of the forkserver, then multiprocessing's start-up in the child) takes 50-100 ms
# on a loaded machine. Two: a tab that opens runs two drawing jobs at once (a partition and its grid estimate)
SPARES = 2
SPARE_NAME = "explorer-spare"  # a waiting worker's process name (psutil's name(), ps -o comm)
JOB_NAME = "explorer-job"  # a worker's name once it has its job

# The session (its AppState) whose background job this is; set by the views before they go to
# a thread. Unset: a drawing job.
OWNER: contextvars.ContextVar = contextvars.ContextVar("job_owner", default=None)


class JobError(RuntimeError):
    """A job was refused, stopped at a limit, or its process died; the text is for the user."""


class JobCancelled(JobError):
    """The session that asked for the job has closed."""


_settings = {"processes": False}
_slots = threading.Semaphore(WORKERS)
_lock = threading.Lock()
_jobs_of: dict = {}  # id(owner) -> number of its jobs waiting or running
_processes_of: dict = {}  # id(owner) -> the processes of its running jobs
_cancelled: set = set()


def use_processes(on: bool = True) -> None:
    """Run jobs in worker processes (the served app) or in the calling thread (the default)."""
    _settings["processes"] = bool(on)
    if on:
        _context()
    else:
        discard_spares()


def _context():
    ctx = multiprocessing.get_context("forkserver")
    # torch._dynamo too: torch imports it when the first optimiser is built, 4-13 s a job otherwise
    # (measured; every job is a fresh process, e.g. the Training tab's Koopman check replays a run).
    # Not the attack libraries (Foolbox 0.7 s and 5 MB, ART 1.5 s and 40 MB, measured): each server
    # process has a forkserver, which every job's memory counts from, for the sake of a button that
    # compares libraries (its job imports them, a second of its seconds)
    ctx.set_forkserver_preload(["explorer", "torch._dynamo"])
    return ctx


def warm_up() -> None:
    """Start the forkserver now (it imports explorer once) and a spare worker, so the first job starts fast."""
    if _settings["processes"]:
        run(os.getpid)


def _name_process(name: str) -> None:
    """Set this process's name as ``ps`` and psutil show it (Linux; elsewhere nothing)."""
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name)
    except OSError:
        pass


def _worker(jobs_in, results_out) -> None:
    """A spare worker: wait for one job (the pickle of ``(fn, args, kwargs, wants_progress,
    niceness)``), lower its priority by ``niceness``, run it, send back progress and the outcome,
    and end. Its server process going away ends the wait (the pipe's end-of-file).

    Messages are plain pickles (``send_bytes``): multiprocessing's own pickler would pass
    tensors as shared-memory handles that die with this process.
    """
    def send(*message):
        results_out.send_bytes(pickle.dumps(message))

    _name_process(SPARE_NAME)
    try:
        job = jobs_in.recv_bytes()
    except (EOFError, OSError):
        return
    _name_process(JOB_NAME)
    jobs_in.close()
    try:
        fn, args, kwargs, wants_progress, niceness = pickle.loads(job)
        os.nice(niceness)
        if wants_progress:
            kwargs["progress"] = lambda done, total: send("progress", done, total)
        send("done", fn(*args, **kwargs))
    except BaseException as exc:  # sent back to the caller, raised there
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        send("error", exc)
    finally:
        results_out.close()


class _Worker:
    """A started worker process waiting for its job: the process, the pipe its job goes down and
    the pipe its messages come back on."""

    def __init__(self):
        ctx = _context()
        self.jobs_in, jobs_out = ctx.Pipe(duplex=False)
        self.results_in, results_out = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker, args=(self.jobs_in, results_out), daemon=True)
        with _main_script_hidden():
            self.proc.start()
        self.jobs_in.close()
        results_out.close()
        self.jobs_out = jobs_out

    def give(self, job: bytes) -> bool:
        """Send the worker its job; False if it cannot take it (it died while waiting)."""
        try:
            self.jobs_out.send_bytes(job)
        except OSError:
            return False
        finally:
            self.jobs_out.close()
        return True

    def discard(self) -> None:
        self.jobs_out.close()
        self.results_in.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()


_spares: list = []  # started workers waiting for a job (at most SPARES)
_spare_lock = threading.Lock()
_refilling = threading.Event()


def _refill() -> None:
    """Start spare workers until there are SPARES (in a thread of its own: no job waits for it)."""
    try:
        while _settings["processes"]:
            with _spare_lock:
                if len(_spares) >= SPARES:
                    return
            worker = _Worker()
            with _spare_lock:
                keep = _settings["processes"]
                if keep:
                    _spares.append(worker)
            if not keep:
                worker.discard()
    except Exception:  # the next job starts its own worker, as without spares
        pass
    finally:
        _refilling.clear()


def _refill_soon() -> None:
    with _spare_lock:
        if SPARES <= 0 or not _settings["processes"] or _refilling.is_set():
            return
        _refilling.set()
    threading.Thread(target=_refill, name="job-spares", daemon=True).start()


def _take_worker(job: bytes) -> _Worker:
    """A worker that has its job: a spare if one waits (and another is started for the next job),
    else one started now."""
    while True:
        with _spare_lock:
            worker = _spares.pop(0) if _spares else None
        _refill_soon()
        if worker is None:
            worker = _Worker()
        if worker.give(job):
            return worker
        worker.discard()


def discard_spares() -> int:
    """Stop the spare workers (they hold no job); returns how many were stopped."""
    with _spare_lock:
        spares = list(_spares)
        _spares.clear()
    for worker in spares:
        worker.discard()
    return len(spares)


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0  # not Linux, or the process has ended: no memory cap


def cancel_owner(owner) -> int:
    """Stop every job of ``owner`` (a closing session); returns how many processes were stopped."""
    with _lock:
        if id(owner) in _jobs_of:
            _cancelled.add(id(owner))
        procs = list(_processes_of.get(id(owner), ()))
    for proc in procs:
        proc.kill()
    return len(procs)


def _claim(owner_id) -> None:
    """Count a background job against its session's limit (refused beyond it)."""
    with _lock:
        if _jobs_of.get(owner_id, 0) >= MAX_JOBS_PER_SESSION:
            raise JobError(f"You already have {MAX_JOBS_PER_SESSION} computations running; "
                           "wait for one to finish.")
        _jobs_of[owner_id] = _jobs_of.get(owner_id, 0) + 1


def _release(owner_id) -> None:
    with _lock:
        _jobs_of[owner_id] -= 1
        if not _jobs_of[owner_id]:
            del _jobs_of[owner_id]
            _cancelled.discard(owner_id)


def _track(owner_id, proc, running: bool) -> None:
    with _lock:
        procs = _processes_of.setdefault(owner_id, set())
        (procs.add if running else procs.discard)(proc)
        if not procs:
            del _processes_of[owner_id]


def run(fn: Callable, *args, progress: Callable[[int, int], None] | None = None,
        max_seconds: float = MAX_SECONDS, max_memory: int = MAX_MEMORY_BYTES, **kwargs):
    """``fn(*args, **kwargs)`` in a worker process (or inline, see :func:`use_processes`).

    ``fn`` must be importable (a module-level function, e.g. from :mod:`explorer`) and its
    arguments and result picklable. With ``progress`` the job gets a ``progress=`` callback.
    A background job when :data:`OWNER` is set, a drawing job otherwise (see the module).
    Raises what ``fn`` raised, or :class:`JobError` when a limit stopped the job.
    """
    if not _settings["processes"]:
        return fn(*args, **kwargs) if progress is None else fn(*args, progress=progress, **kwargs)
    owner = OWNER.get()
    if owner is None:
        return _run_in_process(fn, args, kwargs, progress, max_seconds, max_memory, owner_id=None, niceness=0)
    owner_id = id(owner)
    _claim(owner_id)
    try:
        with _slots:
            if owner_id in _cancelled:
                raise JobCancelled("The session closed; its computation was not started.")
            return _run_in_process(fn, args, kwargs, progress, max_seconds, max_memory, owner_id, niceness=NICE)
    finally:
        _release(owner_id)


_starting = threading.Lock()


@contextlib.contextmanager
def _main_script_hidden():
    """While a job process starts: the server's ``__main__`` without its ``__file__``.

    multiprocessing tells a new process the path of the parent's main script, and the child runs
    it again as ``__mp_main__`` before the job: under ``panel serve`` that is the ``panel``
    command, whose imports cost a job about a second (measured: 0.92-1.02 s against 0.015-0.026 s
    for a trivial job). A job never needs it: its function comes from an importable module."""
    main = sys.modules.get("__main__")
    with _starting:
        path = main.__dict__.pop("__file__", None) if main is not None else None
        try:
            yield
        finally:
            if path is not None:
                main.__file__ = path


def _run_in_process(fn, args, kwargs, progress, max_seconds, max_memory, owner_id, niceness):
    worker = _take_worker(pickle.dumps((fn, args, kwargs, progress is not None, niceness)))
    proc, receive = worker.proc, worker.results_in
    _track(owner_id, proc, running=True)
    deadline = time.monotonic() + max_seconds
    done = False
    try:
        while True:
            if receive.poll(POLL_SECONDS):
                try:
                    message = pickle.loads(receive.recv_bytes())
                except EOFError:
                    proc.join()
                    if owner_id in _cancelled:
                        raise JobCancelled("The session closed; its computation was stopped.") from None
                    raise JobError(f"The computation's process stopped unexpectedly (exit code "
                                   f"{proc.exitcode}).") from None
                if message[0] == "done":
                    done = True
                    return message[1]
                if message[0] == "error":
                    done = True
                    raise message[1]
                progress(message[1], message[2])
            elif proc.exitcode is not None and not receive.poll(0):
                # killed without a word: the pipe need not say so at once (another worker forked
                # meanwhile may hold a copy of its writing end), the process's exit does
                raise JobError(f"The computation's process stopped unexpectedly (exit code {proc.exitcode}).")
            # checked after every message too: a job that reports often is still stopped in time
            if time.monotonic() > deadline:
                raise JobError(f"The computation took longer than {max_seconds:.0f} s, the limit for one job, "
                               "and was stopped. Try smaller settings.")
            if _resident_bytes(proc.pid) > max_memory:
                raise JobError(f"The computation used more than {max_memory / 2**30:.1f} GB of memory, the "
                               "limit for one job, and was stopped. Try smaller settings.")
    finally:
        ended = proc.exitcode is not None
        if not ended and not done:
            proc.kill()
            proc.join()
        # a job that answered ends by itself: its forkserver, not this process, waits for its exit
        receive.close()
        _track(owner_id, proc, running=False)
