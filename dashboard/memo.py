"""One cache for the whole app: results computed once per process, shared by every session.

:func:`memoize` replaces ``pn.cache`` and the tabs' own dictionaries: it imports no UI
library (the tabs' analysis classes use it, in a notebook as in the server), bounds the
number of results it keeps, computes a result once when several sessions ask for it at
the same moment (the others wait for it instead of computing it again), and passes a
``progress`` callback through without making it part of the key.

Keys. A model is keyed by its ``explorer_key`` (``zoo:<name>``, ``upload:<sha256>``, ...,
set where the app loads it); a model without one (a notebook's own) by the object itself,
which the cache then keeps alive. A dataset is keyed by its name and shapes (the app's names
are unique: an upload's name holds its content's hash). Arrays are keyed by their bytes, lists and dicts by their
items; anything else must be hashable. Cached values are shared: treat them as read-only.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from explorer import datasets


def key_of(value):
    """A hashable stand-in for an argument (see the module's docstring)."""
    if isinstance(value, nn.Module):
        return getattr(value, "explorer_key", None) or value
    if isinstance(value, datasets.Dataset):  # names are unique in the app (an upload's holds its content's hash)
        return ("dataset", value.name, value.X_train.shape, value.X_test.shape)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        return ("array", array.dtype.str, array.shape, digest)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *map(key_of, value))
    if isinstance(value, dict):
        return ("dict", *((k, key_of(v)) for k, v in sorted(value.items())))
    return value


def memoize(max_items: int) -> Callable:
    """Decorate ``fn`` so that its last ``max_items`` results are kept, by argument.

    Parameters
    ----------
    max_items : int
        How many results to keep; the least recently used goes first.

    Returns
    -------
    callable
        A decorator. The decorated function has ``cache_clear()``, ``cache_size()`` and
        ``is_cached(*args, **kwargs)`` (whether a call with those arguments would return a kept
        result at once). A ``progress`` keyword argument, if given, reaches ``fn`` but is not part of the key.

    Examples
    --------
    >>> calls = []
    >>> @memoize(max_items=2)
    ... def square(x):
    ...     calls.append(x)
    ...     return x * x
    >>> square(3), square(3), len(calls), square.is_cached(3), square.is_cached(4)
    (9, 9, 1, True, False)
    """
    if max_items < 1:
        raise ValueError(f"A cache keeps at least one result, not {max_items}.")

    def decorate(fn: Callable) -> Callable:
        results: OrderedDict = OrderedDict()
        computing: dict = {}  # key -> the lock held while one thread computes it
        lock = threading.Lock()

        @functools.wraps(fn)
        def cached(*args, progress=None, **kwargs):
            key = (key_of(args), key_of(kwargs))
            while True:
                with lock:
                    if key in results:
                        results.move_to_end(key)
                        return results[key]
                    busy = computing.get(key)
                    if busy is None:
                        busy = computing[key] = threading.Lock()
                        busy.acquire()
                        break
                with busy:  # another session computes it: wait, then read it (or compute, if it failed)
                    pass
            try:
                value = fn(*args, **kwargs) if progress is None else fn(*args, progress=progress, **kwargs)
                with lock:
                    results[key] = value
                    while len(results) > max_items:
                        results.popitem(last=False)
                return value
            finally:
                with lock:
                    computing.pop(key, None)
                busy.release()

        def cache_clear() -> None:
            with lock:
                results.clear()

        def is_cached(*args, **kwargs) -> bool:
            key = (key_of(args), key_of(kwargs))
            with lock:
                return key in results

        cached.cache_clear = cache_clear
        cached.is_cached = is_cached
        cached.cache_size = lambda: len(results)
        return cached

    return decorate
