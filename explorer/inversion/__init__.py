"""Generator inversion: recover the latent code z from y = observe(G(z)) + noise.

Four methods, all on the float64 dense form of the generator
(:func:`explorer.inversion.generators.dense_layers`, x_i = relu(W_i x_{i-1} + b_i)):

- ``"gd"``: Adam on the squared measurement error (+ ``prior`` * ||z||^2), with
  random restarts, keeping the restart of lowest loss (Bora et al., CSGM 2017).
- ``"ls"``: Lei, Jalal, Dhillon & Dimakis (NeurIPS 2019), noiseless rule: from the
  top, least squares on each layer's active rows W_i[S_i] x = x_i[S_i]. Needs
  |S_i| >= n_{i-1}; otherwise it reports "underdetermined".
- ``"layered"``: layer-wise pursuit after Aberdam, Simon & Elad (arXiv 2006.15555).
  The ReLU tells us, for S_i = supp(x_i), that W_i[S_i] x_{i-1} + b = x_i[S_i] and
  W_i[S_i^c] x_{i-1} + b <= 0, with x_{i-1} >= 0 -- a sparse representation
  problem. Noiseless: the LP  min 1^T x  s.t. those constraints (then least
  squares on the found support; when W_i[S_i] has full column rank the equalities
  alone fix x and one least-squares solve replaces the LP); noise-aware (``noise_std`` > 0): non-negative
  least squares on the active rows with supports thresholded at 3 sigma, sigma
  propagated per entry through pinv(W_i[S_i]).
- ``"lp"``: Lei et al.'s l-infinity LP per layer: min eps s.t.
  |W[S] x + b - x_i[S]| <= eps, W[S^c] x + b <= x_i[S^c] + eps, x >= 0.

Hidden-layer estimates are clipped at 0 (they are ReLU outputs). Bias-free
generators are solved at unit scale, so every layer-wise method is exactly
positively homogeneous. Every result is finished with a *polish*: least squares inside the linear region
of the estimate (y ~ J z + c there, J = D_L W_L ... D_1 W_1), kept only if it lowers
the residual; from any point of the true region it returns z to rounding error.

>>> from explorer import inversion
>>> from explorer.inversion import generators
>>> import numpy as np
>>> g = generators.random_generator([20, 100, 500], seed=0)
>>> z = np.random.default_rng(1).standard_normal(20)
>>> y = generators.forward_all(generators.dense_layers(g), z)[-1]
>>> res = inversion.invert(g, y, method="layered", z_true=z)
>>> res.status, res.rel_error < 1e-10
('ok', True)
"""

from .checks import NOISE_MARGIN, RESIDUAL_TOL, fit_check
from .gradient_descent import invert_batch_gd
from .identifiability import Identifiability, LayerCheck, identifiability
from .layerwise import NOISELESS_TOL
from .methods import METHODS, Inversion, invert
from .observation import oracle, region_least_squares
from .problems import Problem, compare, make_problem
from .sweeps import (
    NoiseSweep,
    SuccessSweep,
    error_vs_noise,
    expansion_sizes,
    success_vs_expansion,
)
from .uniqueness import Uniqueness, local_family, uniqueness

__all__ = ['region_least_squares', 'oracle', 'invert_batch_gd', 'METHODS', 'NOISELESS_TOL', 'RESIDUAL_TOL',
           'NOISE_MARGIN', 'Inversion', 'invert', 'fit_check', 'Uniqueness', 'uniqueness', 'local_family', 'Problem',
           'make_problem', 'compare', 'LayerCheck', 'Identifiability', 'identifiability', 'expansion_sizes',
           'SuccessSweep', 'success_vs_expansion', 'NoiseSweep', 'error_vs_noise']
