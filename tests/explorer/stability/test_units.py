"""Known answers for explorer.nets.bounds and explorer.stability (research note, sections 5-7)."""

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

from explorer import nets, stability, zoo
from explorer.nets import bounds, canonical
from explorer.stability import ACTIVE, INACTIVE, UNKNOWN, UNSTABLE, Box
from tests.explorer.builders import mlp, set_linear


def preacts(net, X):
    return [z.numpy() for z in canonical(net).preactivations(torch.as_tensor(X, dtype=torch.float64))]


def forward(net, X):
    with torch.no_grad():
        return net(torch.as_tensor(X, dtype=torch.float64)).numpy()


# -- sound bounds --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ibp_and_crown_contain_sampled_preactivations(seed):
    net = mlp([6, 20, 20, 20], seed=seed)
    rng = np.random.default_rng(seed)
    center = rng.normal(size=6)
    box = Box.linf_ball(center, 0.3)
    blocks = canonical(net).dense_blocks()
    ib, cr = bounds.ibp(blocks, box), bounds.crown(blocks, box)
    Z = preacts(net, box.sample(4000, rng, corners=1000))
    for k, z in enumerate(Z):
        for b in (ib, cr):
            assert (z >= b.lower[k] - 1e-12).all() and (z <= b.upper[k] + 1e-12).all()
        assert (cr.lower[k] >= ib.lower[k]).all() and (cr.upper[k] <= ib.upper[k]).all()
    # deeper layers: CROWN strictly tighter on average
    assert (cr.upper[2] - cr.lower[2]).mean() < (ib.upper[2] - ib.lower[2]).mean()


def test_first_layer_bounds_are_the_exact_extremes_over_the_corners():
    net = mlp([3, 7], seed=4)
    box = Box(np.array([-1.0, 0.0, 2.0]), np.array([0.5, 1.0, 3.0]))
    corners = np.array(list(itertools.product(*zip(box.lower, box.upper))))
    z = preacts(net, corners)[0]
    for b in (bounds.ibp(canonical(net).dense_blocks(), box), bounds.crown(canonical(net).dense_blocks(), box)):
        np.testing.assert_allclose(b.lower[0], z.min(0), atol=1e-12)
        np.testing.assert_allclose(b.upper[0], z.max(0), atol=1e-12)


# -- MILP against exhaustive enumeration ---------------------------------------------------------

def exact_extremes(net, box):
    """min / max of every pre-activation: enumerate the patterns of the earlier layers, one LP each."""
    blocks = canonical(net).dense_blocks()
    lows, ups = [], []
    for k in range(len(blocks) - 1):
        sizes = [W.shape[0] for W, _ in blocks[:k]]
        W, b = blocks[k]
        lo, hi = np.full(W.shape[0], np.inf), np.full(W.shape[0], -np.inf)
        for bits in itertools.product([0, 1], repeat=sum(sizes)):
            # on a fixed pattern every pre-activation is affine: a x + c
            A, c = np.eye(box.dim), np.zeros(box.dim)
            rows, rhs, pos = [], [], 0
            for (Wj, bj), n in zip(blocks[:k], sizes):
                za, zc = Wj @ A, Wj @ c + bj
                d = np.array(bits[pos:pos + n], dtype=float)
                pos += n
                sign = np.where(d > 0, -1.0, 1.0)  # on: z >= 0 -> -z <= 0; off: z <= 0
                rows.append(sign[:, None] * za)
                rhs.append(-sign * zc)
                A, c = d[:, None] * za, d * zc
            za, zc = W @ A, W @ c + b
            A_ub = np.concatenate(rows) if rows else None
            b_ub = np.concatenate(rhs) if rhs else None
            if rows and linprog(np.zeros(box.dim), A_ub=A_ub, b_ub=b_ub,
                                bounds=list(zip(box.lower, box.upper)), method="highs").status != 0:
                continue  # no input has this pattern
            for i in range(W.shape[0]):
                for s in (1.0, -1.0):
                    res = linprog(s * za[i], A_ub=A_ub, b_ub=b_ub, bounds=list(zip(box.lower, box.upper)),
                                  method="highs")
                    if res.status == 0:
                        v = s * res.fun + zc[i]
                        lo[i], hi[i] = min(lo[i], v), max(hi[i], v)
        lows.append(lo)
        ups.append(hi)
    return lows, ups


def gaussian_mlp(widths, seed):
    """Weights and biases N(0, 1): many units of both kinds, unlike PyTorch's default init."""
    net = mlp(widths, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return net


@pytest.mark.parametrize("seed,samples", [(2, 2048), (4, 2048), (4, 3)])
def test_milp_agrees_with_exhaustive_enumeration(seed, samples):
    net = gaussian_mlp([3, 4, 4, 4], seed=seed)
    box = Box(np.array([-1.0, -0.5, 0.0]), np.array([0.5, 1.0, 0.7]))
    lows, ups = exact_extremes(net, box)
    st = stability.stable_units(net, box, method="milp", time_limit=10.0, samples=samples)
    assert st.milp_solves > 0
    for k in range(3):
        truth = np.where(lows[k] >= 0, ACTIVE, np.where(ups[k] <= 0, INACTIVE, UNSTABLE))
        assert (st.status[k] == truth).all()
    for (k, unit), (x_on, x_off) in st.witnesses.items():
        z = preacts(net, np.stack([x_on, x_off]))[k][:, unit]
        assert z[0] > 0 >= z[1]
        assert (x_on >= box.lower).all() and (x_on <= box.upper).all()
    for method in ("ibp", "crown"):
        other = stability.stable_units(net, box, method=method)
        for k in range(3):  # sound: never claims what is false, never says unstable
            proven = other.status[k] != UNKNOWN
            assert (other.status[k][proven] == st.status[k][proven]).all()


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


# -- compression -----------------------------------------------------------------------------------

def fresh_diff(net, small, box, n=3000):
    X = box.sample(n, np.random.default_rng(123), corners=500)
    return np.abs(forward(canonical(net), X) - forward(small, X)).max()


def test_dead_unit_is_removed_exactly():
    net = mlp([3, 4, 4], seed=1)
    set_linear(net[0], np.concatenate([net[0].weight.detach()[:3].numpy(), np.zeros((1, 3))]),
               np.concatenate([net[0].bias.detach()[:3].numpy(), [-1.0]]))
    box = Box(-np.ones(3), np.ones(3))
    small, report = stability.compress(net, box, method="crown")
    assert report.removed_inactive[0] >= 1
    assert report.widths_after[0] <= 3
    assert report.max_abs_diff <= 1e-12 and fresh_diff(net, small, box) <= 1e-12


def test_stably_active_layer_collapses_to_one_affine_map():
    rng = np.random.default_rng(0)
    net = mlp([4, 6, 5], seed=2)
    set_linear(net[0], rng.uniform(-1, 1, (6, 4)), np.full(6, 10.0))
    box = Box(np.zeros(4), np.ones(4))
    small, report = stability.compress(net, box, method="ibp")
    assert report.collapsed_layers[0] == 0
    assert len(report.widths_after) == 2 - len(report.collapsed_layers)
    assert sum(isinstance(m, nn.ReLU) for m in small) == len(report.widths_after)
    assert fresh_diff(net, small, box) <= 1e-12


def test_dependent_active_units_fold_into_the_next_layer():
    # 2 inputs: five stably active units span only 2 dimensions -> 3 fold away
    net = mlp([2, 7, 4], seed=3)
    W = np.random.default_rng(1).uniform(-1, 1, (7, 2))
    b = np.array([10.0] * 5 + [0.0, 0.1])
    set_linear(net[0], W, b)
    box = Box(-np.ones(2), np.ones(2))
    small, report = stability.compress(net, box, method="exact")
    assert report.folded_active[0] == 3
    assert report.widths_after[0] == 7 - 3 - report.removed_inactive[0]
    assert report.max_abs_diff <= 1e-10 and fresh_diff(net, small, box) <= 1e-10


@pytest.mark.parametrize("name", [n for n in zoo.names() if zoo.ENTRIES[n].task == "classifier"])
def test_compressed_zoo_models_agree_with_the_originals(name):
    from explorer import datasets
    from explorer.training import evaluation

    model = zoo.load(name)
    data = datasets.load(zoo.card(name)["dataset"])
    if data.num_features == 2:  # the box around the data, settled exactly
        box = Box.from_extent(*evaluation.data_box(np.concatenate([data.X_train, data.X_test])))
        method = "exact"
    else:  # an L-infinity ball around a test digit, settled by MILP (CROWN for the wide conv nets)
        box = Box.linf_ball(data.X_test[0], 0.05, clip=data.domain)
        method = "milp" if sum(canonical(model).hidden_sizes) <= 256 else "crown"
    small, report = stability.compress(model, box, method=method, time_limit=0.5)
    if isinstance(small, nets.PLGraphModule):  # substitution can add weights (a skip to the input), never units
        assert sum(canonical(small).hidden_sizes) == sum(canonical(model).hidden_sizes) - report.stability.num_stable
    else:
        assert report.params_after < report.params_before
    assert report.max_abs_diff <= 1e-9
    assert fresh_diff(model, small, box) <= 1e-9


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
