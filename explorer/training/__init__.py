"""Training: seeded recipes, the step-by-step trainer and the evaluation of classifiers.

- :mod:`~explorer.training.recipes`     ``Recipe``, ``train``, ``minibatch_descent``, ``accuracy``, ``pgd_linf``
  (re-exported here: ``from explorer import training; training.train(model, data, training.Recipe())``)
- :mod:`~explorer.training.stepper`     ``Setup``, ``Stepper``: an MLP trained a few seeded steps at a time
- :mod:`~explorer.training.evaluation`  predictions, decision maps, confusion matrices
- :mod:`~explorer.training.playground`  TensorFlow Playground's feature inputs, activations and per-unit maps

Imports :mod:`explorer.nets` and :mod:`explorer.data`.
"""

from . import evaluation, playground, recipes, stepper
from .recipes import (
           CUSTOM_RECIPES,
           RECIPES,
           Recipe,
           accuracy,
           minibatch_descent,
           pgd_linf,
           train,
)

__all__ = ["Recipe", "train", "minibatch_descent", "accuracy", "pgd_linf", "RECIPES", "CUSTOM_RECIPES",
           "recipes", "stepper", "evaluation", "playground"]
