"""DeepFool commutes with the rotations for a p4-invariant network.

If ``f(g x) = f(x)`` for an orthogonal ``g`` (a rotation of the pixel grid is a
permutation), then ``grad f_k(g x) = g grad f_k(x)``, so every DeepFool step at ``g x``
is ``g`` applied to the step at ``x`` (Moosavi-Dezfooli et al. 2016, Algorithm 2): the
perturbation of the rotated digit is the rotated perturbation, with the same norm.
A plain CNN has no such identity.

>>> import torch
>>> from explorer.equivariance import export_p4, p4cnn
>>> check = rotated_deepfool(export_p4(p4cnn((2, 2)).double()), torch.rand(64, dtype=torch.float64), 1)
>>> check.max_difference < 1e-9
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..attacks import deepfool
from .group import rotate_flat

__all__ = ["RotatedDeepFool", "rotated_deepfool"]


@dataclass
class RotatedDeepFool:
    """DeepFool at ``x`` and at ``g^r x``: ``r_rotated`` vs ``g^r r_upright`` (flat arrays).

    Attributes
    ----------
    quarter_turns : int
        r.
    r_upright : numpy.ndarray of shape (n,)
        DeepFool's perturbation at x.
    r_rotated : numpy.ndarray of shape (n,)
        DeepFool's perturbation at g^r x.
    rotated_r_upright : numpy.ndarray of shape (n,)
        g^r applied to ``r_upright``: equals ``r_rotated`` for a p4-invariant net.
    norm_upright, norm_rotated : float
        Their l2 norms.
    labels : tuple of int
        (label at x, adversarial label at x, label at g x, adversarial label at g x).
    """

    quarter_turns: int
    r_upright: np.ndarray
    r_rotated: np.ndarray
    rotated_r_upright: np.ndarray
    norm_upright: float
    norm_rotated: float
    labels: tuple  # (label at x, adversarial label at x, label at g x, adversarial label at g x)

    @property
    def max_difference(self) -> float:
        """The largest entry of |r_rotated - g^r r_upright| (rounding level for a p4-invariant net)."""
        return float(np.abs(self.r_rotated - self.rotated_r_upright).max())


def rotated_deepfool(model: nn.Module, x, quarter_turns: int = 1, image_shape=(8, 8),
                     **deepfool_kwargs) -> RotatedDeepFool:
    """Run :func:`explorer.attacks.deepfool` on a flat image ``x`` and on its rotation.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier of flat images (e.g. :func:`export_p4` of a p4 net), in ``x``'s dtype.
    x : array_like or torch.Tensor of shape (n,)
        One flat image.
    quarter_turns : int, default 1
        r.
    image_shape : tuple of int, default (8, 8)
        The image's (H, W), square.
    **deepfool_kwargs
        Keywords of :func:`explorer.attacks.deepfool` (defaults here: ``norm="l2"``,
        ``overshoot=0.02``, ``max_iter=50``, ``keep_path=False``).

    Returns
    -------
    RotatedDeepFool
        Both perturbations, the rotated upright one, their norms and the labels.

    References
    ----------
    Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method to fool deep neural
    networks", CVPR 2016.

    Examples
    --------
    >>> from explorer.equivariance import export_p4, p4cnn
    >>> _ = torch.manual_seed(0)
    >>> check = rotated_deepfool(export_p4(p4cnn((2, 2)).double()), torch.rand(64, dtype=torch.float64), 2)
    >>> check.max_difference < 1e-9, abs(check.norm_upright - check.norm_rotated) < 1e-9
    (True, True)
    """
    x = torch.as_tensor(x).reshape(1, -1)
    kwargs = {"norm": "l2", "overshoot": 0.02, "max_iter": 50, "keep_path": False, **deepfool_kwargs}
    both = deepfool(model, torch.cat([x, rotate_flat(x, quarter_turns, image_shape)]), **kwargs)
    r0, r1 = both.r[0], both.r[1]
    return RotatedDeepFool(int(quarter_turns), r0, r1, rotate_flat(r0, quarter_turns, image_shape),
                           float(np.linalg.norm(r0)), float(np.linalg.norm(r1)),
                           (int(both.original[0]), int(both.adversarial[0]),
                            int(both.original[1]), int(both.adversarial[1])))
