"""The canonical form as a graph: piecewise-linear layers fed by any earlier layers.

Every piecewise-linear network (residual ``+``, ``torch.cat``, MaxPool, LeakyReLU, ...)
is, after folding every affine operation into its consumers, a list of *layers*
``h_1, ..., h_L`` in topological order and an affine output:

    z_k = sum_{j in sources(k)} W_kj h_j + b_k        (h_0 = x, the flattened input)
    h_k = sigma_k(z_k)
    y   = sum_{j in sources(out)} W_oj h_j + b_o

where ``sigma_k`` is either elementwise piecewise linear (:class:`Pieces`: ReLU, LeakyReLU,
PReLU, ReLU6, Hardtanh, clamp) or a max over windows of ``z_k`` (MaxPool). A chain
``x -> A_1 -> ReLU -> ... -> A_L`` is the case ``sources(k) = {k - 1}``. On the set of inputs
where every unit stays on one piece (the argmax of every window fixed) the network is one
affine map; :meth:`PLGraph.affine_map` gives it. This is the "DAG of affine layers" form of
Hinz & van de Geer's ReLU-network framework and of auto_LiRPA's computational graph
(Xu et al. 2020, arXiv 2002.12920), written for this package.

>>> import numpy as np
>>> g = PLGraph.from_blocks([(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))])
>>> y, pieces = g.evaluate(np.array([[-3.0]]))      # relu(x) + relu(-x) = |x|
>>> float(y[0, 0]), pieces[0].tolist()
(3.0, [[0, 1]])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Pieces:
    """An elementwise piecewise-linear, continuous activation.

    Unit u is on piece ``p = #{t in breakpoints : z > t}`` (so a ReLU unit is on piece 1
    iff ``z > 0``), where ``f(z) = slopes[u, p] z + offsets[u, p]``.
    ``breakpoints`` (m,) increasing and shared by the layer; ``slopes``, ``offsets`` (units, m + 1).
    """

    breakpoints: np.ndarray
    slopes: np.ndarray
    offsets: np.ndarray

    @classmethod
    def relu_family(cls, units: int, negative_slope=0.0) -> "Pieces":
        """ReLU (slope 0), LeakyReLU (a scalar) or PReLU (one slope per unit) below zero."""
        low = np.broadcast_to(np.asarray(negative_slope, dtype=np.float64), (units,))
        return cls(np.zeros(1), np.stack([low, np.ones(units)], axis=1), np.zeros((units, 2)))

    @classmethod
    def clamp(cls, units: int, low: float | None, high: float | None) -> "Pieces":
        """``min(max(z, low), high)`` (ReLU6 is ``clamp(0, 6)``, Hardtanh ``clamp(-1, 1)``)."""
        if low is None and high is None:
            raise ValueError("A clamp needs a lower or an upper limit.")
        if low is not None and high is not None and not low < high:
            raise ValueError(f"A clamp needs low < high; got {low} and {high}.")
        t, s, d = [], [], []
        if low is not None:
            t, s, d = [low], [0.0], [low]
        s.append(1.0)
        d.append(0.0)
        if high is not None:
            t.append(high)
            s.append(0.0)
            d.append(high)
        return cls(np.array(t, dtype=np.float64), np.tile(s, (units, 1)), np.tile(d, (units, 1)))

    @property
    def is_relu(self) -> bool:
        return (len(self.breakpoints) == 1 and self.breakpoints[0] == 0 and (self.slopes[:, 0] == 0).all()
                and (self.slopes[:, 1] == 1).all() and not self.offsets.any())

    def piece(self, z: np.ndarray) -> np.ndarray:
        """The piece index of every entry of z (..., units), as int8."""
        return (z[..., None] > self.breakpoints).sum(-1).astype(np.int8)

    def apply(self, z: np.ndarray, piece: np.ndarray):
        """(slope, offset) of every entry on the given pieces, so that h = slope z + offset."""
        units = np.arange(z.shape[-1])
        return self.slopes[units, piece], self.offsets[units, piece]


@dataclass
class Layer:
    """One layer of a :class:`PLGraph`: ``z = sum_j sources[j] @ h_j + bias``, then its activation.

    ``kind`` is ``"pieces"`` (``pieces`` set; as many outputs as pre-activations) or ``"max"``
    (output u is ``max_i z[windows[u, i]]``; a window repeats an index to pad, which never
    changes a max). ``sources`` maps 0 (the input) or an earlier layer's 1-based index to its
    weight matrix. ``shape`` is the output's shape per sample, for display.
    """

    name: str
    kind: str
    sources: dict
    bias: np.ndarray
    pieces: Pieces | None = None
    windows: np.ndarray | None = None
    shape: tuple = ()

    @property
    def size(self) -> int:
        """Number of pre-activations."""
        return len(self.bias)

    @property
    def units(self) -> int:
        """Number of outputs."""
        return len(self.windows) if self.kind == "max" else len(self.bias)

    def preactivation(self, outputs: list) -> np.ndarray:
        """z for a batch, given ``outputs[j]`` (batch, size_j) of the input and earlier layers."""
        return sum(h_j @ W.T for h_j, W in ((outputs[j], W) for j, W in self.sources.items())) + self.bias

    def choose(self, z: np.ndarray) -> np.ndarray:
        """The piece (or the winning window position, ties to the lowest) of every output: (batch, units) int8."""
        if self.kind == "max":
            return z[:, self.windows].argmax(-1).astype(np.int8)
        return self.pieces.piece(z)

    def activate(self, z: np.ndarray, choice: np.ndarray) -> np.ndarray:
        """The layer's output for pre-activations z (batch, size) on the given pieces / winners."""
        if self.kind == "max":
            return np.take_along_axis(z[:, self.windows], choice[..., None].astype(np.int64), -1)[..., 0]
        slope, offset = self.pieces.apply(z, choice)
        return slope * z + offset

    def local_map(self, choice: np.ndarray):
        """The activation on fixed pieces as an affine map of z: (S, d) with h = S @ z + d; choice (units,)."""
        choice = np.asarray(choice).astype(np.int64)
        if self.kind == "max":
            S = np.zeros((self.units, self.size))
            S[np.arange(self.units), self.windows[np.arange(self.units), choice]] = 1.0
            return S, np.zeros(self.units)
        slope, offset = self.pieces.apply(np.zeros(self.size), choice)
        return np.diag(slope), offset


@dataclass
class PLGraph:
    """A piecewise-linear network as layers fed by earlier layers (see the module docstring).

    ``output_sources`` and ``output_bias`` give the output's affine map of the layers' outputs.
    """

    input_size: int
    layers: list
    output_sources: dict
    output_bias: np.ndarray
    names: list = field(default_factory=list)

    @classmethod
    def from_blocks(cls, blocks: list) -> "PLGraph":
        """The chain ``x -> W_1 -> ReLU -> ... -> W_L`` given as dense blocks [(W_k, b_k)]."""
        layers = [Layer(f"relu{k}", "pieces", {k - 1: W}, b, Pieces.relu_family(len(b)), shape=(len(b),))
                  for k, (W, b) in enumerate(blocks[:-1], start=1)]
        W, b = blocks[-1]
        return cls(blocks[0][0].shape[1], layers, {len(layers): W}, b)

    @property
    def output_size(self) -> int:
        return len(self.output_bias)

    @property
    def is_chain(self) -> bool:
        """Whether this is a plain ReLU chain (every layer fed by the one before, ReLU only)."""
        return all(set(layer.sources) == {k} and layer.kind == "pieces" and layer.pieces.is_relu
                   for k, layer in enumerate(self.layers)) and set(self.output_sources) == {len(self.layers)}

    def dense_blocks(self) -> list:
        """[(W_1, b_1), ..., (W_L, b_L)] of a chain (see :attr:`is_chain`)."""
        if not self.is_chain:
            raise ValueError("This network is a graph (skip connections, max or other activations), not a ReLU chain.")
        return [(layer.sources[k], layer.bias) for k, layer in enumerate(self.layers)] + \
            [(self.output_sources[len(self.layers)], self.output_bias)]

    def consumers(self) -> list:
        """``consumers()[j]``: the layers (1-based; L + 1 is the output) that read h_j."""
        out = [[] for _ in range(len(self.layers) + 1)]
        for k, layer in enumerate(self.layers, start=1):
            for j in layer.sources:
                out[j].append(k)
        for j in self.output_sources:
            out[j].append(len(self.layers) + 1)
        return out

    def evaluate(self, x: np.ndarray, choices: list | None = None):
        """Forward pass of a batch x (batch, input_size): (outputs (batch, out), choices per layer).

        With ``choices`` given (one (units,) or (batch, units) array per layer) every layer is
        held on those pieces, which makes the result affine in x.
        """
        h = [np.asarray(x, dtype=np.float64).reshape(-1, self.input_size)]
        used = []
        for k, layer in enumerate(self.layers):
            z = layer.preactivation(h)
            choice = layer.choose(z) if choices is None else np.broadcast_to(choices[k], (len(z), layer.units))
            used.append(choice)
            h.append(layer.activate(z, choice))
        y = sum(h[j] @ W.T for j, W in self.output_sources.items()) + self.output_bias
        return y, used

    def preactivations(self, x: np.ndarray) -> list:
        """z of every layer for a batch x: one (batch, size_k) array per layer."""
        h = [np.asarray(x, dtype=np.float64).reshape(-1, self.input_size)]
        zs = []
        for layer in self.layers:
            zs.append(layer.preactivation(h))
            h.append(layer.activate(zs[-1], layer.choose(zs[-1])))
        return zs

    def affine_map(self, choices: list):
        """The network on fixed pieces as ``y = A x + c``: (A (out, in), c (out,)), and every
        layer's output map [(A_k, c_k)] (index 0 is the input's identity)."""
        maps = [(np.eye(self.input_size), np.zeros(self.input_size))]
        for layer, choice in zip(self.layers, choices):
            G = sum(W @ maps[j][0] for j, W in layer.sources.items())
            g = sum(W @ maps[j][1] for j, W in layer.sources.items()) + layer.bias
            S, d = layer.local_map(np.asarray(choice).reshape(-1))
            maps.append((S @ G, S @ g + d))
        A = sum(W @ maps[j][0] for j, W in self.output_sources.items())
        c = sum(W @ maps[j][1] for j, W in self.output_sources.items()) + self.output_bias
        return A, c, maps

    def lipschitz_upper_bound(self) -> float:
        """An upper bound on the network's L2 Lipschitz constant, layer by layer.

        With ``L_0 = 1``, ``L_k = c_k sum_{j in sources(k)} ||W_kj||_2 L_j`` and the output's
        ``sum_j ||W_oj||_2 L_j`` (triangle inequality over the sources), where ``c_k`` is the
        largest |slope| of an elementwise layer, or ``sqrt(m)`` for a max layer whose entries
        sit in at most m windows (each output moves by at most the largest change in its window,
        ``|max a - max b| <= max |a_i - b_i|``). For a chain this is the product of the norms.
        """
        lip = [1.0]
        for layer in self.layers:
            spread = sum(np.linalg.norm(W, 2) * lip[j] for j, W in layer.sources.items())
            if layer.kind == "max":
                in_windows = np.concatenate([np.unique(w) for w in layer.windows])  # each entry once per window
                c = float(np.sqrt(np.bincount(in_windows, minlength=layer.size).max(initial=1)))
            else:
                c = float(np.abs(layer.pieces.slopes).max(initial=0.0))
            lip.append(float(c * spread))
        return float(sum(np.linalg.norm(W, 2) * lip[j] for j, W in self.output_sources.items()))
