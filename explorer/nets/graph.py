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

    Attributes
    ----------
    breakpoints : numpy.ndarray of shape (m,), float64
        Increasing, shared by every unit of the layer.
    slopes : numpy.ndarray of shape (units, m + 1), float64
        The slope of every unit on every piece.
    offsets : numpy.ndarray of shape (units, m + 1), float64
        The offset of every unit on every piece.

    Examples
    --------
    >>> import numpy as np
    >>> relu6 = Pieces.clamp(2, 0.0, 6.0)
    >>> z = np.array([[-1.0, 7.0]])
    >>> p = relu6.piece(z)
    >>> slope, offset = relu6.apply(z, p)
    >>> p.tolist(), (slope * z + offset).tolist()
    ([[0, 2]], [[0.0, 6.0]])
    """

    breakpoints: np.ndarray
    slopes: np.ndarray
    offsets: np.ndarray

    @classmethod
    def relu_family(cls, units: int, negative_slope=0.0) -> "Pieces":
        """ReLU (slope 0), LeakyReLU (a scalar) or PReLU (one slope per unit) below zero.

        Parameters
        ----------
        units : int
            Number of units of the layer.
        negative_slope : float or array_like of shape (units,), default 0.0
            The slope below zero: 0 for a ReLU, a scalar for LeakyReLU, one per unit for PReLU.

        Returns
        -------
        Pieces
            One breakpoint at 0; slopes ``(negative_slope, 1)`` and zero offsets.

        Examples
        --------
        >>> Pieces.relu_family(2, 0.1).slopes.tolist()
        [[0.1, 1.0], [0.1, 1.0]]
        """
        low = np.broadcast_to(np.asarray(negative_slope, dtype=np.float64), (units,))
        return cls(np.zeros(1), np.stack([low, np.ones(units)], axis=1), np.zeros((units, 2)))

    @classmethod
    def clamp(cls, units: int, low: float | None, high: float | None) -> "Pieces":
        """``min(max(z, low), high)`` (ReLU6 is ``clamp(0, 6)``, Hardtanh ``clamp(-1, 1)``).

        Parameters
        ----------
        units : int
            Number of units of the layer.
        low, high : float or None
            The limits; ``None`` for no limit on that side (at least one is given).

        Returns
        -------
        Pieces
            Two pieces (one limit) or three (both limits), flat outside the limits.

        Raises
        ------
        ValueError
            If both limits are ``None``, or ``low >= high``.

        Examples
        --------
        >>> c = Pieces.clamp(1, -1.0, 1.0)
        >>> c.breakpoints.tolist(), c.slopes.tolist(), c.offsets.tolist()
        ([-1.0, 1.0], [[0.0, 1.0, 0.0]], [[-1.0, 0.0, 1.0]])
        """
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
        """Whether every unit is a plain ReLU (breakpoint 0, slopes 0 and 1, no offsets)."""
        return (len(self.breakpoints) == 1 and self.breakpoints[0] == 0 and (self.slopes[:, 0] == 0).all()
                and (self.slopes[:, 1] == 1).all() and not self.offsets.any())

    def piece(self, z: np.ndarray) -> np.ndarray:
        """The piece index of every entry of ``z``.

        Parameters
        ----------
        z : numpy.ndarray of shape (..., units), float64
            Pre-activations.

        Returns
        -------
        numpy.ndarray of shape (..., units), int8
            ``#{t in breakpoints : z > t}`` per entry.
        """
        return (z[..., None] > self.breakpoints).sum(-1).astype(np.int8)

    def apply(self, z: np.ndarray, piece: np.ndarray):
        """The slope and offset of every entry on the given pieces, so that ``h = slope z + offset``.

        Parameters
        ----------
        z : numpy.ndarray of shape (..., units), float64
            Pre-activations (only the last axis's length is read).
        piece : numpy.ndarray of shape (..., units), integer
            A piece index per entry, as :meth:`piece` gives.

        Returns
        -------
        slope, offset : numpy.ndarray of shape (..., units), float64
        """
        units = np.arange(z.shape[-1])
        return self.slopes[units, piece], self.offsets[units, piece]


@dataclass
class Layer:
    """One layer of a :class:`PLGraph`: ``z = sum_j sources[j] @ h_j + bias``, then its activation.

    Attributes
    ----------
    name : str
        The layer's name (for display).
    kind : {"pieces", "max"}
        ``"pieces"``: an elementwise activation (``pieces`` set; as many outputs as
        pre-activations). ``"max"``: output u is ``max_i z[windows[u, i]]`` (a window repeats
        an index to pad, which never changes a max).
    sources : dict of int to numpy.ndarray
        Maps 0 (the input) or an earlier layer's 1-based index j to the weight matrix
        ``W_kj`` of shape (size, units_j), float64.
    bias : numpy.ndarray of shape (size,), float64
        The bias of the pre-activations.
    pieces : Pieces or None
        The activation of a ``"pieces"`` layer.
    windows : numpy.ndarray of shape (units, k), int64, or None
        The pooling windows of a ``"max"`` layer, as indices into ``z``.
    shape : tuple of int
        The output's shape per sample, for display.
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
        """The pre-activations ``z`` of a batch.

        Parameters
        ----------
        outputs : list of numpy.ndarray
            ``outputs[j]`` of shape (batch, units_j), float64: the input (j = 0) and the
            outputs of the earlier layers.

        Returns
        -------
        numpy.ndarray of shape (batch, size), float64
        """
        return sum(h_j @ W.T for h_j, W in ((outputs[j], W) for j, W in self.sources.items())) + self.bias

    def choose(self, z: np.ndarray) -> np.ndarray:
        """The piece (or the winning window position, ties to the lowest) of every output.

        Parameters
        ----------
        z : numpy.ndarray of shape (batch, size), float64
            Pre-activations.

        Returns
        -------
        numpy.ndarray of shape (batch, units), int8
        """
        if self.kind == "max":
            return z[:, self.windows].argmax(-1).astype(np.int8)
        return self.pieces.piece(z)

    def activate(self, z: np.ndarray, choice: np.ndarray) -> np.ndarray:
        """The layer's output for pre-activations ``z`` on the given pieces / winners.

        Parameters
        ----------
        z : numpy.ndarray of shape (batch, size), float64
            Pre-activations.
        choice : numpy.ndarray of shape (batch, units) or (units,), integer
            The piece of every unit, or the winning position of every window (as
            :meth:`choose` gives); held fixed, so the result is affine in ``z``.

        Returns
        -------
        numpy.ndarray of shape (batch, units), float64
        """
        if self.kind == "max":
            return np.take_along_axis(z[:, self.windows], choice[..., None].astype(np.int64), -1)[..., 0]
        slope, offset = self.pieces.apply(z, choice)
        return slope * z + offset

    def local_map(self, choice: np.ndarray):
        """The activation on fixed pieces as an affine map of ``z``: ``h = S @ z + d``.

        Parameters
        ----------
        choice : array_like of shape (units,), integer
            The piece of every unit, or the winning position of every window.

        Returns
        -------
        S : numpy.ndarray of shape (units, size), float64
            Diagonal for a pieces layer, a 0/1 selection for a max layer.
        d : numpy.ndarray of shape (units,), float64
        """
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

    Attributes
    ----------
    input_size : int
        Number of inputs (the flattened input ``h_0 = x``).
    layers : list of Layer
        The piecewise-linear layers ``h_1, ..., h_L`` in topological order.
    output_sources : dict of int to numpy.ndarray
        Maps a source j (0 the input, else a 1-based layer index) to ``W_oj`` of shape
        (outputs, units_j), float64.
    output_bias : numpy.ndarray of shape (outputs,), float64
        Together with ``output_sources``, the output's affine map of the layers' outputs.
    names : list of str
        The layers' names where the graph was read from a module (may be empty).

    References
    ----------
    .. [1] P. Hinz and S. van de Geer, "A Framework for the Construction of Upper Bounds on
       the Number of Affine Linear Regions of ReLU Feed-Forward Neural Networks", IEEE
       Transactions on Information Theory 65(11), 2019.
    .. [2] K. Xu, Z. Shi, H. Zhang, Y. Wang, K.-W. Chang, M. Huang, B. Kailkhura, X. Lin and
       C.-J. Hsieh, "Automatic Perturbation Analysis for Scalable Certified Robustness and
       Beyond", NeurIPS 2020, arXiv 2002.12920.
    """

    input_size: int
    layers: list
    output_sources: dict
    output_bias: np.ndarray
    names: list = field(default_factory=list)

    @classmethod
    def from_blocks(cls, blocks: list) -> "PLGraph":
        """The chain ``x -> W_1 -> ReLU -> ... -> W_L`` given as dense blocks.

        Parameters
        ----------
        blocks : list of (numpy.ndarray, numpy.ndarray)
            ``[(W_1, b_1), ..., (W_L, b_L)]``, float64, ``W_k`` of shape (n_k, n_{k-1}) and
            ``b_k`` of shape (n_k,); a ReLU follows every block but the last.

        Returns
        -------
        PLGraph
            L - 1 ReLU layers, each fed by the one before; :attr:`is_chain` is True.

        Examples
        --------
        >>> import numpy as np
        >>> g = PLGraph.from_blocks([(np.ones((3, 2)), np.zeros(3)), (np.ones((1, 3)), np.zeros(1))])
        >>> g.input_size, [layer.units for layer in g.layers], g.output_size, g.is_chain
        (2, [3], 1, True)
        """
        layers = [Layer(f"relu{k}", "pieces", {k - 1: W}, b, Pieces.relu_family(len(b)), shape=(len(b),))
                  for k, (W, b) in enumerate(blocks[:-1], start=1)]
        W, b = blocks[-1]
        return cls(blocks[0][0].shape[1], layers, {len(layers): W}, b)

    @property
    def output_size(self) -> int:
        """Number of outputs."""
        return len(self.output_bias)

    @property
    def is_chain(self) -> bool:
        """Whether this is a plain ReLU chain (every layer fed by the one before, ReLU only)."""
        return all(set(layer.sources) == {k} and layer.kind == "pieces" and layer.pieces.is_relu
                   for k, layer in enumerate(self.layers)) and set(self.output_sources) == {len(self.layers)}

    def dense_blocks(self) -> list:
        """The dense blocks of a chain (see :attr:`is_chain`), the inverse of :meth:`from_blocks`.

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray)
            ``[(W_1, b_1), ..., (W_L, b_L)]``, float64.

        Raises
        ------
        ValueError
            If the graph is not a plain ReLU chain.
        """
        if not self.is_chain:
            raise ValueError("This network is a graph (skip connections, max or other activations), not a ReLU chain.")
        return [(layer.sources[k], layer.bias) for k, layer in enumerate(self.layers)] + \
            [(self.output_sources[len(self.layers)], self.output_bias)]

    def consumers(self) -> list:
        """Which layers read each source.

        Returns
        -------
        list of list of int
            ``consumers()[j]`` (j = 0 the input, ..., L): the 1-based indices of the layers that
            read ``h_j``, with L + 1 standing for the output.

        Examples
        --------
        >>> import numpy as np
        >>> PLGraph.from_blocks([(np.ones((2, 1)), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))]).consumers()
        [[1], [2]]
        """
        out = [[] for _ in range(len(self.layers) + 1)]
        for k, layer in enumerate(self.layers, start=1):
            for j in layer.sources:
                out[j].append(k)
        for j in self.output_sources:
            out[j].append(len(self.layers) + 1)
        return out

    def evaluate(self, x: np.ndarray, choices: list | None = None):
        """Forward pass of a batch, optionally with every layer held on given pieces.

        Parameters
        ----------
        x : numpy.ndarray of shape (batch, input_size) (or any shape with input_size entries per sample)
            The inputs, read as float64.
        choices : list of numpy.ndarray, optional
            One (units,) or (batch, units) integer array per layer (as returned here): every
            layer is held on those pieces / winners, which makes the result affine in ``x``.

        Returns
        -------
        y : numpy.ndarray of shape (batch, output_size), float64
            The outputs.
        choices : list of numpy.ndarray
            The pieces / winners used, one (batch, units) array per layer (int8 when computed).
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
        """The pre-activations of every layer for a batch.

        Parameters
        ----------
        x : numpy.ndarray of shape (batch, input_size)
            The inputs, read as float64.

        Returns
        -------
        list of numpy.ndarray
            One (batch, size_k) float64 array per layer.
        """
        h = [np.asarray(x, dtype=np.float64).reshape(-1, self.input_size)]
        zs = []
        for layer in self.layers:
            zs.append(layer.preactivation(h))
            h.append(layer.activate(zs[-1], layer.choose(zs[-1])))
        return zs

    def affine_map(self, choices: list):
        """The network on fixed pieces as the affine map ``y = A x + c``.

        Parameters
        ----------
        choices : list of array_like
            One (units,) integer array per layer: the piece of every unit, or the winning
            position of every window (for example ``[c[0] for c in evaluate(x)[1]]``).

        Returns
        -------
        A : numpy.ndarray of shape (output_size, input_size), float64
        c : numpy.ndarray of shape (output_size,), float64
        maps : list of (numpy.ndarray, numpy.ndarray)
            Every layer's output as an affine map ``(A_k, c_k)`` of the input; index 0 is the
            input's identity.

        Examples
        --------
        >>> import numpy as np
        >>> g = PLGraph.from_blocks([(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))])
        >>> A, c, _ = g.affine_map([c[0] for c in g.evaluate(np.array([[-3.0]]))[1]])
        >>> A.tolist(), c.tolist()     # |x| = -x on x < 0
        ([[-1.0]], [0.0])
        """
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

        Returns
        -------
        float
            The bound (spectral norms computed in float64).

        Examples
        --------
        >>> import numpy as np
        >>> g = PLGraph.from_blocks([(np.diag([3.0, 1.0]), np.zeros(2)), (np.array([[2.0, 0.0]]), np.zeros(1))])
        >>> round(g.lipschitz_upper_bound(), 6)
        6.0
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
