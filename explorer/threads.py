"""Deprecated path ``explorer.threads``, removed in 0.3.0.

The module now lives at :mod:`explorer.nets.threads`. Each attribute read here warns
with a ``DeprecationWarning`` naming its new path and returns the object found there
(see :mod:`explorer._deprecation`).
"""

from explorer._deprecation import forward

__getattr__, __dir__ = forward("explorer.threads", "explorer.nets.threads")
