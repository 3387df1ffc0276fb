"""Adversarial perturbations and certified radii.

- :mod:`~explorer.attacks.deepfool`: batched DeepFool (L2, L-infinity) and SuperDeepFool,
  with Foolbox's conventions;
- :mod:`~explorer.attacks.gradient_attacks`: FGSM, PGD and the smallest budget that flips;
- :mod:`~explorer.attacks.measures`: robustness over a data set, the adversarial plane;
- :mod:`~explorer.attacks.certified`: certified radius <= exact distance <= DeepFool.

>>> import numpy as np
>>> import torch
>>> from torch import nn
>>> _ = torch.manual_seed(1)  # the example's weights, whatever ran before
>>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)).double()
>>> s = sandwich(model, np.array([0.3, -0.1]))
>>> bool(s.certified <= s.exact + 1e-12 <= s.deepfool + 2e-12)
True
"""

from .certified import (
    CertifiedRadius,
    Sandwich,
    certified_radius,
    exact_distance_2d,
    lipschitz_blocks,
    point_segment_distance,
    sandwich,
)
from .deepfool import DeepFoolResult, deepfool
from .gradient_attacks import MinimalEpsilon, fgsm, minimal_epsilon, pgd
from .inputs import NORMS, predict
from .libraries import METHODS, AttackResult, MissingLibrary, compare_attacks, perturbation_norms, run_attack
from .measures import RobustnessResult, adversarial_plane, robustness

__all__ = [
    'NORMS', 'predict', 'DeepFoolResult', 'deepfool', 'fgsm', 'pgd', 'MinimalEpsilon', 'minimal_epsilon',
    'RobustnessResult', 'robustness', 'adversarial_plane', 'CertifiedRadius', 'lipschitz_blocks',
    'certified_radius', 'point_segment_distance', 'exact_distance_2d', 'Sandwich', 'sandwich', 'METHODS',
    'AttackResult', 'MissingLibrary', 'run_attack', 'compare_attacks', 'perturbation_norms',
]
