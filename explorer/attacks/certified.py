"""Lower bounds and exact values for the distance to the decision boundary.

The smallest L2 perturbation that changes the prediction of x, Delta(x), is
sandwiched as

    certified radius  <=  Delta(x)  <=  ||r_DeepFool(x)||_2 .

* Certified radius (Tsuzuku, Sato & Sugiyama, NeurIPS 2018, arXiv 1802.04034):
  ReLU is 1-Lipschitz, so ``Lip(f) <= L = prod_l ||W_l||_2`` over the affine blocks
  between ReLUs, and no perturbation smaller than ``margin / (sqrt(2) L)`` can flip
  the label (margin = f_y - max_{j != y} f_j). The pairwise variant replaces
  ``sqrt(2) ||W_L||_2`` by ``||W_L[y] - W_L[j]||_2`` for every rival class j.
* Exact distance in 2-D: the minimum distance from x to the decision-boundary
  segments of the exact linear-region partition (:func:`explorer.regions.partition_2d`),
  the "maximum safe radius" of Wu, Wicker, Ruan, Huang & Kwiatkowska (arXiv 1807.03571).

Spectral norms are exact: each block is a dense float64 matrix
(:meth:`explorer.nets.CanonicalNet.dense_blocks`); for blocks too large for that,
:func:`explorer.spectra.lipschitz_bound`'s rigorous per-layer bounds are used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import nets, regions, spectra
from .deepfool import deepfool

__all__ = ["CertifiedRadius", "lipschitz_blocks", "certified_radius", "exact_distance_2d",
           "point_segment_distance", "Sandwich", "sandwich"]


@dataclass
class CertifiedRadius:
    """Certified L2 radii of a batch: ``radius`` (N,) with the margin, the label and L."""

    radius: np.ndarray
    margin: np.ndarray
    label: np.ndarray
    lipschitz: float
    pairwise: bool


def lipschitz_blocks(model: nn.Module) -> tuple[list[float], np.ndarray | None]:
    """Spectral norms ||W_l||_2 of the affine blocks between ReLUs, and the last block's matrix.

    Exact (dense float64 SVD) when every block fits as a dense matrix; otherwise the
    per-layer upper bounds of :func:`explorer.spectra.lipschitz_bound` and ``None``
    for the last block. A network that is not a chain gets one number, its graph's
    :meth:`~explorer.nets.PLGraph.lipschitz_upper_bound`, and ``None``.
    """
    net = nets.canonical(model)
    if isinstance(net, nets.GraphNet) and not net.graph().is_chain:  # one bound for the whole graph
        return [net.graph().lipschitz_upper_bound()], None
    try:
        blocks = net.dense_blocks()
    except nets.OperatorTooLargeError:

        return list(spectra.lipschitz_bound(net).norms), None
    return [float(np.linalg.norm(W, 2)) for W, _ in blocks], blocks[-1][0]


def certified_radius(model: nn.Module, x, pairwise: bool = False, norms=None) -> CertifiedRadius:
    """Certified L2 radius around each input: no smaller perturbation changes the prediction.

    ``margin / (sqrt(2) * prod_l ||W_l||_2)``, or with ``pairwise=True``
    ``min_j (f_y - f_j) / (||W_L[y] - W_L[j]||_2 * prod_{l<L} ||W_l||_2)``, where y is
    the predicted class. ``norms`` may pass :func:`lipschitz_blocks` computed earlier.
    For an affine model with two classes both equal the exact distance.
    """
    net = nets.canonical(model)
    block_norms, W_last = lipschitz_blocks(net) if norms is None else norms
    xb = net._as_batch(np.asarray(x, dtype=np.float64) if not torch.is_tensor(x) else x)
    with torch.no_grad():
        f = net(xb).numpy()
    if f.shape[1] < 2:
        raise ValueError("certified_radius needs a classifier with at least 2 outputs.")
    label = f.argmax(axis=1)
    rows = np.arange(len(f))
    top = f[rows, label]
    rivals = f.copy()
    rivals[rows, label] = -np.inf
    margin = top - rivals.max(axis=1)
    L = float(np.prod(block_norms))
    if not pairwise:
        return CertifiedRadius(margin / (np.sqrt(2.0) * L), margin, label, L, False)
    if W_last is None:
        raise ValueError("The pairwise radius needs the last block as a dense matrix; this model is too large "
                         "or not a chain.")
    before = float(np.prod(block_norms[:-1]))
    diff_norms = np.linalg.norm(W_last[label][:, None, :] - W_last[None, :, :], axis=2)  # (N, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = (top[:, None] - f) / (diff_norms * before)
    per_class[rows, label] = np.inf
    return CertifiedRadius(per_class.min(axis=1), margin, label, L, True)


def point_segment_distance(p: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Euclidean distance from the point p (2,) to each segment (M, 2, 2)."""
    a, b = segments[:, 0], segments[:, 1]
    ab = b - a
    t = np.clip(np.einsum("md,md->m", p - a, ab) / np.maximum(np.einsum("md,md->m", ab, ab), 1e-300), 0, 1)
    return np.linalg.norm(a + t[:, None] * ab - p, axis=1)


def exact_distance_2d(model: nn.Module, x, radius: float) -> tuple[float, np.ndarray]:
    """Exact L2 distance from a 2-D input x to the decision boundary, and the nearest point.

    ``radius`` must be at least the distance (e.g. the norm of any perturbation that
    flips the label, such as DeepFool's); the exact partition of the square of that
    half-width around x is computed and the nearest boundary segment found. The
    partition's boundary pieces are exactly the edges with two different classes on
    their sides (ties to the lowest index, tie regions included: see
    :class:`explorer.regions.Partition`), so the nearest point of a piece is the nearest
    point of the closure of another class: the distance is exact, up to the partition's
    tolerances.
    """

    net = nets.canonical(model)
    if int(np.prod(net.input_shape)) != 2:
        raise ValueError(f"exact_distance_2d needs a model with 2 inputs; this one takes {net.input_shape}.")
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}.")
    p = np.asarray(x, dtype=np.float64).reshape(2)
    h = 1.01 * float(radius) + 1e-9
    part = regions.partition_2d(net, box=(p[0] - h, p[0] + h, p[1] - h, p[1] + h))
    seg = part.boundary_segments
    if len(seg) == 0:
        raise ValueError(f"No decision boundary within {radius} of {p.tolist()}: radius is too small.")
    d = point_segment_distance(p, seg)
    m = int(d.argmin())
    a, b = seg[m]
    t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-300), 0, 1)
    return float(d[m]), a + t * (b - a)


@dataclass
class Sandwich:
    """The three radii around one 2-D point: certified (global and pairwise) <= exact <= DeepFool."""

    x: np.ndarray
    label: int
    certified: float
    certified_pairwise: float
    exact: float
    nearest: np.ndarray
    deepfool: float
    x_adv: np.ndarray
    path: np.ndarray


def sandwich(model: nn.Module, x, **deepfool_kwargs) -> Sandwich:
    """Certified radius <= exact distance to the boundary <= DeepFool's ||r||_2 at one 2-D point.

    DeepFool runs in float64 on the canonical network; its perturbation bounds the
    region the exact partition has to cover. A network that is not a chain has no pairwise
    radius of its own: ``certified_pairwise`` repeats the global one.
    """

    net = nets.canonical(model)
    p = np.asarray(x, dtype=np.float64).reshape(1, -1)
    df = deepfool(net, p, norm="l2", **deepfool_kwargs)
    if not df.success[0]:
        raise ValueError("DeepFool did not change the label at this point, so there is no upper bound.")
    norms = lipschitz_blocks(net)
    cert = certified_radius(net, p, norms=norms)
    pair = certified_radius(net, p, pairwise=True, norms=norms) if norms[1] is not None else cert
    exact, nearest = exact_distance_2d(net, p[0], float(df.l2[0]))
    return Sandwich(p[0], int(cert.label[0]), float(cert.radius[0]), float(pair.radius[0]), exact, nearest,
                    float(df.l2[0]), df.x_adv[0], df.path[0])
