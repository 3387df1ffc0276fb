"""Observables of a weight trajectory: which coordinates one DMD sees.

- ``whole``: all weights in one state, plus the constant observable 1, so a fixed
  point ``w* = F(w*)`` of the optimiser is the eigenvalue 1 of the fitted map
  (the affine map ``w -> A w + c`` becomes linear on ``[w; 1]``);
- ``layer``: one state per weight layer (its matrix and bias), each with the constant;
- ``node``: one state per unit, its incoming weights and its bias, each with the constant
  (the node-wise Koopman operators of Dogra & Redman, "Optimizing neural networks via
  Koopman operator theory", NeurIPS 2020: many small fits instead of one large one).

The groups partition the flat weight vector, so the per-group predictions assemble
into one weight vector.

>>> layout = [("0.weight", (2, 3), slice(0, 6)), ("0.bias", (2,), slice(6, 8))]
>>> [g.name for g in observable_groups(layout, "node")]
['layer 1 unit 1', 'layer 1 unit 2']
>>> observable_groups(layout, "node")[1].index.tolist()
[3, 4, 5, 7]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Group", "observable_groups", "KINDS", "with_constant"]

KINDS = ("whole", "layer", "node")


@dataclass
class Group:
    """One observable group: a name and the coordinates of the flat weight vector it holds.

    Attributes
    ----------
    name : str
        ``"all weights"``, ``"layer k"`` or ``"layer k unit j"`` (1-based).
    index : numpy.ndarray of shape (q,), int
        The group's coordinates in the flat weight vector.
    """

    name: str
    index: np.ndarray


def _layers(layout):
    """[(weight (shape, slice), bias (shape, slice) or None)] per layer, from parameter names."""
    by_prefix: dict[str, dict] = {}
    for name, shape, sl in layout:
        prefix, _, kind = name.rpartition(".")
        by_prefix.setdefault(prefix, {})[kind] = (shape, sl)
    return [(d["weight"], d.get("bias")) for d in by_prefix.values() if "weight" in d]


def observable_groups(layout, kind: str = "whole") -> list[Group]:
    """The observable groups of ``kind`` for a flat weight vector (module docstring).

    Parameters
    ----------
    layout : list of (str, tuple, slice)
        (parameter name, shape, slice of the flat vector) rows, as
        :meth:`explorer.training.stepper.Stepper.layout` returns; a layer's ``weight`` and
        ``bias`` share the name's prefix.
    kind : {"whole", "layer", "node"}, default "whole"
        One group for all weights, one per layer, or one per unit.

    Returns
    -------
    list of Group
        Groups that partition the flat weight vector.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`KINDS`.

    References
    ----------
    .. [1] A. S. Dogra and W. T. Redman, "Optimizing Neural Networks via Koopman Operator Theory",
       NeurIPS 2020.

    Examples
    --------
    >>> layout = [("0.weight", (2, 3), slice(0, 6)), ("0.bias", (2,), slice(6, 8))]
    >>> [(g.name, len(g.index)) for g in observable_groups(layout, "layer")]
    [('layer 1', 8)]
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not '{kind}'.")
    total = max(sl.stop for _, _, sl in layout)
    if kind == "whole":
        return [Group("all weights", np.arange(total))]
    groups = []
    for k, ((wshape, wsl), bias) in enumerate(_layers(layout), start=1):
        w_index = np.arange(wsl.start, wsl.stop).reshape(wshape[0], -1)
        b_index = np.arange(bias[1].start, bias[1].stop) if bias is not None else None
        if kind == "layer":
            parts = [w_index.ravel()] + ([b_index] if b_index is not None else [])
            groups.append(Group(f"layer {k}", np.concatenate(parts)))
            continue
        for j in range(wshape[0]):
            parts = [w_index[j]] + ([b_index[j:j + 1]] if b_index is not None else [])
            groups.append(Group(f"layer {k} unit {j + 1}", np.concatenate(parts)))
    return groups


def with_constant(states: np.ndarray) -> np.ndarray:
    """States with a last row of ones: the constant observable.

    Parameters
    ----------
    states : numpy.ndarray of shape (n, m)
        One state per column.

    Returns
    -------
    numpy.ndarray of shape (n + 1, m)

    Examples
    --------
    >>> import numpy as np
    >>> with_constant(np.array([[2.0, 3.0]])).tolist()
    [[2.0, 3.0], [1.0, 1.0]]
    """
    return np.vstack([states, np.ones((1, states.shape[1]))])
