"""A p4 network exported as plain layers (explorer.equivariance.export): the same function, read as a
canonical piecewise-linear net."""

import pytest
import torch
from torch import nn

from explorer import equivariance as eq
from explorer import nets
from explorer.equivariance import export_p4
from tests.explorer.equivariance.p4_builders import TOL, _net, _x


@pytest.mark.parametrize("head", ["mean", "orbit"])
def test_export_equals_the_p4_module_and_is_canonical(head):
    net = _net(head)
    plain = export_p4(net)
    assert all(type(m) in (nn.Unflatten, nn.Conv2d, nn.ReLU, nn.AvgPool2d, nn.Flatten, nn.Linear) for m in plain)
    x = _x()
    assert float((plain(x) - net(x)).abs().max()) <= TOL
    assert float((nets.canonical(plain)(x) - net(x)).abs().max()) <= TOL
    # the exported net is read back as p4 from its tied weights alone
    err = eq.equivariance_errors(plain, x)
    assert err.per_layer.max() <= TOL and "plain" not in err.kinds


def test_group_pool_mean_exports_as_a_1x1_conv_and_max_is_refused():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), eq.LiftingConv2d(1, 3), nn.ReLU(), eq.GroupPool("mean"),
                        nn.Flatten(), nn.Linear(3 * 64, 4)).double()
    plain = export_p4(net)
    x = _x()
    assert float((plain(x) - net(x)).abs().max()) <= TOL
    assert eq.field_layout(plain)[3] == "scalar" and eq.equivariance_errors(plain, x).errors[:3].max() <= TOL
    net[3] = eq.GroupPool("max")
    with pytest.raises(nets.UnsupportedLayerError, match="max"):
        export_p4(net)
