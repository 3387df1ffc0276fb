"""The field's attack libraries behind one door, beside our DeepFool.

:func:`run_attack` runs one attack on a batch and returns an :class:`AttackResult` (the
perturbed inputs, the perturbations and their norms, the success mask re-checked by a
forward pass, the labels before and after); :func:`compare_attacks` runs several on the
same batch and tabulates them, DeepFool first. Two kinds of attack (:data:`METHODS`):

- *minimal*: the smallest perturbation that changes the label (DeepFool; FMN, C&W, DDN
  and EAD through Foolbox). With ``epsilon`` a success counts only within it;
- *fixed budget*: the best perturbation of norm at most ``epsilon`` (APGD, white-box, and
  Square, black-box: it only queries the model's outputs; both through the Adversarial
  Robustness Toolbox, ART).

Foolbox (3.3.4) and ART (1.20.1) are both small, pure-Python installs that import without
torchvision (README, "Attack libraries"); each is imported when an attack first needs it,
and :class:`MissingLibrary` names the ``pip install`` that adds it. Brendel-Bethge is left
out: Foolbox's needs numba. The libraries work in float32 on a copy of the inputs; the
perturbation they return is added to the inputs in the model's dtype, and the labels are
read from the model itself.

References
----------
.. [1] M. Pintor, F. Roli, W. Brendel, B. Biggio, "Fast Minimum-norm Adversarial Attacks
   through Adaptive Norm Constraints", NeurIPS 2021 (FMN).
.. [2] N. Carlini, D. Wagner, "Towards Evaluating the Robustness of Neural Networks",
   IEEE S&P 2017 (C&W).
.. [3] J. Rony et al., "Decoupling Direction and Norm for Efficient Gradient-Based L2
   Adversarial Attacks and Defenses", CVPR 2019 (DDN).
.. [4] P.-Y. Chen et al., "EAD: Elastic-Net Attacks to Deep Neural Networks via
   Adversarial Examples", AAAI 2018 (EAD).
.. [5] F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble
   of diverse parameter-free attacks", ICML 2020 (APGD).
.. [6] M. Andriushchenko, F. Croce, N. Flammarion, M. Hein, "Square Attack: a
   query-efficient black-box adversarial attack via random search", ECCV 2020.
.. [7] J. Rauber, R. Zimmermann, M. Bethge, W. Brendel, "Foolbox Native", JOSS 2020;
   M.-I. Nicolae et al., "Adversarial Robustness Toolbox v1.0.0", arXiv 1807.01069.

Examples
--------
>>> import torch
>>> from torch import nn
>>> _ = torch.manual_seed(0)
>>> model = nn.Linear(3, 2).double()
>>> res = run_attack(model, torch.rand(4, 3, dtype=torch.float64), method="deepfool")
>>> bool(res.success.all()), res.norms.shape
(True, (4,))
>>> [name for name, m in METHODS.items() if "l1" in m.norms]
['fmn', 'ead', 'apgd']
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded
from .deepfool import deepfool
from .inputs import as_batch, check_clip

if TYPE_CHECKING:
    import pandas as pd

LIBRARY_NORMS = ("l2", "linf", "l1", "l0")
EPSILON_RTOL = 1e-5  # a perturbation within epsilon up to the libraries' float32 rounding counts as within
BOX_MARGIN = 1.0  # without a clip box the libraries get the inputs' range widened by its width on each side


@dataclass(frozen=True)
class Method:
    """One attack of the catalogue: its name in papers, where it comes from and what it does."""

    title: str
    library: str  # "explorer", "foolbox" or "art"
    norms: tuple
    minimal: bool  # True: finds the smallest flipping perturbation; False: the best one within epsilon
    black_box: bool  # True: queries the model's outputs only, no gradient
    reference: str


METHODS = {
    "deepfool": Method("DeepFool", "explorer", ("l2", "linf"), True, False, "Moosavi-Dezfooli et al., CVPR 2016"),
    "fmn": Method("FMN", "foolbox", ("l2", "linf", "l1", "l0"), True, False, "Pintor et al., NeurIPS 2021"),
    "cw": Method("C&W", "foolbox", ("l2",), True, False, "Carlini & Wagner, IEEE S&P 2017"),
    "ddn": Method("DDN", "foolbox", ("l2",), True, False, "Rony et al., CVPR 2019"),
    "ead": Method("EAD", "foolbox", ("l1",), True, False, "Chen et al., AAAI 2018"),
    "apgd": Method("APGD", "art", ("l2", "linf", "l1"), False, False, "Croce & Hein, ICML 2020"),
    "square": Method("Square", "art", ("l2", "linf"), False, True, "Andriushchenko et al., ECCV 2020"),
}
# library -> (module imported, what pip installs)
LIBRARIES = {"foolbox": ("foolbox", "foolbox==3.3.4"), "art": ("art", "adversarial-robustness-toolbox==1.20.1")}
DEFAULT_OPTIONS = {  # steps chosen for a CPU; any of them may be overridden through run_attack's **options
    "fmn": {"steps": 100},
    "cw": {"steps": 1000},  # Foolbox's 10000 (with early abort); its stepsize is 0.01 per unit of the box's width
    "ddn": {"steps": 100},
    "ead": {"steps": 1000, "decision_rule": "L1"},  # the smallest L1 found, not the elastic-net objective
    "apgd": {"max_iter": 100, "nb_random_init": 1},  # AutoAttack's standard APGD-CE: 100 steps, one start
    "square": {"max_iter": 1000, "nb_restarts": 1},
}


class MissingLibrary(ImportError):
    """The library an attack runs through is not installed; the message says what to install."""


@dataclass
class AttackResult:
    """What :func:`run_attack` found for a batch of N inputs (arrays shaped like the input batch).

    ``x_adv = x + r``; ``success`` (re-checked by a forward pass of the model at ``x_adv``)
    means the label there differs from ``original`` and, when ``epsilon`` is set,
    ``norms <= epsilon`` (up to :data:`EPSILON_RTOL`). ``original`` are the labels attacked
    (the given ``y``, else the predictions), ``adversarial`` the predictions at ``x_adv``,
    ``norms`` the norms of ``r`` in ``norm`` (float64), ``seconds`` the attack's wall time.
    """

    x: np.ndarray
    r: np.ndarray
    x_adv: np.ndarray
    success: np.ndarray
    original: np.ndarray
    adversarial: np.ndarray
    norms: np.ndarray
    method: str
    norm: str
    epsilon: float | None
    seconds: float

    @property
    def title(self) -> str:
        """The method's name in papers, e.g. ``FMN``."""
        return METHODS[self.method].title

    @property
    def l2(self) -> np.ndarray:
        """||r||_2 per sample."""
        return perturbation_norms(self.r, "l2")

    @property
    def linf(self) -> np.ndarray:
        """||r||_inf per sample."""
        return perturbation_norms(self.r, "linf")

    @property
    def path(self) -> np.ndarray:
        """(N, 2, *input): x and x_adv, as :class:`~explorer.attacks.deepfool.DeepFoolResult`'s iterates."""
        return np.stack([self.x, self.x_adv], axis=1)


def perturbation_norms(r, norm: str) -> np.ndarray:
    """||r||_p per sample of a batch (N, *input), in float64; L0 counts the entries that are not 0.

    Parameters
    ----------
    r : array (N, *input)
        Perturbations.
    norm : "l2", "linf", "l1" or "l0"
        Which norm.

    Returns
    -------
    numpy.ndarray (N,), float64

    Examples
    --------
    >>> perturbation_norms(np.array([[3.0, -4.0, 0.0]]), "l2"), perturbation_norms(np.array([[3.0, -4.0, 0.0]]), "l0")
    (array([5.]), array([2.]))
    """
    flat = np.asarray(r, dtype=np.float64).reshape(len(r), -1)
    if norm == "l0":
        return (flat != 0).sum(axis=1).astype(np.float64)
    order = {"l2": 2, "linf": np.inf, "l1": 1}[_check_norm(norm)]
    return np.linalg.norm(flat, ord=order, axis=1) if flat.shape[1] else np.zeros(len(flat))


def _check_norm(norm: str) -> str:
    if norm not in LIBRARY_NORMS:
        raise ValueError(f"norm must be one of {LIBRARY_NORMS}, got {norm!r}.")
    return norm


def _method(method: str) -> Method:
    if method not in METHODS:
        raise ValueError(f"Unknown attack {method!r}; the attacks are: {', '.join(METHODS)}.")
    return METHODS[method]


def is_available(method: str) -> bool:
    """Whether the library ``method`` runs through is installed (DeepFool always is).

    Parameters
    ----------
    method : str
        A key of :data:`METHODS`.

    Returns
    -------
    bool
    """
    library = _method(method).library
    return library == "explorer" or importlib.util.find_spec(LIBRARIES[library][0]) is not None


def _library(method: str):
    """Import the library of ``method``, or say which ``pip install`` adds it."""
    module, requirement = LIBRARIES[METHODS[method].library]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingLibrary(
            f"{METHODS[method].title} runs through {module}, which is not installed here: "
            f"pip install {requirement} (or the project's extra: pip install 'network-explorer[attacks]').") from exc


class _Adapter(nn.Module):
    """The model as a library calls it: inputs of any layout and dtype in, logits in the inputs' dtype out."""

    def __init__(self, model: nn.Module, input_shape: tuple, dtype: torch.dtype):
        super().__init__()
        self.model, self.input_shape, self.dtype = model, tuple(input_shape), dtype

    def forward(self, x):
        return self.model(x.reshape(len(x), *self.input_shape).to(self.dtype)).to(x.dtype)


@functools.cache
def _fixed_l2_fmn():
    """Foolbox 3.3.4's L2 FMN with the projection onto the epsilon ball that its paper uses: its own
    ``project`` scales by ``norms / norms`` (always 1), so it never projects and every run ends at the
    first step's length (measured: ||r||_2 = 1.0 on every sample of a linear classifier)."""
    fb = _library("fmn")
    from foolbox.attacks.gradient_descent_base import clip_lp_norms

    class L2FMN(fb.attacks.L2FMNAttack):
        def project(self, x, x0, epsilon):
            return x0 + clip_lp_norms(x - x0, norm=epsilon, p=2)

    return L2FMN


def _foolbox_attack(method: str, norm: str, options: dict):
    fb = _library(method)
    a = fb.attacks
    if method == "fmn":
        by_norm = {"l2": _fixed_l2_fmn(), "linf": a.LInfFMNAttack, "l1": a.L1FMNAttack, "l0": a.L0FMNAttack}
        return by_norm[norm](**options)
    return {"cw": a.L2CarliniWagnerAttack, "ddn": a.DDNAttack, "ead": a.EADAttack}[method](**options)


def _run_foolbox(model, x, labels, method, norm, epsilon, bounds, options, image_shape):
    fb = _library(method)
    if method == "cw":  # C&W steps in tanh space, where a step moves x by about stepsize * (box width) / 2
        options = {"stepsize": 0.01 / (bounds[1] - bounds[0])} | options
    fmodel = fb.PyTorchModel(_Adapter(model, x.shape[1:], x.dtype).eval(), bounds=bounds, device="cpu")
    raw, _, _ = _foolbox_attack(method, norm, options)(fmodel, x, fb.criteria.Misclassification(labels),
                                                       epsilons=None)
    return raw - x


def _picture_shape(x: torch.Tensor, image_shape, norm: str, p_init: float) -> tuple:
    """(C, H, W) of the inputs, for Square's square windows; its first window must fit inside the picture."""
    shape = tuple(image_shape) if image_shape is not None else tuple(x.shape[1:])
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or int(np.prod(shape)) != x[0].numel():
        raise ValueError(f"Square searches square windows of a picture: give image_shape=(H, W) or (C, H, W) with "
                         f"C*H*W = {x[0].numel()} (the input size), got {image_shape!r} for inputs of shape "
                         f"{tuple(x.shape[1:])}.")
    side = max(round(float(np.sqrt(p_init * shape[1] * shape[2]))), 1)  # ART's first window
    if norm == "l2":
        side = max(side, 3) | 1  # odd, at least 3
    if side >= min(shape[1:]):
        raise ValueError(f"Square's first window ({side} pixels, from p_init={p_init:g}) does not fit in pictures of "
                         f"{shape[1]}x{shape[2]} pixels: lower p_init (an option) or attack larger pictures.")
    return shape


def _run_art(model, x, labels, method, norm, epsilon, bounds, options, image_shape):
    _library(method)
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import PyTorchClassifier

    shape = _picture_shape(x, image_shape, norm, options.get("p_init", 0.8)) if method == "square" else x.shape[1:]
    adapter = _Adapter(model, x.shape[1:], x.dtype).eval()
    with torch.no_grad():
        classes = adapter(x[:1].float()).shape[1]
    classifier = PyTorchClassifier(adapter, loss=nn.CrossEntropyLoss(), input_shape=shape, nb_classes=classes,
                                   clip_values=bounds, channels_first=True, device_type="cpu")
    order = {"l2": 2, "linf": np.inf, "l1": 1}[norm]
    if method == "apgd":
        attack = AutoProjectedGradientDescent(classifier, norm=order, eps=epsilon,
                                              **{"eps_step": 2 * epsilon, "verbose": False} | options)
    else:
        attack = SquareAttack(classifier, norm=order, eps=epsilon, **{"verbose": False} | options)
    x32 = x.float().reshape(len(x), *shape).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # Square's L2 windows divide 0 by 0 (ART's own warnings)
        adv = attack.generate(x32, y=labels.numpy())
    return torch.as_tensor(adv - x32).reshape(x.shape)


RUNNERS = {"foolbox": _run_foolbox, "art": _run_art}


@contextlib.contextmanager
def _seeded(seed: int):
    """torch's and numpy's global generators seeded inside (ART draws from numpy's), restored after."""
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(state)


def library_box(x, clip=None) -> tuple[float, float]:
    """The box the libraries keep their iterates in: ``clip``, else the range of the inputs ``x``
    widened on each side by :data:`BOX_MARGIN` times its width (at least 1).

    Parameters
    ----------
    x : tensor (N, *input)
        The inputs attacked.
    clip : (low, high), optional
        The valid range, which the inputs must lie in.

    Returns
    -------
    (low, high)

    Raises
    ------
    ValueError
        Inputs outside ``clip``.

    Examples
    --------
    >>> library_box(torch.tensor([[0.0, 0.5]])), library_box(torch.tensor([[0.0, 0.5]]), clip=(0.0, 1.0))
    ((-1.0, 1.5), (0.0, 1.0))
    """
    if clip is not None:
        if x.min() < clip[0] or x.max() > clip[1]:
            raise ValueError(f"The inputs lie outside the clip box {clip}.")
        return clip
    lo, hi = float(x.min()), float(x.max())
    width = BOX_MARGIN * max(hi - lo, 1.0)
    return lo - width, hi + width


def run_attack(model: nn.Module, X, y=None, method: str = "fmn", norm: str = "l2", epsilon: float | None = None,
               clip: tuple[float, float] | None = None, seed: int = 0, image_shape: tuple | None = None,
               **options) -> AttackResult:
    """One attack of :data:`METHODS` on a batch, through its library.

    Parameters
    ----------
    model : nn.Module
        A classifier in eval mode returning logits (N, K).
    X : array or tensor (N, *input)
        The inputs (a single input when ``model.input_shape`` says so); cast to the model's dtype.
    y : array (N,) of int, optional
        The labels to move away from; the model's predictions when None. A sample whose
        prediction already differs from its label is left where it is (a success with r = 0).
    method : str
        A key of :data:`METHODS`: ``deepfool``, ``fmn``, ``cw``, ``ddn``, ``ead``, ``apgd``, ``square``.
    norm : "l2", "linf", "l1" or "l0"
        The norm the attack minimises or bounds (one of the method's ``norms``).
    epsilon : float, optional
        The budget: required by the fixed-budget attacks (APGD, Square); for a minimal attack, a
        success then also needs ||r|| <= epsilon.
    clip : (low, high), optional
        Keep x + r in this box (e.g. the pixel range); without it the libraries get the inputs'
        range widened by :data:`BOX_MARGIN` times its width on each side (they need a finite box).
    seed : int
        Seeds torch's and numpy's generators during the attack (random starts, Square's search),
        which are restored afterwards: the same call gives the same result.
    image_shape : tuple, optional
        (H, W) or (C, H, W): the layout of a flat input, for Square (default: the input's own shape).
    **options
        Passed to the library's attack (or to :func:`~explorer.attacks.deepfool.deepfool`) over
        :data:`DEFAULT_OPTIONS`, e.g. ``steps=200`` for FMN.

    Returns
    -------
    AttackResult
        Perturbed inputs, perturbations and their norms, the success mask and the labels.

    Raises
    ------
    ValueError
        An unknown method (the message lists them), a norm the method does not minimise, a
        missing or negative epsilon, inputs outside ``clip``, labels of the wrong length.
    MissingLibrary
        The method's library is not installed (the message says what to install).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 2).double()
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    ...     _ = model.bias.zero_()
    >>> res = run_attack(model, [[0.3, 0.1]], method="deepfool", overshoot=0.0, step_margin=1e-9)
    >>> round(float(res.norms[0]), 6)  # |w.x + b| / ||w||_2 = 1.3 / 5
    0.26
    >>> run_attack(model, [[0.3, 0.1]], method="pgd")
    Traceback (most recent call last):
    ...
    ValueError: Unknown attack 'pgd'; the attacks are: deepfool, fmn, cw, ddn, ead, apgd, square.
    """
    spec = _method(method)
    if _check_norm(norm) not in spec.norms:
        raise ValueError(f"{spec.title} works in the norms {spec.norms}, not {norm!r}.")
    if epsilon is not None:
        epsilon = float(epsilon)
        if not epsilon >= 0 or not np.isfinite(epsilon):
            raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}.")
    elif not spec.minimal:
        raise ValueError(f"{spec.title} is a fixed-budget attack: give epsilon, the largest ||r|| it may use.")
    if spec.library != "explorer":
        _library(method)
    x0 = as_batch(model, X)
    clip = check_clip(clip)
    bounds = library_box(x0, clip)
    with torch.no_grad():
        predicted = model(x0).argmax(dim=1)
    labels = predicted if y is None else torch.as_tensor(np.asarray(y), dtype=torch.long).reshape(-1)
    if len(labels) != len(x0):
        raise ValueError(f"y has {len(labels)} labels for {len(x0)} inputs.")
    attacked = predicted == labels  # the others are already misclassified: r = 0
    r = torch.zeros_like(x0)
    start = time.perf_counter()
    with single_threaded(), _seeded(seed):
        if attacked.any() and (spec.minimal or epsilon > 0):
            xs, ls = x0[attacked], labels[attacked]
            if spec.library == "explorer":
                found = torch.as_tensor(deepfool(model, xs, norm=norm, clip=clip, keep_path=False, **options).r)
            else:
                found = RUNNERS[spec.library](model, xs, ls, method, norm, epsilon, bounds,
                                              DEFAULT_OPTIONS[method] | options, image_shape)
            r[attacked] = found.to(x0.dtype)
    seconds = time.perf_counter() - start
    x_adv = x0 + r
    with torch.no_grad():
        adversarial = model(x_adv).argmax(dim=1)
    r_np = r.numpy()
    norms = perturbation_norms(r_np, norm)
    success = (adversarial != labels).numpy()
    if epsilon is not None:
        success &= norms <= epsilon * (1 + EPSILON_RTOL)
    return AttackResult(x=x0.numpy(), r=r_np, x_adv=x_adv.numpy(), success=success, original=labels.numpy(),
                        adversarial=adversarial.numpy(), norms=norms, method=method, norm=norm, epsilon=epsilon,
                        seconds=seconds)


COMPARISON_COLUMNS = ["method", "library", "norm", "kind", "success", "success at eps", "median ||r||",
                      "mean ||r||", "seconds"]


def _compared(methods, norm: str) -> list[tuple[str, str]]:
    """(method, the norm it runs in) per row: DeepFool first (in L2 when the table's norm is not its)."""
    if methods is None:
        methods = [name for name, m in METHODS.items() if norm in m.norms]
    for name in methods:
        if norm not in _method(name).norms:
            raise ValueError(f"{METHODS[name].title} works in the norms {METHODS[name].norms}, not {norm!r}.")
    first = ("deepfool", norm if norm in METHODS["deepfool"].norms else "l2")
    return [first] + [(name, norm) for name in dict.fromkeys(methods) if name != "deepfool"]


def compare_attacks(model: nn.Module, X, y=None, methods=None, norm: str = "l2", epsilon: float | None = None,
                    clip: tuple[float, float] | None = None, seed: int = 0, image_shape: tuple | None = None,
                    progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Several attacks on the same inputs, one row each, DeepFool first.

    Parameters
    ----------
    model, X, y, clip, seed, image_shape
        As for :func:`run_attack`.
    methods : list of str, optional
        Keys of :data:`METHODS` (each must work in ``norm``); every method that does when None.
    norm : "l2", "linf", "l1" or "l0"
        The table's norm: every attack runs in it (DeepFool in L2 when it is L1 or L0) and
        every ||r|| is measured in it.
    epsilon : float, optional
        The fixed-budget attacks' budget (required when one is compared); the minimal attacks
        run unbounded and "success at eps" counts their perturbations within it.
    progress : callable, optional
        ``progress(done, total)`` after each attack.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPARISON_COLUMNS`: the method's name, library, the table's norm, its
        kind ("minimal" or "budget"), the fraction of samples flipped (at epsilon for a budget
        attack), the fraction flipped within epsilon (NaN without epsilon), the median and mean
        ||r|| of the flipped samples (NaN when none) and the attack's seconds.

    Raises
    ------
    ValueError, MissingLibrary
        As :func:`run_attack`.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> table = compare_attacks(nn.Linear(3, 2), torch.rand(5, 3), methods=[], norm="linf")
    >>> table[["method", "norm", "kind", "success"]].values.tolist()
    [['DeepFool', 'linf', 'minimal', 1.0]]
    """
    import pandas as pd  # here, not at the top: explorer's import (and every job process) skips pandas
    entries = _compared(methods, _check_norm(norm))
    rows = []
    for done, (method, attack_norm) in enumerate(entries, start=1):
        spec = METHODS[method]
        res = run_attack(model, X, y, method=method, norm=attack_norm, epsilon=None if spec.minimal else epsilon,
                         clip=clip, seed=seed, image_shape=image_shape)
        norms, flipped = perturbation_norms(res.r, norm), res.success
        within = np.nan if epsilon is None else float((flipped & (norms <= epsilon * (1 + EPSILON_RTOL))).mean())
        rows.append((spec.title + ("" if attack_norm == norm else f" ({attack_norm})"), spec.library, norm,
                     "minimal" if spec.minimal else "budget", float(flipped.mean()), within,
                     float(np.median(norms[flipped])) if flipped.any() else np.nan,
                     float(norms[flipped].mean()) if flipped.any() else np.nan, res.seconds))
        if progress:
            progress(done, len(entries))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
