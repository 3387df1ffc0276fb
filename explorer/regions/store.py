"""The regions after every layer, kept lean, and what is recomputed from them on demand.

Per layer the partition keeps only what its views need: the regions' vertices, areas, the
region of the previous layer each one was cut from, and the layer's own choices packed as bits
(:mod:`.patterns`); the output map is kept for the final regions. The pre-activation maps of a
deeper layer are not kept: :meth:`RegionStore.preact_chunks` recomputes them for the regions of
one layer, a bounded chunk at a time, by running the plane's affine map through the layers with
every region's pieces held fixed (the same products, in the same order, as the partition did).
"""

from __future__ import annotations

import numpy as np

from .operators import linear_op
from .patterns import codecs_of
from .polygons import pad_polygons
from .refine import TooManyRegionsError, activate, preact

CHUNK_BYTES = 32 * 2 ** 20  # working memory of one chunk of regions (their maps and vertex values)
VERTEX_SLOTS = 12  # vertex slots per region assumed when sizing a chunk


def prepared(sources: dict) -> dict:
    """A layer's sources as the operators that apply them: None for an identity (a max pool reading a
    layer as it is), gathered blocks for a convolution (:func:`.operators.linear_op`).

    Parameters
    ----------
    sources : dict of int to numpy.ndarray
        A layer's weights by source (:class:`~explorer.nets.graph.Layer`).

    Returns
    -------
    dict of int to explorer.regions.operators.LinearOp or None
        The same sources, None for an identity (no product needed).
    """
    ops = {j: linear_op(W) for j, W in sources.items()}
    return {j: None if op.kind == "identity" else op for j, op in ops.items()}


class RegionStore:
    """The regions of every layer of a partition, filled chunk by chunk.

    Parameters
    ----------
    graph : explorer.nets.graph.PLGraph
        The network.
    n_layers : int
        Layers partitioned.
    origin : numpy.ndarray of shape (n_in,), float64
        The plane's origin.
    directions : numpy.ndarray of shape (2, n_in), float64
        The plane's directions.
    budget : int
        Bytes the kept arrays may take; :class:`TooManyRegionsError` past it.

    Attributes
    ----------
    vertices, counts, areas, parent, bits : list of numpy.ndarray
        Per layer k = 0..n_layers (after :meth:`finish`): padded vertices (R_k, K_k, 2), vertex
        counts, areas, the layer-(k-1) region each region was cut from, and layer k's choices as
        packed bits (R_k, nbytes) (layer 0: no bits).
    output : numpy.ndarray of shape (R, 3, n_out), float64, or None
        The output's affine map on every final region (rows: slopes along u_1, u_2, offset).
    """

    def __init__(self, graph, n_layers, origin, directions, budget):
        self.graph, self.n_layers, self.budget = graph, n_layers, int(budget)
        self.full = n_layers == len(graph.layers)
        self.chain = graph.is_chain
        self.layers = graph.layers[:n_layers]
        self.codecs = codecs_of(self.layers, self.chain)
        self.sources = [prepared(layer.sources) for layer in self.layers]
        self.output_sources = prepared(graph.output_sources)
        stop = len(graph.layers) + 1 if self.full else n_layers
        self.last = [max([k for k in ks if k <= stop], default=0) for ks in graph.consumers()]
        self.input_map = np.stack([directions[0], directions[1], origin])[None]
        self.chunks = [[] for _ in range(n_layers + 1)]
        self.outputs = []
        self.size = [0] * (n_layers + 1)
        self.kept = 0

    def chunk_rows(self, k: int) -> int:
        """Regions per chunk entering layer k + 1 (the output when k is the last layer partitioned).

        Parameters
        ----------
        k : int
            Layers applied (0: the slice).

        Returns
        -------
        int
            As many as keep their working arrays (maps, vertex values) near :data:`CHUNK_BYTES`.
        """
        if k < self.n_layers:
            size, sources = self.layers[k].size, self.layers[k].sources
        else:
            size, sources = self.graph.output_size, self.graph.output_sources
        read = sum(self.graph.input_size if j == 0 else self.graph.layers[j - 1].units for j in sources)
        return max(1, CHUNK_BYTES // (8 * size * (VERTEX_SLOTS + 8) + 48 * read))

    def add(self, k, V, n, parent, bits, areas) -> np.ndarray:
        """Keep a chunk of layer-k regions.

        Parameters
        ----------
        k : int
            Their layer.
        V : numpy.ndarray of shape (C, K, 2), float64
            Padded vertices.
        n : numpy.ndarray of shape (C,), int
            Vertex counts.
        parent : numpy.ndarray of shape (C,), int
            The layer-(k-1) region each was cut from.
        bits : numpy.ndarray of shape (C, nbytes), uint8
            Layer k's choices, packed.
        areas : numpy.ndarray of shape (C,), float64
            Their areas.

        Returns
        -------
        numpy.ndarray of shape (C,), int64
            Their indices among the layer-k regions.

        Raises
        ------
        TooManyRegionsError
            When the kept arrays exceed the budget.
        """
        V = V[:, :max(int(n.max(initial=3)), 3)].copy()
        chunk = (V, n.astype(np.int32), parent.astype(np.int64), bits, areas)
        self.chunks[k].append(chunk)
        self.kept += sum(a.nbytes for a in chunk)
        ids = np.arange(self.size[k], self.size[k] + len(n))
        self.size[k] += len(n)
        if self.kept > self.budget:
            raise TooManyRegionsError(
                f"The partition needs more than its memory budget of {self.budget:,} bytes (max_regions): "
                f"{sum(self.size):,} regions kept so far. Shrink the slice or raise max_regions.")
        return ids

    def add_output(self, M):
        """Keep the output maps of the next chunk of final regions.

        Parameters
        ----------
        M : numpy.ndarray of shape (C, 3, n_out), float64
            Slopes and offsets of the output on each region.
        """
        self.outputs.append(M)
        self.kept += M.nbytes

    def finish(self):
        """Join the chunks: one array per layer and field."""
        self.vertices, self.counts, self.parent, self.bits, self.areas = [], [], [], [], []
        for chunks in self.chunks:
            K = max(c[0].shape[1] for c in chunks)
            self.vertices.append(np.concatenate([pad_polygons(c[0], K) for c in chunks]))
            for field, i in ((self.counts, 1), (self.parent, 2), (self.bits, 3), (self.areas, 4)):
                field.append(np.concatenate([c[i] for c in chunks]))
        self.chunks = None
        self.output = np.concatenate(self.outputs) if self.outputs else None
        self.outputs = None

    def ancestor(self, k: int, j: int, rows=None) -> np.ndarray:
        """The layer-j region holding each layer-k region.

        Parameters
        ----------
        k, j : int
            Layers, ``j <= k``.
        rows : array_like of int, optional
            Layer-k regions (all by default).

        Returns
        -------
        numpy.ndarray of int64
            Indices of layer-j regions.
        """
        a = np.arange(len(self.counts[k])) if rows is None else np.asarray(rows)
        for i in range(k, j, -1):
            a = self.parent[i][a]
        return a

    def choices(self, k: int, j: int, rows=None) -> np.ndarray:
        """Layer j's choices on layer-k regions.

        Parameters
        ----------
        k, j : int
            Layers, ``1 <= j <= k``.
        rows : array_like of int, optional
            Layer-k regions (all by default).

        Returns
        -------
        numpy.ndarray of shape (rows, units of layer j), bool (ReLU chain) or int8
        """
        return self.codecs[j - 1].decode(self.bits[j][self.ancestor(k, j, rows)])

    def patterns(self, k: int, rows=None) -> np.ndarray:
        """Full patterns of layers 1..k on layer-k regions.

        Parameters
        ----------
        k : int
            The layer.
        rows : array_like of int, optional
            Layer-k regions (all by default).

        Returns
        -------
        numpy.ndarray of shape (rows, units of layers 1..k), bool (ReLU chain) or int8
        """
        R = len(self.counts[k]) if rows is None else len(rows)
        parts = [self.choices(k, j, rows) for j in range(1, k + 1)]
        return np.concatenate(parts, axis=1) if parts else np.zeros((R, 0), bool if self.chain else np.int8)

    def pattern_bytes(self, k: int) -> np.ndarray:
        """Layers 1..k's packed choices side by side on every layer-k region.

        Parameters
        ----------
        k : int
            The layer.

        Returns
        -------
        numpy.ndarray of shape (R_k, nbytes), uint8
            As :func:`.patterns.encode_full` packs full patterns.
        """
        parts = [self.bits[j][self.ancestor(k, j)] for j in range(1, k + 1)]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(self.counts[k]), 0), np.uint8)

    def preact_chunks(self, k: int, units=None):
        """Layer k + 1's pre-activations (the output's for the last layer) on the layer-k regions, by chunks.

        Parameters
        ----------
        k : int
            The layer whose regions are wanted (0: the whole slice).
        units : numpy.ndarray of int, optional
            Only these pre-activations.

        Yields
        ------
        rows : numpy.ndarray of int
            Indices of layer-k regions.
        M : numpy.ndarray of shape (len(rows), 3, units), float64
            Slopes (rows 0, 1) and offsets (row 2) of the pre-activations on those regions.
        """
        if k < len(self.layers):
            sources, bias = self.sources[k], self.layers[k].bias
            raw = self.layers[k].sources
        else:
            sources, bias = self.output_sources, self.graph.output_bias
            raw = self.graph.output_sources
        if units is not None:
            units = np.asarray(units)
            sources = {j: W[units] for j, W in raw.items()}
            bias = bias[units]
        R = len(self.counts[k])
        step = self.chunk_rows(min(k, self.n_layers))
        for s in range(0, R, step):
            rows = np.arange(s, min(R, s + step))
            maps = {0: self.input_map}
            for j in range(1, k + 1):
                layer = self.layers[j - 1]
                G = preact(self.sources[j - 1], layer.bias, maps, len(rows))
                M = activate(layer, G, self.choices(k, j, rows), self.chain)
                maps = {i: m for i, m in maps.items() if self.last[i] > j}
                if self.last[j] > j:
                    maps[j] = M
            yield rows, preact(sources, bias, maps, len(rows))

    def preact(self, k: int) -> np.ndarray:
        """Layer k + 1's pre-activations on every layer-k region (all chunks of :meth:`preact_chunks`).

        Parameters
        ----------
        k : int
            The layer whose regions are wanted.

        Returns
        -------
        numpy.ndarray of shape (R_k, 3, size), float64
        """
        return np.concatenate([M for _, M in self.preact_chunks(k)])
