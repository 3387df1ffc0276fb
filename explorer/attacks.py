"""Adversarial perturbations: DeepFool (L2, L-infinity), SuperDeepFool, FGSM, PGD.

DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016, arXiv 1511.04599) walks
from x0 to the nearest linearised decision boundary, again and again, until the
predicted label k0 = argmax f(x0) changes. At an iterate x, for every candidate
class k != k0 let

    w'_k = grad f_k(x) - grad f_k0(x),     f'_k = f_k(x) - f_k0(x),

pick l = argmin_k |f'_k| / ||w'_k||_q and step r_i = |f'_l| / ||w'_l||_2^2 * w'_l
(L2, q = 2) or r_i = |f'_l| / ||w'_l||_1 * sign(w'_l) (L-infinity, q = 1).
For an affine classifier the first step lands exactly on the boundary.

Conventions follow Foolbox's ``L2DeepFoolAttack``: the iterate is
``x = clip(x0 + (1 + overshoot) * sum_i r_i)``, and ``step_margin`` (1e-4) is
added to every distance so that clipped samples do not stall on exact logit ties.
The whole batch runs at once: per iteration one forward pass checks the labels,
and one forward pass with one backward pass per candidate class gives the
gradients of all class differences; samples that have crossed leave the batch.

>>> import torch
>>> from torch import nn
>>> model = nn.Linear(2, 2).double()
>>> res = deepfool(model, torch.tensor([[0.3, -0.1]], dtype=torch.float64))
>>> bool(res.success[0]), int(res.iterations[0])
(True, 1)

Minimum-norm comparisons (``fgsm``, ``pgd``, ``minimal_epsilon``) and dataset
measures (``robustness``) are here too; the certified lower bound
(``certified_radius``) and the exact 2-D distance are in :mod:`explorer.certified`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from . import regions
from .certified import certified_radius
from .threads import single_threaded

__all__ = [
    "DeepFoolResult",
    "deepfool",
    "fgsm",
    "pgd",
    "MinimalEpsilon",
    "minimal_epsilon",
    "RobustnessResult",
    "robustness",
    "predict",
    "certified_radius",
    "adversarial_plane",
]

NORMS = ("l2", "linf")


@dataclass
class DeepFoolResult:
    """What :func:`deepfool` found for a batch of N inputs (arrays shaped like the input batch).

    ``path`` has shape (N, T + 1, *input) with T = ``iterations.max()``: x0, x1, ...; a
    sample that finished earlier repeats its last iterate. ``success`` is re-checked
    by a forward pass at ``x_adv``.
    """

    x: np.ndarray
    r: np.ndarray
    x_adv: np.ndarray
    iterations: np.ndarray
    success: np.ndarray
    original: np.ndarray
    adversarial: np.ndarray
    path: np.ndarray
    norm: str

    @property
    def l2(self) -> np.ndarray:
        """||r||_2 per sample."""
        return np.linalg.norm(self.r.reshape(len(self.r), -1), axis=1)

    @property
    def linf(self) -> np.ndarray:
        """||r||_inf per sample."""
        return np.abs(self.r.reshape(len(self.r), -1)).max(axis=1, initial=0.0)


# -- helpers --------------------------------------------------------------------------------

def _dtype_of(model: nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return torch.float32 if p is None else p.dtype


def _as_batch(model: nn.Module, x) -> torch.Tensor:
    """A (N, *input) tensor in the model's dtype; a single input becomes a batch of one."""
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach()
    x = x.to(_dtype_of(model))
    shape = getattr(model, "input_shape", None)
    if shape is not None and tuple(x.shape) == tuple(shape):
        x = x.unsqueeze(0)
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"Expected a batch of inputs (N, ...), got shape {tuple(x.shape)}.")
    return x


def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
    return norm


def _check_clip(clip):
    if clip is None:
        return None
    lo, hi = (float(v) for v in clip)
    if not lo < hi:
        raise ValueError(f"clip must be (low, high) with low < high, got {clip!r}.")
    return lo, hi


def _clip(x: torch.Tensor, clip) -> torch.Tensor:
    return x if clip is None else x.clamp(*clip)


def _flat_norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    v = v.flatten(1)
    return v.norm(dim=1) if norm == "l2" else v.abs().amax(dim=1)


def _rows(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-sample vector to broadcast against a batch shaped like ``like``."""
    return v.reshape(-1, *[1] * (like.dim() - 1))


def predict(model: nn.Module, x) -> np.ndarray:
    """The predicted labels argmax f(x) of a batch."""
    x = _as_batch(model, x)
    with torch.no_grad():
        return model(x).argmax(dim=1).numpy()


def _class_gradients(model, x, classes, k0):
    """Logit differences f_k - f_k0 and their input gradients for every candidate k.

    ``classes`` is (n, C): the candidate classes per sample. Returns f' (n, C) and
    w' (n, C, *input) from one forward pass and one backward pass per candidate
    column (the graph is kept between them).
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    rows = torch.arange(len(x))
    diffs = logits.gather(1, classes) - logits[rows, k0][:, None]
    C = classes.shape[1]
    grads = [torch.autograd.grad(diffs[:, c].sum(), x, retain_graph=c < C - 1)[0] for c in range(C)]
    return diffs.detach(), torch.stack(grads, dim=1)


def _df_step(diffs, grads, norm, step_margin):
    """One DeepFool step per sample towards the closest linearised boundary (Alg. 2)."""
    flat = grads.flatten(2)
    dual = (flat.norm(dim=2) if norm == "l2" else flat.abs().sum(dim=2)).clamp_min(1e-12)
    dist = diffs.abs() / dual
    best = dist.argmin(dim=1)
    rows = torch.arange(len(best))
    d = dist[rows, best] + step_margin
    w = grads[rows, best]
    if norm == "l2":
        return _rows(d / dual[rows, best], w) * w
    return _rows(d, w) * w.sign()


def _candidates(logits0: torch.Tensor, candidates) -> torch.Tensor:
    """Candidate classes per sample, the predicted class excluded: (N, C)."""
    K = logits0.shape[1]
    if K < 2:
        raise ValueError("DeepFool needs a classifier with at least 2 outputs.")
    if candidates is None:
        candidates = K
    if not 2 <= int(candidates) <= K:
        raise ValueError(f"candidates must be between 2 and {K} (the number of classes), got {candidates}.")
    order = logits0.argsort(dim=1, descending=True)
    return order[:, 1:int(candidates)]


def _deepfool_run(model, x_start, k0, classes, norm, overshoot, max_iter, clip, step_margin, keep_path):
    """DeepFool from ``x_start`` until the label differs from ``k0`` (batched).

    Returns the final iterates, the number of steps per sample and the list of
    iterates (one (N, *input) tensor per iteration) when ``keep_path``.
    """
    N = len(x_start)
    x = x_start.clone()
    p_total = torch.zeros_like(x)
    steps = torch.zeros(N, dtype=torch.long)
    active = torch.arange(N)
    path = [x.clone()] if keep_path else []
    for _ in range(max_iter):
        with torch.no_grad():
            running = model(x[active]).argmax(dim=1) == k0[active]
        active = active[running]
        if len(active) == 0:
            break
        diffs, grads = _class_gradients(model, x[active], classes[active], k0[active])
        p_total[active] += _df_step(diffs, grads, norm, step_margin)
        x[active] = _clip(x_start[active] + (1.0 + overshoot) * p_total[active], clip)
        steps[active] += 1
        if keep_path:
            path.append(x.clone())
    return x, steps, path


def _refine(model, x0, x_adv, k0, classes, overshoot, max_iter, clip, step_margin, rounds, search_steps):
    """SuperDeepFool (Abdollahpour et al., arXiv 2303.12481), L2: after crossing at x~,
    project x0 onto the hyperplane through x~ orthogonal to w = grad(f_k~ - f_k0)(x~),
    run DeepFool again from there, keep the smallest adversarial found, and finish
    with a bisection along the segment x0 -> x_adv (it only ever keeps adversarial points).
    Stops early when a round improves no sample.
    """
    best = x_adv.clone()
    cur = x_adv.clone()
    rows = torch.arange(len(x0))
    for _ in range(rounds):
        z = cur.detach().requires_grad_(True)
        logits = model(z)
        k = logits.argmax(dim=1)
        crossed = k != k0
        if not crossed.any():
            break
        diff = logits[rows, k] - logits[rows, k0]
        (w,) = torch.autograd.grad(diff.sum(), z)
        w = w.flatten(1)
        scale = ((cur - x0).flatten(1) * w).sum(dim=1) / (w.pow(2).sum(dim=1) + 1e-12)
        proj = _clip(x0 + (scale[:, None] * w).reshape(x0.shape), clip)
        proj = torch.where(_rows(crossed, x0), proj, cur)
        cur, _, _ = _deepfool_run(model, proj, k0, classes, "l2", overshoot, max_iter, clip, step_margin, False)
        with torch.no_grad():
            ok = model(cur).argmax(dim=1) != k0
        better = ok & (_flat_norm(cur - x0, "l2") < _flat_norm(best - x0, "l2"))
        if not better.any():
            break
        best = torch.where(_rows(better, x0), cur, best)
    lo = torch.zeros(len(x0), dtype=x0.dtype)
    hi = torch.ones(len(x0), dtype=x0.dtype)
    with torch.no_grad():
        for _ in range(search_steps):
            mid = (lo + hi) / 2
            adv = model(x0 + _rows(mid, x0) * (best - x0)).argmax(dim=1) != k0
            hi = torch.where(adv, mid, hi)
            lo = torch.where(adv, lo, mid)
    return x0 + _rows(hi, x0) * (best - x0)


def deepfool(model: nn.Module, x, norm: str = "l2", overshoot: float = 0.02, max_iter: int = 50,
             candidates: int | None = None, clip: tuple[float, float] | None = None,
             refine: bool = False, step_margin: float = 1e-4, refine_rounds: int = 3,
             keep_path: bool = True) -> DeepFoolResult:
    """DeepFool on a batch of inputs (Moosavi-Dezfooli et al. 2016, Algorithm 2).

    Parameters
    ----------
    model : nn.Module
        A classifier in eval mode returning logits (N, K). Inputs are cast to its dtype.
    x : array or tensor
        A batch (N, *input) or a single input (when ``model.input_shape`` says so).
    norm : "l2" or "linf"
        Which norm the steps minimise.
    overshoot : float
        eta: the iterate is x0 + (1 + eta) * (sum of steps).
    max_iter : int
        Steps per sample at most.
    candidates : int, optional
        Only the top-``candidates`` classes at x0 (the prediction included) are
        considered; all classes when None.
    clip : (low, high), optional
        Keep every iterate in this box (e.g. (0, 1) for images).
    refine : bool
        SuperDeepFool: after crossing, project onto the linearised boundary and
        search back to the boundary (``norm="l2"`` only); ``refine_rounds`` projections.
    step_margin : float
        Added to every step's distance (Foolbox's 1e-4); 0 gives the textbook step.
    keep_path : bool
        Record every iterate in ``path``.

    The original label is the prediction at x0, not the true label (as in the paper).
    """
    norm = _check_norm(norm)
    clip = _check_clip(clip)
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}.")
    if overshoot < 0:
        raise ValueError(f"overshoot must be non-negative, got {overshoot}.")
    if refine and norm != "l2":
        raise ValueError("refine (SuperDeepFool) is defined for norm='l2' only.")
    x0 = _as_batch(model, x)
    if clip is not None and (x0.min() < clip[0] or x0.max() > clip[1]):
        raise ValueError(f"The inputs lie outside the clip box {clip}.")
    with single_threaded():
        with torch.no_grad():
            logits0 = model(x0)
        k0 = logits0.argmax(dim=1)
        classes = _candidates(logits0, candidates)
        x_adv, steps, path = _deepfool_run(model, x0, k0, classes, norm, overshoot, max_iter, clip,
                                           step_margin, keep_path)
        if refine:
            x_adv = _refine(model, x0, x_adv, k0, classes, overshoot, max_iter, clip, step_margin,
                            refine_rounds, search_steps=10)
        with torch.no_grad():
            k_adv = model(x_adv).argmax(dim=1)
    if keep_path:
        path_arr = torch.stack(path, dim=1).numpy()
    else:
        path_arr = np.stack([x0.numpy(), x_adv.numpy()], axis=1)
    return DeepFoolResult(
        x=x0.numpy(), r=(x_adv - x0).numpy(), x_adv=x_adv.numpy(), iterations=steps.numpy(),
        success=(k_adv != k0).numpy(), original=k0.numpy(), adversarial=k_adv.numpy(),
        path=path_arr, norm=norm,
    )


# -- fixed-budget attacks and the smallest budget that flips -------------------------------------

def _loss_gradient(model, x, labels):
    x = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), labels, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def _ascent_direction(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The unit-norm direction of steepest ascent: sign(g) (Linf) or g/||g||_2 (L2)."""
    if norm == "linf":
        return g.sign()
    return g / _rows(g.flatten(1).norm(dim=1).clamp_min(1e-12), g)


def _project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    eps = _rows(eps, delta)
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, eps), -eps)
    n = _rows(delta.flatten(1).norm(dim=1).clamp_min(1e-12), delta)
    return delta * torch.clamp(eps / n, max=1.0)


def _labels(model, x0, labels):
    if labels is None:
        with torch.no_grad():
            return model(x0).argmax(dim=1)
    return torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(len(x0))


def _eps_vector(eps, n, dtype) -> torch.Tensor:
    eps = torch.as_tensor(eps, dtype=dtype).reshape(-1)
    if eps.numel() == 1:
        eps = eps.expand(n)
    if eps.numel() != n or (eps < 0).any():
        raise ValueError("eps must be a non-negative number or one per sample.")
    return eps


def fgsm(model: nn.Module, x, eps, norm: str = "linf", labels=None, clip=None) -> np.ndarray:
    """Fast gradient (sign) method (Goodfellow et al. 2015): one step of size eps.

    x_adv = clip(x + eps * sign(grad_x CE(f(x), y))) for Linf, or along the
    normalised gradient for L2. ``labels`` default to the predictions; ``eps`` is
    a number or one per sample. Returns x_adv as an array.
    """
    norm, clip = _check_norm(norm), _check_clip(clip)
    x0 = _as_batch(model, x)
    with single_threaded():
        y = _labels(model, x0, labels)
        eps = _eps_vector(eps, len(x0), x0.dtype)
        g = _loss_gradient(model, x0, y)
        return _clip(x0 + _rows(eps, x0) * _ascent_direction(g, norm), clip).detach().numpy()


def pgd(model: nn.Module, x, eps, norm: str = "linf", steps: int = 40, step_size: float | None = None,
        labels=None, clip=None) -> np.ndarray:
    """Projected gradient ascent on the cross-entropy in the eps-ball (Madry et al. 2018).

    Starts at x (no random start, so results are reproducible); the step is
    ``step_size * eps`` with step_size = 2.5 / steps by default. Returns x_adv.
    """
    norm, clip = _check_norm(norm), _check_clip(clip)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    x0 = _as_batch(model, x)
    step_size = 2.5 / steps if step_size is None else float(step_size)
    with single_threaded():
        y = _labels(model, x0, labels)
        eps = _eps_vector(eps, len(x0), x0.dtype)
        delta = torch.zeros_like(x0)
        for _ in range(steps):
            g = _loss_gradient(model, _clip(x0 + delta, clip), y)
            delta = _project(delta + _rows(step_size * eps, x0) * _ascent_direction(g, norm), eps, norm)
            delta = _clip(x0 + delta, clip) - x0
        return (x0 + delta).detach().numpy()


@dataclass
class MinimalEpsilon:
    """The smallest budget eps (up to ``tol``) for which an attack flips each sample's label."""

    x: np.ndarray
    eps: np.ndarray
    x_adv: np.ndarray
    success: np.ndarray
    original: np.ndarray
    adversarial: np.ndarray
    method: str
    norm: str

    @property
    def r(self) -> np.ndarray:
        return self.x_adv - self.x


def minimal_epsilon(model: nn.Module, x, method: str = "fgsm", norm: str = "linf", clip=None,
                    eps_max: float | None = None, tol: float = 1e-3, **attack_kwargs) -> MinimalEpsilon:
    """Bisection on eps for the smallest budget with which ``fgsm`` or ``pgd`` flips the label.

    Batched over the samples: every sample keeps its own bracket [lo, hi] with the
    attack failing at lo and succeeding at hi, halved until hi - lo <= tol * eps_max.
    ``eps_max`` defaults to the diameter of the clip box in the norm (or 10).
    Samples that still survive at eps_max report ``success`` False and eps = inf.
    """
    attacks = {"fgsm": fgsm, "pgd": pgd}
    if method not in attacks:
        raise ValueError(f"method must be one of {tuple(attacks)}, got {method!r}.")
    norm, clip = _check_norm(norm), _check_clip(clip)
    attack = attacks[method]
    x0 = _as_batch(model, x)
    n = len(x0)
    if eps_max is None:
        if clip is None:
            eps_max = 10.0
        else:
            width = clip[1] - clip[0]
            eps_max = width if norm == "linf" else width * float(np.sqrt(x0[0].numel()))
    k0 = torch.as_tensor(predict(model, x0))

    def flips(eps):
        adv = torch.as_tensor(attack(model, x0, eps, norm=norm, labels=k0, clip=clip, **attack_kwargs))
        with torch.no_grad():
            return adv, model(adv).argmax(dim=1)

    hi = torch.full((n,), float(eps_max), dtype=x0.dtype)
    lo = torch.zeros(n, dtype=x0.dtype)
    x_hi, k_hi = flips(hi)
    success = k_hi != k0
    while bool(((hi - lo) > tol * eps_max).any()):
        mid = (lo + hi) / 2
        adv, k = flips(mid)
        ok = k != k0
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid)
        x_hi = torch.where(_rows(ok, x0), adv, x_hi)
        k_hi = torch.where(ok, k, k_hi)
    eps = torch.where(success, hi, torch.full_like(hi, float("inf")))
    return MinimalEpsilon(x=x0.numpy(), eps=eps.numpy(), x_adv=x_hi.numpy(), success=success.numpy(),
                          original=k0.numpy(), adversarial=k_hi.numpy(), method=method, norm=norm)


# -- robustness of a model over a data set ----------------------------------------------------

@dataclass
class RobustnessResult:
    """DeepFool over a data set: per-sample norms and the summary of the DeepFool paper.

    ``rho_adv`` = mean over successful samples of ||r||_2 / ||x||_2 (Eq. 15 of the paper).
    ``hist_counts``/``hist_edges`` bin ||r|| (in the attack's norm) of the successful samples.
    """

    norms_l2: np.ndarray
    norms_linf: np.ndarray
    success: np.ndarray
    correct: np.ndarray
    iterations: np.ndarray
    success_rate: float
    rho_adv: float
    median_l2: float
    accuracy: float
    hist_counts: np.ndarray
    hist_edges: np.ndarray
    norm: str


def robustness(model: nn.Module, X, y=None, norm: str = "l2", batch_size: int = 128, bins: int = 30,
               progress: Callable[[int, int], None] | None = None, **deepfool_kwargs) -> RobustnessResult:
    """Run :func:`deepfool` over a data set in batches and summarise it.

    ``y`` (true labels) is only used for the accuracy and the ``correct`` mask; the
    attack itself moves every sample away from its prediction. ``progress(done, total)``
    is called after each batch.
    """
    x_all = _as_batch(model, X)
    n = len(x_all)
    l2, linf, success, iters, preds = [], [], [], [], []
    if progress:
        progress(0, n)
    for start in range(0, n, batch_size):
        res = deepfool(model, x_all[start:start + batch_size], norm=norm, keep_path=False, **deepfool_kwargs)
        l2.append(res.l2)
        linf.append(res.linf)
        success.append(res.success)
        iters.append(res.iterations)
        preds.append(res.original)
        if progress:
            progress(min(start + batch_size, n), n)
    l2, linf, success = np.concatenate(l2), np.concatenate(linf), np.concatenate(success)
    preds = np.concatenate(preds)
    correct = np.ones(n, bool) if y is None else preds == np.asarray(y).reshape(n)
    x_norm = np.linalg.norm(x_all.reshape(n, -1).numpy(), axis=1)
    ratio = l2[success] / np.maximum(x_norm[success], 1e-12)
    shown = (l2 if norm == "l2" else linf)[success]
    counts, edges = np.histogram(shown, bins=bins) if len(shown) else (np.zeros(bins, int), np.linspace(0, 1, bins + 1))
    return RobustnessResult(
        norms_l2=l2, norms_linf=linf, success=success, correct=correct, iterations=np.concatenate(iters),
        success_rate=float(success.mean()), rho_adv=float(ratio.mean()) if len(ratio) else float("nan"),
        median_l2=float(np.median(l2[success])) if success.any() else float("nan"),
        accuracy=float(correct.mean()), hist_counts=counts, hist_edges=edges, norm=norm,
    )


def adversarial_plane(model: nn.Module, x, r, extent: float | None = None, seed: int = 0,
                      max_regions: int = 200_000) -> regions.Partition:
    """Exact linear regions and decision boundary on the plane through x spanned by r and a random direction.

    The first plane axis is r / ||r|| and the second a random direction (seeded) made
    orthogonal to it, so x sits at (0, 0) and x + r at (||r||, 0); plane distances are
    input distances. ``extent`` (half-side of the square) defaults to 1.5 ||r||. The
    plane is not clipped to the data's valid range.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    r = np.asarray(r, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(r))
    if norm == 0:
        raise ValueError("The perturbation r is zero: it spans no direction.")
    other = np.random.default_rng(seed).normal(size=r.size)
    plane = regions.plane_from_directions(x, r, other, extent=1.5 * norm if extent is None else extent)
    return regions.partition_plane(model, *plane, max_regions=max_regions)
