"""Deprecated path ``explorer.models.orthogonal``, removed in 0.3.0.

The module now lives at :mod:`explorer.spectra.orthogonal`. Each attribute read here warns
with a ``DeprecationWarning`` naming its new path and returns the object found there
(see :mod:`explorer._deprecation`).
"""

from explorer._deprecation import forward

__getattr__, __dir__ = forward("explorer.models.orthogonal", "explorer.spectra.orthogonal")
