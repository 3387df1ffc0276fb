"""Singular values of a dense layer.
"""

from __future__ import annotations

import numpy as np
import torch

from ..nets.threads import single_threaded


def dense_singular_values(W) -> np.ndarray:
    """All singular values of a matrix, in descending order (float64).

    Parameters
    ----------
    W : array_like or torch.Tensor of shape (m, n)
        A dense layer's weight (a tensor is detached).

    Returns
    -------
    numpy.ndarray of shape (min(m, n),), float64
        Descending.

    Raises
    ------
    ValueError
        When ``W`` is not a matrix.

    Examples
    --------
    >>> dense_singular_values(np.diag([3.0, -1.0]))
    array([3., 1.])
    """
    W = np.asarray(W.detach() if isinstance(W, torch.Tensor) else W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"A dense layer's weight is a matrix; got shape {W.shape}.")
    with single_threaded():
        return np.linalg.svd(W, compute_uv=False)
