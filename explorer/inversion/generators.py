"""Generator networks to invert, and the corruptions a target goes through.

A *generator* here is a piecewise-linear network G: R^k -> R^n,

    x_0 = z,   x_i = relu(W_i x_{i-1} + b_i)   (i = 1..L; the last ReLU optional),

as in Aberdam, Simon & Elad, "When and how can deep generative models be
inverted?" (arXiv 2006.15555) and Lei, Jalal, Dhillon & Dimakis (NeurIPS 2019).

- :func:`random_generator` builds the random expansive generators of those papers:
  bias-free Linear+ReLU layers, weights N(0, 1/n_out), a ReLU on the output too
  (as in Lei et al.'s code), float64.
- :func:`dense_layers` reads any Linear/ReLU (or conv) ``nn.Sequential`` into the
  matrices the inversion algorithms work on.
- :func:`train_digits_vae` trains the small VAE whose decoder is the zoo model
  ``digits-vae-decoder`` and whose posterior-mean encoder is ``digits-vae-encoder``.
- :func:`corrupt` and its helpers: Gaussian noise, missing pixels (random or a
  block), compressed sensing y = A G(z) (A ~ N(0, 1/m), Bora et al. 2017).

>>> g = random_generator([20, 100, 500], seed=0)
>>> layers = dense_layers(g)
>>> [l.W.shape for l in layers], layers[-1].relu
([(100, 20), (500, 100)], True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from .. import nets, training
from ..nets.threads import single_threaded

__all__ = ["random_generator", "random_layers", "DenseLayer", "dense_layers", "forward_all", "Corruption", "corrupt",
           "gaussian_noise", "random_mask", "block_mask", "sensing_matrix", "train_digits_vae",
           "vae_decoder_trainer", "vae_encoder_trainer", "VAE_LATENT", "VAE_HIDDEN"]


# -- generators ---------------------------------------------------------------------------

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


# -- corruptions -----------------------------------------------------------------------------

@dataclass
class Corruption:
    """A corrupted observation of x = G(z).

    Attributes
    ----------
    y : numpy.ndarray, float64
        Only what is observed: ``x[mask] + e`` with missing pixels, ``A x + e`` with
        compressed sensing, ``x + e`` otherwise.
    mask : numpy.ndarray of shape (n,), bool, or None
        The observed entries (missing pixels).
    A : numpy.ndarray of shape (m, n), float64, or None
        The sensing matrix (compressed sensing).
    noise_std : float
        The absolute standard deviation of e (0 for clean).
    kind : list of str
        The corruptions in words (``["clean"]`` for none).
    """

    y: np.ndarray
    mask: np.ndarray | None = None
    A: np.ndarray | None = None
    noise_std: float = 0.0
    kind: list = field(default_factory=list)


def gaussian_noise(x: np.ndarray, level: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Add N(0, sigma^2) noise with sigma = level * rms(x).

    Parameters
    ----------
    x : numpy.ndarray, float64
        The clean values.
    level : float
        The noise level relative to the rms of ``x``, >= 0.
    rng : numpy.random.Generator
        Draws the noise.

    Returns
    -------
    noisy : numpy.ndarray
        ``x`` plus the noise, same shape.
    sigma : float
        The absolute standard deviation used.

    Raises
    ------
    ValueError
        When ``level`` is negative.

    Examples
    --------
    >>> noisy, sigma = gaussian_noise(np.full(4, 2.0), 0.1, np.random.default_rng(0))
    >>> noisy.shape, round(sigma, 12)
    ((4,), 0.2)
    """
    if level < 0:
        raise ValueError(f"The noise level must be >= 0, got {level}.")
    sigma = float(level * np.sqrt(np.mean(np.square(x))))
    return x + sigma * rng.standard_normal(x.shape), sigma


def random_mask(n: int, keep: float, seed: int = 0) -> np.ndarray:
    """Boolean mask keeping round(keep * n) entries (at least one) chosen at random.

    Parameters
    ----------
    n : int
        The mask's length.
    keep : float
        The kept fraction, in (0, 1].
    seed : int, default 0
        Seeds the choice.

    Returns
    -------
    numpy.ndarray of shape (n,), bool

    Raises
    ------
    ValueError
        When ``keep`` is not in (0, 1].

    Examples
    --------
    >>> int(random_mask(10, 0.3).sum())
    3
    """
    if not 0 < keep <= 1:
        raise ValueError(f"The kept fraction must be in (0, 1], got {keep}.")
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, max(1, round(keep * n)), replace=False)] = True
    return mask


def block_mask(shape: tuple, block: int, top_left: tuple | None = None) -> np.ndarray:
    """Flat boolean mask of an image with a ``block`` x ``block`` square missing (CSGM's inpainting).

    Parameters
    ----------
    shape : tuple of int
        The image's (height, width).
    block : int
        The square's side, in 1..min(height, width).
    top_left : tuple of int, optional
        The square's top-left pixel (row, column); centred by default.

    Returns
    -------
    numpy.ndarray of shape (height * width,), bool
        False on the missing square.

    Raises
    ------
    ValueError
        When ``block`` is out of range.

    References
    ----------
    Bora, Jalal, Price & Dimakis, "Compressed sensing using generative models", ICML 2017.

    Examples
    --------
    >>> block_mask((4, 4), 2).reshape(4, 4).astype(int).tolist()
    [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]]
    """
    h, w = shape
    if not 0 < block <= min(h, w):
        raise ValueError(f"The block side must be in 1..{min(h, w)}, got {block}.")
    r, c = top_left if top_left is not None else ((h - block) // 2, (w - block) // 2)
    mask = np.ones((h, w), dtype=bool)
    mask[r:r + block, c:c + block] = False
    return mask.reshape(-1)


def sensing_matrix(m: int, n: int, seed: int = 0) -> np.ndarray:
    """Gaussian measurement matrix with i.i.d. N(0, 1/m) entries.

    Parameters
    ----------
    m : int
        Measurements (rows), >= 1.
    n : int
        Signal length (columns).
    seed : int, default 0
        Seeds the entries.

    Returns
    -------
    numpy.ndarray of shape (m, n), float64

    Raises
    ------
    ValueError
        When ``m < 1``.

    References
    ----------
    Bora, Jalal, Price & Dimakis, "Compressed sensing using generative models", ICML 2017.

    Examples
    --------
    >>> sensing_matrix(3, 5).shape
    (3, 5)
    """
    if m < 1:
        raise ValueError(f"Need at least one measurement, got m={m}.")
    return np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(m), (m, n))


def corrupt(x, noise: float = 0.0, missing: str | None = None, keep: float = 1.0,
            block: int = 0, image_shape: tuple | None = None, measurements: int | None = None,
            seed: int = 0) -> Corruption:
    """Observe the clean signal ``x`` through one corruption pipeline.

    Missing pixels or compressed sensing (not both), then Gaussian noise on what is observed.

    Parameters
    ----------
    x : array_like of shape (n,)
        The clean signal G(z) (flattened).
    noise : float, default 0.0
        Gaussian noise at ``noise`` * rms of the observed clean values (0: none).
    missing : str, optional
        None, ``"random"`` (keep a ``keep`` fraction) or ``"block"`` (a ``block``-sided
        square of an ``image_shape`` image is lost; without an image shape, the middle run of
        (1 - keep) * n entries).
    keep : float, default 1.0
        The kept fraction for ``missing``.
    block : int, default 0
        The missing square's side (``missing="block"`` with ``image_shape``).
    image_shape : tuple of int, optional
        (height, width) of the image ``x`` flattens.
    measurements : int, optional
        m for compressed sensing y = A x (:func:`sensing_matrix`).
    seed : int, default 0
        Seeds the mask, the sensing matrix and the noise.

    Returns
    -------
    Corruption
        The observation ``y``, its ``mask`` or ``A``, the absolute ``noise_std`` and the
        corruptions in words.

    Raises
    ------
    ValueError
        For both missing pixels and measurements, an unknown ``missing``, or a ``keep`` or
        ``block`` out of range.

    References
    ----------
    Bora, Jalal, Price & Dimakis, "Compressed sensing using generative models", ICML 2017.

    Examples
    --------
    >>> c = corrupt(np.arange(1.0, 7.0), missing="random", keep=0.5)
    >>> c.y.shape, int(c.mask.sum()), c.kind
    ((3,), 3, ['50% of entries kept'])
    >>> corrupt(np.arange(1.0, 7.0), noise=0.1, measurements=4).kind
    ['4 Gaussian measurements', 'noise 0.1 x rms']
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    kinds = []
    mask = A = None
    if missing is not None and measurements is not None:
        raise ValueError("Choose missing pixels or compressed sensing, not both.")
    if missing == "random":
        mask = random_mask(x.size, keep, seed)
        kinds.append(f"{mask.mean():.0%} of entries kept")
    elif missing == "block" and image_shape is not None:
        mask = block_mask(image_shape, block)
        kinds.append(f"{block}x{block} block missing")
    elif missing == "block":  # a vector: the middle run of (1 - keep) * n entries is lost
        if not 0 < keep < 1:
            raise ValueError(f"The kept fraction must be in (0, 1), got {keep}.")
        lost = round((1 - keep) * x.size)
        mask = np.ones(x.size, dtype=bool)
        mask[(x.size - lost) // 2:(x.size - lost) // 2 + lost] = False
        kinds.append(f"middle {lost} entries missing")
    elif missing is not None:
        raise ValueError(f"Unknown missing-pixel pattern {missing!r}; choose 'random' or 'block'.")
    clean = x if mask is None else x[mask]
    if measurements is not None:
        A = sensing_matrix(int(measurements), x.size, seed)
        clean = A @ x
        kinds.append(f"{int(measurements)} Gaussian measurements")
    y, sigma = gaussian_noise(clean, noise, rng) if noise > 0 else (clean.copy(), 0.0)
    if noise > 0:
        kinds.append(f"noise {noise:g} x rms")
    return Corruption(y, mask, A, sigma, kinds or ["clean"])


# -- the trained digit generator ---------------------------------------------------------

VAE_LATENT = 6
VAE_HIDDEN = (32,)
_VAE_CACHE: dict = {}


def train_digits_vae(data, recipe, progress: Callable[[int, int], None] | None = None):
    """Train a VAE on 8x8 digits; returns (encoder, decoder, metrics).

    Decoder: ``k -> 32 -> ReLU -> 64``, a plain Linear/ReLU ``nn.Sequential`` ending
    in Linear so that it stays piecewise linear (no sigmoid). Its outputs are *not*
    clamped to [0, 1]: a Gaussian likelihood (squared error) on [0, 1] pixels keeps
    them close to that range, and views clip only for drawing -- clipping inside the
    network would be one more ReLU pair that erases information the inversion needs.
    Hidden width 32 <= 64 pixels keeps the last layer injective. Encoder: ``64 -> 64
    -> ReLU -> 2k`` (mean, log-variance). Runs once per process and recipe (both zoo
    entries share it).

    Parameters
    ----------
    data : Dataset
        The digits: ``X_train`` (n, 64) and ``X_test`` in [0, 1].
    recipe : explorer.training.Recipe
        Seed, epochs, learning rate and batch size; ``recipe.extra["beta"]`` (default 1)
        weighs the KL term.
    progress : callable, optional
        Called as ``progress(done, total)`` during training.

    Returns
    -------
    encoder : torch.nn.Sequential
        ``64 -> 64 -> ReLU -> k``: the posterior mean only, eval mode.
    decoder : torch.nn.Sequential
        ``k -> 32 -> ReLU -> 64``, eval mode.
    metrics : dict
        ``test_reconstruction_error``, ``test_pixel_variance``, ``prior_sample_out_of_range``
        (share of prior samples' pixels outside [-0.05, 1.05]) and ``latent_dim``.

    References
    ----------
    Kingma & Welling, "Auto-encoding variational Bayes", ICLR 2014.
    """
    key = (recipe.seed, recipe.epochs, recipe.lr, recipe.batch_size, tuple(sorted(recipe.extra.items())))
    if key in _VAE_CACHE:
        return _VAE_CACHE[key]
    k = VAE_LATENT
    beta = float(recipe.extra.get("beta", 1.0))
    with single_threaded():
        torch.manual_seed(recipe.seed)
        gen = torch.Generator().manual_seed(recipe.seed)
        encoder = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2 * k))
        sizes = [k, *VAE_HIDDEN, 64]
        dec_layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            dec_layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                dec_layers.append(nn.ReLU())
        decoder = nn.Sequential(*dec_layers)
        X = torch.as_tensor(data.X_train, dtype=torch.float32)
        params = list(encoder.parameters()) + list(decoder.parameters())

        def loss_of_batch(idx):
            xb = X[idx]
            mu, logvar = encoder(xb).chunk(2, dim=1)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
            rec = ((decoder(z) - xb) ** 2).sum(1).mean()
            kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
            return rec + beta * kl

        training.minibatch_descent(params, len(X), recipe, gen, loss_of_batch, progress)
        encoder.eval()
        decoder.eval()
        with torch.no_grad():
            Xt = torch.as_tensor(data.X_test, dtype=torch.float32)
            mu_t = encoder(Xt)[:, :k]
            rec_t = decoder(mu_t)
            prior = decoder(torch.randn(len(Xt), k, generator=gen))
        metrics = {
            "test_reconstruction_error": round(float(((rec_t - Xt) ** 2).mean()), 5),
            "test_pixel_variance": round(float(Xt.var()), 5),
            "prior_sample_out_of_range": round(float(((prior < -0.05) | (prior > 1.05)).float().mean()), 4),
            "latent_dim": k,
        }
    mean_encoder = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, k))
    with torch.no_grad():
        mean_encoder[0].load_state_dict(encoder[0].state_dict())
        mean_encoder[2].weight.copy_(encoder[2].weight[:k])
        mean_encoder[2].bias.copy_(encoder[2].bias[:k])
    _VAE_CACHE[key] = (mean_encoder.eval(), decoder, metrics)
    return _VAE_CACHE[key]


def vae_decoder_trainer(model, data, recipe, progress=None):
    """Zoo trainer for ``digits-vae-decoder``: the VAE's decoder and its card metrics.

    Parameters
    ----------
    model : torch.nn.Sequential
        The untrained decoder of the zoo spec (``k -> 32 -> ReLU -> 64``).
    data : Dataset
        The digits (:func:`train_digits_vae`).
    recipe : explorer.training.Recipe
        The VAE's recipe.
    progress : callable, optional
        Called as ``progress(done, total)`` during training.

    Returns
    -------
    model : torch.nn.Sequential
        ``model`` with the decoder's weights, eval mode, ``class_names`` None.
    metrics : dict
        The metrics of :func:`train_digits_vae`.
    """
    _, decoder, metrics = train_digits_vae(data, recipe, progress)
    model.load_state_dict(decoder.state_dict())
    model.class_names = None  # outputs are pixels, not classes
    return model.eval(), dict(metrics)


def vae_encoder_trainer(model, data, recipe, progress=None):
    """Zoo trainer for ``digits-vae-encoder``: the posterior mean of the same VAE.

    Parameters
    ----------
    model : torch.nn.Sequential
        The untrained encoder of the zoo spec (``64 -> 64 -> ReLU -> k``).
    data : Dataset
        The digits (:func:`train_digits_vae`).
    recipe : explorer.training.Recipe
        The VAE's recipe (the decoder's, so both come from one training).
    progress : callable, optional
        Called as ``progress(done, total)`` during training.

    Returns
    -------
    model : torch.nn.Sequential
        ``model`` with the mean encoder's weights, eval mode, ``class_names`` None.
    metrics : dict
        ``test_reconstruction_error`` and ``latent_dim``.
    """
    encoder, _, metrics = train_digits_vae(data, recipe, progress)
    model.load_state_dict(encoder.state_dict())
    model.class_names = None  # outputs are latent coordinates
    return model.eval(), {k: metrics[k] for k in ("test_reconstruction_error", "latent_dim")}
