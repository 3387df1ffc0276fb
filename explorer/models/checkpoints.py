"""Deprecated path ``explorer.models.checkpoints``, removed in 0.3.0.

The module now lives at :mod:`explorer.modelfiles.checkpoints`. Each attribute read here warns
with a ``DeprecationWarning`` naming its new path and returns the object found there
(see :mod:`explorer._deprecation`).
"""

from explorer._deprecation import forward

__getattr__, __dir__ = forward("explorer.models.checkpoints", "explorer.modelfiles.checkpoints")
