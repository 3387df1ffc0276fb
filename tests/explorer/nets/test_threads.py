"""single_threaded() restores torch's thread count even when threads overlap."""

import threading

import torch

from explorer.nets.threads import single_threaded


def test_overlapping_uses_restore_the_original_thread_count():
    torch.set_num_threads(2)
    inside, release = threading.Event(), threading.Event()
    seen = []

    def worker():
        with single_threaded():
            seen.append(torch.get_num_threads())
            inside.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(5)
    with single_threaded():  # enters while the worker is inside, leaves first
        seen.append(torch.get_num_threads())
    release.set()
    t.join()
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2


def test_one_thread_per_process_holds_for_torch_and_blas_and_survives_single_threaded():
    """In a fresh interpreter (the setting is process-wide): torch and every BLAS/OpenMP pool at 1."""
    import subprocess
    import sys

    code = """
import torch, numpy, scipy.linalg
from threadpoolctl import threadpool_info
from explorer.nets.threads import one_thread_per_process, single_threaded
torch.set_num_threads(2)
one_thread_per_process()
with single_threaded():
    pass
one_thread_per_process()
print(torch.get_num_threads(), sorted({pool["num_threads"] for pool in threadpool_info()}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "[1]"]
