"""A :class:`~explorer.nets.graph.PLGraph` written back as a torch module of standard layers.

The inverse of :func:`explorer.nets.tracing.read_graph`: every weight matrix ``W_kj`` becomes
an ``nn.Linear`` (the bias sits on the layer's first source), the sources of a layer are
added with ``+``, and its activation is a standard one: ``nn.ReLU``, ``nn.LeakyReLU`` (one
slope), ``nn.PReLU`` (one slope per unit) or ``torch.clamp``. A max layer with windows of k
entries reads its windows' entries as the rows of its ``nn.Linear`` (window by window, so an
entry in two windows is a row twice) and takes ``nn.MaxPool1d(k)`` of them. The result is a
module of float64 ``nn.Parameter``s, traceable with ``torch.fx``: it trains, converts dtype, runs attacks,
saves with :func:`explorer.models.zoo.save`, and :func:`explorer.nets.canonical` reads it
back into a graph with the same units per layer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .graph import Pieces, PLGraph


def _linear(W: np.ndarray, b: np.ndarray | None) -> nn.Linear:
    lin = nn.Linear(W.shape[1], W.shape[0], bias=b is not None).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(np.asarray(W, dtype=np.float64)))
        if b is not None:
            lin.bias.copy_(torch.from_numpy(np.asarray(b, dtype=np.float64)))
    return lin


def _activation(pieces: Pieces):
    """The activation as ('module', nn.Module) or ('clamp', (low, high)).

    Raises ``ValueError`` for pieces that are neither ReLU-family nor a clamp (a graph read by
    :func:`~explorer.nets.tracing.read_graph`, or any part of one, never has those).
    """
    t, s, d = pieces.breakpoints, pieces.slopes, pieces.offsets
    if len(t) == 1 and t[0] == 0 and not d.any() and (s[:, 1] == 1).all():
        low = s[:, 0]
        if not low.any():
            return "module", nn.ReLU()
        if (low == low[0]).all():
            return "module", nn.LeakyReLU(float(low[0]))
        prelu = nn.PReLU(len(low)).double()
        with torch.no_grad():
            prelu.weight.copy_(torch.from_numpy(low.copy()))
        return "module", prelu
    limits = [(t[0], t[1])] if len(t) == 2 else [(t[0], None), (None, t[0])] if len(t) == 1 else []
    for low, high in limits:
        want = Pieces.clamp(len(s), low, high)
        if np.array_equal(want.slopes, s) and np.array_equal(want.offsets, d):
            return "clamp", (None if low is None else float(low), None if high is None else float(high))
    raise ValueError("Only ReLU-family (ReLU, LeakyReLU, PReLU) and clamp activations can be written as torch layers.")


class PLGraphModule(nn.Module):
    """A float64 torch module of standard layers that computes a :class:`PLGraph`.

    Parameters
    ----------
    graph : PLGraph
        A graph whose elementwise layers are ReLU-family or clamps (any graph read by
        :func:`~explorer.nets.tracing.read_graph`, or compressed from one).
    input_shape : tuple of int
        The shape of one input; ``forward`` flattens it to ``graph.input_size`` entries.

    Attributes
    ----------
    input_shape : tuple of int
        As given. ``forward`` maps (batch, *input_shape) to (batch, graph.output_size).

    Raises
    ------
    ValueError
        If an elementwise layer is neither ReLU-family nor a clamp, or ``input_shape`` does
        not hold ``graph.input_size`` entries.

    Notes
    -----
    The weights are ``nn.Parameter`` s (float64) of ``nn.Linear`` modules named
    ``layer{k}_from{j}`` (layer k = 1..L read from source j, 0 the input) and
    ``output_from{j}``; the activations are ``act{k}`` (or a ``torch.clamp`` call) and
    ``pool{k}``. The module is in eval mode and traceable with ``torch.fx``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> g = PLGraph.from_blocks([(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))])
    >>> net = PLGraphModule(g, (1,))
    >>> net(torch.tensor([[-3.0], [2.0]], dtype=torch.float64)).flatten().tolist()   # |x|
    [3.0, 2.0]
    >>> sorted(name for name, _ in net.named_parameters())
    ['layer1_from0.bias', 'layer1_from0.weight', 'output_from1.bias', 'output_from1.weight']
    """

    def __init__(self, graph: PLGraph, input_shape: tuple):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        if math.prod(self.input_shape) != graph.input_size:
            raise ValueError(f"input_shape {self.input_shape} does not hold the graph's {graph.input_size} inputs.")
        self.flatten = nn.Flatten() if len(self.input_shape) > 1 else nn.Identity()
        self._plan = []  # per layer: (name, sources in order, activation: module name or clamp limits)
        for k, layer in enumerate(graph.layers, start=1):
            if layer.kind == "max":
                units, width = layer.windows.shape
                self._add_affine(f"layer{k}", layer.sources, layer.bias, layer.windows.reshape(-1))
                self.add_module(f"pool{k}", nn.Sequential(nn.Unflatten(1, (1, units * width)), nn.MaxPool1d(width),
                                                          nn.Flatten()))
                act = f"pool{k}"
            else:
                self._add_affine(f"layer{k}", layer.sources, layer.bias)
                kind, act = _activation(layer.pieces)
                if kind == "module":
                    self.add_module(f"act{k}", act)
                    act = f"act{k}"
            self._plan.append((f"layer{k}", sorted(layer.sources), act))
        self._add_affine("output", graph.output_sources, graph.output_bias)
        self._output_sources = sorted(graph.output_sources)
        self.eval()

    def _add_affine(self, prefix: str, sources: dict, bias: np.ndarray, rows=None) -> None:
        """One ``nn.Linear`` per source (rows picked by ``rows``); the first one holds the bias."""
        for i, j in enumerate(sorted(sources)):
            W = sources[j] if rows is None else sources[j][rows]
            b = None if i else bias if rows is None else bias[rows]
            self.add_module(f"{prefix}_from{j}", _linear(W, b))

    def _affine(self, prefix: str, sources: list, h: list) -> torch.Tensor:
        z = getattr(self, f"{prefix}_from{sources[0]}")(h[sources[0]])
        for j in sources[1:]:
            z = z + getattr(self, f"{prefix}_from{j}")(h[j])
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The graph's output for a batch of inputs.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, *input_shape), float64
            The inputs.

        Returns
        -------
        torch.Tensor of shape (batch, graph.output_size), float64
        """
        h = [self.flatten(x)]
        for prefix, sources, act in self._plan:
            z = self._affine(prefix, sources, h)
            h.append(getattr(self, act)(z) if isinstance(act, str) else torch.clamp(z, *act))
        return self._affine("output", self._output_sources, h)


__all__ = ["PLGraphModule"]
