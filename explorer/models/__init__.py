"""The models the analyses run on: data sets, training recipes, the zoo, checkpoints, generators.
"""

from . import (
    checkpoints,
    datasets,
    evaluation,
    generators,
    orthogonal,
    reconstruction,
    sparse_recovery,
    stepper,
    training,
    zoo,
)

__all__ = ['datasets', 'training', 'evaluation', 'orthogonal', 'generators', 'checkpoints', 'zoo', 'sparse_recovery', 'reconstruction', 'stepper']
