"""The zoo's architectures (explorer.zoo.architectures): the residual additions of digits-resnet."""

from __future__ import annotations

from explorer import zoo


def test_digits_resnet_has_two_residual_additions():
    spec = zoo.load("digits-resnet").graph_spec
    adds = [d for d in spec if d["type"] == "add"]
    assert len(adds) == 2
    names = [d["name"] for d in spec]
    for add in adds:  # x + conv(relu(conv(x))): the skip input comes before the two convs it bypasses
        skip, _ = sorted(add["inputs"], key=names.index)
        between = [d["type"] for d in spec[names.index(skip) + 1: names.index(add["name"])]]
        assert between == ["conv2d", "relu", "conv2d"]
