"""Spectra of a whole network: every weight layer, and the Lipschitz product bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from torch import nn

from .. import nets
from .conv import MAX_DENSE_SIZE, _pair, conv_singular_values, fft_applies
from .dense import dense_singular_values
from .sigma_max import largest_singular_value


@dataclass
class LayerSpectrum:
    """The singular values of one weight layer, and how they were computed."""

    name: str
    kind: str  # "linear" or "conv2d"
    method: str
    values: np.ndarray  # descending
    shape: tuple  # (rows, cols) of the operator matrix

    @property
    def sigma_max(self) -> float:
        return float(self.values[0])

    @property
    def exact(self) -> bool:
        """Whether ``values`` are the operator's singular values (to rounding), not an approximation."""
        return self.method == "dense" or (self.method == "fft" and self.kind == "conv2d" and self.circular)

    circular: bool = False  # circular padding (conv layers)


def _layer_args(layer: nets.WeightLayer):
    padding = "circular" if layer.padding_mode == "circular" else "zeros"
    return layer.in_shape[1:], padding, layer.stride, layer.padding


def auto_method(layer: nets.WeightLayer) -> str:
    """The method ``"auto"`` picks for a layer: the exact one that applies, else an approximation.

    Dense layers: ``"dense"``. Conv layers: ``"fft"`` for a circular conv it applies to
    (:func:`~explorer.spectra.fft_applies`: input divisible by the stride, output the
    ``n / s`` torus), else ``"dense"`` (exact for every padding) when the operator has at
    most ``MAX_DENSE_SIZE`` rows and columns, else an approximation: ``"fft"`` (the
    circular approximation) for a zero-padded layer whose input the stride divides,
    ``"density"`` otherwise.
    """
    if layer.kind == "linear":
        return "dense"
    size, padding, stride, pad = _layer_args(layer)
    if padding == "circular" and fft_applies(layer.weight, size, stride, pad):
        return "fft"
    if max(math.prod(layer.out_shape), math.prod(layer.in_shape)) <= MAX_DENSE_SIZE:
        return "dense"
    if padding == "zeros" and all(size[i] % _pair(stride)[i] == 0 for i in range(2)):
        return "fft"  # the circular approximation of a zero-padded layer
    return "density"


def layer_spectrum(layer: nets.WeightLayer, method: str = "auto") -> LayerSpectrum:
    """Singular values of a :class:`~explorer.nets.WeightLayer`'s true operator.

    Dense layers always use the dense SVD; conv layers the named ``method``, where
    ``"auto"`` is :func:`auto_method` (it never refuses a layer ``nets.canonical`` accepts).
    ``LayerSpectrum.method`` names the method used and ``.exact`` says whether the values
    are the operator's singular values (``"dense"``, or ``"fft"`` on a circular layer).
    """
    rows, cols = math.prod(layer.out_shape), math.prod(layer.in_shape)
    if layer.kind == "linear":
        return LayerSpectrum(layer.name, layer.kind, "dense", dense_singular_values(layer.weight), (rows, cols))
    size, padding, stride, pad = _layer_args(layer)
    if method == "auto":
        method = auto_method(layer)
    vals = conv_singular_values(layer.weight, size, padding, stride, method, pad)
    return LayerSpectrum(layer.name, layer.kind, method, vals, (rows, cols), padding == "circular")


def model_spectra(model: nn.Module, method: str = "auto",
                  progress: Callable[[int, int], None] | None = None) -> list[LayerSpectrum]:
    """:func:`layer_spectrum` of every weight layer of ``model`` (in order).

    With ``method="auto"`` every layer gets :func:`auto_method`: the exact FFT method
    where it applies, else the exact dense operator, else (only for a conv layer whose
    operator exceeds ``MAX_DENSE_SIZE`` and that the exact FFT does not fit) an
    approximation, ``"fft"`` or ``"density"``. Each result names its method and says whether it is ``exact``.
    A named conv method is used as asked (and raises where it does not apply).
    """
    layers = nets.canonical(model).weight_layers()
    out = []
    for i, layer in enumerate(layers):
        out.append(layer_spectrum(layer, method))
        if progress is not None:
            progress(i + 1, len(layers))
    return out


@dataclass
class LipschitzBound:
    """Per-layer norms and the product bound on the network's L2 Lipschitz constant.

    ReLU is 1-Lipschitz, so ``Lip(f) <= prod_k ||A_k||_2``. ``norms`` holds each layer's
    exact norm where it can be computed and its rigorous upper bound otherwise (Gram
    iteration; for a large circular layer the FFT does not apply to, Schur's test),
    and ``methods`` says which for each layer: ``"exact"`` or ``"bound"``.
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
                    progress: Callable[[int, int], None] | None = None) -> LipschitzBound:
    """Product bound on the L2 Lipschitz constant of a ReLU network, layer by layer.

    Works on ``explorer.nets.canonical(model).weight_layers()`` (BatchNorm folded).
    AvgPool and reshapes have norm at most 1, so they do not enter the product.
    The certified L2 radius of a margin ``m`` is at least ``m / (sqrt(2) * product)``.
    """
    layers = nets.canonical(model).weight_layers()
    gram, est, exact = [], [], []
    for i, layer in enumerate(layers):
        if layer.kind == "linear":
            args = dict(weight=layer.weight)
        else:
            size, padding, stride, pad = _layer_args(layer)
            args = dict(weight=layer.weight, input_size=size, padding=padding, stride=stride, pad=pad)
        gram.append(largest_singular_value(method="gram", iters=gram_iters, **args))
        est.append(largest_singular_value(method="power", power_iters=power_iters, **args))
        try:
            exact.append(largest_singular_value(method="exact", **args))
        except ValueError:  # too large for the dense operator
            exact.append(float("nan"))
        if progress is not None:
            progress(i + 1, len(layers))
    gram, exact = np.array(gram), np.array(exact)
    norms = np.where(np.isnan(exact), gram, exact)
    return LipschitzBound([l.name for l in layers], [l.kind for l in layers], norms, gram,
                          np.array(est), exact, float(np.prod(norms)),
                          ["bound" if np.isnan(e) else "exact" for e in exact])
