"""Singular values of dense and convolutional layers, bounds on them, and ESD statistics.

A conv layer is a linear operator on images; its singular values depend on how the
image boundary is treated, so every function names its *method* ("fft", "dense",
"density", "auto": see :mod:`explorer.spectra.conv`). The largest singular value has
its own bounds and estimates (:mod:`explorer.spectra.sigma_max`), and
:func:`lipschitz_bound` multiplies them over a network (:mod:`explorer.spectra.network`).
Conv1d, dilated and grouped convs are exact wherever plain convs are (:mod:`explorer.spectra.layout`),
and :func:`residual_singular_values` gives the spectrum of a residual block ``x + conv(x)``.
:func:`quality_report` gives WeightWatcher's per-layer numbers (power-law alpha, norms,
Marchenko-Pastur fit, randomization) on its slice-pooled ESD (:mod:`explorer.spectra.quality`).

>>> import numpy as np
>>> K = np.zeros((1, 1, 3, 3)); K[0, 0, 1, 1] = 2.0          # 2 x identity
>>> conv_singular_values(K, input_size=(4, 4))[:3]
array([2., 2., 2.])
"""

from .conv import (
    CONV_METHODS,
    MAX_DENSE_SIZE,
    SymbolMap,
    conv_matrix,
    conv_operator,
    conv_singular_values,
    conv_symbol,
    fft_applies,
    symbol_norm_map,
)
from .dense import dense_singular_values
from .esd import (
    ESDStats,
    MPFit,
    esd_statistics,
    marchenko_pastur_fit,
    marchenko_pastur_pdf,
    weightwatcher_pooled,
)
from .network import (
    LayerSpectrum,
    LipschitzBound,
    auto_method,
    layer_spectrum,
    lipschitz_bound,
    model_spectra,
)
from .power_law import PowerLawFit, power_law_fit
from .quality import (
    LayerQuality,
    OperatorContrast,
    QualityReport,
    operator_contrast,
    quality_report,
)
from .residual import RESIDUAL_METHODS, residual_singular_values
from .sigma_max import (
    BOUND_METHODS,
    interlacing_bound,
    largest_singular_value,
    schur_bound,
)
from .truncation import truncate_rank

__all__ = [
    'BOUND_METHODS', 'CONV_METHODS', 'MAX_DENSE_SIZE', 'RESIDUAL_METHODS', 'ESDStats', 'LayerQuality',
    'LayerSpectrum', 'LipschitzBound', 'MPFit', 'OperatorContrast', 'PowerLawFit', 'QualityReport',
    'SymbolMap', 'auto_method', 'conv_matrix', 'conv_operator', 'conv_singular_values', 'conv_symbol',
    'dense_singular_values', 'esd_statistics', 'fft_applies', 'interlacing_bound', 'largest_singular_value',
    'layer_spectrum', 'lipschitz_bound', 'marchenko_pastur_fit', 'marchenko_pastur_pdf', 'model_spectra',
    'operator_contrast', 'power_law_fit', 'quality_report', 'residual_singular_values', 'schur_bound',
    'symbol_norm_map', 'truncate_rank', 'weightwatcher_pooled',
]
