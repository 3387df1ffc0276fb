"""Sufficient conditions under which the layer-wise inversion finds the true latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.generators import dense_layers, forward_all
from ..nets.threads import single_threaded
from .observation import _observe, _region_map


@dataclass
class LayerCheck:
    """The sparse-representation view of layer i at the true z (Aberdam et al.).

    ``support`` s_i = |S_i| (observed rows only at the output), ``input_support``
    s_{i-1} (n_0 for the dense latent), ``rank`` = rank W_i[S_i], ``spark_bound`` =
    min(rank, s_i, n_{i-1}) + 1 (the spark if the rows are in general position).
    Condition: rank = n_0 for the first layer, 2 s_{i-1} < spark_bound otherwise.
    ``coherence_bound`` = (1 + 1/mu)/2 is the (very conservative) guarantee.
    """

    layer: int
    n_in: int
    n_out: int
    support: int
    input_support: int
    rank: int
    spark_bound: int
    condition: bool
    coherence: float
    coherence_bound: float


@dataclass
class Identifiability:
    """``verdict``: "identifiable" (cardinality condition holds: unique for any
    method), "not guaranteed" (locally injective only), "not identifiable" or "ambiguous"."""

    layers: list
    cardinality_condition: bool
    jacobian_rank: int
    latent_dim: int
    verdict: str
    message: str


def _coherence(M) -> float:
    norms = np.linalg.norm(M, axis=0)
    keep = norms > 0
    if keep.sum() < 2:
        return 0.0
    G = M[:, keep] / norms[keep]
    C = np.abs(G.T @ G)
    np.fill_diagonal(C, 0.0)
    return float(C.max())


def identifiability(generator, z, mask=None, A=None) -> Identifiability:
    """Check the uniqueness conditions at the true latent ``z``.

    Per layer: s_i, rank W_i[S_i] vs n_{i-1}, spark bound vs 2 s_{i-1}, coherence;
    overall the rank of the observed Jacobian in the region of z (< n_0 means no
    method can identify z from these observations).
    """
    with single_threaded():
        return _identifiability(dense_layers(generator), z, mask, A)


def _identifiability(layers, z, mask, A) -> Identifiability:
    xs = forward_all(layers, z)
    n0 = xs[0].size
    checks = []
    empty = False
    for i, (layer, x) in enumerate(zip(layers, xs[1:])):
        rows = np.arange(x.size)
        if i == len(layers) - 1 and mask is not None and A is None:
            rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        S = rows[x[rows] > 0] if (layer.relu and not (i == len(layers) - 1 and A is not None)) else rows
        empty |= S.size == 0
        Ws = layer.W[S]
        rank = int(np.linalg.matrix_rank(Ws)) if S.size else 0
        s_in = n0 if i == 0 else int((xs[i] > 0).sum())
        spark = min(rank, S.size, layer.W.shape[1]) + 1
        cond = rank == n0 if i == 0 else 2 * s_in < spark
        mu = _coherence(Ws) if S.size else 1.0
        checks.append(LayerCheck(i + 1, layer.W.shape[1], layer.W.shape[0], int(S.size), s_in, rank, spark,
                                 bool(cond), mu, float((1 + 1 / mu) / 2) if mu > 0 else float("inf")))
    J, _ = _region_map(layers, xs[0])
    Jo = _observe(J, None if mask is None else np.asarray(mask, dtype=bool), A)
    jrank = int(np.linalg.matrix_rank(Jo)) if Jo.size else 0
    card = all(c.condition for c in checks)
    if layers[0].W.shape[0] < n0:
        verdict, msg = "not identifiable", f"First layer narrower ({layers[0].W.shape[0]}) than the latent ({n0})."
    elif empty:
        verdict, msg = "ambiguous", "A layer has an empty support: z is only determined up to a cone."
    elif jrank < n0:
        verdict, msg = "not identifiable", f"The observed Jacobian has rank {jrank} < {n0}."
    elif card:
        verdict, msg = "identifiable", "Cardinality condition holds: z is the unique solution for any method."
    else:
        verdict, msg = "not guaranteed", "Locally injective, but the cardinality condition fails somewhere."
    return Identifiability(checks, card, jrank, n0, verdict, msg)
