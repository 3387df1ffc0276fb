"""Affine classifiers, whose minimal perturbations have closed forms (DeepFool, CVPR 2016, Eq. 3 and
8-9), shared by the attack tests."""

import numpy as np
import torch
from torch import nn


def affine(d: int, k: int, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, k).double().eval()


def closed_form(model: nn.Linear, x: np.ndarray, dual: str = "l2"):
    """Distance from x to the boundary of its class polyhedron: min_k |f'_k| / ||w'_k||_q."""
    W, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    f = x @ W.T + b
    k0 = f.argmax(axis=1)
    rows = np.arange(len(x))
    fp = f - f[rows, k0][:, None]
    wp = W[None, :, :] - W[k0][:, None, :]
    q = np.linalg.norm(wp, axis=2) if dual == "l2" else np.abs(wp).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.abs(fp) / q
    dist[rows, k0] = np.inf
    return dist.min(axis=1), dist.argmin(axis=1)
