"""Orthogonal convolutions by the Cayley transform (Trockman & Kolter, ICLR 2021).

A circular conv on an ``n x n`` torus is block-diagonal in the 2-D DFT: at each
frequency ``f`` it multiplies the channel vector by the ``c x c`` symbol ``W(f)``.
The Cayley layer replaces ``W(f)`` by

    A(f) = W(f) - W(f)^H            (skew-Hermitian)
    Q(f) = (I + A(f))^{-1} (I - A(f))   (unitary),

so the layer is exactly orthogonal: every singular value of its operator is 1.
Because ``W(-f) = conj W(f)`` for a real kernel, ``Q(-f) = conj Q(f)`` and the output
is real. With ``c_in < c_out`` the input channels are zero-padded, which keeps the
first ``c_in`` columns of ``Q``: an isometry, again with all singular values 1.

The trained layer is exported as an ordinary ``nn.Conv2d`` with circular padding and
a full-size kernel (:func:`export_conv2d`), so zoo checkpoints stay plain specs.

>>> import torch
>>> layer = CayleyConv2d(3, 3, 3, input_size=(6, 6)).double()
>>> x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
>>> bool(torch.allclose(layer(x).norm(), x.norm()))   # bias is zero at init
True
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import training
from ..data import datasets
from ..nets.threads import single_threaded

__all__ = ["CayleyConv2d", "export_conv2d", "orthogonal_cnn", "export_model", "train_orthogonal", "zoo_spec"]


class CayleyConv2d(nn.Module):
    """A ``c_in -> c_out`` circular conv on a fixed ``n1 x n2`` input that is exactly orthogonal.

    The parameter is an ordinary ``c_out x c_out x k x k`` kernel ``weight`` (the
    skew part of its symbol is used), plus a bias.

    Parameters
    ----------
    in_channels : int
        ``c_in``, at most ``out_channels`` (the layer is an isometry).
    out_channels : int
        ``c_out``.
    kernel_size : int
        Side k of the square kernel that parametrises the layer.
    input_size : tuple of 2 ints
        The fixed image size ``(n1, n2)``.
    bias : bool
        Add a learnable bias (zero at init).

    Raises
    ------
    ValueError
        When ``in_channels > out_channels``.

    References
    ----------
    A. Trockman and J. Z. Kolter, "Orthogonalizing convolutional layers with the Cayley
    transform", ICLR 2021.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, input_size, bias: bool = True):
        super().__init__()
        if in_channels > out_channels:
            raise ValueError("A Cayley conv needs in_channels <= out_channels (an isometry).")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.input_size = tuple(int(s) for s in input_size)
        self.weight = nn.Parameter(torch.empty(out_channels, out_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def symbol(self) -> torch.Tensor:
        """The unitary blocks ``Q(f)`` of the layer, one per DFT frequency.

        Returns
        -------
        torch.Tensor of shape (n1, n2, c_out, c_in), complex
            The first ``c_in`` columns of ``(I + A(f))^{-1} (I - A(f))``, ``A = W - W^H``.
        """
        n1, n2 = self.input_size
        W = torch.fft.fft2(self.weight, s=(n1, n2)).permute(2, 3, 0, 1)  # (n1, n2, c, c)
        A = W - W.mH
        eye = torch.eye(self.out_channels, dtype=A.dtype)
        Q = torch.linalg.solve(eye + A, eye - A)
        return Q[..., : self.in_channels]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the orthogonal conv (plus bias) by the 2-D DFT.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, c_in, n1, n2)
            Real images of the layer's ``input_size``.

        Returns
        -------
        torch.Tensor of shape (batch, c_out, n1, n2)
            Real; ``||y - bias|| = ||x||`` per sample.

        Raises
        ------
        ValueError
            When the image size is not ``input_size``.
        """
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"CayleyConv2d was built for {self.input_size} inputs, got {tuple(x.shape[-2:])}.")
        X = torch.fft.fft2(x).permute(2, 3, 1, 0)  # (n1, n2, c_in, batch)
        Y = (self.symbol().to(X.dtype) @ X).permute(3, 2, 0, 1)
        y = torch.fft.ifft2(Y).real
        return y if self.bias is None else y + self.bias[:, None, None]


def export_conv2d(layer: CayleyConv2d) -> nn.Conv2d:
    """The same operator as an ``nn.Conv2d`` (circular padding, full-size kernel).

    With the torch DFT convention the layer computes ``Y(f) = Q(f) X(f)``, i.e. the
    circular cross-correlation ``y[i] = sum_d h[d] x[i + d]`` with
    ``h[d] = (1/(n1 n2)) sum_f Q(f) exp(-2 pi i f.d / n)`` = ``fft2(Q)[d] / (n1 n2)``.
    Offsets ``d = -n/2 .. n/2 - 1`` go to kernel taps ``d + n/2`` of an ``(n+1) x (n+1)``
    kernel (the last tap stays zero) with circular padding ``n/2``.

    Parameters
    ----------
    layer : CayleyConv2d
        The layer; its input size must be even.

    Returns
    -------
    torch.nn.Conv2d
        float64, kernel ``(c_out, c_in, n1 + 1, n2 + 1)``, padding ``(n1 / 2, n2 / 2)``, circular.

    Raises
    ------
    ValueError
        When the input size is odd.

    Examples
    --------
    >>> layer = CayleyConv2d(2, 3, 3, input_size=(4, 4)).double()
    >>> conv = export_conv2d(layer)
    >>> x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    >>> tuple(conv.weight.shape), bool(torch.allclose(conv(x), layer(x)))
    ((3, 2, 5, 5), True)
    """
    n1, n2 = layer.input_size
    if n1 % 2 or n2 % 2:
        raise ValueError("export_conv2d needs an even input size.")
    with torch.no_grad():
        Q = copy.deepcopy(layer).double().symbol()  # (n1, n2, co, ci), unitary in float64
        h = torch.fft.fft2(Q.permute(2, 3, 0, 1)).real / (n1 * n2)  # (co, ci, n1, n2), index d mod n
        taps = torch.roll(h, shifts=(n1 // 2, n2 // 2), dims=(2, 3))  # tap a <-> offset a - n/2
        kernel = torch.zeros(layer.out_channels, layer.in_channels, n1 + 1, n2 + 1, dtype=torch.float64)
        kernel[:, :, :n1, :n2] = taps
        conv = nn.Conv2d(layer.in_channels, layer.out_channels, (n1 + 1, n2 + 1), padding=(n1 // 2, n2 // 2),
                         padding_mode="circular", bias=layer.bias is not None).to(torch.float64)
        conv.weight.copy_(kernel)
        if layer.bias is not None:
            conv.bias.copy_(layer.bias.to(torch.float64))
    return conv


def orthogonal_cnn(channels=(16, 16), image_size=(8, 8), num_classes: int = 10, kernel_size: int = 3) -> nn.Sequential:
    """A CNN on flat single-channel images: Cayley convs + ReLU, 2x2 average pooling, a linear head.

    Parameters
    ----------
    channels : tuple of int
        Output channels of each Cayley conv (non-decreasing, starting from 1 input channel).
    image_size : tuple of 2 ints
        The image's ``(n1, n2)``; inputs are flat ``(batch, n1 * n2)``.
    num_classes : int
        Outputs of the head.
    kernel_size : int
        Kernel side of every Cayley conv.

    Returns
    -------
    torch.nn.Sequential
        ``Unflatten``, ``(CayleyConv2d, ReLU)`` per entry of ``channels``, ``AvgPool2d(2)``,
        ``Flatten``, ``Linear``.

    Examples
    --------
    >>> net = orthogonal_cnn(channels=(2,), image_size=(4, 4), num_classes=3)
    >>> net(torch.zeros(5, 16)).shape
    torch.Size([5, 3])
    """
    layers: list[nn.Module] = [nn.Unflatten(1, (1, *image_size))]
    c_in = 1
    for c in channels:
        layers += [CayleyConv2d(c_in, c, kernel_size, image_size), nn.ReLU()]
        c_in = c
    layers += [nn.AvgPool2d(2), nn.Flatten(),
               nn.Linear(c_in * (image_size[0] // 2) * (image_size[1] // 2), num_classes)]
    return nn.Sequential(*layers)


def export_model(model: nn.Sequential) -> nn.Sequential:
    """Replace every :class:`CayleyConv2d` of a sequential model by its exported ``nn.Conv2d``.

    Parameters
    ----------
    model : torch.nn.Sequential
        A flat sequential model (e.g. from :func:`orthogonal_cnn`).

    Returns
    -------
    torch.nn.Sequential
        A float32 copy in eval mode, the other modules shared.
    """
    return nn.Sequential(*[export_conv2d(m) if isinstance(m, CayleyConv2d) else m for m in model]).float().eval()


def train_orthogonal(model: nn.Module, data: datasets.Dataset, recipe: training.Recipe,
                     progress: Callable[[int, int], None] | None = None) -> tuple[nn.Module, dict]:
    """Zoo ``trainer``: train a Cayley CNN, export it into ``model``'s plain spec.

    ``model`` is the untrained plain ``nn.Sequential`` built from the zoo spec (its conv
    layers are full-size circular convs); the trained Cayley layers are exported into
    it, so the checkpoint loads with :func:`explorer.zoo.load_file`.

    Parameters
    ----------
    model : torch.nn.Module
        The plain model built from :func:`zoo_spec`; its weights are overwritten.
    data : explorer.data.datasets.Dataset
        Flat square single-channel images (``X_train`` of shape (n, side * side)).
    recipe : explorer.training.Recipe
        Its seed, epochs, learning rate, ...; the method is always plain training.
    progress : callable, optional
        ``progress(done, total)`` during training.

    Returns
    -------
    model : torch.nn.Module
        ``model`` with the exported weights, in eval mode.
    metrics : dict
        ``train_accuracy``, ``test_accuracy``, ``test_samples`` and ``cayley_test_accuracy``
        (the Cayley model before export).
    """
    torch.manual_seed(recipe.seed)
    channels = tuple(m.out_channels for m in model if isinstance(m, nn.Conv2d))
    side = int(round(np.sqrt(data.X_train.shape[1])))
    cayley = orthogonal_cnn(channels, (side, side), len(data.class_names))
    with single_threaded():
        training.train(cayley, data, dataclasses.replace(recipe, method="plain"), progress)
    exported = export_model(cayley)
    model.load_state_dict(exported.state_dict())
    model.eval()
    metrics = {
        "train_accuracy": round(training.accuracy(model, data.X_train, data.y_train), 4),
        "test_accuracy": round(training.accuracy(model, data.X_test, data.y_test), 4),
        "test_samples": len(data.y_test),
        "cayley_test_accuracy": round(training.accuracy(cayley.eval(), data.X_test, data.y_test), 4),
    }
    return model, metrics


def zoo_spec(channels=(16, 16), image_size=(8, 8), num_classes: int = 10) -> list[dict]:
    """The plain zoo spec of :func:`orthogonal_cnn` after export (full-size circular convs).

    Parameters
    ----------
    channels : tuple of int
        Output channels of each conv.
    image_size : tuple of 2 ints
        The image's ``(n1, n2)``, even.
    num_classes : int
        Outputs of the head.

    Returns
    -------
    list of dict
        Layer specs for :mod:`explorer.zoo` (unflatten, conv2d + relu per channel count,
        avgpool2d, flatten, linear).

    Examples
    --------
    >>> [layer["type"] for layer in zoo_spec(channels=(4,), image_size=(4, 4), num_classes=2)]
    ['unflatten', 'conv2d', 'relu', 'avgpool2d', 'flatten', 'linear']
    """
    n1, n2 = image_size
    spec: list[dict] = [{"type": "unflatten", "shape": [1, n1, n2]}]
    c_in = 1
    for c in channels:
        spec += [{"type": "conv2d", "in": c_in, "out": c, "kernel": [n1 + 1, n2 + 1],
                  "padding": [n1 // 2, n2 // 2], "padding_mode": "circular"}, {"type": "relu"}]
        c_in = c
    spec += [{"type": "avgpool2d", "kernel": 2, "stride": 2}, {"type": "flatten"},
             {"type": "linear", "in": c_in * (n1 // 2) * (n2 // 2), "out": num_classes}]
    return spec
