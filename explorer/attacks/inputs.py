"""Batches, norms and clipping shared by the attacks; the model's predictions.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

NORMS = ("l2", "linf")


def _dtype_of(model: nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return torch.float32 if p is None else p.dtype


def as_batch(model: nn.Module, x) -> torch.Tensor:
    """A (N, *input) tensor in the model's dtype; a single input becomes a batch of one.

    Parameters
    ----------
    model : torch.nn.Module
        Its first parameter gives the dtype (float32 without parameters); a ``model.input_shape``
        attribute tells a single input from a batch.
    x : array_like or torch.Tensor
        A batch (N, *input), or a single input of shape ``model.input_shape``.

    Returns
    -------
    torch.Tensor of shape (N, *input)
        Detached, in the model's dtype.

    Raises
    ------
    ValueError
        A tensor of fewer than 2 dimensions (and not a single input) or an empty batch.

    Examples
    --------
    >>> model = nn.Linear(2, 2).double()
    >>> model.input_shape = (2,)
    >>> b = as_batch(model, [0.3, -0.1])
    >>> tuple(b.shape), b.dtype
    ((1, 2), torch.float64)
    """
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach()
    x = x.to(_dtype_of(model))
    shape = getattr(model, "input_shape", None)
    if shape is not None and tuple(x.shape) == tuple(shape):
        x = x.unsqueeze(0)
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"Expected a batch of inputs (N, ...), got shape {tuple(x.shape)}.")
    return x


def check_norm(norm: str) -> str:
    """The norm's name, refused unless it is one of :data:`NORMS`.

    Parameters
    ----------
    norm : str
        ``"l2"`` or ``"linf"``.

    Returns
    -------
    str
        ``norm`` itself.

    Raises
    ------
    ValueError
        Any other name.

    Examples
    --------
    >>> check_norm("linf")
    'linf'
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
    return norm


def check_clip(clip):
    """A clip box as ``(low, high)`` floats, or ``None``.

    Parameters
    ----------
    clip : tuple of (float, float) or None
        The box; ``None`` means no clipping.

    Returns
    -------
    tuple of (float, float) or None
        The box as floats.

    Raises
    ------
    ValueError
        Unless ``low < high``.

    Examples
    --------
    >>> check_clip((0, 1)), check_clip(None)
    ((0.0, 1.0), None)
    """
    if clip is None:
        return None
    lo, hi = (float(v) for v in clip)
    if not lo < hi:
        raise ValueError(f"clip must be (low, high) with low < high, got {clip!r}.")
    return lo, hi


def clip_to(x: torch.Tensor, clip) -> torch.Tensor:
    """``x`` clamped to the box, or ``x`` itself without one.

    Parameters
    ----------
    x : torch.Tensor
        Any shape.
    clip : tuple of (float, float) or None
        The box (already checked by :func:`check_clip`).

    Returns
    -------
    torch.Tensor
        Shaped like ``x``.

    Examples
    --------
    >>> clip_to(torch.tensor([-0.5, 0.5, 1.5]), (0.0, 1.0))
    tensor([0.0000, 0.5000, 1.0000])
    """
    return x if clip is None else x.clamp(*clip)


def flat_norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    """The L2 or L-infinity norm of each sample of a batch.

    Parameters
    ----------
    v : torch.Tensor of shape (N, *input)
        The batch.
    norm : {"l2", "linf"}
        Which norm.

    Returns
    -------
    torch.Tensor of shape (N,)
        The norm of each flattened sample.

    Examples
    --------
    >>> flat_norm(torch.tensor([[[3.0, -4.0]]]), "l2"), flat_norm(torch.tensor([[[3.0, -4.0]]]), "linf")
    (tensor([5.]), tensor([4.]))
    """
    v = v.flatten(1)
    return v.norm(dim=1) if norm == "l2" else v.abs().amax(dim=1)


def per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector to broadcast against a batch shaped like ``like``.

    Parameters
    ----------
    v : torch.Tensor of shape (N,)
        One value per sample.
    like : torch.Tensor of shape (N, *input)
        The batch.

    Returns
    -------
    torch.Tensor of shape (N, 1, ..., 1)
        ``v`` with as many trailing axes of size 1 as ``like`` has after the batch.

    Examples
    --------
    >>> per_sample(torch.ones(4), torch.zeros(4, 3, 8, 8)).shape
    torch.Size([4, 1, 1, 1])
    """
    return v.reshape(-1, *[1] * (like.dim() - 1))


def predict(model: nn.Module, x) -> np.ndarray:
    """The predicted labels argmax f(x) of a batch.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (N, K).
    x : array_like or torch.Tensor of shape (N, *input)
        A batch, or a single input (when ``model.input_shape`` says so).

    Returns
    -------
    numpy.ndarray of shape (N,), int64
        The class with the largest logit for each input.

    Examples
    --------
    >>> model = nn.Linear(2, 3)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.eye(3, 2)); _ = model.bias.zero_()
    >>> predict(model, [[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    array([0, 1, 2])
    """
    x = as_batch(model, x)
    with torch.no_grad():
        return model(x).argmax(dim=1).numpy()
