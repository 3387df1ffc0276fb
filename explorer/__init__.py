"""Network Explorer's compute package: look inside piecewise-linear networks.

Submodules (import the ones you need; none of them imports a UI library):

- :mod:`explorer.nets`      canonical piecewise-linear form of a network
- :mod:`explorer.zoo`       named trained models, model cards, checkpoint files
- :mod:`explorer.datasets`  2-D toy sets, 8x8 digits, local MNIST files
- :mod:`explorer.training`  deterministic training recipes
"""

__version__ = "0.1.0"
