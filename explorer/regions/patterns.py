"""Activation patterns stored as bits: each layer's choices packed into bit planes.

A unit of an elementwise layer with m breakpoints is on one of m + 1 pieces, a max window
of w entries has w winning positions: a choice in ``range(levels)`` takes
``ceil(log2(levels))`` bits (one bit for ReLU, LeakyReLU and every one-breakpoint activation,
two for a 2x2 max window). A layer's choices of R regions are stored as that many bit planes,
each packed 8 units a byte (:func:`numpy.packbits`): a 512-unit ReLU layer takes 64 bytes per
region instead of 512.
"""

from __future__ import annotations

import numpy as np


def levels_of(layer) -> int:
    """Number of distinct choices of a unit of ``layer`` (pieces of its activation, or window entries).

    Parameters
    ----------
    layer : explorer.nets.graph.Layer
        The layer.

    Returns
    -------
    int
        ``len(breakpoints) + 1`` for an elementwise layer, the window width for a max layer.
    """
    return layer.windows.shape[1] if layer.kind == "max" else len(layer.pieces.breakpoints) + 1


class LayerCodec:
    """Packs one layer's choices (R, units) into bytes (R, nbytes) and back.

    Parameters
    ----------
    units : int
        Units (outputs) of the layer.
    levels : int
        Distinct choices per unit (at least 2 for a layer that has any choice).
    dtype : numpy.dtype
        The dtype :meth:`decode` returns (bool for a ReLU chain, else int8).

    Examples
    --------
    >>> import numpy as np
    >>> codec = LayerCodec(units=3, levels=3, dtype=np.int8)
    >>> choice = np.array([[0, 2, 1], [1, 1, 0]], dtype=np.int8)
    >>> codec.encode(choice).shape, codec.decode(codec.encode(choice)).tolist()
    ((2, 2), [[0, 2, 1], [1, 1, 0]])
    """

    def __init__(self, units: int, levels: int, dtype):
        self.units, self.dtype = int(units), np.dtype(dtype)
        self.bits = max(1, int(np.ceil(np.log2(max(levels, 2)))))
        self.plane = -(-self.units // 8)
        self.nbytes = self.bits * self.plane

    def encode(self, choice: np.ndarray) -> np.ndarray:
        """Bytes of the choices.

        Parameters
        ----------
        choice : numpy.ndarray of shape (R, units), bool or integer
            One choice per region and unit, each in ``range(levels)``.

        Returns
        -------
        numpy.ndarray of shape (R, nbytes), uint8
        """
        c = np.asarray(choice).astype(np.uint8, copy=False)
        if self.bits == 1:
            return np.packbits(c, axis=1)
        return np.concatenate([np.packbits((c >> b) & 1, axis=1) for b in range(self.bits)], axis=1)

    def decode(self, packed: np.ndarray) -> np.ndarray:
        """Choices of packed bytes (the inverse of :meth:`encode`).

        Parameters
        ----------
        packed : numpy.ndarray of shape (R, nbytes), uint8

        Returns
        -------
        numpy.ndarray of shape (R, units), bool or int8
        """
        out = np.zeros((len(packed), self.units), dtype=np.uint8)
        for b in range(self.bits):
            plane = packed[:, b * self.plane:(b + 1) * self.plane]
            out |= np.unpackbits(plane, axis=1, count=self.units) << b
        return out.astype(self.dtype)


def codecs_of(layers, chain: bool) -> list:
    """One :class:`LayerCodec` per layer.

    Parameters
    ----------
    layers : list of explorer.nets.graph.Layer
        The layers partitioned.
    chain : bool
        Whether the network is a ReLU chain (patterns are then bool, else int8).

    Returns
    -------
    list of LayerCodec
    """
    dtype = bool if chain else np.int8
    return [LayerCodec(layer.units, levels_of(layer), dtype) for layer in layers]


def encode_full(codecs: list, choices: np.ndarray) -> np.ndarray:
    """Bytes of full patterns (every layer's units side by side), as the layers store them.

    Parameters
    ----------
    codecs : list of LayerCodec
        The layers' codecs.
    choices : numpy.ndarray of shape (R, total units), bool or integer
        Full activation patterns.

    Returns
    -------
    numpy.ndarray of shape (R, sum of the codecs' nbytes), uint8
        Equal patterns give equal rows, different ones different rows.
    """
    out, start = [], 0
    for codec in codecs:
        out.append(codec.encode(choices[:, start:start + codec.units]))
        start += codec.units
    return np.concatenate(out, axis=1) if out else np.zeros((len(choices), 0), np.uint8)
