"""What the checks at the true latent prove: cardinality/spark conditions, uniqueness, a second latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nets.threads import single_threaded
from .generators import dense_layers, forward_all
from .observation import apply_observation, region_map
from .uniqueness import Uniqueness, local_family, uniqueness

SPARK_SUBSETS = 2000  # most column subsets enumerated to check a spark exactly


@dataclass
class LayerCheck:
    """The sparse-representation view of layer i at the true z (Aberdam et al.).

    Condition: rank = n_0 for the first layer, 2 s_{i-1} < spark otherwise.

    Attributes
    ----------
    layer : int
        i, counted from 1.
    n_in, n_out : int
        The layer's input and output sizes.
    support : int
        s_i = |S_i| (observed rows only at the output).
    input_support : int
        s_{i-1} (n_0 for the dense latent).
    rank : int
        rank W_i[S_i].
    spark_bound : int
        rank + 1: the spark of W_i[S_i] if its columns are in general position (every
        ``rank`` of them independent) and an upper bound on it otherwise.
    condition : bool
        Whether the layer's condition holds.
    coherence : float
        mu, the largest |cosine| between two columns of W_i[S_i].
    coherence_bound : float
        (1 + 1/mu) / 2, the (very conservative) guarantee.
    spark_checked : bool
        The hidden-layer condition was verified on the true spark (every set of 2 s_{i-1}
        columns tested for independence, done when there are at most :data:`SPARK_SUBSETS`
        sets) rather than on the general-position bound.
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
    spark_checked: bool = False


@dataclass
class Identifiability:
    """What the checks at the true z prove about recovering it from the observation.

    ``verdict``:

    - "unique": every layer's feasible set is one point (:mod:`.uniqueness`): no
      other latent gives this observation, whatever the method (proved);
    - "not unique": ``other_z`` != z gives the same observation (found and checked);
    - "not identifiable": a whole family gives it (first layer narrower than the
      latent, or observed Jacobian of rank < n_0; ``other_z`` is one member when checked);
    - "unique among sparse": the cardinality condition holds, which proves only that
      no other latent with hidden layers as sparse as z's (|supp x'_i| <= s_i for
      every i) gives the observation -- denser ones are not excluded; the spark is
      the general-position bound unless every layer has ``spark_checked``;
    - "not guaranteed": locally injective (full Jacobian rank) and nothing more;
    - "ambiguous": a layer has an empty support (e.g. z = 0), where none of the
      layer-wise arguments applies.

    Attributes
    ----------
    layers : list of LayerCheck
        One per layer, first layer first.
    cardinality_condition : bool
        Every layer's condition holds.
    jacobian_rank : int
        The rank of the observed Jacobian in the linear region of z.
    latent_dim : int
        n_0.
    verdict : str
        One of the verdicts above.
    message : str
        Why, in words.
    uniqueness : Uniqueness or None
        The layer-by-layer proof or search (:func:`explorer.inversion.uniqueness.uniqueness`).
    other_z : numpy.ndarray of shape (n_0,) or None
        A second latent with the same observation, when one was found.
    """

    layers: list
    cardinality_condition: bool
    jacobian_rank: int
    latent_dim: int
    verdict: str
    message: str
    uniqueness: Uniqueness | None = None
    other_z: np.ndarray | None = None


def _coherence(M) -> float:
    norms = np.linalg.norm(M, axis=0)
    keep = norms > 0
    if keep.sum() < 2:
        return 0.0
    G = M[:, keep] / norms[keep]
    C = np.abs(G.T @ G)
    np.fill_diagonal(C, 0.0)
    return float(C.max())


def _spark_exceeds(M, k: int) -> bool | None:
    """Every k columns of M independent (spark(M) > k)? None when there are too many subsets."""
    from itertools import combinations
    from math import comb

    n = M.shape[1]
    if k > n:
        return True  # no k distinct columns to be dependent
    if comb(n, k) > SPARK_SUBSETS:
        return None
    return all(np.linalg.matrix_rank(M[:, list(cols)]) == k for cols in combinations(range(n), k))


def identifiability(generator, z, mask=None, A=None) -> Identifiability:
    """Check the uniqueness of the true latent ``z`` given its observation.

    Per layer: s_i, rank W_i[S_i] vs n_{i-1}, spark vs 2 s_{i-1}, coherence; overall
    the rank of the observed Jacobian in the region of z (< n_0: a family of latents
    gives the same observation), the layer-by-layer uniqueness proof of
    :func:`explorer.inversion.uniqueness.uniqueness` and its search for a second latent.
    The cardinality condition (Aberdam et al.; spark argument of Donoho & Elad 2003)
    says only: no other latent whose hidden layers are as sparse as z's gives the
    same observation, if the spark is rank + 1 (general position, true with
    probability 1 for weights drawn from a continuous distribution; checked exactly
    when the layer is small).

    Parameters
    ----------
    generator : torch.nn.Module or list of DenseLayer
        The generator (:func:`explorer.inversion.generators.dense_layers` reads it).
    z : array_like of shape (n_0,)
        The true latent.
    mask : array_like of shape (n_out,), bool, optional
        The observed outputs (missing pixels).
    A : numpy.ndarray of shape (m, n_out), optional
        The sensing matrix (compressed sensing); not with ``mask``.

    Returns
    -------
    Identifiability
        The per-layer checks, the Jacobian rank and the verdict with its reason.

    Raises
    ------
    explorer.nets.UnsupportedLayerError, ValueError
        When the generator cannot be read (:func:`explorer.inversion.generators.dense_layers`).

    References
    ----------
    Aberdam, Simon & Elad, "When and how can deep generative models be inverted?", arXiv
    2006.15555, 2020. Donoho & Elad, "Optimally sparse representation in general (nonorthogonal)
    dictionaries via l1 minimization", PNAS 2003.

    Examples
    --------
    >>> from explorer.inversion.generators import random_generator
    >>> r = identifiability(random_generator([3, 12, 30], seed=0), np.random.default_rng(1).standard_normal(3))
    >>> r.verdict, r.jacobian_rank, [c.condition for c in r.layers]
    ('unique', 3, [True, True])
    """
    with single_threaded():
        return _identifiability(dense_layers(generator), z, mask, A)


def _layer_checks(layers, xs, mask, A) -> tuple[list, bool]:
    n0 = xs[0].size
    sensing = A is not None and np.linalg.matrix_rank(A) < A.shape[1]
    checks, empty = [], False
    for i, (layer, x) in enumerate(zip(layers, xs[1:])):
        top = i == len(layers) - 1
        rows = np.arange(x.size)
        if top and mask is not None and A is None:
            rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        S = rows[x[rows] > 0] if layer.relu else rows
        empty |= S.size == 0
        Ws = layer.W[S]
        rank = int(np.linalg.matrix_rank(Ws)) if S.size else 0
        s_in = n0 if i == 0 else int((xs[i] > 0).sum())
        spark = rank + 1
        checked = i == 0
        if i == 0:
            cond = rank == n0
        else:
            cond = 2 * s_in < spark
            exact = _spark_exceeds(Ws, 2 * s_in) if cond else None
            if exact is not None:
                cond, checked = exact, True
        if top and sensing:  # A G(z) with m < n: the output support is not observed
            cond, checked = False, False
        mu = _coherence(Ws) if S.size else 1.0
        checks.append(LayerCheck(i + 1, layer.W.shape[1], layer.W.shape[0], int(S.size), s_in, rank, spark,
                                 bool(cond), mu, float((1 + 1 / mu) / 2) if mu > 0 else float("inf"),
                                 bool(checked)))
    return checks, empty


def _identifiability(layers, z, mask, A) -> Identifiability:
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    xs = forward_all(layers, z)
    n0 = xs[0].size
    mask = None if mask is None else np.asarray(mask, dtype=bool)
    A = None if A is None else np.asarray(A, dtype=np.float64)
    checks, empty = _layer_checks(layers, xs, mask, A)
    J, _ = region_map(layers, xs[0])
    Jo = apply_observation(J, mask, A)
    jrank = int(np.linalg.matrix_rank(Jo)) if Jo.size else 0
    card = all(c.condition for c in checks)
    result = lambda verdict, msg, u=None, other=None: Identifiability(checks, card, jrank, n0, verdict, msg, u, other)
    if layers[0].W.shape[0] < n0:
        null = np.linalg.svd(layers[0].W)[2][-1]
        return result("not identifiable", f"First layer narrower ({layers[0].W.shape[0]}) than the latent ({n0}): "
                      "G(z + t v) = G(z) for v in the null space of W_1.", other=z + null * max(np.linalg.norm(z), 1))
    u = uniqueness(layers, z, mask, A)
    if u.verdict == "not unique":
        return result("not unique", u.message, u, u.other_z)
    if empty:
        return result("ambiguous", "A layer has an empty support (e.g. z = 0): the layer-wise arguments do not "
                      "apply and uniqueness is not established.", u)
    if jrank < n0:
        other = local_family(layers, z, mask, A)
        if other is not None:
            return result("not identifiable", f"The observed Jacobian has rank {jrank} < {n0}: a line of latents "
                          "through z gives the same observation (checked).", u, other)
        return result("not guaranteed", f"The observed Jacobian has rank {jrank} < {n0}, but z lies on a region "
                      "boundary: neither uniqueness nor a second latent is established.", u)
    if u.verdict == "unique":
        return result("unique", u.message, u)
    if card:
        exact = all(c.spark_checked for c in checks)
        return result("unique among sparse", "Cardinality condition holds: no other latent whose hidden layers are "
                      "as sparse as z's gives this observation"
                      + (" (spark checked exactly)" if exact else ", assuming the columns of each W_i[S_i] are in "
                         "general position (spark = rank + 1; true with probability 1 for random weights, not "
                         "checked)") + "; denser latents are not excluded. " + u.message, u)
    return result("not guaranteed", "Locally injective (full Jacobian rank); the cardinality condition fails "
                  "somewhere and " + u.message[0].lower() + u.message[1:], u)
