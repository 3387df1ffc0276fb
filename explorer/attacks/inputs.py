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
    """A (N, *input) tensor in the model's dtype; a single input becomes a batch of one."""
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach()
    x = x.to(_dtype_of(model))
    shape = getattr(model, "input_shape", None)
    if shape is not None and tuple(x.shape) == tuple(shape):
        x = x.unsqueeze(0)
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"Expected a batch of inputs (N, ...), got shape {tuple(x.shape)}.")
    return x


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
    return norm


def check_clip(clip):
    if clip is None:
        return None
    lo, hi = (float(v) for v in clip)
    if not lo < hi:
        raise ValueError(f"clip must be (low, high) with low < high, got {clip!r}.")
    return lo, hi


def clip_to(x: torch.Tensor, clip) -> torch.Tensor:
    return x if clip is None else x.clamp(*clip)


def flat_norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    v = v.flatten(1)
    return v.norm(dim=1) if norm == "l2" else v.abs().amax(dim=1)


def per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector to broadcast against a batch shaped like ``like``."""
    return v.reshape(-1, *[1] * (like.dim() - 1))


def predict(model: nn.Module, x) -> np.ndarray:
    """The predicted labels argmax f(x) of a batch."""
    x = as_batch(model, x)
    with torch.no_grad():
        return model(x).argmax(dim=1).numpy()
