"""Generator inversion: recover the latent code z from y = observe(G(z)) + noise.

Four methods, all on the float64 dense form of the generator
(:func:`explorer.generators.dense_layers`, x_i = relu(W_i x_{i-1} + b_i)):

- ``"gd"``: Adam on the squared measurement error (+ ``prior`` * ||z||^2), with
  random restarts, keeping the restart of lowest loss (Bora et al., CSGM 2017).
- ``"ls"``: Lei, Jalal, Dhillon & Dimakis (NeurIPS 2019), noiseless rule: from the
  top, least squares on each layer's active rows W_i[S_i] x = x_i[S_i]. Needs
  |S_i| >= n_{i-1}; otherwise it reports "underdetermined".
- ``"layered"``: layer-wise pursuit after Aberdam, Simon & Elad (arXiv 2006.15555).
  The ReLU tells us, for S_i = supp(x_i), that W_i[S_i] x_{i-1} + b = x_i[S_i] and
  W_i[S_i^c] x_{i-1} + b <= 0, with x_{i-1} >= 0 -- a sparse representation
  problem. Noiseless: the LP  min 1^T x  s.t. those constraints (then least
  squares on the found support; when W_i[S_i] has full column rank the equalities
  alone fix x and one least-squares solve replaces the LP); noise-aware (``noise_std`` > 0): non-negative
  least squares on the active rows with supports thresholded at 3 sigma, sigma
  propagated per entry through pinv(W_i[S_i]).
- ``"lp"``: Lei et al.'s l-infinity LP per layer: min eps s.t.
  |W[S] x + b - x_i[S]| <= eps, W[S^c] x + b <= x_i[S^c] + eps, x >= 0.

Hidden-layer estimates are clipped at 0 (they are ReLU outputs). Bias-free
generators are solved at unit scale, so every layer-wise method is exactly
positively homogeneous. Every result is finished with a *polish*: least squares inside the linear region
of the estimate (y ~ J z + c there, J = D_L W_L ... D_1 W_1), kept only if it lowers
the residual; from any point of the true region it returns z to rounding error.

>>> from explorer import generators, inversion
>>> import numpy as np
>>> g = generators.random_generator([20, 100, 500], seed=0)
>>> z = np.random.default_rng(1).standard_normal(20)
>>> y = generators.forward_all(generators.dense_layers(g), z)[-1]
>>> res = inversion.invert(g, y, method="layered", z_true=z)
>>> res.status, res.rel_error < 1e-10
('ok', True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.optimize import linprog, nnls

from .generators import Corruption, DenseLayer, corrupt, dense_layers, forward_all, random_layers
from .threads import single_threaded

__all__ = ["METHODS", "Inversion", "invert", "Problem", "make_problem", "compare", "invert_batch_gd",
           "region_least_squares", "oracle", "LayerCheck", "Identifiability", "identifiability",
           "SuccessSweep", "success_vs_expansion", "NoiseSweep", "error_vs_noise", "expansion_sizes"]

METHODS = ("gd", "layered", "lp", "ls")
NOISELESS_TOL = 1e-9  # support threshold relative to the layer's largest entry


@dataclass
class Inversion:
    """The result of one inversion.

    ``status``: "ok", "underdetermined" (a least-squares step had fewer independent
    rows than unknowns), "not identifiable" (no method can single out z: the first
    layer is narrower than the latent, too few entries are observed, or the map is
    not injective around the answer) or "ambiguous" (a layer has an empty support,
    e.g. z = 0: z is only known to lie in a cone). ``message`` says why.
    ``losses``: gradient descent's loss per restart and step (restarts, steps);
    ``layer_residuals``: the layer-wise methods' relative residual per layer (top first).
    """

    method: str
    z_hat: np.ndarray
    x_hat: np.ndarray
    residual: float
    rel_error: float | None
    status: str
    message: str
    supports: list  # supp(x_i) of the answer, one bool array per ReLU layer
    true_supports: list | None
    losses: np.ndarray
    best_restart: int
    layer_residuals: np.ndarray
    time_s: float

    def succeeded(self, tol: float = 1e-6) -> bool:
        """Relative latent error below ``tol`` (needs the true z)."""
        return self.rel_error is not None and self.rel_error < tol

    def support_counts(self) -> np.ndarray:
        """Per layer (rows) the recovered support against the true one: TP, FP, FN, TN."""
        if self.true_supports is None:
            raise ValueError("The true latent was not given, so the true supports are unknown.")
        return np.array([[(s & t).sum(), (s & ~t).sum(), (~s & t).sum(), (~s & ~t).sum()]
                         for s, t in zip(self.supports, self.true_supports)])

    @property
    def pattern_distance(self) -> int | None:
        """Hamming distance between the activation patterns of z_hat and the true z."""
        if self.true_supports is None:
            return None
        return int(sum((s != t).sum() for s, t in zip(self.supports, self.true_supports)))


# -- observation -------------------------------------------------------------------------

def _observation(n_out: int, y, mask, A):
    """Validate (y, mask, A); return y restricted to what is observed, mask, A."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if mask is not None and A is not None:
        raise ValueError("Give either a mask of observed entries or a sensing matrix A, not both.")
    if A is not None:
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != n_out:
            raise ValueError(f"A must have shape (m, {n_out}), got {A.shape}.")
        if y.size != A.shape[0]:
            raise ValueError(f"y has {y.size} entries but A has {A.shape[0]} rows.")
        return y, None, A
    if mask is not None:
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        if mask.size != n_out:
            raise ValueError(f"The mask has {mask.size} entries; the generator outputs {n_out}.")
        if y.size == n_out:
            y = y[mask]
        elif y.size != mask.sum():
            raise ValueError(f"y has {y.size} entries: give all {n_out} or the {mask.sum()} observed ones.")
        return y, mask, None
    if y.size != n_out:
        raise ValueError(f"y has {y.size} entries; the generator outputs {n_out}.")
    return y, None, None


def _observe(x, mask, A):
    return A @ x if A is not None else (x[mask] if mask is not None else x)


def _region_map(layers: list[DenseLayer], z) -> tuple[np.ndarray, np.ndarray]:
    """(J, c) with G(z') = J z' + c for every z' in the linear region of z."""
    xs = forward_all(layers, z)
    J, c = np.eye(xs[0].size), np.zeros(xs[0].size)
    for layer, x_in in zip(layers, xs[:-1]):
        J, c = layer.W @ J, layer.W @ c + layer.b
        if layer.relu:
            on = (layer.W @ x_in + layer.b) > 0
            J, c = J * on[:, None], c * on
    return J, c


def region_least_squares(generator, z_region, y, mask=None, A=None) -> np.ndarray:
    """Least squares for z inside the linear region of ``z_region`` (the polish step).

    There G(z) = J z + c, so z = argmin ||observe(J z + c) - y||. From any point of
    the true region of z* and noiseless y this returns z* to rounding error.
    """
    layers = dense_layers(generator)
    y, mask, A = _observation(layers[-1].W.shape[0], y, mask, A)
    with single_threaded():
        J, c = _region_map(layers, z_region)
        return np.linalg.lstsq(_observe(J, mask, A), y - _observe(c, mask, A), rcond=None)[0]


def oracle(generator, z_true, y, mask=None, A=None) -> np.ndarray:
    """The oracle estimate: least squares inside the *true* linear region of ``z_true``."""
    return region_least_squares(generator, z_true, y, mask, A)


def _residual(layers, z, y, mask, A) -> float:
    r = _observe(forward_all(layers, z)[-1], mask, A) - y
    return float(np.linalg.norm(r) / max(np.linalg.norm(y), 1e-300))


def _polish(layers, z, y, mask, A, rounds: int = 5) -> np.ndarray:
    """Repeat least squares in the current region while it lowers the residual."""
    best, best_r = z, _residual(layers, z, y, mask, A)
    for _ in range(rounds):
        J, c = _region_map(layers, best)
        cand = np.linalg.lstsq(_observe(J, mask, A), y - _observe(c, mask, A), rcond=None)[0]
        r = _residual(layers, cand, y, mask, A)
        if not r < best_r:
            break
        same_region = all(np.array_equal(a > 0, b > 0) for a, b in
                          zip(forward_all(layers, cand)[1:], forward_all(layers, best)[1:]))
        best, best_r = cand, r
        if same_region:
            break
    return best


# -- layer-wise methods ------------------------------------------------------------------

class _Underdetermined(Exception):
    pass


def _lstsq_checked(M, v, what: str):
    rank = np.linalg.matrix_rank(M) if M.size else 0
    if rank < M.shape[1]:
        raise _Underdetermined(f"{what}: {M.shape[0]} equations of rank {rank} for {M.shape[1]} unknowns.")
    return np.linalg.lstsq(M, v, rcond=None)[0]


def _lp_pursuit(W, t, S, hidden: bool) -> np.ndarray:
    """min 1^T x s.t. W[S] x = t[S], W[~S] x <= t[~S] (t already has b removed), x >= 0."""
    n = W.shape[1]
    res = linprog(np.ones(n), A_ub=W[~S] if (~S).any() else None, b_ub=t[~S] if (~S).any() else None,
                  A_eq=W[S] if S.any() else None, b_eq=t[S] if S.any() else None,
                  bounds=(0, None) if hidden else (None, None), method="highs")
    if res.status != 0:  # numerically infeasible: fall back to the ReLU-consistent least squares
        return nnls(W[S], t[S])[0] if S.any() else np.zeros(n)
    return res.x


def _lp_linf(W, t, S, hidden: bool) -> np.ndarray:
    """Lei et al.: min eps s.t. |W[S] x - t[S]| <= eps, W[~S] x - t[~S] <= eps, x >= 0 (hidden)."""
    m, n = W.shape
    Ws, Wc = W[S], W[~S]
    ones = lambda k: np.ones((k, 1))
    A_ub = np.vstack([np.hstack([Ws, -ones(len(Ws))]), np.hstack([-Ws, -ones(len(Ws))]),
                      np.hstack([Wc, -ones(len(Wc))])])
    b_ub = np.concatenate([t[S], -t[S], t[~S]])
    c = np.zeros(n + 1)
    c[-1] = 1.0
    bounds = [(0, None) if hidden else (None, None)] * n + [(0, None)]
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        return np.linalg.lstsq(Ws, t[S], rcond=None)[0] if S.any() else np.zeros(n)
    return res.x[:n]


def _layerwise(layers, y, mask, A, method: str, noise_std: float):
    """Invert layer by layer from the top; returns (z, per-layer residuals)."""
    noisy = noise_std > 0
    if A is not None:
        rank = np.linalg.matrix_rank(A)
        if rank < A.shape[1]:
            raise ValueError(
                f"Layer-wise methods need the output itself; {A.shape[0]} measurements of rank {rank} "
                f"cannot give all {A.shape[1]} outputs. Use method='gd' for compressed sensing.")
        P = np.linalg.pinv(A)
        t = P @ y
        sigma = np.sqrt((P * P) @ np.full(y.size, noise_std ** 2))
        rows = np.arange(A.shape[1])
    else:
        rows = np.flatnonzero(mask) if mask is not None else np.arange(layers[-1].W.shape[0])
        t = y.copy()
        sigma = np.full(t.size, noise_std)
    residuals = []
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        W, target = layer.W[rows], t - layer.b[rows]
        hidden = i > 0
        scale = max(np.abs(t).max(initial=0.0), 1e-300)
        tau = np.maximum(3 * sigma, NOISELESS_TOL * scale) if noisy else NOISELESS_TOL * scale
        S = t > tau if layer.relu else np.ones(t.size, dtype=bool)
        if method == "ls" or not hidden:
            x = _lstsq_checked(W[S], target[S], f"layer {i + 1}")
        elif not noisy and np.linalg.matrix_rank(W[S]) == W.shape[1]:
            x = np.linalg.lstsq(W[S], target[S], rcond=None)[0]  # the equalities leave one point
        elif method == "lp":
            x = _lp_linf(W, target, S, hidden)
        elif noisy:
            x = nnls(W[S], target[S], maxiter=50 * W.shape[1])[0]
        else:
            x = _lp_pursuit(W, target, S, hidden)
            T = x > NOISELESS_TOL * max(x.max(initial=0.0), 1e-300)
            if T.any() and np.linalg.matrix_rank(W[S][:, T]) == T.sum():
                x = np.zeros_like(x)
                x[T] = np.linalg.lstsq(W[S][:, T], target[S], rcond=None)[0]
        if hidden:
            x = np.maximum(x, 0.0)
        fit = W[S] @ x - target[S]
        residuals.append(float(np.linalg.norm(fit) / max(np.linalg.norm(target[S]), 1e-300)))
        if noisy:
            T = x > 0
            Pm = np.zeros((x.size, S.sum()))
            if T.any():
                Pm[T] = np.linalg.pinv(W[S][:, T])
            sigma = np.sqrt((Pm * Pm) @ (sigma[S] ** 2))
        t = x
        rows = np.arange(x.size)
    return t, np.array(residuals)


# -- gradient descent ----------------------------------------------------------------------

def invert_batch_gd(layer_sets: list[list[DenseLayer]], Y: np.ndarray, masks=None, A=None,
                    restarts: int = 3, steps: int = 2000, lr: float = 0.05, prior: float = 0.0,
                    seed: int = 0, progress: Callable[[int, int], None] | None = None):
    """Adam on many independent problems at once (same layer sizes, own weights each).

    Problem p minimises mean((observe_p(G_p(z)) - Y[p])^2) + prior ||z||^2 from
    ``restarts`` N(0, I) starts. ``Y``: (P, n_out) with ``masks`` (P, n_out) bool
    (unobserved entries of Y ignored), or (P, m) with ``A`` (P, m, n_out).
    Returns (best z (P, k), losses (P, restarts, steps), best restart index (P,)).
    """
    P = len(layer_sets)
    with single_threaded():
        # transposed weights (P, n_in, n_out), stored contiguous: 1.2x faster batched products
        Wts = [torch.from_numpy(np.ascontiguousarray(np.stack([ls[i].W.T for ls in layer_sets])))
               for i in range(len(layer_sets[0]))]
        bs = [torch.from_numpy(np.stack([ls[i].b for ls in layer_sets]))[:, None, :] for i in range(len(Wts))]
        relus = [l.relu for l in layer_sets[0]]
        Yt = torch.as_tensor(np.asarray(Y, dtype=np.float64))[:, None, :]
        if A is not None:
            At = torch.as_tensor(np.asarray(A, dtype=np.float64)).transpose(1, 2)
            weight = torch.ones_like(Yt)
        else:
            At = None
            weight = (torch.ones_like(Yt) if masks is None
                      else torch.as_tensor(np.asarray(masks, dtype=np.float64))[:, None, :])
        m_obs = weight.sum(-1).clamp_min(1.0)
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(P, restarts, Wts[0].shape[1], generator=gen, dtype=torch.float64).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        losses = torch.empty(P, restarts, steps, dtype=torch.float64)

        def loss_of(z):
            h = z
            for Wt, b, relu in zip(Wts, bs, relus):
                h = torch.baddbmm(b, h, Wt)
                if relu:
                    h = torch.relu(h)
            if At is not None:
                h = torch.bmm(h, At)
            return (((h - Yt) * weight) ** 2).sum(-1) / m_obs + prior * (z ** 2).sum(-1)

        for step in range(steps):
            per = loss_of(z)
            opt.zero_grad()
            per.sum().backward()
            opt.step()
            losses[:, :, step] = per.detach()
            if progress is not None and (step + 1) % 100 == 0:
                progress(step + 1, steps)
        with torch.no_grad():
            final = loss_of(z)
        best = final.argmin(1)
        z_best = z.detach()[torch.arange(P), best]
    return z_best.numpy(), losses.numpy(), best.numpy()


# -- the entry point --------------------------------------------------------------------------

def _prechecks(layers, m_obs: int, y, mask, A) -> tuple[str, str]:
    n0, n1 = layers[0].W.shape[1], layers[0].W.shape[0]
    if n1 < n0:
        return "not identifiable", (f"The first layer has {n1} units for a {n0}-dimensional latent: "
                                    "G cannot be one-to-one.")
    if m_obs < n0:
        return "not identifiable", f"Only {m_obs} observed values for {n0} unknowns."
    if A is None and layers[-1].relu and not (y > 0).any():
        return "ambiguous", "No observed output is positive (e.g. z = 0): z is only known to lie in a cone."
    return "ok", ""


def invert(generator, y, method: str = "layered", mask=None, A=None, noise_std: float | None = None,
           z_true=None, restarts: int = 3, steps: int = 2000, lr: float = 0.05, prior: float = 0.0,
           seed: int = 0, polish: bool = True, progress: Callable[[int, int], None] | None = None) -> Inversion:
    """Recover z from y = observe(G(z)) (+ noise) with one of :data:`METHODS`.

    Parameters
    ----------
    generator : nn.Module or list of DenseLayer
        A Linear/ReLU generator (e.g. :func:`explorer.generators.random_generator`).
    y : array
        Observed values: G(z) (+ noise); with ``mask`` all n outputs or only the
        observed ones; with ``A`` the m measurements A G(z).
    noise_std : float, optional
        Absolute noise standard deviation; > 0 switches ``"layered"`` to its
        noise-aware variant and sets the support thresholds.
    z_true : array, optional
        The true latent, to report the relative error and the true supports.
    restarts, steps, lr, prior, seed
        Gradient descent settings (method ``"gd"``).

    Example: ``invert(g, y, method="gd", restarts=5).z_hat``.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; choose one of {METHODS}.")
    layers = dense_layers(generator)
    y, mask, A = _observation(layers[-1].W.shape[0], y, mask, A)
    noise = float(noise_std or 0.0)
    t0 = time.perf_counter()
    status, message = _prechecks(layers, y.size, y, mask, A)
    losses, best, layer_res = np.zeros((0, 0)), 0, np.zeros(0)
    with single_threaded():
        if method == "gd":
            masks = None if mask is None else mask[None]
            Y = y[None] if mask is None else _scatter(y, mask)[None]
            z, losses, best = invert_batch_gd([layers], Y, masks, None if A is None else A[None],
                                              restarts, steps, lr, prior, seed, progress)
            z, losses, best = z[0], losses[0], int(best[0])
        else:
            # bias-free nets are positively homogeneous: solve at unit scale so that the
            # LP solver's absolute tolerances do not depend on the size of y
            unit = max(np.abs(y).max(initial=0.0), 1e-300) if not any(l.b.any() for l in layers) else 1.0
            try:
                z, layer_res = _layerwise(layers, y / unit, mask, A, method, noise / unit)
                z = z * unit
            except _Underdetermined as exc:
                if status == "ok":  # a precheck's reason is the more basic one
                    status, message = "underdetermined", str(exc)
                z = _minimum_norm_fallback(layers, y / unit, mask, A) * unit
                polish = False
        if polish:
            z = _polish(layers, z, y, mask, A)
        xs = forward_all(layers, z)
        if status == "ok":
            status, message = _post_check(layers, xs, mask, A)
    elapsed = time.perf_counter() - t0
    rel = None
    true_supports = None
    if z_true is not None:
        z_true = np.asarray(z_true, dtype=np.float64).reshape(-1)
        rel = float(np.linalg.norm(z - z_true) / max(np.linalg.norm(z_true), 1e-300))
        if np.linalg.norm(z_true) == 0:
            rel = float(np.linalg.norm(z - z_true))
        true_supports = _supports(layers, forward_all(layers, z_true))
    return Inversion(method, z, xs[-1], _residual(layers, z, y, mask, A), rel, status, message,
                     _supports(layers, xs), true_supports, losses, best, layer_res, elapsed)


def _supports(layers, xs) -> list:
    """supp(x_i) for every ReLU layer."""
    return [x > 0 for layer, x in zip(layers, xs[1:]) if layer.relu]


def _scatter(y, mask):
    full = np.zeros(mask.size)
    full[mask] = y
    return full


def _minimum_norm_fallback(layers, y, mask, A):
    """What plain least squares gives when underdetermined (minimum-norm per layer)."""
    t = y if A is None else np.linalg.lstsq(A, y, rcond=None)[0]
    rows = np.flatnonzero(mask) if mask is not None else np.arange(layers[-1].W.shape[0])
    for i in range(len(layers) - 1, -1, -1):
        W, b = layers[i].W[rows], layers[i].b[rows]
        tau = NOISELESS_TOL * max(np.abs(t).max(initial=0.0), 1e-300)
        S = t > tau if layers[i].relu else np.ones(t.size, dtype=bool)
        t = np.linalg.lstsq(W[S], t[S] - b[S], rcond=None)[0] if S.any() else np.zeros(W.shape[1])
        rows = np.arange(W.shape[1])
    return t


def _post_check(layers, xs, mask, A) -> tuple[str, str]:
    """Flag answers that no method could trust: empty supports, a non-injective region."""
    for i, (layer, x) in enumerate(zip(layers, xs[1:])):
        seen = x if (i < len(layers) - 1 or A is not None or mask is None) else x[mask]
        if layer.relu and not (seen > 0).any():
            return "ambiguous", f"Layer {i + 1} of the answer has an empty support: z lies in a cone of solutions."
    J, _ = _region_map(layers, xs[0])
    rank = np.linalg.matrix_rank(_observe(J, mask, A))
    if rank < xs[0].size:
        return "not identifiable", (f"Around the answer the observed map has rank {rank} < {xs[0].size}: "
                                    "a whole family of latents gives the same observation.")
    return "ok", ""


# -- one problem, every method -------------------------------------------------------------

@dataclass
class Problem:
    """A target z, its clean signal x = G(z), the corrupted observation and the uniqueness check."""

    layers: list
    z: np.ndarray
    x: np.ndarray
    corruption: Corruption
    check: "Identifiability"


def make_problem(generator, z=None, seed: int = 0, **corruption) -> Problem:
    """Draw z ~ N(0, I) (``seed``) unless given, compute x = G(z) and corrupt it.

    ``corruption`` goes to :func:`explorer.generators.corrupt` (noise, missing,
    keep, block, image_shape, measurements).
    """
    layers = dense_layers(generator)
    if z is None:
        z = np.random.default_rng(seed).standard_normal(layers[0].W.shape[1])
    z = np.asarray(z, dtype=np.float64).reshape(-1)
    x = forward_all(layers, z)[-1]
    c = corrupt(x, seed=seed, **corruption)
    return Problem(layers, z, x, c, identifiability(layers, z, c.mask, c.A))


def compare(problem: Problem, methods=METHODS, progress: Callable[[int, int], None] | None = None,
            **options) -> dict:
    """Run each method on ``problem``; returns {method: Inversion, or the error text when the
    method does not apply (e.g. layer-wise methods on compressed sensing)}. ``options``
    go to :func:`invert` (restarts, steps, lr, prior, seed)."""
    out: dict = {}
    c = problem.corruption
    total = 100 * len(methods)
    for i, method in enumerate(methods):
        # gradient descent reports its steps; progress counts hundredths of a method
        step_progress = None if progress is None else (lambda d, t, i=i: progress(100 * i + 100 * d // t, total))
        try:
            out[method] = invert(problem.layers, c.y, method, mask=c.mask, A=c.A, noise_std=c.noise_std,
                                 z_true=problem.z, progress=step_progress, **options)
        except ValueError as exc:
            out[method] = str(exc)
        if progress is not None:
            progress(100 * (i + 1), total)
    return out


# -- identifiability -------------------------------------------------------------------------

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


# -- sweeps ------------------------------------------------------------------------------------

def expansion_sizes(ratio: float, latent: int = 20, depth: int = 2) -> tuple:
    """Layer sizes latent, r*latent, r^2*latent, ... (``depth`` layers)."""
    return tuple(int(round(latent * ratio ** d)) for d in range(depth + 1))


def _trial(sizes, seed: int, t: int):
    rng = np.random.default_rng([seed, t])
    layers = random_layers(sizes, seed=int(rng.integers(2 ** 31)))
    return layers, rng.standard_normal(sizes[0]), rng


def _run_methods(layer_sets, zs, Ys, masks, methods, noise_stds, gd_options, tick):
    """Relative errors (methods x trials) of every method on every trial."""
    with single_threaded():
        return _run_methods_inner(layer_sets, zs, Ys, masks, methods, noise_stds, gd_options, tick)


def _run_methods_inner(layer_sets, zs, Ys, masks, methods, noise_stds, gd_options, tick):
    errors = np.full((len(methods), len(zs)), np.inf)
    for mi, method in enumerate(methods):
        if method == "gd":
            full = [(_scatter(y, m) if m is not None else y) for y, m in zip(Ys, masks)]
            mk = None if masks[0] is None else np.stack(masks)
            z_hat, _, _ = invert_batch_gd(layer_sets, np.stack(full), mk, **gd_options)
            for j, (layers, z, y, m) in enumerate(zip(layer_sets, zs, Ys, masks)):
                zh = _polish(layers, z_hat[j], y, m, None)
                errors[mi, j] = np.linalg.norm(zh - z) / np.linalg.norm(z)
            tick(len(zs))
            continue
        for j, (layers, z, y, m) in enumerate(zip(layer_sets, zs, Ys, masks)):
            res = invert(layers, y, method, mask=m, noise_std=noise_stds[j], z_true=z)
            if res.status != "underdetermined":
                errors[mi, j] = res.rel_error
            tick(1)
    return errors


def _counter(total: int, progress: Callable[[int, int], None] | None) -> Callable[[int], None]:
    """A ``tick(k)`` that adds k finished units of work and reports ``progress(done, total)``."""
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    return tick


@dataclass
class SuccessSweep:
    """Success rate (relative latent error < tol) per method (rows) and generator (columns)."""

    sizes: list
    ratios: np.ndarray
    methods: list
    success: np.ndarray
    median_error: np.ndarray
    trials: int
    keep: float
    tol: float


def success_vs_expansion(sizes_list=None, ratios=None, latent: int = 20, depth: int = 2,
                         methods=("ls", "layered", "lp", "gd"), trials: int = 20, keep: float = 1.0,
                         tol: float = 1e-6, seed: int = 0, gd_options: dict | None = None,
                         progress: Callable[[int, int], None] | None = None) -> SuccessSweep:
    """Noiseless success rate against the expansion ratio, fresh random generator and z per trial.

    Give explicit ``sizes_list`` (e.g. [(20, 40, 80), (20, 100, 500)]) or ``ratios``
    (sizes from :func:`expansion_sizes`). ``keep`` < 1 observes a random subset of
    the outputs. ``gd_options`` go to :func:`invert_batch_gd` (default 1 restart, 2000 steps).
    """
    if sizes_list is None:
        if ratios is None:
            raise ValueError("Give sizes_list or ratios.")
        sizes_list = [expansion_sizes(r, latent, depth) for r in ratios]
    sizes_list = [tuple(int(s) for s in sz) for sz in sizes_list]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"Unknown methods {bad}; choose from {METHODS}.")
    gd = {"restarts": 1, "steps": 2000, "lr": 0.05, **(gd_options or {})}
    total = len(sizes_list) * len(methods) * trials
    tick = _counter(total, progress)

    success = np.zeros((len(methods), len(sizes_list)))
    med = np.zeros_like(success)
    for ci, sizes in enumerate(sizes_list):
        layer_sets, zs, Ys, masks = [], [], [], []
        for t in range(trials):
            layers, z, rng = _trial(sizes, seed + 7919 * ci, t)
            x = forward_all(layers, z)[-1]
            m = None if keep >= 1 else rng.permutation(x.size) < round(keep * x.size)
            layer_sets.append(layers)
            zs.append(z)
            Ys.append(x if m is None else x[m])
            masks.append(m)
        errors = _run_methods(layer_sets, zs, Ys, masks, methods, [0.0] * trials, gd, tick)
        success[:, ci] = (errors < tol).mean(1)
        med[:, ci] = np.median(errors, 1)
    ratios_out = np.array([sz[1] / sz[0] for sz in sizes_list])
    return SuccessSweep(sizes_list, ratios_out, list(methods), success, med, trials, keep, tol)


@dataclass
class NoiseSweep:
    """Median relative latent error per method (rows) and noise level (columns), and the oracle's."""

    sizes: tuple
    levels: np.ndarray
    methods: list
    median_error: np.ndarray
    oracle: np.ndarray
    trials: int


def error_vs_noise(sizes=(20, 100, 500), levels=(1e-4, 1e-3, 1e-2, 1e-1), methods=("layered", "gd"),
                   trials: int = 20, seed: int = 0, gd_options: dict | None = None,
                   progress: Callable[[int, int], None] | None = None) -> NoiseSweep:
    """Latent error against the noise level eta (sigma = eta * rms G(z)), with the oracle
    (least squares inside the true linear region) as the line to beat."""
    sizes = tuple(int(s) for s in sizes)
    gd = {"restarts": 3, "steps": 2000, "lr": 0.05, **(gd_options or {})}
    total = len(levels) * (len(methods) + 1) * trials
    tick = _counter(total, progress)

    med = np.zeros((len(methods), len(levels)))
    orc = np.zeros(len(levels))
    for li, eta in enumerate(levels):
        layer_sets, zs, Ys, sig = [], [], [], []
        for t in range(trials):
            layers, z, rng = _trial(sizes, seed, t)
            x = forward_all(layers, z)[-1]
            s = float(eta * np.sqrt(np.mean(x ** 2)))
            layer_sets.append(layers)
            zs.append(z)
            Ys.append(x + s * rng.standard_normal(x.size))
            sig.append(s)
        errors = _run_methods(layer_sets, zs, Ys, [None] * trials, methods, sig, gd, tick)
        med[:, li] = np.median(errors, 1)
        with single_threaded():
            o = [np.linalg.norm(oracle(l, z, y) - z) / np.linalg.norm(z) for l, z, y in zip(layer_sets, zs, Ys)]
        orc[li] = np.median(o)
        tick(trials)
    return NoiseSweep(sizes, np.asarray(levels, dtype=float), list(methods), med, orc, trials)
