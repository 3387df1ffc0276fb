"""Thread control for small matrix work.

On a 2-core machine, multi-threaded BLAS on small matrices is 10-100x slower than
one thread (measured on this project's CI machine), so the compute functions run
their inner loops single-threaded and parallelise over independent work instead.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

__all__ = ["single_threaded", "one_thread_per_process"]
_lock = threading.Lock()
_depth = 0  # how many threads are inside single_threaded() right now
_saved_threads = 1
_process_wide = False  # one_thread_per_process() was called


@contextmanager
def single_threaded():
    """Run the body with one torch thread and one BLAS/OpenMP thread, then restore.

    torch's thread count is process-wide, so nested or concurrent uses (the app runs
    several worker threads) share one save/restore: the first to enter saves the
    count, the last to leave restores it. threadpoolctl rescans the loaded libraries on
    every call (about 1 ms); a cached controller would miss libraries loaded later
    (measured: scipy's BLAS then ran multi-threaded and sigma_max took 26 ms, not 17).

    Yields
    ------
    None
        The body runs single-threaded; the thread counts are restored when the last
        concurrent user leaves.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with single_threaded():
    ...     inside = torch.get_num_threads()
    >>> inside, torch.get_num_threads() == before
    (1, True)
    """
    global _depth, _saved_threads
    with _lock:
        if _depth == 0:
            _saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        _depth += 1
    try:
        with threadpool_limits(1):
            yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                torch.set_num_threads(_saved_threads)


def one_thread_per_process() -> None:
    """From now on, one torch thread and one BLAS/OpenMP thread in this whole process.

    For a server whose sessions compute in several threads at once and whose heavy work
    goes to worker processes: the cores are shared by processes, and no thread changes a
    process-wide thread count while another one computes (``single_threaded`` then saves
    and restores 1). Calling it again does nothing.
    """
    global _saved_threads, _process_wide
    with _lock:
        if _process_wide:
            return
        _process_wide = True
        torch.set_num_threads(1)
        _saved_threads = 1
    threadpool_limits(1)
