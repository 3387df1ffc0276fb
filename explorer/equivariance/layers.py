"""p4 layers in plain torch: lifting conv, group conv, group pooling, the invariant head.

Cohen & Welling (ICML 2016), section 6; Gerken et al. (2021), section 4. With
``rot^s`` the rotation by ``s`` quarter turns and ``*`` the cross-correlation of
``nn.Conv2d`` (zero 'same' padding, stride 1, odd kernel, square inputs, so that
padding and sampling commute with ``rot90``):

- lifting: ``y[c, s] = rot^s(W[c]) * x``, i.e. the ``4 C`` filters ``rot^s W[c]``;
- group conv on a regular field ``(C_in, 4)``: the filter of output orientation ``s``
  is ``rot^s(roll(W, s, orientation axis))``, i.e.
  ``y[c, s] = sum_{c', t} rot^s(W[c, c', t - s]) * x[c', t]``;
- group pooling: the mean (or max) over the 4 orientations, a scalar field;
- invariant head: the mean over orientations and positions, then a linear layer.

Biases are shared by the 4 orientations of a channel. Each layer is one ordinary
``nn.Conv2d`` with tied weights: :meth:`expanded_weight` builds that weight, and
:func:`explorer.equivariance.export.export_p4` writes the whole net as plain layers.

>>> import torch
>>> from explorer.equivariance.group import act, rotate_images
>>> lift = LiftingConv2d(1, 2).double()
>>> x = torch.randn(3, 1, 7, 7, dtype=torch.float64)
>>> float((lift(rotate_images(x, 1)) - act(lift(x), 1)).abs().max()) < 1e-12
True
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .group import ORDER, act

__all__ = ["GroupConv2d", "GroupPool", "InvariantHead", "LiftingConv2d", "p4cnn"]


def _init(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: int) -> None:
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        nn.init.uniform_(bias, -bound, bound)


class P4Conv(nn.Module):
    """Shared parts: odd kernel, 'same' zero padding, one bias per channel, conv by the expanded weight.

    Subclasses set ``field_in``, ``plain_in_channels`` and :meth:`expanded_weight`.

    Parameters
    ----------
    in_channels : int
        C_in (channels of the input field).
    out_channels : int
        C_out (the output has 4 C_out channels).
    kernel_size : int
        k, odd.
    bias : bool
        One learned bias per output channel, shared by its 4 orientations.
    group_in : int
        1 for a scalar input, 4 for a regular one (the weight's orientation axis).

    Raises
    ------
    ValueError
        When ``kernel_size`` is even.
    """

    field_out = "regular"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool, group_in: int):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"p4 convs need an odd kernel (centred 'same' padding); got {kernel_size}.")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        shape = (out_channels, in_channels, *((group_in,) if group_in > 1 else ()), kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        _init(self.weight.view(out_channels, -1, kernel_size), self.bias, in_channels * group_in * kernel_size ** 2)

    def expanded_bias(self) -> torch.Tensor | None:
        """The bias of the plain conv: each channel's bias repeated for its 4 orientations.

        Returns
        -------
        torch.Tensor of shape (4 C_out,) or None
            None without bias.
        """
        return None if self.bias is None else self.bias.repeat_interleave(ORDER)

    def _check(self, x: torch.Tensor, channels: int) -> None:
        if x.dim() != 4 or x.shape[1] != channels or x.shape[-1] != x.shape[-2]:
            raise ValueError(f"{type(self).__name__} expects (B, {channels}, n, n) inputs; got {tuple(x.shape)}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The p4 convolution: ``nn.functional.conv2d`` with the expanded weight and bias.

        Parameters
        ----------
        x : torch.Tensor of shape (B, plain_in_channels, n, n)
            The input field.

        Returns
        -------
        torch.Tensor of shape (B, 4 C_out, n, n)
            A regular field (channel ``4 c + s``).

        Raises
        ------
        ValueError
            When ``x`` is not 4-D, has the wrong channels or is not square.
        """
        self._check(x, self.plain_in_channels)
        return F.conv2d(x, self.expanded_weight(), self.expanded_bias(), padding=self.kernel_size // 2)


class LiftingConv2d(P4Conv):
    """Scalar field (``C_in`` channels) -> regular p4 field (``4 C_out`` channels, index ``4 c + s``).

    Parameters
    ----------
    in_channels : int
        C_in.
    out_channels : int
        C_out; the weight is ``(C_out, C_in, k, k)``.
    kernel_size : int, default 3
        k, odd.
    bias : bool, default True
        One bias per output channel.

    Raises
    ------
    ValueError
        When ``kernel_size`` is even.

    References
    ----------
    Cohen & Welling, "Group equivariant convolutional networks", ICML 2016.

    Examples
    --------
    >>> from explorer.equivariance.group import rotate_images
    >>> lift = LiftingConv2d(1, 2).double()
    >>> x = torch.randn(3, 1, 5, 5, dtype=torch.float64)
    >>> tuple(lift(x).shape), bool(torch.allclose(lift(rotate_images(x, 1)), act(lift(x), 1)))
    ((3, 8, 5, 5), True)
    """

    field_in = "scalar"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, bias, group_in=1)
        self.plain_in_channels = in_channels

    def expanded_weight(self) -> torch.Tensor:
        """``(4 C_out, C_in, k, k)``: filter ``4 c + s`` is ``rot90(W[c], s)``.

        Returns
        -------
        torch.Tensor of shape (4 C_out, C_in, k, k)
            The weight of the equivalent plain ``Conv2d``.
        """
        w = torch.stack([torch.rot90(self.weight, s, dims=(-2, -1)) for s in range(ORDER)], dim=1)
        return w.reshape(ORDER * self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)


class GroupConv2d(P4Conv):
    """Regular p4 field (``4 C_in`` channels) -> regular p4 field (``4 C_out``); weight ``(C_out, C_in, 4, k, k)``.

    Parameters
    ----------
    in_channels : int
        C_in (the input has 4 C_in channels).
    out_channels : int
        C_out.
    kernel_size : int, default 3
        k, odd.
    bias : bool, default True
        One bias per output channel.

    Raises
    ------
    ValueError
        When ``kernel_size`` is even.

    References
    ----------
    Cohen & Welling, "Group equivariant convolutional networks", ICML 2016.

    Examples
    --------
    >>> conv = GroupConv2d(2, 3).double()
    >>> y = torch.randn(2, 8, 5, 5, dtype=torch.float64)
    >>> tuple(conv(y).shape), bool(torch.allclose(conv(act(y, 1)), act(conv(y), 1)))
    ((2, 12, 5, 5), True)
    """

    field_in = "regular"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, bias, group_in=ORDER)
        self.plain_in_channels = ORDER * in_channels

    def expanded_weight(self) -> torch.Tensor:
        """``(4 C_out, 4 C_in, k, k)``: for output orientation ``s``, ``rot90(roll(W, s, axis 2), s)``.

        Returns
        -------
        torch.Tensor of shape (4 C_out, 4 C_in, k, k)
            The weight of the equivalent plain ``Conv2d``.
        """
        w = torch.stack([torch.rot90(torch.roll(self.weight, s, dims=2), s, dims=(-2, -1))
                         for s in range(ORDER)], dim=1)  # (C_out, 4, C_in, 4, k, k)
        return w.reshape(ORDER * self.out_channels, ORDER * self.in_channels, self.kernel_size, self.kernel_size)


class GroupPool(nn.Module):
    """Regular field ``(B, 4 C, H, W)`` -> scalar field ``(B, C, H, W)``: mean or max over orientations.

    The mean is affine (it exports as a 1x1 conv); the max is piecewise linear but is
    not one of the canonical form's layers, so only ``mode="mean"`` exports.

    Parameters
    ----------
    mode : str, default "mean"
        ``"mean"`` or ``"max"``.

    Raises
    ------
    ValueError
        For another mode.

    Examples
    --------
    >>> y = torch.arange(8.0).reshape(1, 8, 1, 1)
    >>> GroupPool()(y).flatten().tolist(), GroupPool("max")(y).flatten().tolist()
    ([1.5, 5.5], [3.0, 7.0])
    """

    field_in, field_out = "regular", "scalar"

    def __init__(self, mode: str = "mean"):
        super().__init__()
        if mode not in ("mean", "max"):
            raise ValueError(f"GroupPool mode must be 'mean' or 'max'; got '{mode}'.")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool each channel's 4 orientation planes.

        Parameters
        ----------
        x : torch.Tensor of shape (B, 4 C, H, W)
            A regular field.

        Returns
        -------
        torch.Tensor of shape (B, C, H, W)
            A scalar field.
        """
        b, k, h, w = x.shape
        y = x.reshape(b, k // ORDER, ORDER, h, w)
        return y.mean(2) if self.mode == "mean" else y.amax(2)


class InvariantHead(nn.Module):
    """Regular field -> class scores that no rotation of p4 changes.

    ``mode="mean"``: the mean over orientations and positions, then ``Linear(C, K)``.
    ``mode="orbit"``: a linear map on the whole field whose weight is constant on the
    orbits of the group action, ``W = (1/4) sum_r rho(g^r) V`` (the projection of a free
    weight ``V`` onto the invariant ones), so ``<W, rho(g) y> = <W, y>``; it keeps where a
    feature sits relative to the centre.

    Parameters
    ----------
    channels : int
        C (the field has 4 C channels).
    num_classes : int
        K.
    mode : str, default "mean"
        ``"mean"`` or ``"orbit"``.
    size : int, optional
        n, the side of the maps ``mode="orbit"`` reads (required there).

    Attributes
    ----------
    linear : torch.nn.Linear
        ``Linear(C, K)`` (mean) or ``Linear(4 C n n, K)`` holding the free weight V (orbit).

    Raises
    ------
    ValueError
        For another mode, or ``mode="orbit"`` without ``size``.

    Examples
    --------
    >>> head = InvariantHead(2, 3, mode="orbit", size=4).double()
    >>> y = torch.randn(5, 8, 4, 4, dtype=torch.float64)
    >>> tuple(head(y).shape), bool(torch.allclose(head(act(y, 1)), head(y)))
    ((5, 3), True)
    """

    field_in, field_out = "regular", "invariant"

    def __init__(self, channels: int, num_classes: int, mode: str = "mean", size: int | None = None):
        super().__init__()
        if mode not in ("mean", "orbit"):
            raise ValueError(f"InvariantHead mode must be 'mean' or 'orbit'; got '{mode}'.")
        if mode == "orbit" and not size:
            raise ValueError("InvariantHead(mode='orbit') needs the map size it reads.")
        self.channels, self.mode, self.size = channels, mode, size
        self.linear = nn.Linear(channels if mode == "mean" else ORDER * channels * size * size, num_classes)

    def orbit_weight(self) -> torch.Tensor:
        """``(K, 4 C * n * n)``: the invariant weight of ``mode="orbit"``.

        Every entry of an orbit is the same sum of 4 entries of V (summed in sorted order, so the
        tying is exact in any dtype).

        Returns
        -------
        torch.Tensor of shape (K, 4 C n n)
        """
        k, n = self.linear.out_features, self.size
        v = self.linear.weight.reshape(k, ORDER * self.channels, n, n)
        # every entry of an orbit sums the same 4 numbers; sorting them first makes the sums
        # bitwise equal, so the tying is exact in any dtype (not just up to rounding)
        terms = torch.sort(torch.stack([act(v, r) for r in range(ORDER)]), dim=0).values
        return (((terms[0] + terms[1]) + terms[2]) + terms[3]).reshape(k, -1) / ORDER

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of a batch of regular fields.

        Parameters
        ----------
        x : torch.Tensor of shape (B, 4 C, n, n)
            A regular field (n = ``size`` for ``mode="orbit"``).

        Returns
        -------
        torch.Tensor of shape (B, K)

        Raises
        ------
        ValueError
            When an ``"orbit"`` head gets maps of another shape.
        """
        b = x.shape[0]
        if self.mode == "mean":
            return self.linear(x.reshape(b, self.channels, -1).mean(2))
        if x.shape[1:] != (ORDER * self.channels, self.size, self.size):
            raise ValueError(f"InvariantHead expects ({ORDER * self.channels}, {self.size}, {self.size}) "
                             f"maps; got {tuple(x.shape[1:])}.")
        return F.linear(x.reshape(b, -1), self.orbit_weight(), self.linear.bias)


def p4cnn(channels=(4, 8, 16), pool_after=(0,), image_size: int = 8, num_classes: int = 10,
          kernel_size: int = 3, head: str = "orbit") -> nn.Sequential:
    """A p4-invariant CNN on flat single-channel ``n x n`` images.

    ``Unflatten``, a lifting conv to ``channels[0]``, group convs to the other widths
    (each followed by ReLU; ``AvgPool2d(2)`` after the layers listed in ``pool_after``,
    which commutes with rot90 on even sizes), and the invariant head.

    Parameters
    ----------
    channels : sequence of int, default (4, 8, 16)
        C per conv layer (each outputs 4 C channels).
    pool_after : sequence of int, default (0,)
        Indices of the conv layers followed by 2x2 average pooling.
    image_size : int, default 8
        n.
    num_classes : int, default 10
        K.
    kernel_size : int, default 3
        k, odd.
    head : str, default "orbit"
        The :class:`InvariantHead` mode.

    Returns
    -------
    torch.nn.Sequential
        float32, default torch initialisation (seed with ``torch.manual_seed``).

    Raises
    ------
    ValueError
        When a pooling meets an odd map size, or for an even kernel or an unknown head.

    References
    ----------
    Cohen & Welling, "Group equivariant convolutional networks", ICML 2016.

    Examples
    --------
    >>> from explorer.equivariance.group import rotate_flat
    >>> _ = torch.manual_seed(0)
    >>> net = p4cnn((2, 2)).double()
    >>> x = torch.rand(3, 64, dtype=torch.float64)
    >>> [type(m).__name__ for m in net][1:5], bool(torch.allclose(net(rotate_flat(x, 1)), net(x)))
    (['LiftingConv2d', 'ReLU', 'AvgPool2d', 'GroupConv2d'], True)
    """
    size = image_size
    layers: list[nn.Module] = [nn.Unflatten(1, (1, image_size, image_size))]
    c_in = None
    for i, c in enumerate(channels):
        layers += [LiftingConv2d(1, c, kernel_size) if c_in is None else GroupConv2d(c_in, c, kernel_size), nn.ReLU()]
        if i in pool_after:
            if size % 2:
                raise ValueError(f"2x2 pooling commutes with rot90 only on even sizes; the map is {size}x{size}.")
            layers.append(nn.AvgPool2d(2))
            size //= 2
        c_in = c
    layers.append(InvariantHead(c_in, num_classes, head, size))
    return nn.Sequential(*layers)
