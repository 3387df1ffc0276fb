"""The canonical form's data: affine ops, weight layers, and the network they make.

A network is a chain ``x -> A_1 -> ReLU -> A_2 -> ReLU -> ... -> A_L`` of affine
operators in float64 (:class:`CanonicalNet`); :mod:`explorer.nets.from_module`
builds one from an ``nn.Module``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .graph import PLGraph

# The dense (matrix) form of a block is refused above this many entries.
MAX_DENSE_ENTRIES = 50_000_000


class UnsupportedLayerError(TypeError):
    """A layer that is not piecewise linear in the supported sense."""


class OperatorTooLargeError(ValueError):
    """An affine block too large to store as a dense matrix."""


@dataclass
class Op:
    """One step of the canonical chain.

    Attributes
    ----------
    kind : {"linear", "conv2d", "avgpool2d", "reshape", "relu"}
        The first four are affine.
    name : str
        The layer's name in the original model.
    module : nn.Module
        A float64, eval-mode copy with BatchNorm already folded in.
    in_shape, out_shape : tuple of int
        The shapes of its input and output, per sample.
    """

    kind: str
    name: str
    module: nn.Module
    in_shape: tuple
    out_shape: tuple


@dataclass
class WeightLayer:
    """A layer that carries a weight, as seen by the spectra and zoo code.

    Attributes
    ----------
    name : str
        The module's name (a second call of one module is ``"name (call 2)"``).
    kind : {"linear", "conv1d", "conv2d"}
        The layer type.
    weight : numpy.ndarray, float64
        ``(out, in)`` for linear, ``(c_out, c_in / groups, k)`` or ``(c_out, c_in / groups, kh, kw)``
        for convolutions (PyTorch's layout), BatchNorm folded in where it applies.
    bias : numpy.ndarray of shape (out,) or (c_out,), float64, or None
    in_shape, out_shape : tuple of int
        The shapes of the layer's input and output, per sample.
    stride, padding, dilation : tuple of int
        A conv's settings, one entry per spatial axis (1-tuples for ``conv1d``); padding is
        in pixels per side.
    padding_mode : str
        A conv's padding mode (``"zeros"``, ``"circular"``, ...).
    groups : int
        A conv's number of groups.
    """

    name: str
    kind: str  # "linear", "conv1d" or "conv2d"
    weight: np.ndarray  # (out, in), (c_out, c_in / groups, k) or (c_out, c_in / groups, kh, kw), float64
    bias: np.ndarray | None
    in_shape: tuple
    out_shape: tuple
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    padding_mode: str = "zeros"
    dilation: tuple = (1, 1)
    groups: int = 1

    @property
    def operator_key(self) -> tuple:
        """Equal for two calls of one module on inputs of one shape (the same operator): the module's
        name without :func:`~explorer.nets.weight_layers`' " (call k)", the input shape, the weights."""
        return self.name.split(" (call ")[0], self.in_shape, np.asarray(self.weight).tobytes()


class CanonicalNet(nn.Module):
    """A ReLU network as a chain of affine ops and ReLUs, in float64.

    Build it with :func:`canonical`. Calling it runs the forward pass; the other
    methods expose pre-activations, activation patterns and local affine maps.

    Parameters
    ----------
    ops : list of Op
        The chain's steps in order, float64 modules.
    input_shape : tuple of int
        The shape of one input, without the batch dimension.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from explorer.nets import canonical
    >>> _ = torch.manual_seed(0)
    >>> net = canonical(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
    >>> [op.kind for op in net.ops], net.num_relu_layers, net(torch.zeros(5, 2)).shape
    (['linear', 'relu', 'linear'], 1, torch.Size([5, 1]))
    """

    def __init__(self, ops: list[Op], input_shape: tuple):
        super().__init__()
        self.ops = ops
        self.input_shape = tuple(input_shape)
        self._modules_list = nn.ModuleList([op.module for op in ops])
        self._dense = None  # affine_blocks(), built on first use
        self._pl_graph = None  # graph(), built on first use

    # -- structure -----------------------------------------------------------------
    @property
    def output_shape(self) -> tuple:
        """The shape of one output, without the batch dimension."""
        return self.ops[-1].out_shape if self.ops else self.input_shape

    @property
    def num_relu_layers(self) -> int:
        """Number of hidden (ReLU) layers."""
        return sum(op.kind == "relu" for op in self.ops)

    @property
    def hidden_sizes(self) -> list[int]:
        """Number of ReLU units in each hidden layer."""
        return [math.prod(op.in_shape) for op in self.ops if op.kind == "relu"]

    def weight_layers(self) -> list[WeightLayer]:
        """Every Linear and Conv2d layer with its (BatchNorm-folded) weights.

        Returns
        -------
        list of WeightLayer
            In chain order, float64 copies.
        """
        layers = []
        for op in self.ops:
            m = op.module
            if op.kind not in ("linear", "conv2d"):
                continue
            bias = None if m.bias is None else m.bias.detach().numpy().copy()
            extra = {}
            if op.kind == "conv2d":
                extra = {"stride": tuple(m.stride), "padding": tuple(m.padding), "padding_mode": m.padding_mode,
                         "dilation": tuple(m.dilation), "groups": m.groups}
            layers.append(WeightLayer(op.name, op.kind, m.weight.detach().numpy().copy(), bias,
                                      op.in_shape, op.out_shape, **extra))
        return layers

    # -- evaluation ----------------------------------------------------------------
    def _as_batch(self, x) -> torch.Tensor:
        """Accept one input, a batch, or a batch of flattened inputs; return (batch, *input_shape)."""
        x = torch.as_tensor(x, dtype=torch.float64)
        n_in = math.prod(self.input_shape)
        if tuple(x.shape) == self.input_shape:
            return x.reshape(1, *self.input_shape)
        if x.dim() >= 2 and math.prod(x.shape[1:]) == n_in:
            return x.reshape(x.shape[0], *self.input_shape)
        if x.dim() == 1 and x.numel() == n_in:
            return x.reshape(1, *self.input_shape)
        raise ValueError(
            f"Input of shape {tuple(x.shape)} does not fit the network, which expects "
            f"(batch, {', '.join(map(str, self.input_shape))})."
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output, computed in float64.

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
        x = self._as_batch(x)
        for op in self.ops:
            x = op.module(x)
        return x

    def preactivations(self, x) -> list[torch.Tensor]:
        """Pre-activation of every ReLU unit.

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input of ``input_shape``, a batch (batch, *input_shape), or a batch of
            flattened inputs (batch, n_in); read as float64.

        Returns
        -------
        list of torch.Tensor
            One (batch, units) float64 tensor per hidden layer.

        Raises
        ------
        ValueError
            If ``x`` does not fit the input shape.
        """
        h = self._as_batch(x)
        out = []
        with torch.no_grad():
            for op in self.ops:
                if op.kind == "relu":
                    out.append(h.reshape(h.shape[0], -1).clone())
                h = op.module(h)
        return out

    def activation_pattern(self, x) -> list[torch.Tensor]:
        """Which units are on (pre-activation > 0).

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input of ``input_shape``, a batch (batch, *input_shape), or a batch of
            flattened inputs (batch, n_in); read as float64.

        Returns
        -------
        list of torch.Tensor
            One bool (batch, units) tensor per hidden layer.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> from explorer.nets import canonical
        >>> lin = nn.Linear(1, 2)
        >>> with torch.no_grad():
        ...     _ = lin.weight.copy_(torch.tensor([[1.0], [-1.0]])); _ = lin.bias.zero_()
        >>> net = canonical(nn.Sequential(lin, nn.ReLU(), nn.Linear(2, 1)))
        >>> net.activation_pattern(torch.tensor([[2.0], [-2.0]]))[0].tolist()
        [[True, False], [False, True]]
        """
        return [z > 0 for z in self.preactivations(x)]

    def forward_with_pattern(self, x, pattern: list[torch.Tensor]) -> torch.Tensor:
        """Run the network with each ReLU replaced by a fixed 0/1 mask; the result is affine in ``x``.

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input of ``input_shape``, a batch (batch, *input_shape), or a batch of
            flattened inputs (batch, n_in); read as float64.
        pattern : list of torch.Tensor or array_like
            ``pattern[k]`` of shape (units,) or (batch, units), bool or 0/1: the mask of hidden
            layer k (as :meth:`activation_pattern` gives).

        Returns
        -------
        torch.Tensor of shape (batch, *output_shape), float64
        """
        h = self._as_batch(x)
        k = 0
        for op in self.ops:
            if op.kind == "relu":
                mask = torch.as_tensor(pattern[k], dtype=h.dtype).reshape(-1, *h.shape[1:])
                h = h * mask
                k += 1
            else:
                h = op.module(h)
        return h

    def region_affine_map(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The affine map ``f(y) = A y + c`` of the network on the region containing ``x``.

        Exact in float64: it agrees with the forward pass at ``x`` to rounding error.

        Parameters
        ----------
        x : array_like or torch.Tensor
            One input (of ``input_shape``, or flattened).

        Returns
        -------
        A : numpy.ndarray of shape (outputs, inputs), float64
            Both sides flattened.
        c : numpy.ndarray of shape (outputs,), float64

        Raises
        ------
        ValueError
            If ``x`` holds more than one input or does not fit the input shape.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> from explorer.nets import canonical
        >>> _ = torch.manual_seed(0)
        >>> net = canonical(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
        >>> x = torch.tensor([0.3, -0.1], dtype=torch.float64)
        >>> A, c = net.region_affine_map(x)
        >>> A.shape, bool(abs(A @ x.numpy() + c - net(x[None]).numpy()[0]).max() < 1e-12)
        ((1, 2), True)
        """
        x = self._as_batch(x)
        if x.shape[0] != 1:
            raise ValueError("region_affine_map takes a single input.")
        pattern = [p[0] for p in self.activation_pattern(x)]
        n_in = math.prod(self.input_shape)
        basis = torch.cat([torch.zeros(1, n_in, dtype=torch.float64), torch.eye(n_in, dtype=torch.float64)])
        with torch.no_grad():
            out = self.forward_with_pattern(basis, pattern).reshape(n_in + 1, -1)
        c = out[0]
        A = (out[1:] - c).T
        return A.numpy(), c.numpy()

    def affine_blocks(self) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """Every affine block as a dense matrix, with whether a ReLU follows it.

        Shapes are flattened; convolutions become their (sparse but stored dense)
        operator matrices. A network may end in a ReLU here (generators do). Built once
        per net (a conv operator can take a second) and returned read-only, shared by
        every caller.

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray, bool)
            ``[(W, b, relu)]``: ``W`` of shape (n_out, n_in) and ``b`` of shape (n_out,),
            float64 and read-only; ``relu`` says whether a ReLU follows the block.

        Raises
        ------
        OperatorTooLargeError
            If a block would have more than ``MAX_DENSE_ENTRIES`` entries.
        ValueError
            If the network starts with a ReLU.
        """
        if self._dense is None:
            blocks = []
            group: list[Op] = []
            for op in self.ops:
                if op.kind == "relu":
                    blocks.append((*_dense_of(group), True))
                    group = []
                else:
                    group.append(op)
            if group:
                blocks.append((*_dense_of(group), False))
            self._dense = blocks
        return list(self._dense)

    def graph(self):
        """The network as a :class:`~explorer.nets.graph.PLGraph` (a chain of ReLU layers here).

        A network that ends in a ReLU gets an identity output after its last layer.

        Returns
        -------
        PLGraph
            Built once per net and shared.

        Raises
        ------
        OperatorTooLargeError
            As :meth:`affine_blocks`.
        """
        if self._pl_graph is None:
            blocks = self.affine_blocks()
            dense = [(W, b) for W, b, _ in blocks]
            if blocks[-1][2]:
                dense.append((np.eye(len(blocks[-1][1])), np.zeros(len(blocks[-1][1]))))
            self._pl_graph = PLGraph.from_blocks(dense)
        return self._pl_graph

    def dense_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The affine blocks between ReLUs as matrices.

        The network is ``x -> W_L relu(... relu(W_1 x + b_1) ...) + b_L``; see
        :meth:`affine_blocks`.

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray)
            ``[(W_1, b_1), ..., (W_L, b_L)]``, float64, read-only, inputs flattened.

        Raises
        ------
        ValueError
            If the network ends in a ReLU (it has no last affine block).
        OperatorTooLargeError
            As :meth:`affine_blocks`.

        Examples
        --------
        >>> from torch import nn
        >>> from explorer.nets import canonical
        >>> net = canonical(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)))
        >>> [(W.shape, b.shape) for W, b in net.dense_blocks()]
        [((3, 2), (3,)), ((1, 3), (1,))]
        """
        blocks = self.affine_blocks()
        if not blocks or blocks[-1][2]:
            raise ValueError("The network ends in a ReLU, so it has no last affine block (its scores).")
        return [(W, b) for W, b, _ in blocks]


def _dense_of(group: list[Op]) -> tuple[np.ndarray, np.ndarray]:
    if not group:
        raise ValueError("Each ReLU must follow an affine layer; this network starts with a ReLU.")
    in_shape = group[0].in_shape
    n_in = math.prod(in_shape)
    n_out = math.prod(group[-1].out_shape)
    if n_in * n_out > MAX_DENSE_ENTRIES:
        raise OperatorTooLargeError(
            f"The block {group[0].name}..{group[-1].name} as a dense matrix would have "
            f"{n_in * n_out:,} entries (limit {MAX_DENSE_ENTRIES:,})."
        )
    basis = torch.cat([torch.zeros(1, n_in, dtype=torch.float64), torch.eye(n_in, dtype=torch.float64)])
    h = basis.reshape(n_in + 1, *in_shape)
    with torch.no_grad():
        for op in group:
            h = op.module(h)
    h = h.reshape(n_in + 1, -1)
    b = h[0]
    W, b = (h[1:] - b).T.numpy().copy(), b.numpy().copy()
    W.flags.writeable = b.flags.writeable = False
    return W, b
