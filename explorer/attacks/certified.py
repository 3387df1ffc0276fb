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
    """Certified L2 radii of a batch, with what they were computed from.

    Attributes
    ----------
    radius : numpy.ndarray of shape (N,), float64
        No perturbation of smaller L2 norm changes the prediction at each input.
    margin : numpy.ndarray of shape (N,), float64
        ``f_y - max_{j != y} f_j`` at each input, y the predicted class.
    label : numpy.ndarray of shape (N,), int64
        The predicted class y.
    lipschitz : float
        L, the product of the blocks' spectral norms (an upper bound on Lip(f)).
    pairwise : bool
        Whether the pairwise radius was computed (see :func:`certified_radius`).
    """

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

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU network that :func:`explorer.nets.canonical` reads.

    Returns
    -------
    norms : list of float
        One spectral norm (or upper bound) per block; their product bounds Lip(f).
    W_last : numpy.ndarray of shape (K, n_last), float64, or None
        The last block's dense matrix, for the pairwise radius; ``None`` when it is not available.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    >>> norms, W_last = lipschitz_blocks(model)
    >>> len(norms), W_last.shape
    (2, (3, 8))
    >>> bool(np.isclose(norms[0], torch.linalg.matrix_norm(model[0].weight, 2).item()))
    True
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

    The radius is ``margin / (sqrt(2) * prod_l ||W_l||_2)``, or with ``pairwise=True``
    ``min_j (f_y - f_j) / (||W_L[y] - W_L[j]||_2 * prod_{l<L} ||W_l||_2)``, where y is the
    predicted class (ReLU is 1-Lipschitz). For an affine model with two classes the pairwise
    radius equals the exact distance to the decision boundary.

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU classifier with at least 2 outputs that :func:`explorer.nets.canonical` reads.
    x : array_like or torch.Tensor of shape (N, *input) or (*input,)
        The inputs (a single input becomes a batch of one); computed in float64.
    pairwise : bool, default False
        Use the pairwise bound (needs the last block as a dense matrix).
    norms : tuple, optional
        :func:`lipschitz_blocks`'s result, computed earlier.

    Returns
    -------
    CertifiedRadius
        ``radius`` (N,), with the ``margin``, the predicted ``label``, the bound ``lipschitz``
        and ``pairwise``.

    Raises
    ------
    ValueError
        A model with fewer than 2 outputs, or ``pairwise=True`` for a model whose last block
        is too large for a dense matrix or that is not a chain.

    References
    ----------
    Y. Tsuzuku, I. Sato and M. Sugiyama, "Lipschitz-margin training: scalable certification of
    perturbation invariance for deep neural networks", NeurIPS 2018, arXiv:1802.04034.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(2, 2).double()
    >>> x = np.array([[0.3, -0.1]])
    >>> f, w = model(torch.tensor(x))[0].detach(), (model.weight[1] - model.weight[0]).detach()
    >>> exact = abs(float(f[1] - f[0])) / float(w.norm())  # distance to the boundary of an affine model
    >>> cert = certified_radius(model, x, pairwise=True)
    >>> bool(np.isclose(cert.radius[0], exact)), bool(certified_radius(model, x).radius[0] <= exact)
    (True, True)
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
    """Euclidean distance from a point in the plane to each of a set of segments.

    Parameters
    ----------
    p : numpy.ndarray of shape (2,)
        The point.
    segments : numpy.ndarray of shape (M, 2, 2)
        Segment m runs from ``segments[m, 0]`` to ``segments[m, 1]``; a segment may be a point.

    Returns
    -------
    numpy.ndarray of shape (M,), float64
        The distance from ``p`` to the nearest point of each segment.

    Examples
    --------
    >>> segments = np.array([[[-1.0, 0.0], [1.0, 0.0]], [[2.0, 0.0], [3.0, 0.0]]])
    >>> point_segment_distance(np.array([0.0, 1.0]), segments) ** 2
    array([1., 5.])
    """
    a, b = segments[:, 0], segments[:, 1]
    ab = b - a
    t = np.clip(np.einsum("md,md->m", p - a, ab) / np.maximum(np.einsum("md,md->m", ab, ab), 1e-300), 0, 1)
    return np.linalg.norm(a + t[:, None] * ab - p, axis=1)


def exact_distance_2d(model: nn.Module, x, radius: float) -> tuple[float, np.ndarray]:
    """Exact L2 distance from a 2-D input to the decision boundary, and the nearest point on it.

    The exact partition of the square of half-width ``1.01 * radius`` around x is computed
    (:func:`explorer.regions.partition_2d`) and the nearest boundary segment found. The
    partition's boundary pieces are exactly the edges with two different classes on their
    sides (ties to the lowest index, tie regions included: see :class:`explorer.regions.Partition`),
    so the nearest point of a piece is the nearest point of the closure of another class: the
    distance is exact, up to the partition's tolerances.

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU classifier with 2 inputs.
    x : array_like of shape (2,)
        The input.
    radius : float
        At least the distance (e.g. the norm of any perturbation that flips the label, such as
        DeepFool's); the square searched has this half-width.

    Returns
    -------
    distance : float
        The smallest L2 distance from x to another class's closure (the "maximum safe radius").
    nearest : numpy.ndarray of shape (2,), float64
        The boundary point at that distance.

    Raises
    ------
    ValueError
        A model without 2 inputs, a ``radius`` that is not positive, or no decision boundary
        within ``radius`` of x.

    References
    ----------
    M. Wu, M. Wicker, W. Ruan, X. Huang and M. Kwiatkowska, "A game-based approximate
    verification of deep neural networks with provable guarantees", Theoretical Computer
    Science 807, 2020, arXiv:1807.03571 (the maximum safe radius).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(2, 2).double()
    >>> x = np.array([0.3, -0.1])
    >>> f, w = model(torch.tensor(x)).detach(), (model.weight[1] - model.weight[0]).detach()
    >>> distance, nearest = exact_distance_2d(model, x, radius=1.0)
    >>> bool(np.isclose(distance, abs(float(f[1] - f[0])) / float(w.norm())))
    True
    >>> logits = model(torch.tensor(nearest)).detach()
    >>> bool(torch.isclose(logits[0], logits[1]))  # a point of the boundary
    True
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
    """The three radii around one 2-D point: certified (global and pairwise) <= exact <= DeepFool.

    Attributes
    ----------
    x : numpy.ndarray of shape (2,), float64
        The point.
    label : int
        The class predicted at x.
    certified, certified_pairwise : float
        The global and the pairwise certified radius (:func:`certified_radius`).
    exact : float
        The exact distance to the decision boundary (:func:`exact_distance_2d`).
    nearest : numpy.ndarray of shape (2,), float64
        The boundary point at that distance.
    deepfool : float
        ||r||_2 of DeepFool's perturbation.
    x_adv : numpy.ndarray of shape (2,), float64
        DeepFool's adversarial point.
    path : numpy.ndarray of shape (T + 1, 2), float64
        DeepFool's iterates, from x to ``x_adv``.
    """

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

    DeepFool runs in float64 on the canonical network; its perturbation bounds the region the
    exact partition has to cover. A network that is not a chain has no pairwise radius of its
    own: ``certified_pairwise`` repeats the global one.

    Parameters
    ----------
    model : torch.nn.Module
        A ReLU classifier with 2 inputs and at least 2 outputs.
    x : array_like of shape (2,)
        The point.
    **deepfool_kwargs
        Passed to :func:`~explorer.attacks.deepfool.deepfool` (``overshoot``, ``max_iter``, ...;
        the norm is L2).

    Returns
    -------
    Sandwich
        The radii (``certified``, ``certified_pairwise``, ``exact``, ``deepfool``), the nearest
        boundary point and DeepFool's path.

    Raises
    ------
    ValueError
        DeepFool did not change the label (no upper bound), or what :func:`exact_distance_2d`
        refuses.

    References
    ----------
    Y. Tsuzuku, I. Sato and M. Sugiyama, NeurIPS 2018 (arXiv:1802.04034); M. Wu et al.,
    arXiv:1807.03571; S.-M. Moosavi-Dezfooli, A. Fawzi and P. Frossard, CVPR 2016
    (arXiv:1511.04599): see :func:`certified_radius`, :func:`exact_distance_2d` and
    :func:`~explorer.attacks.deepfool.deepfool`.

    Examples
    --------
    >>> _ = torch.manual_seed(1)
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    >>> s = sandwich(model, [0.3, -0.1])
    >>> bool(s.certified <= s.certified_pairwise <= s.exact + 1e-12 <= s.deepfool + 2e-12)
    True
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
