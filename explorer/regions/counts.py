"""Counting regions without the exact partition: a grid estimate and Serra et al.'s bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..nets.threads import single_threaded
from .partition import graph_of
from .polygons import check_polygon
from .sides import affine_of

# a grid point counts only if every pre-activation clears zero by this much of its magnitude
GRID_TOL = 1e-9
# bytes of float64 work arrays per grid point and unit (values, magnitudes, pre-activations, their
# magnitudes and the pattern): a chunk of points is sized so that these stay near GRID_CHUNK_BYTES
GRID_BYTES_PER_UNIT = 40
GRID_CHUNK_BYTES = 64 * 2**20


@dataclass
class GridEstimate:
    """Distinct activation patterns at the centres of a ``resolution`` x ``resolution`` grid.

    Only grid points strictly inside a region count: a point where some pre-activation
    is within ``GRID_TOL`` times its magnitude of zero lies on or next to a bent hyperplane,
    where its computed pattern may belong to no region (e.g. the origin of a bias-free net,
    where every first-layer unit is zero); it is skipped (``skipped`` counts them). The
    magnitude is ``m_k = |W_k| m_{k-1} + |b_k|`` over the active units of the layer before,
    with ``m_0 = |x| + `` the extent of the slice along each input coordinate: it exceeds
    the rounding error of z by far, and it is zero only where z is zero on a whole
    neighbourhood. So every other point has a pattern that holds on a neighbourhood: it lies
    in the interior of the region with its pattern, which has positive area. Hence
    ``count <= num_regions`` of the exact partition of the same slice: a guaranteed lower
    bound (regions smaller than a cell, or seen only at skipped points, are missed).

    Attributes
    ----------
    count : int
        Number of distinct patterns seen (a lower bound on the number of regions).
    resolution : int
        Grid points per side.
    patterns : numpy.ndarray of shape (count, units)
        The distinct patterns seen: bool (ReLU chain) or int8 choices (pieces, window winners).
    skipped : int
        Grid points within ``GRID_TOL`` of some unit's breakpoint (not counted).
    """

    count: int
    resolution: int
    patterns: np.ndarray  # (count, units) bool (ReLU chain) or int8 choices, the distinct patterns seen
    skipped: int = 0  # grid points within GRID_TOL of some unit's zero (not counted)


def grid_estimate(model, box=(-1.0, 1.0, -1.0, 1.0), resolution: int = 256, origin=None,
                  directions=None, polygon=None, chunk: int | None = None) -> GridEstimate:
    """Count distinct activation patterns on a grid of cell centres in ``box`` (a lower bound).

    A guaranteed lower bound on the exact number of regions of the slice (see
    :class:`GridEstimate` for why: points on a bent hyperplane are skipped).

    Parameters
    ----------
    model : torch.nn.Module or explorer.nets.graph.PLGraph
        A piecewise-linear network (anything :func:`explorer.nets.canonical` accepts).
    box : tuple of 4 floats
        ``(x0, x1, y0, y1)``: input coordinates for a model with 2-D input, else plane coordinates.
    resolution : int
        Grid cells per side (at least 1).
    origin : array_like of shape (n_in,), optional
        The slice's origin; required (with ``directions``) when the input is not 2-D.
    directions : array_like of shape (2, n_in), optional
        The slice's directions: ``x = origin + directions.T @ u``.
    polygon : array_like of shape (k, 2), optional
        A convex CCW polygon in plane coordinates: only the cell centres inside it count
        (e.g. a triangle slice in its bounding box).
    chunk : int, optional
        Points sent through the network at a time (default: as many as keep the work
        arrays near ``GRID_CHUNK_BYTES``, 64 MB, whatever the network's size).

    Returns
    -------
    GridEstimate
        ``count`` (the lower bound), ``patterns`` seen and ``skipped`` points.

    Raises
    ------
    ValueError
        When ``origin`` is missing for a model whose input is not 2-D, when ``resolution < 1``,
        or for a polygon that is not convex and CCW.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.eye(2)); _ = net[0].bias.zero_()
    >>> est = grid_estimate(net, resolution=8)            # the two axes cut 4 quadrants
    >>> est.count, est.skipped
    (4, 0)
    """
    graph = graph_of(model)
    n_in = graph.input_size
    if origin is None:
        if n_in != 2:
            raise ValueError("Give origin and directions for a model whose input is not 2-D.")
        origin, directions = np.zeros(2), np.eye(2)
    origin = np.asarray(origin, dtype=np.float64).ravel()
    directions = np.asarray(directions, dtype=np.float64).reshape(2, n_in)
    x0, x1, y0, y1 = map(float, box)
    if resolution < 1:
        raise ValueError("resolution must be at least 1.")
    gx = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    gy = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    U = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
    if polygon is not None:
        poly = check_polygon(polygon)
        e = np.roll(poly, -1, 0) - poly
        inside = np.ones(len(U), dtype=bool)
        for p, d in zip(poly, e):
            inside &= d[0] * (U[:, 1] - p[1]) - d[1] * (U[:, 0] - p[0]) >= 0
        U = U[inside]
    seen, skipped = [], 0
    reach = np.hypot(x1 - x0, y1 - y0) * np.abs(directions).sum(0)
    units = sum(layer.units for layer in graph.layers)
    if chunk is None:
        chunk = max(1, GRID_CHUNK_BYTES // (GRID_BYTES_PER_UNIT * max(units + n_in, 1)))
    chain = graph.is_chain
    width = -(-units // 8) if chain else units
    with single_threaded():
        for start in range(0, len(U), chunk):
            h = origin + U[start:start + chunk] @ directions
            # |x| plus how far x moves over the slice: zmag = 0 only where z is 0 near the point
            bits, clear = _grid_choices(graph, h, np.abs(h) + reach, chain)
            skipped += int((~clear).sum())
            words = np.concatenate(bits, axis=1)[clear]
            packed = np.packbits(words, axis=1) if chain else words.view(np.uint8)
            if len(packed):
                seen.append(np.unique(np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))))
        uniq = np.unique(np.concatenate(seen)) if seen else np.zeros((0, width), np.uint8)
    flat = uniq.view(np.uint8).reshape(len(uniq), width)
    pats = np.unpackbits(flat, axis=1)[:, :units].astype(bool) if chain else flat.view(np.int8)
    return GridEstimate(len(uniq), resolution, pats, skipped)


def _grid_choices(graph, h, mag, chain: bool):
    """Choices of every layer at points h, and which points clear every breakpoint / tie.

    A point is clear when every pre-activation is more than ``GRID_TOL`` times its magnitude
    from each breakpoint, and every max window's winner beats each other entry by that much
    (magnitudes as in :class:`GridEstimate`).
    """
    hs, mags, bits = [h], [mag], []
    clear = np.ones(len(h), dtype=bool)
    for layer in graph.layers:
        z = affine_of(layer.sources, layer.bias, hs)
        zmag = affine_of(layer.sources, layer.bias, mags, absolute=True)
        if chain:  # ReLU: on iff z > 0
            clear &= ((np.abs(z) > GRID_TOL * zmag) | (zmag == 0)).all(1)
            on = z > 0
            bits.append(on)
            hs.append(np.maximum(z, 0))
            mags.append(np.where(on, zmag, 0.0))
        elif layer.kind == "max":
            zw, mw = z[:, layer.windows], zmag[:, layer.windows]
            choice = zw.argmax(-1)
            top = np.take_along_axis(zw, choice[..., None], -1)
            rival = (layer.windows != layer.windows[np.arange(layer.units), choice][..., None])
            # an exact tie is two entries equal on the slice (e.g. both read only pixels that are 0 on
            # it): the lowest position wins there, as in the partition; a near tie is unclear
            gap = np.where(rival & (top != zw), top - zw, np.inf)
            clear &= ((gap > GRID_TOL * mw.max(-1, keepdims=True)) | (mw.max(-1, keepdims=True) == 0)).all((1, 2))
            bits.append(choice.astype(np.int8))
            hs.append(top[..., 0])
            mags.append(np.take_along_axis(mw, choice[..., None], -1)[..., 0])
        else:
            t = layer.pieces.breakpoints
            tmag = zmag[..., None] + np.abs(t)
            clear &= ((np.abs(z[..., None] - t) > GRID_TOL * tmag) | (tmag == 0)).all((1, 2))
            choice = layer.pieces.piece(z)
            slope, offset = layer.pieces.apply(z, choice)
            bits.append(choice)
            hs.append(slope * z + offset)
            mags.append(np.abs(slope) * zmag + np.abs(offset))
    return bits, clear


def serra_upper_bound(n_in: int, widths) -> int:
    """Upper bound on the number of linear regions of a ReLU MLP (Serra et al. 2018, Theorem 1).

    ``sum over (j_1..j_L) in J of prod_l C(n_l, j_l)``, where
    ``0 <= j_l <= min(n_0, n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l)``, computed exactly with integers.

    Parameters
    ----------
    n_in : int
        Input dimension ``n_0``.
    widths : sequence of int
        Hidden layer widths ``n_1, ..., n_L``.

    Returns
    -------
    int
        The bound (exact integer).

    Raises
    ------
    ValueError
        When ``n_in`` or a width is below 1.

    References
    ----------
    T. Serra, C. Tjandraatmadja and S. Ramalingam, "Bounding and counting linear regions of
    deep neural networks", ICML 2018 (arXiv 1711.02114).

    Examples
    --------
    >>> serra_upper_bound(2, [64])           # 1 + 64 + C(64, 2)
    2081
    >>> serra_upper_bound(1, [3, 3])
    16
    """
    widths = [int(w) for w in widths]
    if n_in < 1 or any(w < 1 for w in widths):
        raise ValueError("n_in and every width must be positive integers.")
    states = {int(n_in): 1}  # dimension budget d -> summed weight
    for w in widths:
        nxt: dict[int, int] = {}
        for d, weight in states.items():
            for j in range(min(d, w) + 1):
                key = min(d, w - j)
                nxt[key] = nxt.get(key, 0) + weight * math.comb(w, j)
        states = nxt
    return sum(states.values())
