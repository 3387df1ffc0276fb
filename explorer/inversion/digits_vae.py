"""The trained digit generator: a small VAE on 8x8 digits (Kingma & Welling 2014).

Its decoder is the zoo model ``digits-vae-decoder`` (a piecewise-linear generator to
invert) and its posterior-mean encoder is ``digits-vae-encoder``; both come from one
training run (:func:`train_digits_vae`), shared through a per-process cache.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .. import training
from ..nets.threads import single_threaded

__all__ = ["train_digits_vae", "vae_decoder_trainer", "vae_encoder_trainer", "VAE_LATENT", "VAE_HIDDEN"]


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
