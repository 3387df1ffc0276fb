"""Spectra of a whole network: every weight layer, and the Lipschitz product bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from torch import nn

from .. import nets
from .conv import conv_singular_values
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


def _layer_args(layer: nets.WeightLayer):
    padding = "circular" if layer.padding_mode == "circular" else "zeros"
    return layer.in_shape[1:], padding, layer.stride, layer.padding


def layer_spectrum(layer: nets.WeightLayer, method: str = "auto") -> LayerSpectrum:
    """Singular values of a :class:`~explorer.nets.WeightLayer`'s true operator.

    Dense layers always use the dense SVD; conv layers the named ``method``.
    """
    rows, cols = math.prod(layer.out_shape), math.prod(layer.in_shape)
    if layer.kind == "linear":
        return LayerSpectrum(layer.name, layer.kind, "dense", dense_singular_values(layer.weight), (rows, cols))
    size, padding, stride, pad = _layer_args(layer)
    if method == "auto":
        method = "fft" if padding == "circular" else "dense"
    vals = conv_singular_values(layer.weight, size, padding, stride, method, pad)
    return LayerSpectrum(layer.name, layer.kind, method, vals, (rows, cols))


def model_spectra(model: nn.Module, method: str = "auto",
                  progress: Callable[[int, int], None] | None = None) -> list[LayerSpectrum]:
    """:func:`layer_spectrum` of every weight layer of ``model`` (in order)."""
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
    exact norm where it can be computed and its Gram-iteration upper bound otherwise.
    """

    names: list[str]
    kinds: list[str]
    norms: np.ndarray  # the exact norm where feasible, else the Gram-iteration upper bound
    gram: np.ndarray  # Gram-iteration upper bounds
    estimates: np.ndarray  # power-iteration estimates (lower)
    exact: np.ndarray  # exact norms where feasible, NaN otherwise
    product: float  # prod(norms): an upper bound on the Lipschitz constant


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
                          np.array(est), exact, float(np.prod(norms)))
