"""DeepFool (L2, L-infinity) and its SuperDeepFool refinement, batched.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded
from .inputs import as_batch, check_clip, check_norm, clip_to, flat_norm, per_sample


@dataclass
class DeepFoolResult:
    """What :func:`deepfool` found for a batch of N inputs (arrays shaped like the input batch).

    Attributes
    ----------
    x : numpy.ndarray of shape (N, *input)
        The inputs x0, in the model's dtype.
    r : numpy.ndarray of shape (N, *input)
        The perturbations ``x_adv - x``.
    x_adv : numpy.ndarray of shape (N, *input)
        The last iterates (the adversarial points where ``success``).
    iterations : numpy.ndarray of shape (N,), int64
        The DeepFool steps each sample took.
    success : numpy.ndarray of shape (N,), bool
        Whether the label at ``x_adv`` differs from ``original``, re-checked by a forward pass.
    original : numpy.ndarray of shape (N,), int64
        The prediction at x0 (not the true label).
    adversarial : numpy.ndarray of shape (N,), int64
        The prediction at ``x_adv``.
    path : numpy.ndarray of shape (N, T + 1, *input)
        The iterates x0, x1, ... with T = ``iterations.max()``; a sample that finished earlier
        repeats its last iterate. Without ``keep_path``, only x0 and ``x_adv`` (T = 1).
    norm : str
        ``"l2"`` or ``"linf"``, the norm the steps minimised.
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
        return per_sample(d / dual[rows, best], w) * w
    return per_sample(d, w) * w.sign()


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
        x[active] = clip_to(x_start[active] + (1.0 + overshoot) * p_total[active], clip)
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
        proj = clip_to(x0 + (scale[:, None] * w).reshape(x0.shape), clip)
        proj = torch.where(per_sample(crossed, x0), proj, cur)
        cur, _, _ = _deepfool_run(model, proj, k0, classes, "l2", overshoot, max_iter, clip, step_margin, False)
        with torch.no_grad():
            ok = model(cur).argmax(dim=1) != k0
        better = ok & (flat_norm(cur - x0, "l2") < flat_norm(best - x0, "l2"))
        if not better.any():
            break
        best = torch.where(per_sample(better, x0), cur, best)
    lo = torch.zeros(len(x0), dtype=x0.dtype)
    hi = torch.ones(len(x0), dtype=x0.dtype)
    with torch.no_grad():
        for _ in range(search_steps):
            mid = (lo + hi) / 2
            adv = model(x0 + per_sample(mid, x0) * (best - x0)).argmax(dim=1) != k0
            hi = torch.where(adv, mid, hi)
            lo = torch.where(adv, lo, mid)
    return x0 + per_sample(hi, x0) * (best - x0)


def deepfool(model: nn.Module, x, norm: str = "l2", overshoot: float = 0.02, max_iter: int = 50,
             candidates: int | None = None, clip: tuple[float, float] | None = None,
             refine: bool = False, step_margin: float = 1e-4, refine_rounds: int = 3,
             keep_path: bool = True) -> DeepFoolResult:
    """DeepFool on a batch of inputs (Moosavi-Dezfooli et al. 2016, Algorithm 2).

    The original label is the prediction at x0, not the true label (as in the paper).
    Conventions follow Foolbox's ``L2DeepFoolAttack`` / ``LinfDeepFoolAttack`` (overshoot,
    ``step_margin``, top-k candidates).

    Parameters
    ----------
    model : torch.nn.Module
        A classifier in eval mode returning logits (N, K), K >= 2. Inputs are cast to its dtype.
    x : array_like or torch.Tensor of shape (N, *input)
        A batch, or a single input (when ``model.input_shape`` says so).
    norm : {"l2", "linf"}, default "l2"
        Which norm the steps minimise.
    overshoot : float, default 0.02
        eta >= 0: the iterate is x0 + (1 + eta) * (sum of steps).
    max_iter : int, default 50
        Steps per sample at most (>= 1).
    candidates : int, optional
        Only the top-``candidates`` classes at x0 (the prediction included) are
        considered, from 2 to K; all classes when None.
    clip : tuple of (float, float), optional
        Keep every iterate in this box (e.g. (0, 1) for images); the inputs must lie in it.
    refine : bool, default False
        SuperDeepFool: after crossing, project onto the linearised boundary and
        search back to the boundary (``norm="l2"`` only); ``refine_rounds`` projections.
    step_margin : float, default 1e-4
        Added to every step's distance (Foolbox's 1e-4); 0 gives the textbook step.
    refine_rounds : int, default 3
        The projections of ``refine`` at most (fewer when a round improves no sample).
    keep_path : bool, default True
        Record every iterate in ``path``.

    Returns
    -------
    DeepFoolResult
        Per sample: the perturbation ``r``, ``x_adv``, ``iterations``, ``success``, the
        ``original`` and ``adversarial`` labels and the ``path``; ``l2`` and ``linf`` give ||r||.

    Raises
    ------
    ValueError
        An unknown ``norm``, a bad ``clip`` box or inputs outside it, ``max_iter < 1``,
        a negative ``overshoot``, ``refine`` with ``norm="linf"``, a model with fewer than 2
        outputs, or ``candidates`` outside 2..K.

    References
    ----------
    S.-M. Moosavi-Dezfooli, A. Fawzi and P. Frossard, "DeepFool: a simple and accurate method to
    fool deep neural networks", CVPR 2016, arXiv:1511.04599.
    A. Abdollahpoorrostam, M. Abroshan and S.-M. Moosavi-Dezfooli, "Revisiting DeepFool:
    generalization and improvement" (SuperDeepFool), arXiv:2303.12481, 2023.
    J. Rauber, R. Zimmermann, M. Bethge and W. Brendel, "Foolbox Native: fast adversarial attacks to
    benchmark the robustness of machine learning models in PyTorch, TensorFlow, and JAX", JOSS 2020.

    Examples
    --------
    For an affine classifier the first step lands on the boundary: ||r||_2 is the distance
    ``|f_1 - f_0| / ||w_1 - w_0||_2``, times 1 + overshoot.

    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(2, 2).double()
    >>> x = torch.tensor([[0.3, -0.1]], dtype=torch.float64)
    >>> res = deepfool(model, x, step_margin=0.0)
    >>> f, w = model(x)[0].detach(), (model.weight[1] - model.weight[0]).detach()
    >>> distance = abs(float(f[1] - f[0])) / float(w.norm())
    >>> bool(np.isclose(res.l2[0], 1.02 * distance)), bool(res.success[0]), res.path.shape
    (True, True, (1, 2, 2))
    """
    norm = check_norm(norm)
    clip = check_clip(clip)
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}.")
    if overshoot < 0:
        raise ValueError(f"overshoot must be non-negative, got {overshoot}.")
    if refine and norm != "l2":
        raise ValueError("refine (SuperDeepFool) is defined for norm='l2' only.")
    x0 = as_batch(model, x)
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
