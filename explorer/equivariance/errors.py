"""Measured equivariance: how far each layer is from commuting with the rotations of p4.

For a network ``f = f_L o ... o f_1`` and a rotation ``g^r`` of the input, the error
of layer ``l`` is the relative distance between "rotate, then compute" and
"compute, then act":

    e_l(r) = max |F_l(g^r x) - rho_l(g^r) F_l(x)| / max |F_l(x)|,

``F_l = f_l o ... o f_1``, with ``rho_l`` the action on the field kind of layer ``l``
(:func:`explorer.equivariance.fields.field_layout`): a rotation plus a cyclic shift of
the orientations for regular p4 fields, a rotation for scalar and plain maps, the
identity for vectors (then ``e_l`` is the invariance error). A p4 network has
``e_l = 0`` up to rounding at every layer (Cohen & Welling 2016, eq. 10-12); a plain
CNN has no reason to.

>>> import torch
>>> from explorer.equivariance import p4cnn
>>> err = equivariance_errors(p4cnn((2, 2)).double(), torch.rand(3, 64, dtype=torch.float64))
>>> bool(err.errors.max() < 1e-12)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..nets.threads import single_threaded
from .fields import field_layout, input_shape_of
from .group import act, rotate_flat, rotate_images

__all__ = ["EquivarianceErrors", "FeatureMaps", "equivariance_errors", "feature_maps", "layer_outputs"]

ROTATIONS = (1, 2, 3)


def _rotate_input(x: torch.Tensor, r: int, input_shape) -> torch.Tensor:
    if len(input_shape) == 1:
        side = int(round(input_shape[0] ** 0.5))
        if side * side != input_shape[0]:
            raise ValueError(f"Flat inputs of {input_shape[0]} values are not square images.")
        return rotate_flat(x, r, (side, side))
    return rotate_images(x, r)


def layer_outputs(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """The output of every module of ``model`` on the batch ``x`` (no gradients).

    Parameters
    ----------
    model : torch.nn.Sequential
        The network.
    x : torch.Tensor
        A batch of inputs, in the model's dtype.

    Returns
    -------
    list of torch.Tensor
        One per module, in order.

    Examples
    --------
    >>> from torch import nn
    >>> [tuple(o.shape) for o in layer_outputs(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), torch.zeros(4, 3))]
    [(4, 2), (4, 2)]
    """
    outs = []
    with torch.no_grad():
        for m in model:
            x = m(x)
            outs.append(x)
    return outs


def _names(model: nn.Sequential) -> list[str]:
    return [f"{i} {type(m).__name__}" for i, m in enumerate(model)]


@dataclass
class EquivarianceErrors:
    """``errors[l, j]``: the relative error of layer ``l`` at rotation ``rotations[j]`` (quarter turns).

    Attributes
    ----------
    names : list of str
        The modules measured ("index ClassName"; ``Flatten``/``Unflatten`` left out).
    kinds : list of str
        Their field kinds (:func:`explorer.equivariance.fields.field_layout`).
    rotations : numpy.ndarray of shape (R,)
        The quarter turns.
    errors : numpy.ndarray of shape (layers, R), float64
        e_l(r) (see the module text).
    """

    names: list
    kinds: list
    rotations: np.ndarray
    errors: np.ndarray

    @property
    def per_layer(self) -> np.ndarray:
        """The worst error over the rotations, per layer."""
        return self.errors.max(axis=1)


def equivariance_errors(model: nn.Sequential, x, rotations=ROTATIONS, input_shape=None) -> EquivarianceErrors:
    """The error ``e_l(r)`` of every module of ``model`` on the batch ``x`` (see module docs).

    Computed in the model's dtype (use float64 to see rounding-level zeros).
    ``Unflatten`` / ``Flatten`` rows are left out (they only reshape).

    Parameters
    ----------
    model : torch.nn.Sequential
        The network (p4 layers, or plain ones whose tied weights :func:`field_layout` reads).
    x : array_like or torch.Tensor of shape (B, *input_shape)
        A batch of inputs (flat square images, or images).
    rotations : sequence of int, default (1, 2, 3)
        The quarter turns r.
    input_shape : tuple of int, optional
        One sample's shape; by default :func:`input_shape_of`.

    Returns
    -------
    EquivarianceErrors

    Raises
    ------
    ValueError
        When the model has no known input shape or flat inputs are not square images.

    References
    ----------
    Cohen & Welling, "Group equivariant convolutional networks", ICML 2016.

    Examples
    --------
    A p4 net commutes with the rotations at every layer; a plain CNN does not:

    >>> from torch import nn
    >>> from explorer.equivariance import p4cnn
    >>> _ = torch.manual_seed(0)
    >>> x = torch.rand(3, 64, dtype=torch.float64)
    >>> bool(equivariance_errors(p4cnn((2, 2)).double(), x).per_layer.max() < 1e-12)
    True
    >>> cnn = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3, padding=1)).double()
    >>> bool(equivariance_errors(cnn, x).per_layer[0] > 1e-3)
    True
    """
    input_shape = tuple(input_shape or input_shape_of(model))
    x = torch.as_tensor(x, dtype=next(model.parameters()).dtype)
    kinds = field_layout(model, input_shape=input_shape)
    keep = [i for i, m in enumerate(model) if not isinstance(m, (nn.Flatten, nn.Unflatten))]
    with single_threaded():
        base = layer_outputs(model, x)
        errors = np.zeros((len(keep), len(rotations)))
        for j, r in enumerate(rotations):
            moved = layer_outputs(model, _rotate_input(x, r, input_shape))
            for row, i in enumerate(keep):
                want = act(base[i], r, kinds[i]) if base[i].dim() == 4 else base[i]
                scale = float(base[i].abs().max())
                errors[row, j] = float((moved[i] - want).abs().max()) / (scale if scale > 0 else 1.0)
    names = _names(model)
    return EquivarianceErrors([names[i] for i in keep], [kinds[i] for i in keep], np.asarray(rotations), errors)


@dataclass
class FeatureMaps:
    """One layer's maps for the input rotated by ``r`` quarter turns: ``maps[r]`` is ``(K, H, W)``.

    Attributes
    ----------
    layer : str
        The module ("index ClassName").
    kind : str
        Its field kind.
    maps : numpy.ndarray of shape (4, K, H, W)
        Its maps for the input rotated by r = 0, 1, 2, 3.
    aligned : numpy.ndarray of shape (4, K, H, W)
        ``aligned[r] = rho(g^-r) maps[r]``: for an equivariant layer every ``aligned[r]``
        equals ``maps[0]``.
    orientations : int
        4 for a regular p4 field (channel ``4 c + s``), else 1.
    """

    layer: str
    kind: str
    maps: np.ndarray
    aligned: np.ndarray
    orientations: int


def feature_maps(model: nn.Sequential, x, layer: int, input_shape=None) -> FeatureMaps:
    """The maps of module ``layer`` for one input ``x`` at rotations 0, 1, 2, 3.

    Parameters
    ----------
    model : torch.nn.Sequential
        The network.
    x : array_like or torch.Tensor
        One input (reshaped to ``input_shape``).
    layer : int
        The module's index in ``model``.
    input_shape : tuple of int, optional
        One sample's shape; by default :func:`input_shape_of`.

    Returns
    -------
    FeatureMaps

    Raises
    ------
    ValueError
        When ``layer`` is out of range or its output is not a stack of maps.

    Examples
    --------
    >>> from explorer.equivariance import p4cnn
    >>> _ = torch.manual_seed(0)
    >>> f = feature_maps(p4cnn((2, 2)).double(), torch.rand(64, dtype=torch.float64), 1)
    >>> f.layer, f.kind, f.maps.shape, bool(np.allclose(f.aligned, f.maps[0]))
    ('1 LiftingConv2d', 'regular', (4, 8, 8, 8), True)
    """
    input_shape = tuple(input_shape or input_shape_of(model))
    if not 0 <= layer < len(model):
        raise ValueError(f"layer must be in 0..{len(model) - 1}; got {layer}.")
    kinds = field_layout(model, input_shape=input_shape)
    x = torch.as_tensor(x, dtype=next(model.parameters()).dtype).reshape(1, *input_shape)
    batch = torch.cat([_rotate_input(x, r, input_shape) for r in range(4)])
    with single_threaded():
        out = layer_outputs(model, batch)[layer]
    if out.dim() != 4:
        raise ValueError(f"Layer {layer} ({type(model[layer]).__name__}) outputs vectors, not feature maps.")
    aligned = torch.cat([act(out[r:r + 1], -r, kinds[layer]) for r in range(4)])
    return FeatureMaps(_names(model)[layer], kinds[layer], out.numpy(), aligned.numpy(),
                       4 if kinds[layer] == "regular" else 1)
