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

    ``kind`` is one of ``linear``, ``conv2d``, ``avgpool2d``, ``reshape`` (affine)
    or ``relu``. ``module`` is a float64 copy with BatchNorm already folded in.
    Shapes are per sample.
    """

    kind: str
    name: str
    module: nn.Module
    in_shape: tuple
    out_shape: tuple


@dataclass
class WeightLayer:
    """A layer that carries a weight, as seen by the spectra and zoo code.

    ``kind`` is ``"linear"``, ``"conv1d"`` or ``"conv2d"``. A conv's ``stride``, ``padding``
    (pixels per side) and ``dilation`` have one entry per spatial axis (1-tuples for
    ``conv1d``); a grouped conv's weight is PyTorch's ``(c_out, c_in / groups, ...)``.
    Shapes are per sample.
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
        return self.ops[-1].out_shape if self.ops else self.input_shape

    @property
    def num_relu_layers(self) -> int:
        return sum(op.kind == "relu" for op in self.ops)

    @property
    def hidden_sizes(self) -> list[int]:
        """Number of ReLU units in each hidden layer."""
        return [math.prod(op.in_shape) for op in self.ops if op.kind == "relu"]

    def weight_layers(self) -> list[WeightLayer]:
        """Every Linear and Conv2d layer with its (BatchNorm-folded) weights."""
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
        if x.dtype != torch.float64:
            return self.forward(x.to(torch.float64)).to(x.dtype)
        x = self._as_batch(x)
        for op in self.ops:
            x = op.module(x)
        return x

    def preactivations(self, x) -> list[torch.Tensor]:
        """Pre-activation of every ReLU unit: one (batch, units) float64 tensor per layer."""
        h = self._as_batch(x)
        out = []
        with torch.no_grad():
            for op in self.ops:
                if op.kind == "relu":
                    out.append(h.reshape(h.shape[0], -1).clone())
                h = op.module(h)
        return out

    def activation_pattern(self, x) -> list[torch.Tensor]:
        """Which units are on (pre-activation > 0): one bool (batch, units) tensor per layer."""
        return [z > 0 for z in self.preactivations(x)]

    def forward_with_pattern(self, x, pattern: list[torch.Tensor]) -> torch.Tensor:
        """Run the network with each ReLU replaced by a fixed 0/1 mask.

        ``pattern[k]`` has shape (units,) or (batch, units). The result is affine in x.
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

        ``x`` is one input; A has shape (outputs, inputs) with both sides flattened.
        Exact in float64: it agrees with the forward pass at x to rounding error.
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
        """Every affine block as a dense matrix, with whether a ReLU follows it: [(W, b, relu)].

        Shapes are flattened; convolutions become their (sparse but stored dense)
        operator matrices, refused above ``MAX_DENSE_ENTRIES`` entries. A network may end
        in a ReLU here (generators do). Built once per net (a conv operator can take a
        second) and returned read-only, shared by every caller.
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
        """
        if self._pl_graph is None:
            blocks = self.affine_blocks()
            dense = [(W, b) for W, b, _ in blocks]
            if blocks[-1][2]:
                dense.append((np.eye(len(blocks[-1][1])), np.zeros(len(blocks[-1][1]))))
            self._pl_graph = PLGraph.from_blocks(dense)
        return self._pl_graph

    def dense_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The affine blocks between ReLUs as matrices: [(W_1, b_1), ..., (W_L, b_L)].

        The network is x -> W_L relu(... relu(W_1 x + b_1) ...) + b_L; see
        :meth:`affine_blocks`. A network that ends in a ReLU has no such form.
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
