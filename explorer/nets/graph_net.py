"""GraphNet: a piecewise-linear network that is not a chain, as the analyses see it.

The forward pass runs the model's own float64 copy; every analysis reads its
:class:`~explorer.nets.graph.PLGraph` (:func:`explorer.nets.tracing.read_graph`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .graph import PLGraph
from .ops import CanonicalNet
from .weights import weight_layers


class NotAChainError(ValueError):
    """An analysis that needs a ReLU chain was given a graph."""


class GraphNet(CanonicalNet):
    """A network with skip connections, concatenations, max pools or other ReLU-family
    activations, in float64.

    Activation patterns are *choices*: per layer an int8 array of each unit's piece (for a
    ReLU-family unit, ``piece = #{breakpoints below z}``, so 1 means on for a ReLU) or of
    each window's winning position (max pool), see :class:`~explorer.nets.graph.Layer`.
    """

    def __init__(self, module64: nn.Module, graph: PLGraph, input_shape: tuple):
        """``module64`` (float64, eval mode) runs the forward pass; ``graph`` is its PLGraph."""
        super().__init__([], input_shape)
        self.module64 = module64
        self._graph = graph
        with torch.no_grad():
            self._output_shape = tuple(self(torch.zeros(1, *self.input_shape, dtype=torch.float64)).shape[1:])

    @property
    def output_shape(self) -> tuple:
        return self._output_shape

    @property
    def num_relu_layers(self) -> int:
        """Number of piecewise-linear layers (ReLU-family or max pool)."""
        return len(self._graph.layers)

    @property
    def hidden_sizes(self) -> list[int]:
        return [layer.units for layer in self._graph.layers]

    def weight_layers(self) -> list:
        """Every Linear / Conv1d / Conv2d the model calls (:func:`explorer.nets.weight_layers`)."""
        return weight_layers(self.module64, self.input_shape)

    def graph(self) -> PLGraph:
        return self._graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float64:
            return self.forward(x.to(torch.float64)).to(x.dtype)
        return self.module64(self._as_batch(x))

    def _flat(self, x) -> np.ndarray:
        return self._as_batch(x).detach().reshape(-1, self._graph.input_size).numpy()

    def preactivations(self, x) -> list[torch.Tensor]:
        return [torch.from_numpy(z) for z in self._graph.preactivations(self._flat(x))]

    def activation_pattern(self, x) -> list[torch.Tensor]:
        """The choice of every layer (int8 (batch, units) per layer; see the class docstring)."""
        return [torch.from_numpy(np.ascontiguousarray(c)) for c in self._graph.evaluate(self._flat(x))[1]]

    def forward_with_pattern(self, x, pattern) -> torch.Tensor:
        choices = [np.asarray(p) for p in pattern]
        y = self._graph.evaluate(self._flat(x), choices)[0]
        return torch.from_numpy(y).reshape(-1, *self.output_shape)

    def region_affine_map(self, x) -> tuple[np.ndarray, np.ndarray]:
        x = self._flat(x)
        if x.shape[0] != 1:
            raise ValueError("region_affine_map takes a single input.")
        choices = [c[0] for c in self._graph.evaluate(x)[1]]
        A, c, _ = self._graph.affine_map(choices)
        return A, c

    def affine_blocks(self):
        """The chain's blocks, when the graph is a ReLU chain after all (else :class:`NotAChainError`)."""
        if not self._graph.is_chain:
            raise NotAChainError(
                "This network has skip connections, max pools or activations other than ReLU; this "
                "analysis needs a plain ReLU chain. Use its graph form (net.graph()).")
        blocks = self._graph.dense_blocks()
        return [(W, b, True) for W, b in blocks[:-1]] + [(*blocks[-1], False)]
