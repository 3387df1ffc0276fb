"""Network Explorer's compute package: look inside piecewise-linear networks.

Submodules (import the ones you need; none of them imports a UI library):

- :mod:`explorer.nets`        canonical piecewise-linear form of a network
- :mod:`explorer.zoo`         named trained models, model cards, checkpoint files
- :mod:`explorer.datasets`    2-D toy sets, 8x8 digits, local MNIST files
- :mod:`explorer.training`    deterministic training recipes (plain, l1, adversarial)
- :mod:`explorer.evaluation`  predictions, decision maps, confusion matrices
- :mod:`explorer.regions`     exact linear regions of 2-D slices, counts and bounds
- :mod:`explorer.bounds`      interval bound propagation and CROWN
- :mod:`explorer.stability`   stable units (IBP, CROWN, MILP) and lossless compression
- :mod:`explorer.spectra`     singular values of dense and conv layers, bounds, ESD
- :mod:`explorer.orthogonal`  Cayley-orthogonal convolutions and their training
- :mod:`explorer.attacks`     DeepFool, FGSM, PGD, minimal epsilon, robustness
- :mod:`explorer.certified`   certified radius and the certified <= exact <= attack sandwich
- :mod:`explorer.generators`  random and trained ReLU generators, corruptions
- :mod:`explorer.inversion`   generator inversion: layer-wise pursuit, LP, gradient descent
- :mod:`explorer.threads`     single-threaded context for small matrix work
"""

__version__ = "0.1.0"
