"""Thread control for small matrix work.

On a 2-core machine, multi-threaded BLAS on small matrices is 10-100x slower than
one thread (measured on this project's CI machine), so the compute functions run
their inner loops single-threaded and parallelise over independent work instead.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

__all__ = ["single_threaded"]


@contextmanager
def single_threaded():
    """Run the body with one torch thread and one BLAS/OpenMP thread, then restore.

    threadpoolctl rescans the loaded libraries on every call (about 1 ms). A cached
    controller would be faster but misses libraries loaded after it was made
    (measured: scipy's BLAS then ran multi-threaded and sigma_max took 26 ms, not 17).
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(saved)
