"""Thread control for small matrix work.

On a 2-core machine, multi-threaded BLAS on small matrices is 10-100x slower than
one thread (measured on this project's CI machine), so the compute functions run
their inner loops single-threaded and parallelise over independent work instead.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

import torch
from threadpoolctl import ThreadpoolController

__all__ = ["single_threaded"]


@functools.cache
def _controller() -> ThreadpoolController:
    """One scan of the loaded BLAS/OpenMP libraries (a fresh scan costs about 1 ms per call)."""
    return ThreadpoolController()


@contextmanager
def single_threaded():
    """Run the body with one torch thread and one BLAS/OpenMP thread, then restore."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _controller().limit(limits=1):
            yield
    finally:
        torch.set_num_threads(saved)
