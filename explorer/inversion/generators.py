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
    """One layer x -> relu(W x + b) (or W x + b when ``relu`` is False), float64."""

    W: np.ndarray
    b: np.ndarray
    relu: bool


def random_layers(sizes, seed: int = 0) -> list[DenseLayer]:
    """The weights of ``random_generator(sizes, seed)`` directly as DenseLayers (faster)."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"A generator needs at least two positive layer sizes, got {sizes}.")
    rng = np.random.default_rng(seed)
    return [DenseLayer(rng.normal(0.0, 1.0 / math.sqrt(n_out), (n_out, n_in)), np.zeros(n_out), True)
            for n_in, n_out in zip(sizes, sizes[1:])]


def dense_layers(generator) -> list[DenseLayer]:
    """The generator as a list of :class:`DenseLayer` (every affine block made dense).

    Accepts an ``nn.Module`` that :func:`explorer.nets.canonical` understands, or a
    list of DenseLayer (returned unchanged). Raises ``UnsupportedLayerError`` for
    other layers and ``ValueError`` when the network does not start with an affine block.
    """
    if isinstance(generator, list) and all(isinstance(l, DenseLayer) for l in generator):
        return generator
    net = nets.canonical(generator)
    if len(net.input_shape) != 1:
        raise ValueError(f"A generator takes a flat latent code; this one takes shape {net.input_shape}.")
    return [DenseLayer(W, b, relu=relu) for W, b, relu in net.affine_blocks()]


def forward_all(layers: list[DenseLayer], z: np.ndarray) -> list[np.ndarray]:
    """All layer outputs [x_0 = z, x_1, ..., x_L] for one latent code (float64)."""
    xs = [np.asarray(z, dtype=np.float64).reshape(-1)]
    for layer in layers:
        h = layer.W @ xs[-1] + layer.b
        xs.append(np.maximum(h, 0.0) if layer.relu else h)
    return xs


# -- corruptions -----------------------------------------------------------------------------

@dataclass
class Corruption:
    """A corrupted observation of x = G(z).

    ``y`` holds only what is observed: ``x[mask] + e`` with missing pixels,
    ``A x + e`` with compressed sensing, ``x + e`` otherwise. ``noise_std`` is the
    absolute standard deviation of e (0 for clean).
    """

    y: np.ndarray
    mask: np.ndarray | None = None
    A: np.ndarray | None = None
    noise_std: float = 0.0
    kind: list = field(default_factory=list)


def gaussian_noise(x: np.ndarray, level: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Add N(0, sigma^2) noise with sigma = level * rms(x); returns (noisy x, sigma)."""
    if level < 0:
        raise ValueError(f"The noise level must be >= 0, got {level}.")
    sigma = float(level * np.sqrt(np.mean(np.square(x))))
    return x + sigma * rng.standard_normal(x.shape), sigma


def random_mask(n: int, keep: float, seed: int = 0) -> np.ndarray:
    """Boolean mask keeping round(keep * n) entries chosen at random."""
    if not 0 < keep <= 1:
        raise ValueError(f"The kept fraction must be in (0, 1], got {keep}.")
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).choice(n, max(1, round(keep * n)), replace=False)] = True
    return mask


def block_mask(shape: tuple, block: int, top_left: tuple | None = None) -> np.ndarray:
    """Flat boolean mask of an image of ``shape`` with a ``block`` x ``block`` square
    missing (centred unless ``top_left`` is given) -- CSGM's inpainting setting."""
    h, w = shape
    if not 0 < block <= min(h, w):
        raise ValueError(f"The block side must be in 1..{min(h, w)}, got {block}.")
    r, c = top_left if top_left is not None else ((h - block) // 2, (w - block) // 2)
    mask = np.ones((h, w), dtype=bool)
    mask[r:r + block, c:c + block] = False
    return mask.reshape(-1)


def sensing_matrix(m: int, n: int, seed: int = 0) -> np.ndarray:
    """Gaussian measurement matrix with i.i.d. N(0, 1/m) entries, shape (m, n)."""
    if m < 1:
        raise ValueError(f"Need at least one measurement, got m={m}.")
    return np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(m), (m, n))


def corrupt(x, noise: float = 0.0, missing: str | None = None, keep: float = 1.0,
            block: int = 0, image_shape: tuple | None = None, measurements: int | None = None,
            seed: int = 0) -> Corruption:
    """Observe the clean signal ``x`` through one corruption pipeline.

    missing: None, ``"random"`` (keep a ``keep`` fraction) or ``"block"`` (a
    ``block``-sided square of an ``image_shape`` image is lost; without an image
    shape, the middle run of (1 - keep) * n entries); ``measurements``:
    m for compressed sensing y = A x (not combined with missing pixels); ``noise``:
    Gaussian noise at ``noise`` * rms of the observed clean values.
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
    """Train a VAE (Kingma & Welling 2014) on 8x8 digits; returns (encoder, decoder, metrics).

    Decoder: ``k -> 32 -> ReLU -> 64``, a plain Linear/ReLU ``nn.Sequential`` ending
    in Linear so that it stays piecewise linear (no sigmoid). Its outputs are *not*
    clamped to [0, 1]: a Gaussian likelihood (squared error) on [0, 1] pixels keeps
    them close to that range, and views clip only for drawing -- clipping inside the
    network would be one more ReLU pair that erases information the inversion needs.
    Hidden width 32 <= 64 pixels keeps the last layer injective. Encoder: ``64 -> 64
    -> ReLU -> 2k`` (mean, log-variance). ``recipe.extra["beta"]`` weighs the KL
    term. Runs once per process and recipe (both zoo entries share it).
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
    """Zoo trainer for ``digits-vae-decoder``: the VAE's decoder and its card metrics."""
    _, decoder, metrics = train_digits_vae(data, recipe, progress)
    model.load_state_dict(decoder.state_dict())
    model.class_names = None  # outputs are pixels, not classes
    return model.eval(), dict(metrics)


def vae_encoder_trainer(model, data, recipe, progress=None):
    """Zoo trainer for ``digits-vae-encoder``: the posterior mean of the same VAE."""
    encoder, _, metrics = train_digits_vae(data, recipe, progress)
    model.load_state_dict(encoder.state_dict())
    model.class_names = None  # outputs are latent coordinates
    return model.eval(), {k: metrics[k] for k in ("test_reconstruction_error", "latent_dim")}
