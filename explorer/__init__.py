"""Network Explorer's compute package: look inside piecewise-linear networks.

One subpackage per topic (none of them imports a UI library; the map of every
module is in ``docs/architecture.md``):

- :mod:`explorer.nets`        the canonical piecewise-linear form, IBP / CROWN bounds, thread control
- :mod:`explorer.models`      data sets, training recipes, the zoo and its checkpoints, generators
- :mod:`explorer.regions`     exact linear regions of 2-D slices, counts and bounds
- :mod:`explorer.stability`   stable units (IBP, CROWN, MILP, exact 2-D) and lossless compression
- :mod:`explorer.spectra`     singular values of dense and conv layers, bounds, ESD, truncation
- :mod:`explorer.robustness`  DeepFool, FGSM, PGD, robustness measures, certified radii
- :mod:`explorer.inversion`   generator inversion: layer-wise pursuit, LP, gradient descent, sweeps
- :mod:`explorer.inverse`     sparse recovery: FIRENETs against trained nets, worst-case perturbations, twins
- :mod:`explorer.equivariance` p4 group-equivariant CNNs: group convs, export, equivariance errors, rotations
- :mod:`explorer.koopman`     the Koopman view of training: exact DMD of weight snapshots, forecasts

Short names. The modules people import most are also reachable by one word, as
``from explorer import zoo, attacks`` or ``from explorer.threads import single_threaded``:

=============  ===============================
short name     module
=============  ===============================
``zoo``        :mod:`explorer.models.zoo`
``datasets``   :mod:`explorer.models.datasets`
``training``   :mod:`explorer.models.training`
``evaluation`` :mod:`explorer.models.evaluation`
``orthogonal`` :mod:`explorer.models.orthogonal`
``generators`` :mod:`explorer.models.generators`
``attacks``    :mod:`explorer.robustness`
``certified``  :mod:`explorer.robustness.certified`
``bounds``     :mod:`explorer.nets.bounds`
``threads``    :mod:`explorer.nets.threads`
=============  ===============================
"""

import sys

from . import (
    equivariance,
    inverse,
    inversion,
    koopman,
    models,
    nets,
    regions,
    robustness,
    spectra,
    stability,
)
from .models import datasets, evaluation, generators, orthogonal, training, zoo
from .nets import bounds, threads
from .robustness import certified

attacks = robustness

# so that `import explorer.zoo` and `from explorer.stability import Box` work for the short names too
for _short in ("zoo", "datasets", "training", "evaluation", "orthogonal", "generators",
               "attacks", "certified", "bounds", "threads"):
    sys.modules[f"{__name__}.{_short}"] = globals()[_short]

__version__ = "0.1.0"

__all__ = ["nets", "models", "regions", "stability", "spectra", "robustness", "inversion", "inverse",
           "equivariance", "koopman",
           "zoo", "datasets", "training", "evaluation", "orthogonal", "generators",
           "attacks", "certified", "bounds", "threads"]
