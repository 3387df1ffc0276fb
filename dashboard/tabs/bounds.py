"""Bounds of the settings a link or a client may send, for the tabs' analyses (no UI library here).

A value outside them is refused by the setting's parameter (and a widget showing it is set back),
never used. The one home of these bounds: the analyses import them from here (an analysis
imports no UI library, so it cannot take them from the state module, which imports Panel).
"""

from __future__ import annotations

from explorer import datasets, zoo

SAMPLE_INDEX = (0, datasets.MAX_SAMPLES - 1)  # a test sample
SEED = (0, 2**31 - 1)
ATTACK_EPSILON = (0.0, 100.0)  # an attack's budget ||r||: inputs are scaled to about [0, 1] or a few units
COMPARED_SAMPLES = (1, 100)  # test samples an attack comparison runs on (minutes of C&W past that)
LAYER_INDEX = 1023  # the largest layer or module index a setting may name
UNIT_INDEX = 2**20  # the largest unit or channel index
SLICE_MARGIN = (0.0, 2.0)  # how much a 3-D slice's tetrahedron is enlarged about its centroid (a fraction)
TYPED_LIST = r"^[\w ,;.-]{0,80}$"  # a list typed by hand (numbers, words, separators): no markup, bounded


def zoo_classifiers() -> list[str]:
    """The zoo's classifiers (as :func:`dashboard.state.classifier_names`)."""
    return [name for name in zoo.names() if zoo.ENTRIES[name].task == "classifier"]
