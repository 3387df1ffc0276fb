"""What a stability analysis returns: a status per hidden unit, with bounds and witnesses.

Status codes. A unit of a ReLU-family layer (one breakpoint at 0: ReLU, LeakyReLU, PReLU) is
INACTIVE (always on piece 0, z <= 0) or ACTIVE (piece 1, z >= 0) when stable. A unit of any
other layer of a graph (a clamp / Hardtanh / ReLU6 with two breakpoints, or a max-pool window)
is STABLE when it stays on one piece, and ``Stability.piece[k][u]`` says which: the piece index
``p`` (``t_{p-1} <= z <= t_p`` on the whole domain) or, for a max window, the position in the
window of the entry that is always a maximum. ``piece`` is -1 for units that are not proven stable,
and it is filled for ReLU-family units too (0 or 1), so compression reads one array for all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INACTIVE, ACTIVE, UNSTABLE, UNKNOWN, STABLE = 0, 1, 2, 3, 4
STATUS_NAMES = {INACTIVE: "inactive", ACTIVE: "active", UNSTABLE: "unstable", UNKNOWN: "unknown",
                STABLE: "stable"}
PROVEN = (INACTIVE, ACTIVE, STABLE)


@dataclass
class Stability:
    """Status of every hidden unit on a domain, as :func:`explorer.stability.stable_units` returns it.

    Attributes
    ----------
    method : str
        ``"ibp"``, ``"crown"``, ``"milp"`` or ``"exact"``.
    status : list of numpy.ndarray
        ``status[k]`` (int8, one entry per unit of hidden layer k, 0-based) holds INACTIVE,
        ACTIVE, UNSTABLE or UNKNOWN; on a graph STABLE may occur too.
    lower, upper : list of numpy.ndarray
        ``lower[k]``, ``upper[k]`` (float64, per unit) are the sound pre-activation bounds the
        method used (exact min / max for ``"exact"``), in the model's own units.
    witnesses : dict of (int, int) to (numpy.ndarray, numpy.ndarray)
        ``witnesses[(k, unit)]`` is a pair of inputs (z > 0, z < 0) for units shown unstable;
        for ``"ibp"``, ``"crown"`` and ``"milp"`` both signs clear the rounding margin
        ``SIGN_TOL * (|W| |h| + |b|)`` of the float64 forward pass (``"exact"``: the
        partition's tolerance). On a graph, a witness pair puts a pieces unit on a higher
        piece at the first input than at the second, and a max window's winner at different
        positions, both beyond the margin.
    seconds : float
        Wall time of the analysis.
    milp_solves : int
        Number of mixed-integer programs solved.
    piece : list of numpy.ndarray
        ``piece[k]`` (int8 per unit): the proven piece, or the always-winning position of a max
        window, -1 where not proven (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> st = Stability("ibp", [np.array([ACTIVE, UNKNOWN, INACTIVE], dtype=np.int8)], [], [])
    >>> st.counts()[0]["active"], st.counts()[0]["unknown"], st.num_stable
    (1, 1, 2)
    """

    method: str
    status: list
    lower: list
    upper: list
    witnesses: dict = field(default_factory=dict)
    seconds: float = 0.0
    milp_solves: int = 0
    piece: list = field(default_factory=list)

    def counts(self) -> list[dict]:
        """Per layer: how many units have each status, by name.

        Returns
        -------
        list of dict of str to int
            One dict per hidden layer, keyed by every name of :data:`STATUS_NAMES`.
        """
        return [{name: int((s == code).sum()) for code, name in STATUS_NAMES.items()} for s in self.status]

    @property
    def num_stable(self) -> int:
        """Number of units proven stable (INACTIVE, ACTIVE or STABLE) over all layers."""
        return int(sum(np.isin(s, PROVEN).sum() for s in self.status))


# a computed pre-activation has a definite sign when |z| exceeds this times its magnitude
SIGN_TOL = 1e-9


def preacts(blocks, X, margins: bool = False):
    """Pre-activations of every hidden layer of a ReLU chain at the rows of ``X``.

    Parameters
    ----------
    blocks : list of (numpy.ndarray, numpy.ndarray)
        The chain's dense blocks ``[(W_1, b_1), ..., (W_L, b_L)]``, float64.
    X : numpy.ndarray of shape (n, inputs), float64
        The inputs.
    margins : bool, default False
        Also return the sign margins ``SIGN_TOL * (|W| |h| + |b|)``, far above float64
        rounding: where ``|z| > margin`` the computed sign is the true one.

    Returns
    -------
    Z : list of numpy.ndarray
        One (n, units_k) float64 array per hidden layer.
    T : list of numpy.ndarray
        With ``margins`` only (then the result is the pair ``(Z, T)``): the margins, shaped as ``Z``.

    Examples
    --------
    >>> import numpy as np
    >>> blocks = [(np.array([[1.0, -1.0]]), np.array([0.5])), (np.ones((1, 1)), np.zeros(1))]
    >>> preacts(blocks, np.array([[1.0, 2.0], [0.0, 0.0]]))[0].tolist()
    [[-0.5], [0.5]]
    """
    out, tols, h, mag = [], [], X, np.abs(X)
    for W, b in blocks[:-1]:
        z = h @ W.T + b
        zmag = mag @ np.abs(W).T + np.abs(b)
        out.append(z)
        tols.append(SIGN_TOL * zmag)
        h, mag = np.maximum(z, 0), np.where(z > 0, zmag, 0.0)
    return (out, tols) if margins else out
