"""The Koopman view of training: exact DMD of the weight trajectory.

Training is a map ``w_{t+1} = F(w_t)`` on weight space; its Koopman operator acts
linearly on observables of ``w`` and its spectrum, fitted from snapshots by exact
DMD, tells where the trajectory goes (Dogra & Redman, "Optimizing neural networks
via Koopman operator theory", NeurIPS 2020; residuals per Ritz pair after Drmac,
Mezic & Mohr 2018). Full-batch gradient descent on least squares is affine,
``w -> (I - eta H) w + eta g``, so on ``[w; 1]`` its spectrum is exactly
``{1} U {1 - eta h_i}``: the known answer the tests check.

>>> import numpy as np
>>> w, X = np.array([3.0, -2.0]), []
>>> for _ in range(8):
...     X.append(np.r_[w, 1.0]); w = w - 0.5 * (np.array([1.0, 0.5]) * w - 1.0)
>>> np.round(np.sort(exact_dmd(np.array(X).T, energy=1.0).eigenvalues.real), 6).tolist()
[0.5, 0.75, 1.0]
"""

from .dmd import DMD, SPURIOUS, exact_dmd
from .forecast import Forecast, KoopmanFit, compare_with_training, fit_window
from .observables import KINDS, Group, observable_groups, with_constant

__all__ = ["DMD", "SPURIOUS", "exact_dmd", "KoopmanFit", "Forecast", "fit_window", "compare_with_training",
           "KINDS", "Group", "observable_groups", "with_constant"]
