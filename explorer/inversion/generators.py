"""Generator networks to invert (and, re-exported here, the corruptions and the digits VAE).

A *generator* here is a piecewise-linear network G: R^k -> R^n,

    x_0 = z,   x_i = relu(W_i x_{i-1} + b_i)   (i = 1..L; the last ReLU optional),

as in Aberdam, Simon & Elad, "When and how can deep generative models be
inverted?" (arXiv 2006.15555) and Lei, Jalal, Dhillon & Dimakis (NeurIPS 2019).

- :func:`random_generator` builds the random expansive generators of those papers:
  bias-free Linear+ReLU layers, weights N(0, 1/n_out), a ReLU on the output too
  (as in Lei et al.'s code), float64.
- :func:`dense_layers` reads any Linear/ReLU (or conv) ``nn.Sequential`` into the
  matrices the inversion algorithms work on.
- :func:`~explorer.inversion.digits_vae.train_digits_vae` trains the small VAE whose decoder
  is the zoo model ``digits-vae-decoder`` and whose posterior-mean encoder is
  ``digits-vae-encoder`` (:mod:`explorer.inversion.digits_vae`).
- :func:`~explorer.inversion.corruptions.corrupt` and its helpers: Gaussian noise, missing
  pixels (random or a block), compressed sensing y = A G(z) (A ~ N(0, 1/m), Bora et al.
  2017) (:mod:`explorer.inversion.corruptions`).

>>> g = random_generator([20, 100, 500], seed=0)
>>> layers = dense_layers(g)
>>> [l.W.shape for l in layers], layers[-1].relu
([(100, 20), (500, 100)], True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import nets
from .corruptions import Corruption, block_mask, corrupt, gaussian_noise, random_mask, sensing_matrix
from .digits_vae import VAE_HIDDEN, VAE_LATENT, train_digits_vae, vae_decoder_trainer, vae_encoder_trainer

__all__ = ["random_generator", "random_layers", "DenseLayer", "dense_layers", "forward_all", "Corruption", "corrupt",
           "gaussian_noise", "random_mask", "block_mask", "sensing_matrix", "train_digits_vae",
           "vae_decoder_trainer", "vae_encoder_trainer", "VAE_LATENT", "VAE_HIDDEN"]


def random_generator(sizes, seed: int = 0) -> nn.Sequential:
    """Random ReLU generator ``sizes[0] -> ... -> sizes[-1]``, bias-free, float64.

    Every layer is Linear (no bias, weights i.i.d. N(0, 1/n_out)) followed by a
    ReLU, the output layer included (Lei et al.'s setting). Seeded through numpy,
    so the same sizes and seed give the same weights everywhere.

    Parameters
    ----------
    sizes : sequence of int
        The widths, latent first (at least two, all positive).
    seed : int, default 0
        Seeds the weights (:func:`random_layers`).

    Returns
    -------
    torch.nn.Sequential
        Linear/ReLU pairs, float64, eval mode, with ``input_shape = (sizes[0],)`` and
        ``class_names = None``.

    Raises
    ------
    ValueError
        When there are fewer than two sizes or one is below 1.

    References
    ----------
    Lei, Jalal, Dhillon & Dimakis, "Inverting deep generative models, one layer at a time",
    NeurIPS 2019. Aberdam, Simon & Elad, "When and how can deep generative models be inverted?",
    arXiv 2006.15555, 2020.

    Examples
    --------
    >>> g = random_generator([2, 5, 8], seed=0)
    >>> [type(m).__name__ for m in g], g.input_shape, g[0].weight.dtype
    (['Linear', 'ReLU', 'Linear', 'ReLU'], (2,), torch.float64)
    """
    layers: list[nn.Module] = []
    for layer in random_layers(sizes, seed):
        lin = nn.Linear(layer.W.shape[1], layer.W.shape[0], bias=False).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.W))
        layers += [lin, nn.ReLU()]
    sizes = [int(s) for s in sizes]
    model = nn.Sequential(*layers).eval()
    model.input_shape = (sizes[0],)
    model.class_names = None
    return model


@dataclass
class DenseLayer:
    """One layer x -> relu(W x + b) (or W x + b when ``relu`` is False), float64.

    Attributes
    ----------
    W : numpy.ndarray of shape (n_out, n_in), float64
        The weight.
    b : numpy.ndarray of shape (n_out,), float64
        The bias.
    relu : bool
        Whether a ReLU follows the affine map.
    """

    W: np.ndarray
    b: np.ndarray
    relu: bool


def random_layers(sizes, seed: int = 0) -> list[DenseLayer]:
    """The weights of ``random_generator(sizes, seed)`` directly as DenseLayers (faster).

    Parameters
    ----------
    sizes : sequence of int
        The widths, latent first (at least two, all positive).
    seed : int, default 0
        Seeds the weights: i.i.d. N(0, 1/n_out).

    Returns
    -------
    list of DenseLayer
        One per consecutive pair of sizes, zero bias, ``relu`` True.

    Raises
    ------
    ValueError
        When there are fewer than two sizes or one is below 1.

    Examples
    --------
    >>> layers = random_layers([2, 5, 8], seed=0)
    >>> [l.W.shape for l in layers], bool(np.array_equal(layers[0].W, dense_layers(random_generator([2, 5, 8]))[0].W))
    ([(5, 2), (8, 5)], True)
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"A generator needs at least two positive layer sizes, got {sizes}.")
    rng = np.random.default_rng(seed)
    return [DenseLayer(rng.normal(0.0, 1.0 / math.sqrt(n_out), (n_out, n_in)), np.zeros(n_out), True)
            for n_in, n_out in zip(sizes, sizes[1:])]


def dense_layers(generator) -> list[DenseLayer]:
    """The generator as a list of :class:`DenseLayer` (every affine block made dense).

    Parameters
    ----------
    generator : torch.nn.Module or list of DenseLayer
        An ``nn.Module`` that :func:`explorer.nets.canonical` understands (Linear, conv, ReLU,
        ...), taking a flat latent code; a list of DenseLayer is returned unchanged.

    Returns
    -------
    list of DenseLayer
        float64, first layer first.

    Raises
    ------
    explorer.nets.UnsupportedLayerError
        For layers :func:`explorer.nets.canonical` does not read.
    ValueError
        When the network does not start with an affine block or takes a non-flat input.

    Examples
    --------
    >>> from torch import nn
    >>> layers = dense_layers(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3)))
    >>> [(l.W.shape, l.relu) for l in layers]
    [((4, 2), True), ((3, 4), False)]
    """
    if isinstance(generator, list) and all(isinstance(l, DenseLayer) for l in generator):
        return generator
    net = nets.canonical(generator)
    if len(net.input_shape) != 1:
        raise ValueError(f"A generator takes a flat latent code; this one takes shape {net.input_shape}.")
    return [DenseLayer(W, b, relu=relu) for W, b, relu in net.affine_blocks()]


def forward_all(layers: list[DenseLayer], z: np.ndarray) -> list[np.ndarray]:
    """All layer outputs [x_0 = z, x_1, ..., x_L] for one latent code (float64).

    Parameters
    ----------
    layers : list of DenseLayer
        The generator (:func:`dense_layers`).
    z : array_like of shape (k,)
        The latent code (flattened).

    Returns
    -------
    list of numpy.ndarray
        L + 1 vectors, float64: z, then each layer's output.

    Examples
    --------
    >>> layers = [DenseLayer(np.array([[1.0, -1.0], [1.0, 1.0]]), np.zeros(2), True)]
    >>> [x.tolist() for x in forward_all(layers, [1.0, 2.0])]
    [[1.0, 2.0], [0.0, 3.0]]
    """
    xs = [np.asarray(z, dtype=np.float64).reshape(-1)]
    for layer in layers:
        h = layer.W @ xs[-1] + layer.b
        xs.append(np.maximum(h, 0.0) if layer.relu else h)
    return xs
