"""TensorFlow Playground's pieces of a small network: feature inputs, activations, and what each
unit computes over the plane.

- :data:`FEATURES`: the Playground's inputs of a point (x1, x2): ``x1``, ``x2``, ``x1^2``, ``x2^2``,
  ``x1*x2``, ``sin x1``, ``sin x2``; :func:`feature_values` computes any subset (float64) and
  :class:`PlaneFeatures` is the same map as the first layer of a network, so the network still takes
  points of the plane.
- :data:`ACTIVATIONS`: ``relu``, ``tanh``, ``sigmoid`` and ``linear`` (no activation).
- :func:`unit_maps`: every feature's, hidden unit's and output's value on a grid over a box, the
  Playground's small heatmaps; :func:`layer_weights`: the weight matrices the diagram's edges show.

A network with ``x1^2``, ``x2^2``, ``x1*x2`` or a sine among its features, or with tanh or sigmoid,
is not piecewise linear in (x1, x2): :func:`explorer.nets.canonical` refuses it naming the operation
(:class:`~explorer.nets.NotPiecewiseLinearError`), and the exact analyses say so. ``x1`` and ``x2``
alone (any subset) are a linear map, so such a network stays piecewise linear.

References
----------
D. Smilkov and S. Carter, TensorFlow Playground (github.com/tensorflow/playground, ``src/state.ts``
and ``src/playground.ts``: the feature list and the per-neuron heatmaps), read for what it offers.

>>> feature_values(np.array([[0.5, 2.0]]), ("x1*x2", "x2^2")).tolist()  # in FEATURES order
[[4.0, 1.0]]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded

__all__ = ["FEATURES", "LINEAR_FEATURES", "ACTIVATIONS", "PlaneFeatures", "feature_values", "check_features",
           "activation_module", "UnitMaps", "unit_maps", "value_map", "layer_weights"]

FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2")
LINEAR_FEATURES = ("x1", "x2")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


def check_features(names) -> tuple:
    """The feature names as a tuple, checked.

    Parameters
    ----------
    names : sequence of str
        Some of :data:`FEATURES`, each at most once, at least one.

    Returns
    -------
    tuple of str
        ``names`` in :data:`FEATURES`' order.

    Raises
    ------
    ValueError
        An empty list or a name not in :data:`FEATURES`.

    Examples
    --------
    >>> check_features(["sin x1", "x1"])
    ('x1', 'sin x1')
    """
    names = tuple(names)
    unknown = [n for n in names if n not in FEATURES]
    if unknown or not names:
        raise ValueError(f"Features must be some of {', '.join(FEATURES)} (at least one), not {list(names)[:8]}.")
    return tuple(n for n in FEATURES if n in names)


def _column(name: str, x1, x2, sin):
    """One feature of a batch's columns x1, x2 (numpy or torch, with its ``sin``)."""
    if name == "x1":
        return x1
    if name == "x2":
        return x2
    if name == "x1^2":
        return x1 ** 2
    if name == "x2^2":
        return x2 ** 2
    if name == "x1*x2":
        return x1 * x2
    return sin(x1) if name == "sin x1" else sin(x2)


def feature_values(X: np.ndarray, names) -> np.ndarray:
    """The features of points of the plane.

    Parameters
    ----------
    X : numpy.ndarray of shape (N, 2)
        The points (x1, x2).
    names : sequence of str
        Some of :data:`FEATURES` (see :func:`check_features`).

    Returns
    -------
    numpy.ndarray of shape (N, len(names)), float64
        One column per feature, in :data:`FEATURES`' order.

    Examples
    --------
    >>> feature_values(np.array([[np.pi / 2, 3.0]]), ["sin x1", "x2", "x1"]).round(4).tolist()
    [[1.5708, 3.0, 1.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    x1, x2 = X[:, 0], X[:, 1]
    return np.stack([_column(n, x1, x2, np.sin) for n in check_features(names)], axis=1)


class PlaneFeatures(nn.Module):
    """The feature map of :func:`feature_values` as a layer: (N, 2) points -> (N, k) features.

    Parameters
    ----------
    names : sequence of str
        Some of :data:`FEATURES`.

    Attributes
    ----------
    names : tuple of str
        The features, in :data:`FEATURES`' order.

    Examples
    --------
    >>> layer = PlaneFeatures(["x1*x2", "sin x2"])
    >>> layer(torch.tensor([[2.0, 0.0]], dtype=torch.float64)).tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, names):
        super().__init__()
        self.names = check_features(names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The features of a batch of points.

        Parameters
        ----------
        x : torch.Tensor of shape (N, 2)
            The points.

        Returns
        -------
        torch.Tensor of shape (N, k)
            The features, in :attr:`names`' order.
        """
        x1, x2 = x[:, 0:1], x[:, 1:2]
        return torch.cat([_column(n, x1, x2, torch.sin) for n in self.names], dim=1)

    def extra_repr(self) -> str:
        """The features' names, as ``print(model)`` shows them.

        Returns
        -------
        str
            The names joined by commas.
        """
        return ", ".join(self.names)


def activation_module(name: str) -> nn.Module:
    """The layer of an activation's name.

    Parameters
    ----------
    name : {"relu", "tanh", "sigmoid", "linear"}
        The activation ("linear": none, an ``nn.Identity``).

    Returns
    -------
    torch.nn.Module
        A fresh layer.

    Raises
    ------
    ValueError
        An unknown name.

    Examples
    --------
    >>> type(activation_module("linear")).__name__
    'Identity'
    """
    if name not in _MODULES:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, not '{name}'.")
    return _MODULES[name]()


@dataclass
class UnitMaps:
    """Every unit's value on a grid over a box (rows are y, as in an image).

    Attributes
    ----------
    xs, ys : numpy.ndarray of shape (R,)
        The grid's coordinates.
    layers : list of numpy.ndarray of shape (units, R, R), float64
        The inputs the first Linear layer sees (the features, or x1 and x2), then each hidden
        layer's outputs after its activation, then the network's outputs.
    """

    xs: np.ndarray
    ys: np.ndarray
    layers: list


def _grid(box: tuple, resolution: int, most: int):
    if not 2 <= resolution <= most:
        raise ValueError(f"resolution must be between 2 and {most}, not {resolution}.")
    x0, x1, y0, y1 = box
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], axis=1))


def value_map(model: nn.Module, box: tuple, resolution: int = 120) -> np.ndarray:
    """A one-output network's value on a grid over a box (a regression's output map).

    Parameters
    ----------
    model : torch.nn.Module
        A network with 2 inputs and 1 output.
    box : tuple of float
        ``(x0, x1, y0, y1)``.
    resolution : int, default 120
        Grid points per axis (2 to 2000).

    Returns
    -------
    numpy.ndarray of shape (R, R), float64
        ``values[i, j]`` is the output at ``(xs[j], ys[i])``, computed in float64.

    Raises
    ------
    ValueError
        A resolution outside 2..2000.

    Examples
    --------
    >>> net = nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[1.0, 10.0]])); _ = net.bias.zero_()
    >>> value_map(net, (0, 1, 0, 1), resolution=2).tolist()
    [[0.0, 1.0], [10.0, 11.0]]
    """
    xs, ys, points = _grid(box, resolution, 2000)
    with torch.no_grad(), single_threaded():
        out = copy.deepcopy(model).double()(points)[:, 0]
    return out.numpy().reshape(resolution, resolution)


def unit_maps(model: nn.Sequential, box: tuple, resolution: int = 40, max_units: int | None = None) -> UnitMaps:
    """The value of every feature, hidden unit and output of a Playground network over a box.

    Parameters
    ----------
    model : torch.nn.Sequential
        An optional :class:`PlaneFeatures` layer, then Linear layers with an activation between each
        two (as :func:`explorer.training.stepper.build_network` makes), 2 inputs.
    box : tuple of float
        ``(x0, x1, y0, y1)``.
    resolution : int, default 40
        Grid points per axis (2 to 400).
    max_units : int, optional
        Keep the maps of the first ``max_units`` units of each layer only (all by default).

    Returns
    -------
    UnitMaps
        The maps of the inputs, of each hidden layer and of the outputs, computed in float64.

    Raises
    ------
    ValueError
        A resolution outside 2..400.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> maps = unit_maps(net, (-1, 1, -1, 1), resolution=5)
    >>> [m.shape for m in maps.layers], maps.layers[0][0, 0].tolist()
    ([(2, 5, 5), (3, 5, 5), (1, 5, 5)], [-1.0, -0.5, 0.0, 0.5, 1.0])
    """
    xs, ys, h = _grid(box, resolution, 400)
    layers = []
    modules = list(model)
    with torch.no_grad(), single_threaded():
        if modules and isinstance(modules[0], PlaneFeatures):
            h = modules.pop(0)(h)
        layers.append(h)
        for i, m in enumerate(modules):
            h = nn.functional.linear(h, m.weight.double(), m.bias.double()) if isinstance(m, nn.Linear) else m(h)
            if not isinstance(m, nn.Linear) or i == len(modules) - 1:
                layers.append(h)
    return UnitMaps(xs, ys, [t[:, :max_units].numpy().T.reshape(-1, resolution, resolution) for t in layers])


def layer_weights(model: nn.Sequential) -> list[np.ndarray]:
    """The weight matrices of a network's Linear layers, in order (float64).

    Parameters
    ----------
    model : torch.nn.Sequential
        A network as :func:`unit_maps` takes.

    Returns
    -------
    list of numpy.ndarray of shape (out, in), float64
        ``W[j, i]`` is the weight from unit i of a layer to unit j of the next.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    >>> [w.shape for w in layer_weights(net)]
    [(3, 2), (1, 3)]
    """
    return [m.weight.detach().double().numpy() for m in model if isinstance(m, nn.Linear)]
