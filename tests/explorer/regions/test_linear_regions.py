"""Activation regions merged into linear regions (explorer.regions.linear_regions)."""

from explorer import regions
from tests.explorer.regions.region_builders import hand_net


def test_identity_through_two_relus_is_one_linear_region():
    # relu(x) - relu(-x) = x: two activation regions, one linear region
    net = hand_net([[1.0, 0.0], [-1.0, 0.0]], [0.0, 0.0], [[1.0, -1.0]], [0.0])
    part = regions.partition_2d(net)
    assert part.num_regions == 2
    assert part.num_linear_regions == 1
    line = regions.partition_line(net, [-1.0, 0.3], [1.0, 0.3])
    assert line.num_regions == 2 and line.num_linear_regions == 1


def test_unit_with_zero_output_weight_splits_activation_but_not_linear_regions():
    net = hand_net([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], [[1.0, 0.0]], [0.0])
    part = regions.partition_2d(net)
    assert part.num_regions == 4
    assert part.num_linear_regions == 2
