"""The models the analyses run on: data sets, training recipes, the zoo, checkpoints, generators.
"""

from . import checkpoints, datasets, evaluation, generators, orthogonal, training, zoo

__all__ = ['datasets', 'training', 'evaluation', 'orthogonal', 'generators', 'checkpoints', 'zoo']
