"""What a stability analysis returns: a status per hidden unit, with bounds and witnesses."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INACTIVE, ACTIVE, UNSTABLE, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = {INACTIVE: "inactive", ACTIVE: "active", UNSTABLE: "unstable", UNKNOWN: "unknown"}


@dataclass
class Stability:
    """Status of every hidden unit on a domain.

    ``status[k]`` (int8 per unit of hidden layer k, 0-based) holds INACTIVE, ACTIVE,
    UNSTABLE or UNKNOWN; ``lower[k]``, ``upper[k]`` are the sound pre-activation bounds
    the method used (exact min / max for ``"exact"``). ``witnesses[(k, unit)]`` is a
    pair of inputs (z > 0, z <= 0) for units shown unstable.
    """

    method: str
    status: list
    lower: list
    upper: list
    witnesses: dict = field(default_factory=dict)
    seconds: float = 0.0
    milp_solves: int = 0

    def counts(self) -> list[dict]:
        """Per layer: how many units have each status, by name."""
        return [{name: int((s == code).sum()) for code, name in STATUS_NAMES.items()} for s in self.status]

    @property
    def num_stable(self) -> int:
        return int(sum(((s == ACTIVE) | (s == INACTIVE)).sum() for s in self.status))


def _preacts(blocks, X):
    out, h = [], X
    for W, b in blocks[:-1]:
        z = h @ W.T + b
        out.append(z)
        h = np.maximum(z, 0)
    return out
