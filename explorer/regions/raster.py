"""Convex polygons on a pixel grid: which polygon holds each pixel centre.

A picture of a partition with a million regions cannot send a million polygons to a browser;
it sends the image of their colours instead. :func:`rasterize` finds, for every pixel centre
of a box, the convex polygon that holds it, by scanlines: each polygon meets the horizontal
line through a row of pixel centres in one interval ``[xl, xr)``, found from its edges, and
the pixels whose centres fall in it are that polygon's. Half-open rules (an edge crosses the
line when one end is below and the other at or above; a pixel belongs to ``[xl, xr)``) give
each pixel centre of a tiling to exactly one of its polygons, as in the top-left fill rule of
graphics hardware. Vectorised over all (polygon, row) pairs, in chunks of bounded memory.

Before the partition exists, :func:`sample_pixels` gives the first picture: the pattern and the
class at every pixel centre by a forward pass, exact per pixel centre and cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..nets.threads import single_threaded

__all__ = ["PixelSample", "pad_polygons", "pixel_centres", "rasterize", "sample_pixels"]

CHUNK_PAIRS = 1 << 18  # (polygon, row) pairs handled at a time
CHUNK_POINTS = 1 << 14  # pixel centres sent through the network at a time


@dataclass
class PixelSample:
    """The network at every pixel centre of a box: what a forward pass gives, before any partition.

    Attributes
    ----------
    labels : numpy.ndarray of shape (rows, columns), int64
        Row of ``patterns`` / ``classes`` at each pixel centre (-1 outside the polygon); row 0 is the bottom.
    patterns : numpy.ndarray of shape (U, units)
        The distinct (activation pattern, class) pairs seen: bool (ReLU chain) or int8 choices.
    classes : numpy.ndarray of shape (U,), int64
        Their class (argmax of the outputs, lowest index on ties; 1 iff positive for one output).
    """

    labels: np.ndarray
    patterns: np.ndarray
    classes: np.ndarray


def sample_pixels(model, box, shape, origin=None, directions=None, polygon=None) -> PixelSample:
    """The activation pattern and the class at every pixel centre of ``box``, by a forward pass.

    Exact at each pixel centre (float64, as the network computes it), and cheap: one forward pass
    per pixel, in chunks. A first picture of a slice while its exact partition is computed.

    Parameters
    ----------
    model : torch.nn.Module
        A piecewise-linear network (anything :func:`explorer.nets.canonical` accepts).
    box : tuple of 4 floats
        ``(x0, x1, y0, y1)`` in plane coordinates.
    shape : tuple of 2 ints
        ``(rows, columns)``.
    origin : array_like of shape (n_in,), optional
        The plane's origin (default: the input plane of a 2-input model).
    directions : array_like of shape (2, n_in), optional
        The plane's directions: ``x = origin + directions.T @ u``.
    polygon : array_like of shape (k, 2), optional
        Convex CCW polygon (plane coordinates): pixel centres outside it get -1.

    Returns
    -------
    PixelSample

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.eye(2)); _ = net[0].bias.zero_()
    >>> sample = sample_pixels(net, (-1, 1, -1, 1), (2, 2))      # one pixel per quadrant
    >>> sample.labels.shape, len(sample.patterns)
    ((2, 2), 4)
    """
    from ..nets import canonical

    net = canonical(model)
    n_in = math.prod(net.input_shape)
    origin = np.zeros(n_in) if origin is None else np.asarray(origin, dtype=np.float64).ravel()
    directions = np.eye(2) if directions is None else np.asarray(directions, dtype=np.float64).reshape(2, n_in)
    xs, ys = pixel_centres(box, shape)
    U = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    inside = np.ones(len(U), dtype=bool)
    if polygon is not None:
        poly = np.asarray(polygon, dtype=np.float64)
        for p, d in zip(poly, np.roll(poly, -1, 0) - poly):
            inside &= d[0] * (U[:, 1] - p[1]) - d[1] * (U[:, 0] - p[0]) >= 0
    keys, classes = [], []
    with single_threaded(), torch.no_grad():
        for start in range(0, len(U), CHUNK_POINTS):
            X = torch.from_numpy(origin + U[start:start + CHUNK_POINTS] @ directions)
            pattern = np.concatenate([np.asarray(p) for p in net.activation_pattern(X)] or
                                     [np.zeros((len(X), 0), dtype=bool)], axis=1)
            out = net(X).reshape(len(X), -1).numpy()
            classes.append((out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else out.argmax(1))
            keys.append(pattern)
    pattern, cls = np.concatenate(keys)[inside], np.concatenate(classes)[inside]
    packed = np.packbits(pattern, axis=1) if pattern.dtype == bool else pattern.view(np.uint8)
    rows = np.ascontiguousarray(np.concatenate([packed, cls.astype("<i4")[:, None].view(np.uint8)], axis=1))
    _, first, index = np.unique(rows.view(np.dtype((np.void, rows.shape[1])))[:, 0], return_index=True,
                                return_inverse=True)
    labels = np.full(len(U), -1, dtype=np.int64)
    labels[inside] = index.ravel()
    return PixelSample(labels.reshape(shape), pattern[first], cls[first])


def pad_polygons(polygons) -> tuple[np.ndarray, np.ndarray]:
    """A list of (k, 2) polygons as one padded array and their vertex counts.

    Parameters
    ----------
    polygons : list of array_like of shape (k_i, 2)

    Returns
    -------
    vertices : numpy.ndarray of shape (P, max k_i, 2), float64
        Each polygon's vertices, padded with its last vertex.
    counts : numpy.ndarray of shape (P,), int64

    Examples
    --------
    >>> V, n = pad_polygons([[[0, 0], [1, 0], [0, 1]], [[0, 0], [1, 0], [1, 1], [0, 1]]])
    >>> V.shape, n.tolist(), V[0, 3].tolist()
    ((2, 4, 2), [3, 4], [0.0, 1.0])
    """
    counts = np.array([len(p) for p in polygons], dtype=np.int64)
    V = np.zeros((len(counts), int(counts.max(initial=1)), 2))
    for i, p in enumerate(polygons):
        V[i, :counts[i]] = p
        V[i, counts[i]:] = V[i, counts[i] - 1]
    return V, counts


def pixel_centres(box, shape) -> tuple[np.ndarray, np.ndarray]:
    """The x of each column's and the y of each row's pixel centres.

    Parameters
    ----------
    box : tuple of 4 floats
        ``(x0, x1, y0, y1)``.
    shape : tuple of 2 ints
        ``(rows, columns)``; row 0 is the bottom row (at ``y0``), as Bokeh draws an image.

    Returns
    -------
    xs : numpy.ndarray of shape (columns,), float64
    ys : numpy.ndarray of shape (rows,), float64

    Examples
    --------
    >>> xs, ys = pixel_centres((0, 1, 0, 2), (2, 4))
    >>> xs.tolist(), ys.tolist()
    ([0.125, 0.375, 0.625, 0.875], [0.5, 1.5])
    """
    x0, x1, y0, y1 = map(float, box)
    rows, cols = map(int, shape)
    return (x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols, y0 + (np.arange(rows) + 0.5) * (y1 - y0) / rows)


def rasterize(vertices, counts, box, shape) -> np.ndarray:
    """The index of the polygon holding each pixel centre of ``box`` (-1 where none does).

    Parameters
    ----------
    vertices : array_like of shape (P, K, 2)
        Padded vertices of convex polygons (any orientation); polygon p uses ``vertices[p, :counts[p]]``.
    counts : array_like of shape (P,)
        Vertices of each polygon.
    box : tuple of 4 floats
        ``(x0, x1, y0, y1)``, the pixels' extent (``x0 < x1``, ``y0 < y1``).
    shape : tuple of 2 ints
        ``(rows, columns)``; row 0 is the bottom row.

    Returns
    -------
    numpy.ndarray of shape (rows, columns), int64
        Polygon index per pixel centre. For polygons that tile a region, every pixel centre
        inside it gets exactly one of them (half-open rules at shared edges).

    Raises
    ------
    ValueError
        For an empty box or a shape without pixels.

    Examples
    --------
    >>> import numpy as np
    >>> squares = np.array([[[0, 0], [1, 0], [1, 1], [0, 1]], [[1, 0], [2, 0], [2, 1], [1, 1]]], float)
    >>> rasterize(squares, [4, 4], (0, 2, 0, 1), (1, 4)).tolist()
    [[0, 0, 1, 1]]
    >>> rasterize(squares, [4, 4], (-1, 3, 0, 1), (2, 4)).tolist()
    [[-1, 0, 1, -1], [-1, 0, 1, -1]]
    """
    V = np.asarray(vertices, dtype=np.float64)
    n = np.asarray(counts, dtype=np.int64)
    x0, x1, y0, y1 = map(float, box)
    rows, cols = map(int, shape)
    if not (x0 < x1 and y0 < y1) or rows < 1 or cols < 1:
        raise ValueError(f"rasterize needs a box with x0 < x1, y0 < y1 and a shape of pixels; got {box}, {shape}.")
    labels = np.full(rows * cols, -1, dtype=np.int64)
    if len(n) == 0:
        return labels.reshape(rows, cols)
    dx, dy = (x1 - x0) / cols, (y1 - y0) / rows
    K = V.shape[1]
    valid = np.arange(K) < n[:, None]
    ymin = np.where(valid, V[..., 1], np.inf).min(1)
    ymax = np.where(valid, V[..., 1], -np.inf).max(1)
    xmin = np.where(valid, V[..., 0], np.inf).min(1)
    xmax = np.where(valid, V[..., 0], -np.inf).max(1)
    # rows whose centre y_j = y0 + (j + 1/2) dy lies in [ymin, ymax)
    j0 = np.maximum(np.ceil((ymin - y0) / dy - 0.5), 0)
    j1 = np.minimum(np.ceil((ymax - y0) / dy - 0.5) - 1, rows - 1)
    seen = (j1 >= j0) & (xmax > x0) & (xmin < x1)
    polys = np.flatnonzero(seen)
    j0, per = j0[polys].astype(np.int64), (j1 - j0)[polys].astype(np.int64) + 1
    ends = np.cumsum(per)
    for start in range(0, int(ends[-1]) if len(ends) else 0, CHUNK_PAIRS):
        stop = min(start + CHUNK_PAIRS, int(ends[-1]))
        pair = np.arange(start, stop)
        which = np.searchsorted(ends, pair, side="right")  # the polygon of each pair
        p = polys[which]
        row = j0[which] + pair - (ends[which] - per[which])
        yc = y0 + (row + 0.5) * dy
        a = V[p]  # (m, K, 2)
        b = np.take_along_axis(a, ((np.arange(K) + 1) % n[p][:, None])[..., None], 1)  # each edge's far end
        ya, yb = a[..., 1], b[..., 1]
        cross = ((ya <= yc[:, None]) != (yb <= yc[:, None])) & valid[p]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = a[..., 0] + (yc[:, None] - ya) * (b[..., 0] - a[..., 0]) / (yb - ya)
        xl = np.where(cross, x, np.inf).min(1)
        xr = np.where(cross, x, -np.inf).max(1)
        i0 = np.maximum(np.ceil((xl - x0) / dx - 0.5), 0)
        i1 = np.minimum(np.ceil((xr - x0) / dx - 0.5) - 1, cols - 1)
        length = np.where(np.isfinite(xl), i1 - i0 + 1, 0).clip(0).astype(np.int64)
        if not length.any():
            continue
        first = row * cols + np.where(length > 0, i0, 0).astype(np.int64)
        total = np.cumsum(length)
        offset = np.arange(total[-1]) - np.repeat(total - length, length)
        labels[np.repeat(first, length) + offset] = np.repeat(p, length)
    return labels.reshape(rows, cols)
