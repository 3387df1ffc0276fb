"""Lossless compression: remove stable units and merge stably active layers.

A ReLU chain becomes a smaller ``nn.Sequential`` (below); any other piecewise-linear network
becomes a smaller torch module of standard layers (:class:`explorer.nets.graph_module.PLGraphModule`)
with every stable unit substituted into its consumers (:mod:`explorer.stability.graph_compression`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .. import regions
from ..nets import canonical
from ..nets.bounds import Box, as_box
from ..nets.graph_module import PLGraphModule
from ..nets.graph_net import GraphNet
from ..nets.threads import single_threaded
from .graph_compression import compress_graph, parameters
from .units import stable_units
from .verdicts import ACTIVE, INACTIVE, Stability


@dataclass
class CompressionReport:
    """What :func:`compress` did, and how far the result is from the original on the domain.

    Attributes
    ----------
    widths_before, widths_after : list of int
        The hidden layers' widths before and after (layers with no unit left are dropped).
    removed_inactive : list of int
        Per original hidden layer, the stably inactive units removed.
    folded_active : list of int
        Per original hidden layer, the other stable units folded into the next layer.
    collapsed_layers : list of int
        0-based indices of original hidden layers multiplied out (no unit left).
    params_before, params_after : int
        Weights and biases of the dense blocks (a convolution counts as its full operator
        matrix, since the result is an MLP) or of the graph.
    max_abs_diff : float
        The largest output difference found at the checked points.
    points_checked : int
        How many points were checked.
    method : str
        The stability method used.
    stability : Stability
        The stability result the compression used.
    """

    widths_before: list
    widths_after: list
    removed_inactive: list  # per original hidden layer
    folded_active: list  # per original hidden layer
    collapsed_layers: list  # 0-based indices of original hidden layers multiplied out
    params_before: int
    params_after: int
    max_abs_diff: float
    points_checked: int
    method: str
    stability: Stability = field(repr=False)


def _independent_rows(M: np.ndarray, rtol: float = 1e-10):
    """Indices of a row basis of M and K with M[dependent] = K @ M[basis] (pivoted QR)."""
    from scipy.linalg import qr

    if M.shape[0] == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 0))
    _, R, piv = qr(M.T, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    rank = int((d > rtol * max(d.max(initial=0.0), 1e-300)).sum()) if d.size else 0
    base, dep = np.sort(piv[:rank]), np.sort(piv[rank:])
    if dep.size == 0:
        return base, dep, np.zeros((0, rank))
    K = np.linalg.lstsq(M[base].T, M[dep].T, rcond=None)[0].T
    resid = np.abs(M[dep] - K @ M[base]).max(axis=1)
    ok = resid <= 1e-9 * max(np.abs(M).max(), 1.0)
    return base, dep[ok], K[ok]


def compress(model, domain, method: str = "milp", time_limit: float = 1.0, stability: Stability | None = None,
             points=None, samples: int = 4096, seed: int = 0) -> tuple[nn.Module, CompressionReport]:
    """An equivalent smaller network on ``domain`` (Serra, Kumar & Ramalingam 2020).

    Steps, layer by layer on the dense blocks of a ReLU chain (float64):
    1. delete stably inactive units (row of W_k, column of W_{k+1});
    2. stably active units with dependent rows W_dep = K W_base:
       W_{k+1}[:, base] += W_{k+1}[:, dep] K, b_{k+1} += W_{k+1}[:, dep] (b_dep - K b_base), delete dep;
    3. a layer left with stably active units only is multiplied into the next:
       W' = W_{k+1} W_k, b' = W_{k+1} b_k + b_{k+1}.
    Any other network has every stable unit substituted into its consumers
    (:func:`~explorer.stability.graph_compression.compress_graph`). Units with status
    ``unknown`` are kept.

    Parameters
    ----------
    model : nn.Module
        A piecewise-linear network (see :func:`explorer.nets.canonical`).
    domain : Box or tuple
        The input box on which the result must equal ``model``.
    method : {"ibp", "crown", "milp", "exact"}
        How stable units are proven (:func:`~explorer.stability.stable_units`).
    time_limit : float
        Seconds per MILP.
    stability : Stability, optional
        A result of :func:`~explorer.stability.stable_units` for this model and domain.
    points : array, optional
        Extra inputs (n, *input) at which the result is checked.
    samples : int
        Random points of the box at which the result is checked.
    seed : int
        Seed of the stability search and of the check's points.

    Returns
    -------
    small : nn.Module
        For a ReLU chain a float64 ``nn.Sequential``; for any other network a float64
        :class:`~explorer.nets.graph_module.PLGraphModule` of standard layers (trainable
        ``nn.Parameter`` weights, saved by :func:`explorer.zoo.save`).
    report : CompressionReport
        ``removed_inactive`` counts the stably inactive units of ReLU-family layers,
        ``folded_active`` every other stable unit substituted, and ``collapsed_layers`` the
        layers with no unit left; ``max_abs_diff`` is the largest output difference over
        ``samples`` random points, box corners, the vertices of the exact regions of a slice
        of the box (the box itself for 2-D inputs) and ``points`` if given.

    Raises
    ------
    ValueError
        If ``stability`` does not belong to this model, or the domain does not fit it.
    UnsupportedLayerError
        If the model is not piecewise linear (from :func:`explorer.nets.canonical`).

    References
    ----------
    .. [1] T. Serra, A. Kumar and S. Ramalingam, "Lossless Compression of Deep Neural
       Networks", CPAIOR 2020, arXiv 2001.00218.

    Examples
    --------
    A skip connection around a LeakyReLU layer whose first unit is always active on the box:

    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from explorer.nets import Box
    >>> class Skip(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a, self.out = nn.Linear(2, 3).double(), nn.Linear(3, 1).double()
    ...     def forward(self, x):
    ...         return self.out(nn.functional.leaky_relu(self.a(x), 0.1)) + x.sum(1, keepdim=True)
    >>> net = Skip()
    >>> with torch.no_grad():
    ...     _ = net.a.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    ...     _ = net.a.bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    >>> small, report = compress(net, Box(-np.ones(2), np.ones(2)), method="crown")
    >>> report.widths_before, report.widths_after, report.max_abs_diff < 1e-12
    ([3], [2], True)
    >>> all(p.requires_grad for p in small.parameters())
    True
    """
    net = canonical(model)
    if isinstance(net, GraphNet) and not net.graph().is_chain:
        return _compress_graph(model, net, domain, method, time_limit, stability, points, samples, seed)
    blocks = net.dense_blocks()
    box = as_box(domain, blocks[0][0].shape[1])
    st = stability or stable_units(net, box, method=method, time_limit=time_limit, seed=seed)
    if len(st.status) != len(blocks) - 1:
        raise ValueError("The stability result does not belong to this model.")
    new_blocks, removed, folded, collapsed = [], [], [], []
    W, b = blocks[0]
    with single_threaded():
        for k, status in enumerate(st.status):
            Wn, bn = blocks[k + 1]
            keep = status != INACTIVE
            removed.append(int((~keep).sum()))
            W, b, Wn = W[keep], b[keep], Wn[:, keep]
            status = status[keep]
            act = np.nonzero(status == ACTIVE)[0]
            base, dep, K = _independent_rows(W[act])
            if dep.size:
                base, dep = act[base], act[dep]
                bn = bn + Wn[:, dep] @ (b[dep] - K @ b[base])
                Wn = Wn.copy()
                Wn[:, base] += Wn[:, dep] @ K
                keep = np.ones(len(b), bool)
                keep[dep] = False
                W, b, Wn, status = W[keep], b[keep], Wn[:, keep], status[keep]
            folded.append(int(dep.size))
            if (status == ACTIVE).all():
                collapsed.append(k)
                W, b = Wn @ W, Wn @ b + bn
            else:
                new_blocks.append((W, b))
                W, b = Wn, bn
        new_blocks.append((W, b))
    small = _sequential(new_blocks, net.input_shape)
    for attr in ("input_shape", "class_names"):
        if hasattr(model, attr):
            setattr(small, attr, getattr(model, attr))
    diff, npts = _check(net, small, box, points, samples, seed)
    count = lambda bl: int(sum(Wx.size + bx.size for Wx, bx in bl))
    report = CompressionReport([W.shape[0] for W, _ in blocks[:-1]], [W.shape[0] for W, _ in new_blocks[:-1]],
                               removed, folded, collapsed, count(blocks), count(new_blocks), diff, npts,
                               st.method, st)
    return small, report


def _sequential(blocks, input_shape) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()] if len(input_shape) > 1 else []
    for i, (W, b) in enumerate(blocks):
        lin = nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(W)))
            lin.bias.copy_(torch.from_numpy(np.array(b)))
        layers.append(lin)
        if i < len(blocks) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers).eval()


def _slice_vertices(net, box: Box, rng) -> np.ndarray:
    """Vertices of the exact regions of a slice of the box: the box itself for 2-D inputs,
    else a square through its centre in a random plane (small enough to stay inside)."""

    if box.dim == 2:
        plane = regions.Plane(np.zeros(2), np.eye(2),
                              regions.box_polygon(box.lower[0], box.upper[0], box.lower[1], box.upper[1]))
    else:
        d = rng.normal(size=(2, box.dim))
        plane = regions.plane_from_directions(box.center, d[0], d[1], 1.0)
        extent = box.radius.min() / np.abs(plane.directions).sum(0).max()
        if extent <= 0:
            return np.zeros((0, box.dim))
        plane = regions.Plane(plane.origin, plane.directions, plane.polygon * extent)
    part = regions.partition_plane(net, *plane, max_regions=64 * 2 ** 20)
    return part.to_input(np.concatenate(part.polygons))


def _check(net, small, box: Box, points, samples, seed):
    rng = np.random.default_rng(seed + 1)
    X = [box.sample(samples, rng, corners=samples // 4), box.center[None]]
    X.append(_slice_vertices(net, box, rng))
    if points is not None:
        X.append(np.asarray(points, dtype=np.float64).reshape(-1, box.dim))
    X = np.concatenate(X)
    with torch.no_grad():
        xt = torch.from_numpy(X)
        a = net(xt).reshape(len(X), -1).numpy()
        b = small(xt.reshape(len(X), *net.input_shape)).reshape(len(X), -1).numpy()
    return float(np.abs(a - b).max()), len(X)


def _compress_graph(model, net, domain, method, time_limit, stability, points, samples, seed):
    """:func:`compress` on a graph: substitute the stable units, check on the domain."""
    graph = net.graph()
    box = as_box(domain, graph.input_size)
    st = stability or stable_units(net, box, method=method, time_limit=time_limit, seed=seed)
    with single_threaded():
        small_graph, removed = compress_graph(graph, st.piece)
        small = PLGraphModule(small_graph, net.input_shape)
        if hasattr(model, "class_names"):
            small.class_names = model.class_names
        rng = np.random.default_rng(seed + 1)
        X = [box.sample(samples, rng, corners=samples // 4), box.center[None]]
        X += [np.stack(pair) for pair in st.witnesses.values()]
        if points is not None:
            X.append(np.asarray(points, dtype=np.float64).reshape(-1, box.dim))
        X = np.concatenate(X)
        with torch.no_grad():
            want = net(torch.from_numpy(X).reshape(len(X), *net.input_shape)).reshape(len(X), -1).numpy()
            got = small(torch.from_numpy(X).reshape(len(X), *net.input_shape)).numpy()
    diff = float(np.abs(got - want).max())
    inactive = [int((s == INACTIVE).sum()) for s in st.status]
    after = [layer.units - r for layer, r in zip(graph.layers, removed)]
    report = CompressionReport([layer.units for layer in graph.layers], [w for w in after if w],
                               inactive, [r - i for r, i in zip(removed, inactive)],
                               [k for k, w in enumerate(after) if w == 0], parameters(graph), parameters(small_graph),
                               diff, len(X), st.method, st)
    return small, report
