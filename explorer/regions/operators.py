"""A layer's weight applied the cheap way: identities skipped, convolutions as gathered blocks (im2col).

The graph (:class:`~explorer.nets.graph.PLGraph`) stores every affine step as a dense matrix ``W``
(a convolution as its sparse Toeplitz matrix, a max pool's input as an identity). Applied to a
batch that way, a LeNet's second convolution costs 7.8 times its arithmetic and the pool's identity
``4704 x 4704`` products for nothing. :func:`linear_op` looks at the matrix once and picks:

- the identity: no product at all (exact);
- *blocks*: the rows with the same support (for a convolution, the output channels at one
  position, which read one input patch) form a block, and ``W x`` is, per block, the patch
  ``x[support]`` times the block's small dense matrix: one gather (im2col) and one batched matrix
  product, the arithmetic of the convolution itself (the blocks are padded to a common size);
- the dense product otherwise (a fully connected layer, or when the blocks would not save
  at least :data:`BLOCK_GAIN` times the arithmetic).

The blocks sum the same terms as the dense product, in another order: results agree to rounding.
Operators are built once per weight matrix and cached while it lives.
"""

from __future__ import annotations

import weakref

import numpy as np

__all__ = ["BLOCK_GAIN", "LinearOp", "linear_op"]

BLOCK_GAIN = 3.0  # blocks are used only when they cut the multiply-adds at least this much
MAX_SHARED = 64  # at most this many distinct blocks are applied one kind at a time
BLOCK_ROWS = 128  # rows gathered at a time (the patches of a batch stay in cache)
_CACHE: dict = {}


class LinearOp:
    """``x -> x @ W.T`` for a batch of rows, as the identity, gathered blocks or a dense product.

    Parameters
    ----------
    W : numpy.ndarray of shape (size, n), float64
        The weight.
    keep : bool
        Hold the weight (default); False: only a weak reference (:func:`linear_op` caches operators
        while their matrices live, so they must not keep them alive).

    Attributes
    ----------
    kind : {"identity", "blocks", "dense"}
        How it is applied.
    shape : tuple of int
        ``W.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.kron(np.eye(4), np.array([[1.0, 2.0], [3.0, 4.0]]))      # 4 blocks of 2 x 2
    >>> op = LinearOp(W)
    >>> op.kind, bool(np.allclose(op.apply(np.ones((3, 8))), np.ones((3, 8)) @ W.T))
    ('blocks', True)
    >>> LinearOp(np.eye(5)).kind
    'identity'
    """

    def __init__(self, W: np.ndarray, keep: bool = True):
        given, W = W, np.asarray(W, dtype=np.float64)
        # a converted copy (numpy may copy even a float64 array, e.g. one read back from a pickle) lives only here
        keep = keep or W is not given
        self.shape = W.shape
        try:  # not kept alive by a cached operator (the cache holds operators while their matrices live)
            self._weight = (lambda W=W: W) if keep else weakref.ref(W)
        except TypeError:
            self._weight = lambda W=W: W
        self._abs = None
        size, n = W.shape
        if size == n and (np.diagonal(W) == 1).all() and np.count_nonzero(W) == size:
            self.kind = "identity"
            return
        self.kind = "dense"
        nz = W != 0
        if size * n == 0 or nz.mean() > 1.0 / BLOCK_GAIN:
            return
        keys, group = np.unique(np.packbits(nz, axis=1), axis=0, return_inverse=True)
        group = group.ravel()
        rows_per = np.bincount(group, minlength=len(keys))
        supports = [np.nonzero(k)[0] for k in np.unpackbits(keys, axis=1, count=n).astype(bool)]
        s, r, G = max(max(len(x) for x in supports), 1), int(rows_per.max()), len(keys)
        if G * s * r * BLOCK_GAIN > size * n:
            return
        self.kind = "blocks"
        idx = np.zeros((G, s), dtype=np.intp)
        rows = np.full((G, r), -1, dtype=np.intp)
        order = np.argsort(group, kind="stable")
        starts = np.cumsum(rows_per) - rows_per
        for g in range(G):
            sup = supports[g]
            idx[g, :len(sup)] = sup
            rows[g, :rows_per[g]] = order[starts[g]:starts[g] + rows_per[g]]
        blocks = np.zeros((G, r, s))  # blocks[g, i, k] = W[rows[g, i], idx[g, k]] (0 on padding)
        real = rows >= 0
        gi, ii = np.nonzero(real)
        sup_len = np.array([len(x) for x in supports])
        live = np.arange(s)[None] < sup_len[gi][:, None]
        blocks[gi, ii] = np.where(live, W[rows[gi, ii][:, None], idx[gi]], 0.0)
        self.idx, self.blocks, self.rows = idx, blocks, rows
        self.full = bool(real.all())
        self.flat_rows = rows[real]
        # blocks equal to each other (a convolution's kernel at every position whose patch is whole,
        # the same truncated kernel along a padded border): one gather and one product per kind
        kinds, which = np.unique(blocks.reshape(G, -1), axis=0, return_inverse=True)
        self.shared = None
        if len(kinds) <= MAX_SHARED:
            which = which.ravel()
            self.shared = [(np.nonzero(which == c)[0], np.ascontiguousarray(idx[which == c].T),
                            kinds[c].reshape(r, s), np.abs(kinds[c].reshape(r, s))) for c in range(len(kinds))]

    def __reduce__(self):  # pickled as its weight (shared with the graph's in one pickle), rebuilt holding it
        return (LinearOp, (self._weight(),))

    def apply(self, X: np.ndarray, absolute: bool = False) -> np.ndarray:
        """``X @ W.T`` (``X @ |W|.T`` with ``absolute``).

        Parameters
        ----------
        X : numpy.ndarray of shape (N, n), float64
            The rows.
        absolute : bool
            Use the entries' magnitudes ``|W|`` (for tolerances).

        Returns
        -------
        numpy.ndarray of shape (N, size), float64
            A new array (also for the identity), C-contiguous.
        """
        if self.kind == "identity":
            return np.array(X, dtype=np.float64, order="C")
        if self.kind == "dense":
            return X @ (self._absolute() if absolute else self._weight()).T
        out = np.empty((X.shape[0], self.shape[0]))
        for s in range(0, X.shape[0], BLOCK_ROWS):
            out[s:s + BLOCK_ROWS] = self._blocks(X[s:s + BLOCK_ROWS], absolute)
        return out

    def _blocks(self, X, absolute):
        N = X.shape[0]
        Xt = np.ascontiguousarray(X.T)  # (n, N): a patch is a gather of whole rows
        if self.shared is not None:
            Y = np.empty(self.blocks.shape[:2] + (N,))
            for groups, idx_t, K, K_abs in self.shared:  # (r, s) @ (s, groups * N)
                P = (K_abs if absolute else K) @ Xt[idx_t].reshape(len(idx_t), -1)
                Y[groups] = P.reshape(len(K), len(groups), N).transpose(1, 0, 2)
        else:
            Y = np.matmul(self._absolute() if absolute else self.blocks, Xt[self.idx])  # (G, r, N)
        out = np.empty((self.shape[0], N))
        out[self.flat_rows] = Y.reshape(-1, N) if self.full else Y[self.rows >= 0]
        return out.T

    def _absolute(self):
        if self._abs is None:
            self._abs = np.abs(self.blocks if self.kind == "blocks" else self._weight())
        return self._abs


def linear_op(W: np.ndarray) -> LinearOp:
    """The :class:`LinearOp` of a weight matrix, built once while the matrix lives.

    Parameters
    ----------
    W : numpy.ndarray of shape (size, n), float64
        A layer's weight from one source.

    Returns
    -------
    LinearOp
        Cached by the matrix's identity (dropped when the matrix is freed).

    Examples
    --------
    >>> import numpy as np
    >>> W = np.ones((2, 3))
    >>> linear_op(W) is linear_op(W), linear_op(W).kind
    (True, 'dense')
    """
    key = id(W)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is W:
        return hit[1]
    op = LinearOp(W, keep=False)
    try:
        ref = weakref.ref(W, lambda _, key=key: _CACHE.pop(key, None))
    except TypeError:  # not weak-referenceable: not cached
        return op
    _CACHE[key] = (ref, op)
    return op
