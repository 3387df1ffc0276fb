"""Which p4 field each layer outputs (explorer.equivariance.fields), read from its tied weights."""

import torch

from explorer import equivariance as eq
from explorer.equivariance import export_p4
from tests.explorer.equivariance.p4_builders import _net, _x


def test_breaking_one_tied_weight_is_seen_by_the_layout_and_the_error():
    plain = export_p4(_net())
    with torch.no_grad():
        plain[1].weight[1, 0, 0, 0] += 0.5
    assert eq.field_layout(plain)[1] == "plain"
    assert eq.equivariance_errors(plain, _x()).per_layer[0] > 1e-2
