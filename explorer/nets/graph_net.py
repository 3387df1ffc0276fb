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
    Build one with :func:`explorer.nets.canonical`.

    Parameters
    ----------
    module64 : nn.Module
        The model's float64, eval-mode copy; it runs the forward pass.
    graph : PLGraph
        Its graph (:func:`explorer.nets.tracing.read_graph`); every analysis reads it.
    input_shape : tuple of int
        The shape of one input, without the batch dimension.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from explorer.nets import canonical
    >>> _ = torch.manual_seed(0)
    >>> net = canonical(nn.Sequential(nn.Linear(2, 4), nn.LeakyReLU(0.1), nn.Linear(4, 1)))
    >>> type(net).__name__, net.hidden_sizes, [p.dtype for p in net.activation_pattern(torch.zeros(3, 2))]
    ('GraphNet', [4], [torch.int8])
    """

    def __init__(self, module64: nn.Module, graph: PLGraph, input_shape: tuple):
        """Wrap ``module64`` (float64, eval mode) and its ``graph``; see the class docstring."""
        super().__init__([], input_shape)
        self.module64 = module64
        self._graph = graph
        with torch.no_grad():
            self._output_shape = tuple(self(torch.zeros(1, *self.input_shape, dtype=torch.float64)).shape[1:])

    @property
    def output_shape(self) -> tuple:
        """The shape of one output, without the batch dimension."""
        return self._output_shape

    @property
    def num_relu_layers(self) -> int:
        """Number of piecewise-linear layers (ReLU-family or max pool)."""
        return len(self._graph.layers)

    @property
    def hidden_sizes(self) -> list[int]:
        """Number of outputs (units or windows) of each piecewise-linear layer."""
        return [layer.units for layer in self._graph.layers]

    def weight_layers(self) -> list:
        """Every Linear / Conv1d / Conv2d the model calls (:func:`explorer.nets.weight_layers`).

        Returns
        -------
        list of WeightLayer
            In call order, float64 weights with BatchNorm folded where it directly follows.
        """
        return weight_layers(self.module64, self.input_shape)

    def graph(self) -> PLGraph:
        """The network's :class:`~explorer.nets.graph.PLGraph`.

        Returns
        -------
        PLGraph
            The graph every analysis reads (shared, not a copy).
        """
        return self._graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output, computed in float64.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, *input_shape), (batch, n_in) or input_shape
            Inputs of any floating dtype.

        Returns
        -------
        torch.Tensor of shape (batch, *output_shape)
            In the dtype of ``x``.

        Raises
        ------
        ValueError
            If ``x`` does not fit the input shape.
        """
        if x.dtype != torch.float64:
            return self.forward(x.to(torch.float64)).to(x.dtype)
        return self.module64(self._as_batch(x))

    def _flat(self, x) -> np.ndarray:
        return self._as_batch(x).detach().reshape(-1, self._graph.input_size).numpy()

    def preactivations(self, x) -> list[torch.Tensor]:
        """The pre-activations of every piecewise-linear layer.

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input or a batch (as for :meth:`forward`).

        Returns
        -------
        list of torch.Tensor
            One (batch, size_k) float64 tensor per layer.
        """
        return [torch.from_numpy(z) for z in self._graph.preactivations(self._flat(x))]

    def activation_pattern(self, x) -> list[torch.Tensor]:
        """The choice of every layer: each unit's piece or each window's winning position.

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input or a batch (as for :meth:`forward`).

        Returns
        -------
        list of torch.Tensor
            One (batch, units) int8 tensor per layer (see the class docstring).
        """
        return [torch.from_numpy(np.ascontiguousarray(c)) for c in self._graph.evaluate(self._flat(x))[1]]

    def forward_with_pattern(self, x, pattern) -> torch.Tensor:
        """Run the network with every layer held on given choices; the result is affine in ``x``.

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input or a batch (as for :meth:`forward`).
        pattern : list of array_like
            One (units,) or (batch, units) integer array per layer, as
            :meth:`activation_pattern` gives.

        Returns
        -------
        torch.Tensor of shape (batch, *output_shape), float64
        """
        choices = [np.asarray(p) for p in pattern]
        y = self._graph.evaluate(self._flat(x), choices)[0]
        return torch.from_numpy(y).reshape(-1, *self.output_shape)

    def region_affine_map(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The affine map ``f(y) = A y + c`` of the network on the region containing ``x``.

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input.

        Returns
        -------
        A : numpy.ndarray of shape (outputs, inputs), float64
            Both sides flattened.
        c : numpy.ndarray of shape (outputs,), float64

        Raises
        ------
        ValueError
            If ``x`` holds more than one input.
        """
        x = self._flat(x)
        if x.shape[0] != 1:
            raise ValueError("region_affine_map takes a single input.")
        choices = [c[0] for c in self._graph.evaluate(x)[1]]
        A, c, _ = self._graph.affine_map(choices)
        return A, c

    def affine_blocks(self):
        """The chain's blocks, when the graph is a ReLU chain after all.

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray, bool)
            ``[(W, b, relu)]`` as :meth:`CanonicalNet.affine_blocks` gives them.

        Raises
        ------
        NotAChainError
            If the graph has skip connections, max pools or activations other than ReLU.
        """
        if not self._graph.is_chain:
            raise NotAChainError(
                "This network has skip connections, max pools or activations other than ReLU; this "
                "analysis needs a plain ReLU chain. Use its graph form (net.graph()).")
        blocks = self._graph.dense_blocks()
        return [(W, b, True) for W, b in blocks[:-1]] + [(*blocks[-1], False)]
