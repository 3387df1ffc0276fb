"""Lossless compression of a :class:`~explorer.nets.graph.PLGraph`: substitute every stable unit.

A pieces unit proven on piece p is affine on the domain, ``h = s_p z + d_p`` with
``z = sum_j W_kj h_j + b_k``; a max window whose entry e always wins is ``h = z_e``. Going
through the layers in topological order, every original output ``h_j`` is written as an
affine map of the *new* graph's sources, ``h_j = sum_i M_ji g_i + c_j`` (``g_0 = x``, ``g_i`` the
kept layers' outputs). A layer's pre-activation is then ``z_k = sum_i (sum_j W_kj M_ji) g_i +
b_k + sum_j W_kj c_j``; its stable units become rows of that map (scaled by s, shifted by d),
its other units form the new layer (a max layer keeps the entries its open windows read).
The result computes the same function on the domain and has one unit fewer per stable one
(Serra, Kumar & Ramalingam 2020's lossless compression, written for graphs).
"""

from __future__ import annotations

import numpy as np

from ..nets.graph import Layer, Pieces, PLGraph


def _substitute(sources: dict, bias: np.ndarray, expr: list, n_in: int):
    """The map ``sum_j W_j h_j + bias`` in the new sources, given ``expr[j] = (M_j, c_j)``."""
    out, b = {}, bias.copy()
    for j, W in sources.items():
        M, c = expr[j]
        b = b + W @ c
        for i, Mi in M.items():
            part = W if Mi is None else W @ Mi
            out[i] = out[i] + part if i in out else part
    out = {i: W for i, W in out.items() if W.any()}
    return (out or {0: np.zeros((len(bias), n_in))}), b  # a constant layer still reads the input


def compress_graph(graph: PLGraph, piece: list):
    """Substitute every stable unit of a graph into its consumers (module docstring).

    Parameters
    ----------
    graph : PLGraph
        The network.
    piece : list of array_like
        ``piece[k]`` holds each unit's proven piece / winning position in layer k (-1: keep
        the unit), as in :attr:`explorer.stability.Stability.piece`.

    Returns
    -------
    small : PLGraph
        The same function on the domain the pieces were proven on; a layer with no unit left
        disappears.
    removed : list of int
        Per original layer, how many units were substituted.

    Raises
    ------
    ValueError
        If ``piece`` does not have one entry per unit of every layer.

    References
    ----------
    .. [1] T. Serra, A. Kumar and S. Ramalingam, "Lossless Compression of Deep Neural
       Networks", CPAIOR 2020, arXiv 2001.00218.

    Examples
    --------
    ``relu(x + 5) + relu(-x)`` on a domain where the first unit is always active:

    >>> import numpy as np
    >>> from explorer.nets.graph import PLGraph
    >>> g = PLGraph.from_blocks([(np.array([[1.0], [-1.0]]), np.array([5.0, 0.0])),
    ...                          (np.array([[1.0, 1.0]]), np.zeros(1))])
    >>> small, removed = compress_graph(g, [np.array([1, -1])])
    >>> removed, [layer.units for layer in small.layers], parameters(g), parameters(small)
    ([1], [1], 7, 5)
    >>> x = np.array([[-2.0], [0.5]])
    >>> bool(np.allclose(small.evaluate(x)[0], g.evaluate(x)[0]))
    True
    """
    if len(piece) != len(graph.layers) or any(len(p) != layer.units for p, layer in zip(piece, graph.layers)):
        raise ValueError("The stability result does not belong to this network.")
    expr = [({0: None}, np.zeros(graph.input_size))]
    layers, names, removed = [], [], []
    for layer, p in zip(graph.layers, piece):
        N, bias = _substitute(layer.sources, layer.bias, expr, graph.input_size)
        stable = np.asarray(p) >= 0
        removed.append(int(stable.sum()))
        keep = np.nonzero(~stable)[0]
        new = len(layers) + 1
        if layer.kind == "max":
            rows = layer.windows[np.arange(layer.units), np.maximum(p, 0)]
            M = {i: np.where(stable[:, None], Ni[rows], 0.0) for i, Ni in N.items()}
            c = np.where(stable, bias[rows], 0.0)
            if keep.size:
                entries = np.unique(layer.windows[keep])
                windows = np.searchsorted(entries, layer.windows[keep])
                layers.append(Layer(layer.name, "max", {i: Ni[entries] for i, Ni in N.items()}, bias[entries],
                                    windows=windows, shape=(keep.size,)))
        else:
            s, d = layer.pieces.apply(np.zeros(layer.size), np.maximum(p, 0))
            s, d = np.where(stable, s, 0.0), np.where(stable, d, 0.0)
            M = {i: s[:, None] * Ni for i, Ni in N.items()}
            c = s * bias + d
            if keep.size:
                pc = Pieces(layer.pieces.breakpoints, layer.pieces.slopes[keep], layer.pieces.offsets[keep])
                layers.append(Layer(layer.name, "pieces", {i: Ni[keep] for i, Ni in N.items()}, bias[keep],
                                    pc, shape=(keep.size,)))
        if keep.size:
            names.append(layer.name)
            E = np.zeros((layer.units, keep.size))
            E[keep, np.arange(keep.size)] = 1.0
            M[new] = E
        expr.append(({i: Mi for i, Mi in M.items() if Mi.any()}, c))
    out, bias = _substitute(graph.output_sources, graph.output_bias, expr, graph.input_size)
    return PLGraph(graph.input_size, layers, out, bias, names), removed


def parameters(graph: PLGraph) -> int:
    """Number of weights and biases of a graph's layers and output.

    Parameters
    ----------
    graph : PLGraph
        The network.

    Returns
    -------
    int
        The entries of every ``W_kj``, ``b_k``, ``W_oj`` and the output bias.
    """
    return int(sum(W.size for layer in graph.layers for W in layer.sources.values()) +
               sum(layer.bias.size for layer in graph.layers) +
               sum(W.size for W in graph.output_sources.values()) + graph.output_bias.size)
