"""The Spectra tab's numbers: every weight layer's singular values, how a conv layer is understood,
the Lipschitz bound, WeightWatcher's pooled view, a comparison of models and rank truncation.

No Panel here: a notebook or a test drives :class:`SpectraAnalysis` directly, and the tab's view
draws what it returns. Every number comes from :mod:`explorer.spectra`; results are computed once
per process (:func:`dashboard.memo.memoize`).

Example
-------
>>> from explorer import zoo
>>> analysis = SpectraAnalysis(model=zoo.load("digits-cnn-orth"))
>>> table = analysis.layer_table()
>>> [round(s, 6) for s in table["sigma_max"][:2]]
[1.0, 1.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import datasets, inverse, nets, spectra, training
from explorer.inverse import reconstruction

from ... import services
from ...memo import memoize
from ..bounds import LAYER_INDEX, UNIT_INDEX

METHOD_LABELS = {
    "auto": "exact (FFT for circular, dense operator for zero padding)",
    "fft": "circular FFT (exact for circular padding; approximation for zeros)",
    "dense": "dense operator SVD (exact, small layers only)",
    "density": "spectral-density approximation (Yi 2020)",
}
DEFAULT_COMPARE = ["digits-cnn-orth", "digits-cnn", "digits-mlp-l1"]
BOUND_LABELS = {"reshape": "reshape norm (torch spectral_norm) - lower", "power": "power iteration - lower",
                "exact": "exact", "embedding": "larger circulant (zeros) - upper",
                "gram": "Gram iteration - upper", "symbol_sup": "sup of the symbol norm - upper"}


# -- library calls, once per process (models are keyed by their explorer_key) ---------------------

@memoize(max_items=64)
def distinct_layers(model: nn.Module) -> tuple[list[nets.WeightLayer], list[int], list[int]]:
    """The weight layers, a layer called again with the same operator (same weights and input shape)
    listed once; how many calls each stands for and the index of its first call (FIRENET's 240
    layers all call A and A^T)."""
    layers, calls, firsts, index = [], [], [], {}
    for i, layer in enumerate(nets.weight_layers(model)):
        if layer.operator_key in index:
            calls[index[layer.operator_key]] += 1
        else:
            index[layer.operator_key] = len(layers)
            layers.append(layer)
            calls.append(1)
            firsts.append(i)
    return layers, calls, firsts


def calls_label(model: nn.Module, index: int) -> str:
    """``", called 12 times"`` for a layer the network calls more than once, else ``""``."""
    calls = distinct_layers(model)[1][index]
    return f", called {calls} times" if calls > 1 else ""


@memoize(max_items=256)
def layer_spectrum(model: nn.Module, index: int, method: str) -> spectra.LayerSpectrum:
    return spectra.layer_spectrum(distinct_layers(model)[0][index], method)


def reference_spectrum(model: nn.Module, index: int) -> spectra.LayerSpectrum:
    """The exact spectrum where one applies, else (a layer too large for the dense operator)
    an approximation; ``spec.exact`` says which (spectra.auto_method picks per layer)."""
    return layer_spectrum(model, index, "auto")


@memoize(max_items=64)
def bound_title(model: nn.Module, product: float) -> str:
    """The product of the norms bounds a chain's Lipschitz constant; a graph has its own bound."""
    if isinstance(model, inverse.FIRENet):
        return (f"product of the norms = {product:.4g}, not a bound for FIRENET: each of its steps reads "
                "x, z and y (the Inverse problems tab measures its amplification)")
    try:
        graph = nets.canonical(model).graph()
    except nets.UnsupportedLayerError:
        return f"product of the norms = {product:.4g} (a Lipschitz bound only between 1-Lipschitz activations)"
    if graph.is_chain:
        return f"Lipschitz product bound = {product:.4g}"
    return (f"product of the norms = {product:.4g}; across its skips and pools, the graph's Lipschitz "
            f"bound is {graph.lipschitz_upper_bound():.4g}")


@memoize(max_items=64)
def lipschitz(model: nn.Module) -> spectra.LipschitzBound:
    return spectra.lipschitz_bound(model)


@memoize(max_items=256)
def largest_value_bounds(model: nn.Module, index: int) -> dict:
    """The conv layer's largest singular value by each method of :func:`explorer.spectra.largest_singular_value`
    (NaN where a method does not apply)."""
    layer = distinct_layers(model)[0][index]
    size, padding = layer.in_shape[1:], "circular" if layer.padding_mode == "circular" else "zeros"
    out = {}
    for method in BOUND_LABELS:
        try:
            out[method] = spectra.largest_singular_value(layer.weight, size, padding, layer.stride, method,
                                                         pad=layer.padding)
        except ValueError:
            out[method] = float("nan")
    return out


@memoize(max_items=128)
def truncated_score(model: nn.Module, index: int, rank: int, data: datasets.Dataset) -> float:
    """Test accuracy of the model with layer ``index`` truncated to ``rank``; a reconstruction
    net's median relative error."""
    small = spectra.truncate_rank(model, distinct_layers(model)[0][index].name, rank)
    if data.is_reconstruction:
        return float(np.median(reconstruction.relative_errors(small, data.X_test, data.targets_test)))
    return training.accuracy(small, data.X_test, data.y_test)


def reshape_rank(layer: nets.WeightLayer) -> int:
    """The rank of the layer's weight reshaped to a matrix (out, in * kh * kw): the largest truncation rank."""
    return min(layer.weight.shape[0], int(np.prod(layer.weight.shape[1:])))


class SpectraAnalysis(param.Parameterized):
    """Per-layer spectra, conv methods, Lipschitz bound, WeightWatcher contrast, models, truncation.

    Parameters
    ----------
    model : nn.Module
        The network (a zoo model, an upload, FIRENET, any module of weight layers).
    dataset : explorer.datasets.Dataset, optional
        Test data for rank truncation's accuracy (or median relative error).
    layer, method, rank, compare
        The tab's settings (see each parameter's doc); ``layer`` and ``rank`` are kept within
        the model's layers and the layer's rank.
    resolve : callable, optional
        ``name -> nn.Module`` for the compared models (default: the zoo; the app also resolves
        the session's uploads).
    """

    URL_SETTINGS = ("layer", "method", "rank")

    model = param.ClassSelector(class_=nn.Module, doc="The network whose weight layers are shown")
    dataset = param.ClassSelector(class_=datasets.Dataset, default=None, allow_None=True,
                                  doc="Test data for the truncation accuracy")
    layer = param.Integer(default=0, bounds=(0, LAYER_INDEX), doc="Index of the weight layer (in network order)")
    method = param.Selector(default="auto", objects=list(METHOD_LABELS), doc="How a conv layer is understood")
    rank = param.Integer(default=1, bounds=(0, UNIT_INDEX), doc="Rank the chosen layer is truncated to")
    compare = param.List(default=DEFAULT_COMPARE, item_type=str, doc="Names of the models to compare")
    resolve = param.Callable(default=services.zoo_model, doc="Model name -> nn.Module, for the compared models")

    def __init__(self, **params):
        super().__init__(**params)
        self._fit_to_model()
        if 0 <= params.get("rank", -1) <= self.full_rank():
            self.rank = params["rank"]  # a link's rank within the layer's: kept

    # -- settings that follow the model ----------------------------------------------------------
    @param.depends("model", watch=True)
    def _fit_to_model(self):
        if self.model is None:
            return
        count = len(self.layers())
        self.param.layer.bounds = (0, count - 1)  # a shared link cannot ask for a layer that is not there
        self.layer = min(self.layer, count - 1)
        self._untruncated()

    @param.depends("layer", watch=True)
    def _untruncated(self):
        self.rank = self.full_rank()  # a new layer starts untruncated

    def layer_options(self) -> dict[str, int]:
        """A label per weight layer (its index, name, kind and weight shape), for a picker."""
        return {f"{i}: {l.name} ({l.kind} {tuple(l.weight.shape)}{calls_label(self.model, i)})": i
                for i, l in enumerate(self.layers())}

    # -- the numbers ------------------------------------------------------------------------------
    def layers(self) -> list[nets.WeightLayer]:
        return distinct_layers(self.model)[0]

    def current_layer(self) -> nets.WeightLayer:
        return self.layers()[self.layer]

    def full_rank(self) -> int:
        return reshape_rank(self.current_layer())

    def spectrum(self, method: str | None = None) -> spectra.LayerSpectrum:
        return layer_spectrum(self.model, self.layer, method or self.method)

    def reference(self, index: int | None = None) -> spectra.LayerSpectrum:
        return reference_spectrum(self.model, self.layer if index is None else index)

    def shown_spectrum(self) -> tuple[spectra.LayerSpectrum, str]:
        """The spectrum the layer view shows and a notice ('' when none): the chosen method for a conv
        layer, else the automatic one; the automatic one when the chosen method refuses the layer."""
        layer = self.current_layer()
        try:
            spec = self.spectrum(self.method if layer.kind == "conv2d" else "auto")
        except ValueError as exc:  # e.g. the dense operator of a large layer is refused
            return self.reference(), f"{exc} Showing the automatic method's spectrum instead."
        if not spec.exact and (layer.kind != "conv2d" or self.method == "auto"):
            return spec, (f"No exact method fits this layer (the dense operator is over the "
                          f"{spectra.MAX_DENSE_SIZE:,} limit): showing the {spec.method} approximation.")
        return spec, ""

    def esd(self, spec: spectra.LayerSpectrum | None = None) -> spectra.ESDStats:
        spec = spec or self.spectrum()
        return spectra.esd_statistics(spec.values, spec.shape)

    def method_comparison(self) -> pd.DataFrame:
        """Sorted singular values of a conv layer by each method, with differences to the exact one."""
        layer = self.current_layer()
        if layer.kind != "conv2d":
            raise ValueError("Method comparison applies to conv layers; this one is dense.")
        exact = self.reference().values  # the comparison needs the exact one
        table = {"index": np.arange(len(exact)), "exact": exact}
        for method in ("fft", "density"):
            try:
                vals = self.spectrum(method).values
            except ValueError:
                continue
            n = min(len(vals), len(exact))
            table[method] = np.concatenate([vals[:n], np.full(len(exact) - n, np.nan)])
        if layer.padding_mode != "circular":
            table["interlacing bound"] = spectra.interlacing_bound(layer.weight, layer.in_shape[1:], layer.stride,
                                                                   layer.padding)
        return pd.DataFrame(table)

    def bounds(self) -> dict:
        return largest_value_bounds(self.model, self.layer)

    def bounds_table(self) -> pd.DataFrame:
        """The conv layer's largest singular value: its lower and upper bounds and the exact value."""
        b = self.bounds()
        return pd.DataFrame({"largest singular value": [BOUND_LABELS[k] for k in b], "value": list(b.values())})

    def symbol_map(self) -> spectra.SymbolMap:
        """Circular layers: the operator's own frequencies (n/s torus). Zero padding: a 32 x 32 view."""
        layer = self.current_layer()
        if layer.kind != "conv2d":
            raise ValueError("The symbol heatmap applies to conv layers; this one is dense.")
        n, s = max(layer.in_shape[1:]), max(layer.stride)
        grid = n // s if layer.padding_mode == "circular" else max(32, n)
        return spectra.symbol_norm_map(layer.weight, grid=grid, stride=layer.stride)

    def lipschitz(self) -> spectra.LipschitzBound:
        return lipschitz(self.model)

    def lipschitz_title(self) -> str:
        return bound_title(self.model, self.lipschitz().product)

    def first_calls(self) -> list[int]:
        """Per distinct layer, the index of its first call among all weight-layer calls."""
        return distinct_layers(self.model)[2]

    def weightwatcher(self) -> np.ndarray:
        return spectra.weightwatcher_pooled(self.current_layer().weight)

    def model_comparison(self) -> pd.DataFrame:
        """Every weight layer of every compared model: sorted singular values against rank fraction."""
        rows = []
        for name in self.compare:
            model = self.resolve(name)
            for i, layer in enumerate(distinct_layers(model)[0]):
                vals = reference_spectrum(model, i).values
                rows.append(pd.DataFrame({"model": name, "layer": f"{layer.name} ({layer.kind})",
                                          "fraction": (np.arange(len(vals)) + 0.5) / len(vals), "sigma": vals}))
        if not rows:
            return pd.DataFrame(columns=["model", "layer", "fraction", "sigma"])
        return pd.concat(rows, ignore_index=True)

    def layer_table(self) -> pd.DataFrame:
        """One row per weight layer: its operator, the method, sigma_max, stable rank and power-law alpha."""
        rows = []
        for i, layer in enumerate(self.layers()):
            spec = self.reference(i)
            stats = self.esd(spec)
            rows.append({"layer": f"{i}: {layer.name}{calls_label(self.model, i)}", "kind": layer.kind,
                         "operator": f"{spec.shape[0]}x{spec.shape[1]}",
                         "method": f"{spec.method} ({'exact' if spec.exact else 'approx.'})",
                         "sigma_max": spec.sigma_max, "stable rank": stats.stable_rank, "alpha": stats.alpha})
        return pd.DataFrame(rows)

    def truncation_curve(self, points: int = 24) -> tuple[np.ndarray, np.ndarray]:
        """Test score of the truncated model at up to ``points`` ranks from 0 to full."""
        full = self.full_rank()
        ranks = np.unique(np.linspace(0, full, min(points, full + 1)).round().astype(int))
        return ranks, np.array([self.truncation_accuracy(int(r)) for r in ranks])

    def truncation_accuracy(self, rank: int | None = None) -> float:
        """Test accuracy (a reconstruction net: median relative error) with the layer at ``rank``."""
        if self.dataset is None:
            raise ValueError("Rank truncation needs test data: give the analysis a dataset.")
        return truncated_score(self.model, self.layer, self.rank if rank is None else rank, self.dataset)
