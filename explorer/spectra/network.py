"""Spectra of a whole network: every weight layer, and the Lipschitz product bound.

The layers come from :func:`explorer.nets.weight_layers`, so the model may be any
``nn.Module`` (Tanh, GELU, LayerNorm, residual branches, ...): every Linear, Conv1d and
Conv2d it calls, BatchNorm folded where it reads a layer's output directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import nn

from .. import nets
from .conv import MAX_DENSE_SIZE, conv_singular_values, fft_applies
from .dense import dense_singular_values
from .layout import conv_layout
from .sigma_max import largest_singular_value


@dataclass
class LayerSpectrum:
    """The singular values of one weight layer, and how they were computed.

    Attributes
    ----------
    name : str
        The layer's name (:func:`explorer.nets.weight_layers`).
    kind : str
        ``"linear"``, ``"conv1d"`` or ``"conv2d"``.
    method : str
        The method used: ``"dense"``, ``"fft"`` or ``"density"``.
    values : numpy.ndarray of shape (k,), float64
        The singular values, descending.
    shape : tuple of 2 ints
        ``(rows, cols)`` of the operator matrix.
    circular : bool
        Circular padding (conv layers).
    """

    name: str
    kind: str  # "linear", "conv1d" or "conv2d"
    method: str
    values: np.ndarray  # descending
    shape: tuple  # (rows, cols) of the operator matrix

    @property
    def sigma_max(self) -> float:
        """The largest singular value."""
        return float(self.values[0])

    @property
    def exact(self) -> bool:
        """Whether ``values`` are the operator's singular values (to rounding), not an approximation."""
        return self.method == "dense" or (self.method == "fft" and self.kind != "linear" and self.circular)

    circular: bool = False  # circular padding (conv layers)


def _layer_args(layer: nets.WeightLayer) -> dict:
    """The conv functions' keyword arguments for a conv layer."""
    if layer.padding_mode not in ("zeros", "circular"):
        raise ValueError(f"Layer '{layer.name}': padding_mode '{layer.padding_mode}' is not supported by the "
                         "spectra (only 'zeros' and 'circular').")
    return {"input_size": layer.in_shape[1:], "padding": layer.padding_mode, "stride": layer.stride,
            "pad": layer.padding, "dilation": layer.dilation, "groups": layer.groups}


def _fft_args(args: dict) -> dict:
    return {k: args[k] for k in ("input_size", "stride", "pad", "dilation", "groups")}


def auto_method(layer: nets.WeightLayer) -> str:
    """The method ``"auto"`` picks for a layer: the exact one that applies, else an approximation.

    Dense layers: ``"dense"``. Conv layers: ``"fft"`` for a circular conv it applies to
    (:func:`~explorer.spectra.fft_applies`: input divisible by the stride, output the
    ``n / s`` torus), else ``"dense"`` (exact for every padding) when the operator has at
    most ``MAX_DENSE_SIZE`` rows and columns (per group: a grouped operator is a direct sum),
    else an approximation: ``"fft"`` (the circular approximation) for a zero-padded layer whose
    input the stride divides, ``"density"`` otherwise.

    Parameters
    ----------
    layer : explorer.nets.WeightLayer
        A layer from :func:`explorer.nets.weight_layers`.

    Returns
    -------
    str
        ``"dense"``, ``"fft"`` or ``"density"``.

    Raises
    ------
    ValueError
        For a conv whose padding mode is neither ``"zeros"`` nor ``"circular"``.

    Examples
    --------
    >>> from explorer import nets
    >>> conv = nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")
    >>> auto_method(nets.weight_layers(conv, (1, 8, 8))[0])
    'fft'
    """
    if layer.kind == "linear":
        return "dense"
    args = _layer_args(layer)
    if args["padding"] == "circular" and fft_applies(layer.weight, **_fft_args(args)):
        return "fft"
    if max(math.prod(layer.out_shape), math.prod(layer.in_shape)) // layer.groups <= MAX_DENSE_SIZE:
        return "dense"
    grid = conv_layout(layer.weight, args["input_size"], layer.stride, layer.padding, layer.dilation, layer.groups)
    if args["padding"] == "zeros" and all(grid.size[i] % grid.stride[i] == 0 for i in range(2)):
        return "fft"  # the circular approximation of a zero-padded layer
    return "density"


def layer_spectrum(layer: nets.WeightLayer, method: str = "auto") -> LayerSpectrum:
    """Singular values of a :class:`~explorer.nets.WeightLayer`'s true operator.

    Dense layers always use the dense SVD of their weight matrix (a Linear applied at every
    position of a ``(..., features)`` input is ``I (x) W``, with the same values repeated);
    conv layers (Conv1d, Conv2d, any stride, dilation, groups; zero or circular padding) the
    named ``method``, where ``"auto"`` is :func:`auto_method` (it never refuses such a layer).

    Parameters
    ----------
    layer : explorer.nets.WeightLayer
        A layer from :func:`explorer.nets.weight_layers`.
    method : {"auto", "fft", "dense", "density"}
        For conv layers (see :func:`~explorer.spectra.conv_singular_values`).

    Returns
    -------
    LayerSpectrum
        ``method`` names the method used and ``exact`` says whether the values are the
        operator's singular values (``"dense"``, or ``"fft"`` on a circular layer).

    Raises
    ------
    ValueError
        For an unsupported padding mode, or a named method that does not apply.

    Examples
    --------
    >>> from explorer import nets
    >>> conv = nn.Conv2d(2, 3, 3, padding=1)
    >>> spec = layer_spectrum(nets.weight_layers(conv, (2, 4, 4))[0])
    >>> spec.method, spec.exact, spec.shape, len(spec.values)
    ('dense', True, (48, 32), 32)
    """
    if layer.kind == "linear":
        return LayerSpectrum(layer.name, layer.kind, "dense", dense_singular_values(layer.weight),
                             tuple(layer.weight.shape))
    rows, cols = math.prod(layer.out_shape), math.prod(layer.in_shape)
    args = _layer_args(layer)
    if method == "auto":
        method = auto_method(layer)
    vals = conv_singular_values(layer.weight, method=method, **args)
    return LayerSpectrum(layer.name, layer.kind, method, vals, (rows, cols), args["padding"] == "circular")


def model_spectra(model: nn.Module, method: str = "auto",
                  progress: Callable[[int, int], None] | None = None,
                  input_shape: tuple | None = None) -> list[LayerSpectrum]:
    """:func:`layer_spectrum` of every weight layer of ``model`` (in call order).

    The layers are :func:`explorer.nets.weight_layers(model, input_shape) <explorer.nets.weight_layers>`
    (``input_shape`` from ``model.input_shape`` when not given), so any ``nn.Module`` works.
    With ``method="auto"`` every layer gets :func:`auto_method`: the exact FFT method
    where it applies, else the exact dense operator, else (only for a conv layer whose
    operator exceeds ``MAX_DENSE_SIZE`` and that the exact FFT does not fit) an
    approximation, ``"fft"`` or ``"density"``. A named conv method is used as asked.

    Parameters
    ----------
    model : torch.nn.Module
        Any module calling Linear, Conv1d or Conv2d layers.
    method : {"auto", "fft", "dense", "density"}
        The conv method.
    progress : callable, optional
        ``progress(done, total)`` after each layer.
    input_shape : tuple, optional
        One sample's shape.

    Returns
    -------
    list of LayerSpectrum
        Each names its method and says whether it is ``exact``.

    Raises
    ------
    ValueError
        Where a named method does not apply, or for an unsupported padding mode.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular"), nn.ReLU(),
    ...                     nn.Flatten(), nn.Linear(2 * 8 * 8, 3))
    >>> [(s.name, s.method, s.exact) for s in model_spectra(net, input_shape=(1, 8, 8))]
    [('0', 'fft', True), ('3', 'dense', True)]
    """
    layers = nets.weight_layers(model, input_shape)
    out = []
    for i, layer in enumerate(layers):
        out.append(layer_spectrum(layer, method))
        if progress is not None:
            progress(i + 1, len(layers))
    return out


def _three_norms(layer: nets.WeightLayer, power_iters: int, gram_iters: int) -> tuple[float, float, float]:
    """(Gram upper bound, power-iteration estimate, exact norm or NaN) of one layer's operator."""
    args = {"weight": layer.weight}
    if layer.kind != "linear":
        args.update(_layer_args(layer))
    gram = largest_singular_value(method="gram", iters=gram_iters, **args)
    estimate = largest_singular_value(method="power", power_iters=power_iters, **args)
    try:
        exact = largest_singular_value(method="exact", **args)
    except ValueError:  # too large for the dense operator
        exact = float("nan")
    return gram, estimate, exact


@dataclass
class LipschitzBound:
    """Per-layer norms and the product bound on the network's L2 Lipschitz constant.

    ReLU is 1-Lipschitz, so ``Lip(f) <= prod_k ||A_k||_2``.

    Attributes
    ----------
    names, kinds : list of str
        The layers' names and kinds.
    norms : numpy.ndarray of shape (L,), float64
        Each layer's exact norm where it can be computed, its rigorous upper bound otherwise
        (Gram iteration; for a large circular layer the FFT does not apply to, Schur's test).
    gram : numpy.ndarray of shape (L,), float64
        Gram-iteration upper bounds.
    estimates : numpy.ndarray of shape (L,), float64
        Power-iteration estimates (lower).
    exact : numpy.ndarray of shape (L,), float64
        Exact norms where feasible, NaN otherwise.
    product : float
        ``prod(norms)``: an upper bound on the Lipschitz constant.
    methods : list of str
        Per layer, ``"exact"`` or ``"bound"``: what ``norms`` holds.
    """

    names: list[str]
    kinds: list[str]
    norms: np.ndarray  # the exact norm where feasible, else the Gram-iteration upper bound
    gram: np.ndarray  # Gram-iteration upper bounds
    estimates: np.ndarray  # power-iteration estimates (lower)
    exact: np.ndarray  # exact norms where feasible, NaN otherwise
    product: float  # prod(norms): an upper bound on the Lipschitz constant
    methods: list = None  # per layer: "exact" or "bound" (what ``norms`` holds)


def lipschitz_bound(model: nn.Module, power_iters: int = 100, gram_iters: int = 12,
                    progress: Callable[[int, int], None] | None = None,
                    input_shape: tuple | None = None) -> LipschitzBound:
    """Product bound on the L2 Lipschitz constant of a network, layer by layer.

    Works on :func:`explorer.nets.weight_layers(model, input_shape) <explorer.nets.weight_layers>`
    (any ``nn.Module``; BatchNorm folded where it reads a layer's output directly). The
    product bounds ``Lip(f)`` when ``f`` is a chain of these layers with 1-Lipschitz maps
    between them: ReLU, LeakyReLU (slope <= 1), Tanh, Sigmoid, MaxPool with disjoint windows,
    AvgPool (stride = kernel) and reshapes, which do not enter the product. It is **not** a
    bound across a residual sum (``x + g(x)`` may reach ``1 + Lip(g)``), an unfolded
    BatchNorm, GELU or SiLU (slopes above 1), LayerNorm or attention.
    The certified L2 radius of a margin ``m`` is at least ``m / (sqrt(2) * product)``.
    A layer called again on the same input shape is computed once.

    Parameters
    ----------
    model : torch.nn.Module
        Any module calling Linear, Conv1d or Conv2d layers.
    power_iters : int
        Power-iteration steps for the lower estimates.
    gram_iters : int
        Gram-iteration steps for the upper bounds.
    progress : callable, optional
        ``progress(done, total)`` after each layer.
    input_shape : tuple, optional
        One sample's shape (from ``model.input_shape`` when not given).

    Returns
    -------
    LipschitzBound
        Per-layer ``norms`` (exact or bound, see ``methods``), ``gram``, ``estimates``,
        ``exact`` and their ``product``.

    References
    ----------
    C. Szegedy et al., "Intriguing properties of neural networks", ICLR 2014 (the product
    bound); Y. Tsuzuku, I. Sato and M. Sugiyama, "Lipschitz-margin training", NeurIPS 2018
    (the certified radius); A. Delattre, Q. Barthelemy, A. Araujo and A. Allauzen, "Efficient
    bound of Lipschitz constant for convolutional layers by Gram iteration", ICML 2023.

    Examples
    --------
    >>> import torch
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    ...     _ = net[2].weight.copy_(torch.tensor([[3.0, 4.0, 0.0]]))
    >>> lip = lipschitz_bound(net, input_shape=(2,))
    >>> lip.norms.round(9).tolist(), round(lip.product, 9), lip.methods
    ([2.0, 5.0], 10.0, ['exact', 'exact'])
    """
    layers = nets.weight_layers(model, input_shape)
    gram, est, exact = [], [], []
    seen = {}  # a layer called again on the same input shape (weight sharing, unrolled nets): computed once
    for i, layer in enumerate(layers):
        if layer.operator_key not in seen:
            seen[layer.operator_key] = _three_norms(layer, power_iters, gram_iters)
        for values, value in zip((gram, est, exact), seen[layer.operator_key]):
            values.append(value)
        if progress is not None:
            progress(i + 1, len(layers))
    gram, exact = np.array(gram), np.array(exact)
    norms = np.where(np.isnan(exact), gram, exact)
    return LipschitzBound([l.name for l in layers], [l.kind for l in layers], norms, gram,
                          np.array(est), exact, float(np.prod(norms)),
                          ["bound" if np.isnan(e) else "exact" for e in exact])
