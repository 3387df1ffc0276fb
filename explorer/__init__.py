"""Network Explorer's compute package: look inside piecewise-linear networks.

One package per idea (none of them imports a UI library; the map of every module is
in ``docs/architecture.md``), in layers that each import only the layers below:

- :mod:`explorer.nets`        the canonical piecewise-linear form, IBP / CROWN bounds, thread control
- :mod:`explorer.data`        datasets and their readers (CSV, npz, IDX, folders); ``explorer.datasets``
- :mod:`explorer.modelfiles`  the checkpoint format, graph specs, declared-size checks in one place
- :mod:`explorer.training`    seeded recipes, the step-by-step trainer, evaluation
- one package per topic, each importing the layers above (and the topics its docs name):

  - :mod:`explorer.regions`     exact linear regions of 2-D slices, counts and bounds
  - :mod:`explorer.stability`   stable units (IBP, CROWN, MILP, exact 2-D) and lossless compression
  - :mod:`explorer.spectra`     singular values of dense and conv layers, bounds, ESD, truncation, Cayley convs
  - :mod:`explorer.attacks`     DeepFool, FGSM, PGD, robustness measures, certified radii
  - :mod:`explorer.inversion`   generators and their inversion: layer-wise pursuit, LP, gradient descent, sweeps
  - :mod:`explorer.inverse`     sparse recovery: FIRENETs against trained nets, worst-case perturbations, twins
  - :mod:`explorer.equivariance` p4 group-equivariant CNNs: group convs, export, equivariance errors, rotations
  - :mod:`explorer.koopman`     the Koopman view of training: exact DMD of weight snapshots, forecasts

- :mod:`explorer.zoo`         the model zoo, on top: it may import any topic (each trains its own models)

``explorer.datasets`` is :mod:`explorer.data.datasets`, the one module name of the public API that
lives in a package of another name (``from explorer import datasets``).

Deprecated paths (each a module whose attributes warn with ``DeprecationWarning`` and name the
new path; all are removed in 0.3.0): ``explorer.models`` and its modules, ``explorer.robustness``
(now ``explorer.attacks``), ``explorer.generators``, ``explorer.orthogonal``, ``explorer.evaluation``,
``explorer.certified``, ``explorer.bounds``, ``explorer.threads``.
"""

import importlib

from . import (
    attacks,
    data,
    equivariance,
    inverse,
    inversion,
    koopman,
    modelfiles,
    nets,
    regions,
    spectra,
    stability,
    training,
    zoo,
)
from .data import datasets

__version__ = "0.1.0"

__all__ = ["nets", "data", "modelfiles", "training", "regions", "stability", "spectra", "attacks", "inversion",
           "inverse", "equivariance", "koopman", "zoo", "datasets"]

# the old names: real modules (explorer/<name>.py, explorer/models/) that forward with a DeprecationWarning
_DEPRECATED = ("models", "robustness", "generators", "orthogonal", "evaluation", "certified", "bounds", "threads")


def __getattr__(name):
    if name in _DEPRECATED:  # `explorer.threads` without importing it first, as before
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
