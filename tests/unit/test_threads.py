"""single_threaded() restores torch's thread count even when threads overlap."""

import threading

import torch
from explorer.threads import single_threaded


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
