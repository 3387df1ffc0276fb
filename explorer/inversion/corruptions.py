"""The corruptions a generator's output goes through: noise, missing pixels, compressed sensing.

- :func:`corrupt`: one pipeline (missing pixels or compressed sensing, then noise), giving a
  :class:`Corruption` that holds only what is observed;
- its parts: :func:`gaussian_noise`, :func:`random_mask`, :func:`block_mask` (CSGM's
  inpainting) and :func:`sensing_matrix` (A ~ N(0, 1/m), Bora et al. 2017).

>>> c = corrupt(np.ones(16), noise=0.1, missing="block", block=2, image_shape=(4, 4))
>>> c.y.shape, c.kind
((12,), ['2x2 block missing', 'noise 0.1 x rms'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Corruption", "corrupt", "gaussian_noise", "random_mask", "block_mask", "sensing_matrix"]


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
