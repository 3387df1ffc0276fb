"""WeightWatcher's layer-quality report: power-law alpha, norms, Marchenko-Pastur fit, randomization.

WeightWatcher (Martin & Mahoney, "Implicit self-regularization in deep neural networks",
JMLR 2021; "Predicting trends in the quality of state-of-the-art neural networks without
access to training or testing data", Nature Communications 2021) judges a trained layer by
the empirical spectral density (ESD) of its weight matrix ``W``: the eigenvalues
``lambda = sigma^2`` of ``W^T W``. This module recomputes the numbers of its 0.7.7 release
(``WeightWatcher(model).analyze(randomize=True, mp_fit=True)``) with its definitions, on
the same layers, without importing it:

- the layers are the model's ``nn.Linear``, ``nn.Embedding`` and ``nn.Conv2d`` modules in
  ``named_modules()`` order, with their **raw** weights (no BatchNorm folding; WeightWatcher
  reads ``module.weight``); a Conv2d is its ``kh * kw`` slices ``K[:, :, a, b]`` pooled
  (:func:`~explorer.spectra.weightwatcher_pooled`), each multiplied by ``1 / sqrt(2)``
  (``conv2d_norm``);
- a layer of ``M * rf`` eigenvalues (``M`` = the slice's short side, ``rf = kh * kw``, 1 for
  a matrix) is analysed when ``min_evals <= M * rf <= max_evals`` and ``N <= max_N``;
- ``alpha``, ``xmin``, ``D``, ``sigma``: :func:`~explorer.spectra.power_law_fit` of the
  eigenvalues above ``1e-5`` (WeightWatcher's ``EVALS_THRESH``);
- norm metrics over all eigenvalues: ``norm = sum lambda`` (squared Frobenius norm),
  ``log_norm = log10(norm)``, ``spectral_norm = lambda_max``, ``log_spectral_norm``,
  ``alpha_weighted = alpha * log10(lambda_max)``, ``log_alpha_norm = log10(sum lambda^alpha)``,
  ``stable_rank = norm / lambda_max``;
- the Marchenko-Pastur fit (:func:`~explorer.spectra.marchenko_pastur_fit`): ``sigma_mp``, the bulk edges,
  ``num_spikes`` and ``mp_softrank``;
- randomization: every slice's entries permuted (a seeded permutation), the ESD of the
  result, ``rand_distance`` (the Jensen-Shannon distance between the sorted eigenvalues and
  the sorted randomized eigenvalues, each normalised to sum 1, as WeightWatcher computes
  it), ``ww_softrank = max rand / max``, and the MP fit of the randomized ESD, whose
  ``num_traps`` counts the correlation traps (randomized eigenvalues above the bulk);
- ``warning``: ``"over-trained"`` when ``alpha < 2``, ``"under-trained"`` when ``alpha > 6``.

Where we differ from WeightWatcher 0.7.7, on purpose: a failed power-law fit is NaN (it
reports -1, and then warns "over-trained"); a flat spectrum (all eigenvalues equal to 1e-6,
an orthogonal layer) has no fit (it reports an alpha of order 1e14 or inf); float64 weights
stay float64 (it converts them to float32); the standard error of a fit with fewer than 8
eigenvalues is ``(alpha - 1) / sqrt(n)`` (it reports ``-1 / sqrt(n)``); Conv1d layers are
not analysed (it takes the SVD of the ``(c_out, c_in, k)`` tensor as ``c_out`` matrices);
for an even-sized kernel with ``c_out < c_in`` it swaps ``N`` and ``M`` (a toggle in
``conv2D_Wmats``), which changes ``Q`` in its MP fit; we keep ``N >= M``.

The pooled ESD is not the layer's operator spectrum: :func:`operator_contrast` computes
that for the same layers and weights (on request, with ``progress``), next to these numbers;
an orthogonal conv shows the difference (operator: every singular value 1; slices: a spread).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from scipy import linalg
from torch import nn

from ..nets.threads import single_threaded
from .esd import WW_CONV_SCALE, marchenko_pastur_fit, power_law_fit

EVALS_THRESH = 1e-5  # eigenvalues at or below this are left out of the power-law fit (WeightWatcher)
OVER_TRAINED_THRESH = 2.0  # alpha below this: "over-trained"
UNDER_TRAINED_THRESH = 6.0  # alpha above this: "under-trained"
SUMMARY_METRICS = ("log_norm", "alpha", "alpha_weighted", "log_alpha_norm", "log_spectral_norm",
                   "stable_rank", "mp_softrank")


@dataclass
class LayerQuality:
    """WeightWatcher's numbers for one layer (its ``analyze()`` columns, same names).

    NaN where a number was not computed (``mp_fit=False``, ``randomize=False``) or a fit failed.

    Attributes
    ----------
    layer_id : int
        Index in ``model.named_modules()`` (the model itself is 0), WeightWatcher's ``layer_id``.
    name : str
        The module's name in the model.
    kind : str
        ``"linear"``, ``"embedding"`` or ``"conv2d"``.
    N, M : int
        Long and short side of the (slice) matrix.
    rf : int
        ``kh * kw`` for a conv, 1 for a matrix.
    eigenvalues : numpy.ndarray of shape (M * rf,), float64
        The pooled ESD, ascending.
    alpha, xmin, D, sigma : float
        The power-law fit: exponent, start of the tail, KS distance, standard error of alpha.
    num_pl_spikes : int
        Eigenvalues ``>= xmin``.
    norm, log_norm : float
        ``sum lambda`` (the squared Frobenius norm) and its log10.
    spectral_norm, log_spectral_norm : float
        ``lambda_max`` and its log10.
    alpha_weighted, log_alpha_norm : float
        ``alpha * log10(lambda_max)`` and ``log10(sum lambda^alpha)``.
    stable_rank : float
        ``norm / lambda_max``.
    sigma_mp, bulk_min, bulk_max, num_spikes, mp_softrank, W_scale : float
        The Marchenko-Pastur fit (:class:`~explorer.spectra.MPFit`).
    rand_distance : float
        Jensen-Shannon distance between the ESD and the randomized ESD.
    ww_softrank, ww_maxdist, max_rand_eval : float
        ``max rand / max``, ``max - max rand`` and the largest randomized eigenvalue.
    num_traps : float
        Spikes of the randomized ESD: correlation traps.
    rand_sigma_mp, rand_mp_softrank, rand_bulk_min, rand_bulk_max : float
        The Marchenko-Pastur fit of the randomized ESD.
    warning : str
        ``"over-trained"`` (alpha < 2), ``"under-trained"`` (alpha > 6) or ``""``.
    """

    layer_id: int  # index in model.named_modules() (the model itself is 0), WeightWatcher's layer_id
    name: str  # the module's name in the model
    kind: str  # "linear", "embedding" or "conv2d"
    N: int  # long side of the (slice) matrix
    M: int  # short side
    rf: int  # kh * kw for a conv, 1 for a matrix
    eigenvalues: np.ndarray = field(repr=False)  # the pooled ESD, ascending (N * ... : M * rf values)
    alpha: float = math.nan
    xmin: float = math.nan
    D: float = math.nan  # KS distance of the power-law fit
    sigma: float = math.nan  # standard error of alpha
    num_pl_spikes: int = 0  # eigenvalues >= xmin
    norm: float = math.nan
    log_norm: float = math.nan
    spectral_norm: float = math.nan
    log_spectral_norm: float = math.nan
    alpha_weighted: float = math.nan
    log_alpha_norm: float = math.nan
    stable_rank: float = math.nan
    sigma_mp: float = math.nan
    bulk_min: float = math.nan
    bulk_max: float = math.nan
    num_spikes: float = math.nan
    mp_softrank: float = math.nan
    W_scale: float = math.nan
    rand_distance: float = math.nan
    ww_softrank: float = math.nan
    ww_maxdist: float = math.nan
    max_rand_eval: float = math.nan
    num_traps: float = math.nan  # spikes of the randomized ESD: correlation traps
    rand_sigma_mp: float = math.nan
    rand_mp_softrank: float = math.nan
    rand_bulk_min: float = math.nan
    rand_bulk_max: float = math.nan
    warning: str = ""  # "over-trained" (alpha < 2), "under-trained" (alpha > 6) or ""

    @property
    def num_evals(self) -> int:
        """Number of eigenvalues in the pooled ESD (``M * rf``)."""
        return len(self.eigenvalues)


@dataclass
class QualityReport:
    """Per-layer :class:`LayerQuality` and the whole-model summary (see :func:`quality_report`).

    Attributes
    ----------
    layers : list of LayerQuality
        The analysed layers, in ``named_modules()`` order.
    summary : dict
        Mean over the layers of each of ``SUMMARY_METRICS`` (NaNs left out).
    under_trained, over_trained : list of str
        Names of the layers warned "under-trained" / "over-trained".
    skipped : list of tuple
        ``(name, reason)`` of the weight layers not analysed.
    """

    layers: list
    summary: dict  # mean over the layers of each of SUMMARY_METRICS (NaNs left out)
    under_trained: list  # names of the layers warned "under-trained"
    over_trained: list  # names of the layers warned "over-trained"
    skipped: list  # (name, reason) of weight layers not analysed

    def table(self) -> dict:
        """The report as columns, one entry per layer (eigenvalues left out).

        Returns
        -------
        dict
            Column name (a :class:`LayerQuality` field) -> numpy.ndarray of shape (layers,).

        Examples
        --------
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> report = quality_report(nn.Sequential(nn.Linear(20, 10)), mp_fit=False, randomize=False)
        >>> table = report.table()
        >>> table["name"].tolist(), table["N"].tolist(), table["M"].tolist()
        (['0'], [20], [10])
        """
        names = [f.name for f in fields(LayerQuality) if f.name != "eigenvalues"]
        return {k: np.array([getattr(layer, k) for layer in self.layers]) for k in names}


def _layer_slices(module: nn.Module) -> tuple[str, list[np.ndarray], int, int, int] | None:
    """(kind, WeightWatcher's matrices, N, M, rf) of a module, or None when it is not analysed.

    Conv slices are ``K[:, :, a, b]`` transposed to ``rows >= cols`` (as ``conv2D_Wmats``);
    a Linear or Embedding weight is one matrix, as it is. None for a Conv1d (not analysed).
    """
    if isinstance(module, nn.Conv1d):
        return None
    if isinstance(module, nn.Conv2d):
        kind = "conv2d"
    elif isinstance(module, nn.Linear):
        kind = "linear"
    elif isinstance(module, nn.Embedding):
        kind = "embedding"
    else:
        return None
    w = module.weight.detach().cpu().to(torch.float64).numpy()
    if kind != "conv2d":
        return kind, [w], max(w.shape), min(w.shape), 1
    kh, kw = w.shape[2:]
    mats = [w[:, :, a, b] for a in range(kh) for b in range(kw)]
    if w.shape[0] < w.shape[1]:
        mats = [m.T for m in mats]
    return kind, mats, max(w.shape[:2]), min(w.shape[:2]), kh * kw


def _pooled_eigenvalues(mats: list[np.ndarray]) -> np.ndarray:
    """Sorted (ascending) squared singular values of all matrices.

    LAPACK's ``gesdd`` through ``scipy.linalg.svd``, matrix by matrix, as WeightWatcher on a
    CPU: its Marchenko-Pastur fit is discontinuous in the eigenvalues (a change of 1e-16 can
    move ``sigma_mp`` by 4%, measured on digits-lenet), so equal numbers need equal rounding.
    """
    with single_threaded():
        sv = np.concatenate([linalg.svd(m, compute_uv=False) for m in mats])
    return np.sort(sv * sv)


def _randomized(mats: list[np.ndarray], replicas: int, rng: np.random.RandomState) -> np.ndarray:
    """Eigenvalues of every matrix with its entries permuted, ``replicas`` times, sorted ascending.

    Each matrix is flattened row-major and permuted by ``rng.shuffle``, matrix after matrix,
    replica after replica: with the same seed, the same draws as WeightWatcher's
    ``random_eigenvalues`` (``np.random.shuffle``).
    """
    out = []
    for _ in range(replicas):
        for m in mats:
            flat = m.flatten()
            rng.shuffle(flat)
            out.append(flat.reshape(m.shape))
    return _pooled_eigenvalues(out)


def _warning(alpha: float) -> str:
    if alpha < OVER_TRAINED_THRESH:
        return "over-trained"
    if alpha > UNDER_TRAINED_THRESH:
        return "under-trained"
    return ""


def _analyse(layer: LayerQuality, mats: list[np.ndarray], mp_fit: bool, randomize: bool,
             rng: np.random.RandomState) -> None:
    """Fill in a layer's fits and metrics from its (scaled) matrices."""
    evals = layer.eigenvalues
    try:
        fit = power_law_fit(evals[evals > EVALS_THRESH])
        layer.alpha, layer.xmin, layer.D, layer.sigma = fit.alpha, fit.xmin, fit.ks_distance, fit.sigma
        layer.num_pl_spikes = int(np.sum(evals >= fit.xmin))
        layer.warning = _warning(fit.alpha)
    except ValueError:  # too few values above the threshold, or a flat spectrum
        pass
    if mp_fit:
        try:
            mp = marchenko_pastur_fit(evals, layer.N, layer.M)
            layer.sigma_mp, layer.bulk_min, layer.bulk_max = mp.sigma_mp, mp.bulk_min, mp.bulk_max
            layer.num_spikes, layer.mp_softrank, layer.W_scale = mp.num_spikes, mp.mp_softrank, mp.w_scale
        except ValueError:
            pass
    if randomize:
        n_comp = layer.M * layer.rf
        rand = _randomized(mats, 5 if n_comp < 100 else 1, rng)  # WeightWatcher's replicas for small layers
        layer.max_rand_eval = float(np.max(rand))
        once = _randomized(mats, 1, rng)
        from scipy import stats  # here: scipy.stats costs a job process 50 MB and a second to import

        divergence = (stats.entropy(evals, (evals + once) / 2) + stats.entropy(once, (evals + once) / 2)) / 2
        layer.rand_distance = float(np.sqrt(max(divergence, 0.0)))  # WeightWatcher: NaN when rounding makes it < 0
        layer.ww_softrank = float(np.max(once) / np.max(evals))
        layer.ww_maxdist = float(np.max(evals) - np.max(once))
        if mp_fit:
            try:
                mp = marchenko_pastur_fit(rand, layer.N, layer.M)
                layer.num_traps, layer.rand_sigma_mp, layer.rand_mp_softrank = (mp.num_spikes, mp.sigma_mp,
                                                                                  mp.mp_softrank)
                layer.rand_bulk_min, layer.rand_bulk_max = mp.bulk_min, mp.bulk_max
            except ValueError:
                pass
    norm = float(np.sum(evals))
    layer.norm, layer.log_norm = norm, math.log10(norm)
    layer.spectral_norm = float(np.max(evals))
    layer.log_spectral_norm = math.log10(layer.spectral_norm)
    layer.stable_rank = norm / layer.spectral_norm
    if np.isfinite(layer.alpha):
        layer.alpha_weighted = layer.alpha * layer.log_spectral_norm
        layer.log_alpha_norm = float(np.log10(np.sum(evals ** layer.alpha)))


def quality_report(model: nn.Module, *, scale: bool = True, mp_fit: bool = True, randomize: bool = True,
                   seed: int = 0, min_evals: int = 8, max_evals: int = 15000, max_N: int = 50000,
                   progress: Callable[[int, int], None] | None = None) -> QualityReport:
    """WeightWatcher's layer-quality numbers for every Linear, Embedding and Conv2d of ``model``.

    Equal, on the same layers, to WeightWatcher 0.7.7's
    ``WeightWatcher(model=model).analyze(randomize=randomize, mp_fit=mp_fit, min_evals=min_evals,
    max_evals=max_evals, max_N=max_N, conv2d_norm=scale)`` (see the module docstring for what
    each number is, and where we differ on purpose). With the same ``seed`` given to
    ``np.random.seed`` before WeightWatcher runs, the randomized numbers are equal too.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; its ``nn.Linear``, ``nn.Embedding`` and ``nn.Conv2d`` submodules are read.
    scale : bool
        WeightWatcher's ``conv2d_norm``: conv slices times ``1 / sqrt(2)`` (its default).
    mp_fit : bool
        Fit the Marchenko-Pastur bulk (``sigma_mp``, edges, spikes, ``mp_softrank``).
    randomize : bool
        Compare with the ESD of the permuted weights (``rand_distance``, ``num_traps``, ...).
    seed : int
        Of the permutations (``numpy.random.RandomState``).
    min_evals, max_evals, max_N : int
        Layers with fewer or more than these ``M * rf`` eigenvalues, or a long side above
        ``max_N``, are skipped (WeightWatcher's defaults).
    progress : callable, optional
        ``progress(done, total)`` after each weight layer.

    Returns
    -------
    QualityReport
        ``layers`` (:class:`LayerQuality`), ``summary`` (the means WeightWatcher's
        ``get_summary()`` gives), ``under_trained`` / ``over_trained`` (layer names) and
        ``skipped``.

    References
    ----------
    Martin & Mahoney, JMLR 22(165) 2021; Martin, Peng & Mahoney, Nature Communications 12, 4122
    (2021); WeightWatcher 0.7.7 (``weightwatcher.py``: ``analyze``, ``apply_esd``,
    ``apply_norm_metrics``, ``apply_random_esd``, ``mp_fit``).

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
    >>> report = quality_report(net)
    >>> [layer.name for layer in report.layers], sorted(report.summary)[:3]
    (['0', '2'], ['alpha', 'alpha_weighted', 'log_alpha_norm'])
    """
    modules = [(i, name, m) for i, (name, m) in enumerate(model.named_modules())
               if isinstance(m, (nn.Linear, nn.Embedding, nn.Conv2d, nn.Conv1d))]
    rng = np.random.RandomState(seed)
    layers, skipped = [], []
    for done, (layer_id, name, module) in enumerate(modules, 1):
        slices = _layer_slices(module)
        if slices is None:
            skipped.append((name, "Conv1d: not analysed (see explorer.spectra.quality)"))
        elif not (min_evals <= slices[3] * slices[4] <= max_evals and slices[2] <= max_N):
            skipped.append((name, f"{slices[3] * slices[4]} eigenvalues (min_evals {min_evals}, max_evals "
                                  f"{max_evals}), N = {slices[2]} (max_N {max_N})"))
        else:
            kind, mats, N, M, rf = slices
            if kind == "conv2d" and scale:
                mats = [m * WW_CONV_SCALE for m in mats]
            layer = LayerQuality(layer_id, name, kind, N, M, rf, _pooled_eigenvalues(mats))
            _analyse(layer, mats, mp_fit, randomize, rng)
            layers.append(layer)
        if progress is not None:
            progress(done, len(modules))
    summary = {}
    for metric in SUMMARY_METRICS:
        values = np.array([getattr(layer, metric) for layer in layers], dtype=np.float64)
        if np.isfinite(values).any():
            summary[metric] = float(np.nanmean(values))
    return QualityReport(layers, summary, [l.name for l in layers if l.warning == "under-trained"],
                         [l.name for l in layers if l.warning == "over-trained"], skipped)


@dataclass
class OperatorContrast:
    """One layer seen two ways: the true operator's ESD and WeightWatcher's pooled slices.

    Attributes
    ----------
    name : str
        The module's name.
    method : str
        How the operator's singular values were computed (``LayerSpectrum.method``).
    exact : bool
        Whether they are the operator's (else an approximation, see :func:`model_spectra`).
    num_values : int
        Operator singular values (the pooled ESD has ``LayerQuality.num_evals``).
    alpha : float
        Power-law alpha of the operator's eigenvalues ``sigma^2`` (NaN: no tail, e.g. orthogonal).
    stable_rank : float
        Of the operator.
    log_spectral_norm : float
        ``log10 sigma_max^2`` of the operator.
    pooled_alpha, pooled_stable_rank, pooled_log_spectral_norm : float
        The same three numbers from WeightWatcher's view (:class:`LayerQuality`).
    """

    name: str
    method: str  # how the operator's singular values were computed (LayerSpectrum.method)
    exact: bool  # whether they are the operator's (else an approximation, see model_spectra)
    num_values: int  # operator singular values (the pooled ESD has LayerQuality.num_evals)
    alpha: float  # power-law alpha of the operator's eigenvalues sigma^2 (NaN: no tail, e.g. orthogonal)
    stable_rank: float
    log_spectral_norm: float  # log10 sigma_max^2 of the operator
    pooled_alpha: float  # the same three numbers from WeightWatcher's view (LayerQuality)
    pooled_stable_rank: float
    pooled_log_spectral_norm: float


def operator_contrast(model: nn.Module, report: QualityReport, input_shape: tuple | None = None,
                      method: str = "auto",
                      progress: Callable[[int, int], None] | None = None) -> list[OperatorContrast]:
    """The true operator spectrum of each layer of ``report``, next to WeightWatcher's numbers.

    Computed only when asked (a resnet18 at 224 x 224 has 1.83 M operator singular values
    against 31,635 pooled eigenvalues): each analysed layer's **raw** weight (as in the
    report, no BatchNorm folding) with its geometry on the model's input
    (:func:`~explorer.nets.weight_layers`; ``input_shape`` from ``model.input_shape`` when not
    given) through :func:`~explorer.spectra.layer_spectrum` with ``method``. A conv's slices are
    not its operator: an orthogonal conv's operator has every singular value 1 (a flat ESD,
    no power-law tail) while its slices spread (see ``tests/explorer/spectra/test_esd.py``).

    Parameters
    ----------
    model : torch.nn.Module
        The model the report was computed on.
    report : QualityReport
        From :func:`quality_report` on the same model.
    input_shape : tuple, optional
        One sample's shape.
    method : str
        A conv method (:data:`~explorer.spectra.CONV_METHODS`).
    progress : callable, optional
        ``progress(done, total)`` after each layer.

    Returns
    -------
    list of OperatorContrast
        In the report's order (a module called twice: its first call).

    Raises
    ------
    ValueError
        Where ``method`` does not apply to a layer, or for an unsupported padding mode.

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 10))
    >>> rows = operator_contrast(net, quality_report(net, mp_fit=False, randomize=False), input_shape=(1, 4, 4))
    >>> [(r.name, r.method, r.num_values) for r in rows]
    [('0', 'dense', 16), ('3', 'dense', 10)]
    """
    from dataclasses import replace

    from .. import nets
    from .network import layer_spectrum

    geometry = {}
    for layer in nets.weight_layers(model, input_shape):
        geometry.setdefault(layer.name.split(" (call ")[0], layer)
    modules = dict(model.named_modules())
    out = []
    for done, q in enumerate(report.layers, 1):
        if q.name in geometry:
            raw = modules[q.name].weight.detach().cpu().to(torch.float64).numpy()
            spec = layer_spectrum(replace(geometry[q.name], weight=raw), method)
            lam = spec.values ** 2
            try:
                alpha = power_law_fit(lam[lam > EVALS_THRESH]).alpha
            except ValueError:
                alpha = math.nan
            out.append(OperatorContrast(q.name, spec.method, spec.exact, len(lam), alpha,
                                        float(lam.sum() / lam.max()), math.log10(float(lam.max())),
                                        q.alpha, q.stable_rank, q.log_spectral_norm))
        if progress is not None:
            progress(done, len(report.layers))
    return out
