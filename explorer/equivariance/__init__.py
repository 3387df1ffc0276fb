"""Symmetry: p4 group-equivariant CNNs in plain torch, and what rotating the input does.

Cohen & Welling, "Group Equivariant Convolutional Networks" (ICML 2016); Gerken et
al., "Geometric deep learning and equivariant neural networks" (2021).

- :mod:`.group`     the action of the four rotations on images and on p4 feature maps
- :mod:`.layers`    LiftingConv2d, GroupConv2d, GroupPool, InvariantHead, p4cnn
- :mod:`.export`    export_p4: the same net as plain Conv2d / AvgPool2d / Linear layers
- :mod:`.fields`    field_layout: the field kind of each layer, read from tied weights
- :mod:`.errors`    equivariance error per layer, feature maps at the four rotations
- :mod:`.sweeps`    predictions per angle, accuracy against angle, the 6 / 9 confusion
- :mod:`.planes`    symmetric_plane: an input plane on which g is a quarter turn (for the exact regions)
- :mod:`.deepfool_check`  DeepFool on a rotated digit is the rotated perturbation
- :mod:`.training`  the zoo recipe of ``digits-p4cnn``
"""

from .deepfool_check import RotatedDeepFool, rotated_deepfool
from .errors import (
                     EquivarianceErrors,
                     FeatureMaps,
                     equivariance_errors,
                     feature_maps,
                     layer_outputs,
)
from .export import export_p4
from .fields import field_layout, input_shape_of, output_shapes
from .group import FIELD_KINDS, ORDER, act, rotate_any_angle, rotate_flat, rotate_images
from .layers import GroupConv2d, GroupPool, InvariantHead, LiftingConv2d, p4cnn
from .planes import SymmetricPlane, symmetric_plane
from .sweeps import (
                     P4_ANGLES,
                     AccuracySweep,
                     RotationPredictions,
                     SixNine,
                     accuracy_vs_angle,
                     in_p4,
                     rotation_predictions,
                     six_nine_confusion,
)
from .training import DEFAULT_ARCHITECTURE, train_p4

__all__ = [
                     "DEFAULT_ARCHITECTURE",
                     "FIELD_KINDS",
                     "ORDER",
                     "P4_ANGLES",
                     "AccuracySweep",
                     "EquivarianceErrors",
                     "FeatureMaps",
                     "GroupConv2d",
                     "GroupPool",
                     "InvariantHead",
                     "LiftingConv2d",
                     "RotatedDeepFool",
                     "RotationPredictions",
                     "SixNine",
                     "SymmetricPlane",
                     "accuracy_vs_angle",
                     "act",
                     "equivariance_errors",
                     "export_p4",
                     "feature_maps",
                     "field_layout",
                     "in_p4",
                     "input_shape_of",
                     "layer_outputs",
                     "output_shapes",
                     "p4cnn",
                     "rotate_any_angle",
                     "rotate_flat",
                     "rotate_images",
                     "rotated_deepfool",
                     "rotation_predictions",
                     "six_nine_confusion",
                     "symmetric_plane",
                     "train_p4",
]
