"""Stable units (explorer.stability.units; research note, sections 5-7): known answers, verdicts invariant
under positive rescaling and true on many points and on every vertex of the exact partition,
refusals."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import regions, stability
from explorer.stability import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Box
from tests.explorer.builders import BOX, mlp, preacts, set_linear

# -- known answers --------------------------------------------------------------------------------

def test_exact_method_matches_milp_on_a_two_input_net():
    net = mlp([2, 8, 8], seed=2)
    ex = stability.stable_units(net, (-1, 1, -1, 1), method="exact")
    mi = stability.stable_units(net, (-1, 1, -1, 1), method="milp", time_limit=10.0)
    for a, b in zip(ex.status, mi.status):
        assert (a == b).all()
    assert ex.num_stable >= stability.stable_units(net, (-1, 1, -1, 1), method="crown").num_stable


def test_relu_of_a_nonnegative_input_is_stably_active():
    # t -> relu(t) and relu(t - 1/2) on [0, 1]: the first is active (z = 0 at t = 0), the second unstable
    net = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    set_linear(net[0], [[1.0], [1.0]], [0.0, -0.5])
    for method in ("ibp", "crown", "milp"):
        st = stability.stable_units(net, Box([0.0], [1.0]), method=method)
        assert st.status[0][0] == ACTIVE
        assert st.status[0][1] == (UNSTABLE if method == "milp" else UNKNOWN)


def test_identity_through_two_relus_has_no_stable_units():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    set_linear(net[0], [[1.0, 0.0], [-1.0, 0.0]], [0.0, 0.0])
    for method in ("crown", "milp", "exact"):
        assert stability.stable_units(net, (-1, 1, -1, 1), method=method).num_stable == 0


def test_bad_arguments_are_refused():
    net = mlp([3, 4], seed=0)
    with pytest.raises(ValueError, match="Unknown method"):
        stability.stable_units(net, Box(np.zeros(3), np.ones(3)), method="magic")
    with pytest.raises(ValueError, match="3 inputs"):
        stability.stable_units(net, Box(np.zeros(2), np.ones(2)))
    with pytest.raises(ValueError, match="2 inputs"):
        stability.stable_units(net, Box(np.zeros(3), np.ones(3)), method="exact")
    with pytest.raises(ValueError, match="lower <= upper"):
        Box(np.ones(3), np.zeros(3))


# -- verdicts that hold at every scale, on many points and on every partition vertex --------------

def scaled(net, layer_factors):
    """The net with every pre-activation of layer j multiplied by prod(layer_factors[:j + 1]) > 0.

    Layer j's weights times layer_factors[j], its bias times the running product: the signs of
    all pre-activations (hence every verdict) stay; test_milp's dip_net(s) is of this kind.
    """
    out = nn.Sequential(*[nn.Linear(m.in_features, m.out_features).double() if isinstance(m, nn.Linear) else m
                          for m in net])
    pairs = list(zip([m for m in net if isinstance(m, nn.Linear)], [m for m in out if isinstance(m, nn.Linear)]))
    layer_factors = list(layer_factors) + [1.0] * (len(pairs) - len(layer_factors))
    for (src, dst), s, total in zip(pairs, layer_factors, np.cumprod(layer_factors)):
        set_linear(dst, s * src.weight.detach(), total * src.bias.detach())
    return out


def _stable_net(seed, widths=(2, 10, 10, 10, 8)):
    """A random net with large biases, so that some units are stable on BOX and some are not
    (deep enough that the MILP proves units CROWN leaves open)."""
    net = mlp(list(widths), seed=seed, n_out=2)
    rng = np.random.default_rng(seed)
    for m in net:
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.bias.copy_(torch.from_numpy(rng.normal(0, 0.8, m.out_features)))
    return net


@pytest.mark.parametrize("method", ["ibp", "crown", "milp", "exact"])
def test_verdicts_invariant_under_positive_rescaling(method):
    for seed in range(3):
        net = _stable_net(seed)
        ref = stability.stable_units(net, BOX, method=method, time_limit=5.0, samples=1)
        for factors in ([2.0 ** -9, 1, 1, 1], [1, 1e-3, 1, 1], [1, 1, 37.0, 1], [1e-3, 1e-3, 1e-3, 1e-3],
                        [50.0, 0.02, 3.0, 1]):
            other = stability.stable_units(scaled(net, factors), BOX, method=method, time_limit=5.0, samples=1)
            for a, b in zip(ref.status, other.status):
                np.testing.assert_array_equal(a, b, err_msg=f"{method}, seed {seed}, factors {factors}")


@pytest.mark.parametrize("method", ["ibp", "crown", "milp", "exact"])
def test_proven_verdicts_hold_on_points_and_partition_vertices(method):
    for seed in range(3):
        net = _stable_net(seed)
        st = stability.stable_units(net, BOX, method=method, time_limit=5.0, samples=1)
        part = regions.partition_2d(net, BOX)
        rng = np.random.default_rng(seed)
        pts = np.concatenate([rng.uniform(-1, 1, (100_000, 2)), *part.polygons])
        decided = 0
        for k, z in enumerate(preacts(net, pts)):
            tol = 1e-9 * (np.abs(z).max() + 1)
            active, inactive = st.status[k] == ACTIVE, st.status[k] == INACTIVE
            assert (z[:, active] >= -tol).all() and (z[:, inactive] <= tol).all()
            decided += int(active.sum() + inactive.sum())
            assert (st.lower[k] <= z.min(0) + tol).all() and (st.upper[k] >= z.max(0) - tol).all()
        assert decided > 0  # the nets do have stable units
        for (k, unit), (x_on, x_off) in st.witnesses.items():
            assert st.status[k][unit] == UNSTABLE
            z = preacts(net, np.stack([x_on, x_off]))[k][:, unit]
            assert z[0] > 0 and z[1] < 0
