"""Known answers for bounds, stable units and compression on graphs (residual, max pool, LeakyReLU, clamp, cat)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from explorer import attacks, stability, zoo
from explorer.nets import Box, PLGraph, bounds, canonical, crown_graph, ibp_graph
from explorer.nets.graph import Layer, Pieces
from explorer.nets.graph_bounds import _pieces_relaxation
from explorer.stability import ACTIVE, INACTIVE, STABLE, UNKNOWN, UNSTABLE
from tests.explorer.builders import mlp


class Residual(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(d, 6), nn.Linear(6, 6), nn.Linear(6, 2)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        h = self.act(self.a(x))
        return self.out(torch.relu(self.b(h)) + h)


class Pooled(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.out = nn.Linear(d, 8), nn.Linear(4, 1)
        self.pool = nn.MaxPool1d(2)

    def forward(self, x):
        return self.out(self.pool(self.a(x).unsqueeze(1)).flatten(1))


class Clamped(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.b, self.c, self.out = nn.Linear(d, 5), nn.Linear(d, 4), nn.Linear(9, 4), nn.Linear(4, 2)
        self.prelu = nn.PReLU(4)

    def forward(self, x):
        h = torch.cat([nn.functional.hardtanh(self.a(x), -0.5, 0.7), F.relu6(self.b(x))], 1)
        return self.out(self.prelu(torch.clamp(self.c(h), -1.0, 2.0)))


class ConvPool(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a, self.conv, self.out = nn.Linear(d, 16), nn.Conv2d(1, 2, 3, padding=1), nn.Linear(8, 3)

    def forward(self, x):
        h = F.leaky_relu(self.a(x), 0.1).reshape(-1, 1, 4, 4)
        avg = F.avg_pool2d(h, 2).flatten(1)
        return self.out(F.max_pool2d(self.conv(h), 2).flatten(1) + 0.5 * torch.cat([avg, avg], 1))


BUILDERS = [Residual, Pooled, Clamped, ConvPool]


def build(cls, d, seed, scale=1.0):
    """A float64 net with N(0, scale^2) weights and biases (many units of every kind)."""
    torch.manual_seed(seed)
    net = cls(d).double()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(scale * torch.randn(p.shape, dtype=torch.float64))
        if cls is Clamped:
            net.prelu.weight.copy_(torch.tensor([0.1, -0.3, 1.5, 0.6]))
    return net


def points(box, n, seed):
    return box.sample(n, np.random.default_rng(seed), corners=n // 20)


# -- sound bounds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", BUILDERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_graph_bounds_contain_every_sampled_preactivation(cls, seed):
    net = build(cls, 4, seed, scale=0.7)
    graph = canonical(net, (4,)).graph()
    assert not graph.is_chain
    rng = np.random.default_rng(seed)
    box = Box.linf_ball(rng.normal(size=4), 0.5)
    ib, cr = ibp_graph(graph, box), crown_graph(graph, box)
    Z = graph.preactivations(points(box, 100_000, seed))
    for k, z in enumerate(Z):
        for b in (ib, cr):
            assert (z >= b.lower[k] - 1e-12).all() and (z <= b.upper[k] + 1e-12).all()
        assert (cr.lower[k] >= ib.lower[k]).all() and (cr.upper[k] <= ib.upper[k]).all()
    # the first layer's bounds are exact: the extremes of an affine map over the box (at corners)
    z0 = Z[0]
    np.testing.assert_allclose(cr.lower[0], z0.min(0), atol=0.02 * (z0.max() - z0.min()))


def test_crown_on_the_graph_of_a_chain_is_the_chain_crown():
    blocks = canonical(mlp([5, 12, 12, 12], seed=3)).dense_blocks()
    box = Box.linf_ball(np.random.default_rng(0).normal(size=5), 0.4)
    graph = PLGraph.from_blocks(blocks)
    for chain_b, graph_b in ((bounds.ibp(blocks, box), ibp_graph(graph, box)),
                             (bounds.crown(blocks, box), crown_graph(graph, box))):
        for a, b in zip(chain_b.lower + chain_b.upper, graph_b.lower + graph_b.upper):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pieces", [Pieces.relu_family(200), Pieces.relu_family(200, 0.1),
                                    Pieces.relu_family(200, np.linspace(-0.5, 1.5, 200)),
                                    Pieces.clamp(200, -0.5, 0.7), Pieces.clamp(200, 0.0, None),
                                    Pieces.clamp(200, None, 0.3)])
def test_relaxations_enclose_the_activation(pieces):
    rng = np.random.default_rng(1)
    l = rng.uniform(-2, 1, 200)
    u = l + rng.uniform(0, 2.5, 200)
    su, tu, sl, tl = _pieces_relaxation(pieces, l, u)
    z = l + (u - l) * np.linspace(0, 1, 501)[:, None]
    f = pieces.apply(z, pieces.piece(z))
    h = f[0] * z + f[1]
    assert (sl * z + tl <= h + 1e-12).all() and (h <= su * z + tu + 1e-12).all()
    # tight at both ends for one breakpoint inside (chord side) and exact where none is inside
    inside = ((l[:, None] < pieces.breakpoints) & (pieces.breakpoints < u[:, None])).sum(1)
    none = inside == 0
    np.testing.assert_allclose((su * z + tu)[:, none], h[:, none], atol=1e-12)
    np.testing.assert_allclose((sl * z + tl)[:, none], h[:, none], atol=1e-12)


def test_relu_relaxation_is_crowns():
    l, u = np.array([-1.0, -3.0, 0.5, -2.0]), np.array([2.0, 1.0, 1.0, -0.5])
    su, tu, sl, tl = _pieces_relaxation(Pieces.relu_family(4), l, u)
    np.testing.assert_allclose(su, [2 / 3, 1 / 4, 1, 0])
    np.testing.assert_allclose(tu, [2 / 3, 3 / 4, 0, 0])
    np.testing.assert_allclose(sl, [1, 0, 1, 0])
    np.testing.assert_allclose(tl, 0)


def test_max_of_a_dominating_entry_is_exact():
    # max(x + 3, x - y) on [0, 1]^2: the first entry always wins (3 > 1), so CROWN is exact downstream
    g = PLGraph(2, [], {}, np.zeros(1))
    g.layers = [Layer("pool", "max", {0: np.array([[1.0, 0.0], [1.0, -1.0]])}, np.array([3.0, 0.0]),
                      windows=np.array([[0, 1]]), shape=(1,)),
                Layer("relu", "pieces", {1: np.array([[-1.0]])}, np.array([5.0]), Pieces.relu_family(1), shape=(1,))]
    g.output_sources = {2: np.eye(1)}
    cr = crown_graph(g, Box(np.zeros(2), np.ones(2)))
    np.testing.assert_allclose([cr.lower[1][0], cr.upper[1][0]], [1.0, 2.0])  # 5 - (x + 3) on x in [0, 1]
    st = stability.stable_units(_AsNet(g), Box(np.zeros(2), np.ones(2)), method="crown")
    assert st.status[0][0] == STABLE and st.piece[0][0] == 0 and st.status[1][0] == ACTIVE


class _AsNet(nn.Module):
    """A hand-written PLGraph as a traceable module (the graph's own evaluate, for known answers)."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.lin = nn.Linear(2, 2).double()
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor(graph.layers[0].sources[0]))
            self.lin.bias.copy_(torch.tensor(graph.layers[0].bias))

    def forward(self, x):
        h = F.max_pool1d(self.lin(x).unsqueeze(1), 2).flatten(1)
        return torch.relu(5.0 - h)


# -- stable units ---------------------------------------------------------------------------------

def check_claims(graph, st, X):
    """Every proven piece holds at every point, and every witness pair is on two pieces."""
    Z = graph.preactivations(X)
    for k, (layer, z) in enumerate(zip(graph.layers, Z)):
        for unit in np.nonzero(st.piece[k] >= 0)[0]:
            if layer.kind == "max":  # the proven entry is a maximum (ties allowed)
                w = layer.windows[unit]
                assert (z[:, w[st.piece[k][unit]]] >= z[:, w].max(1) - 1e-12).all()
            else:
                t = np.concatenate([[-np.inf], layer.pieces.breakpoints, [np.inf]])
                p = st.piece[k][unit]
                assert (z[:, unit] >= t[p] - 1e-12).all() and (z[:, unit] <= t[p + 1] + 1e-12).all()
        assert ((st.piece[k] >= 0) == np.isin(st.status[k], (ACTIVE, INACTIVE, STABLE))).all()
    for (k, unit), (a, b) in st.witnesses.items():
        layer = graph.layers[k]
        ca = layer.choose(graph.preactivations(np.stack([a, b]))[k])[:, unit]
        assert ca[0] != ca[1] and (layer.kind == "max" or ca[0] > ca[1])
        assert st.status[k][unit] == UNSTABLE


@pytest.mark.parametrize("cls", BUILDERS)
def test_stable_units_never_flip_on_the_box(cls):
    net = build(cls, 3, 2, scale=0.8)
    graph = canonical(net, (3,)).graph()
    box = Box(np.array([-1.0, -0.5, 0.0]), np.array([0.5, 1.0, 0.6]))
    X = points(box, 100_000, 7)
    results = {m: stability.stable_units(net, box, method=m, time_limit=10.0) for m in ("ibp", "crown", "milp")}
    for st in results.values():
        check_claims(graph, st, X)
    assert results["milp"].num_stable >= results["crown"].num_stable >= results["ibp"].num_stable
    assert all((s != UNKNOWN).all() for s in results["milp"].status)


@pytest.mark.parametrize("cls,seed", [(Residual, 0), (Pooled, 1), (Clamped, 2), (Clamped, 5), (ConvPool, 3)])
def test_milp_agrees_with_a_dense_grid_on_2d_inputs(cls, seed):
    net = build(cls, 2, seed, scale=0.9)
    graph = canonical(net, (2,)).graph()
    box = Box(np.array([-1.0, -0.5]), np.array([0.5, 1.0]))
    st = stability.stable_units(net, box, method="milp", time_limit=10.0)
    g = np.linspace(0, 1, 401)
    X = box.lower + (box.upper - box.lower) * np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    check_claims(graph, st, X)
    for k, (layer, z) in enumerate(zip(graph.layers, graph.preactivations(X))):
        seen_two = (layer.choose(z).min(0) != layer.choose(z).max(0))
        if layer.kind == "pieces":  # a grid point exactly on a breakpoint does not count as a second piece
            t = layer.pieces.breakpoints
            seen_two &= (np.abs(z[..., None] - t) > 1e-9).all(-1).sum(0) > 0
        # a unit the grid sees on two pieces is unstable; one the grid sees on one piece is
        # proven on it, or shown unstable by the MILP's own witnesses (checked above)
        assert (st.status[k][seen_two] == UNSTABLE).all()
        assert (st.status[k] != UNKNOWN).all()


def test_exact_method_on_a_graph_agrees_with_the_forward_pass():
    """Exact verdicts from the 2-D partition: a stable unit's piece never changes on the box,
    and every unstable unit's witnesses sit on two different pieces."""
    for cls in (Residual, Clamped):
        net = build(cls, 2, 0)
        graph = canonical(net, (2,)).graph()
        box = Box(-np.ones(2), np.ones(2))
        st = stability.stable_units(net, box, method="exact")
        _, choices = graph.evaluate(points(box, 100_000, 5))
        for k, layer in enumerate(graph.layers):
            stable = st.piece[k] >= 0
            assert (choices[k][:, stable] == st.piece[k][stable]).all()
            for unit in np.nonzero(st.status[k] == UNSTABLE)[0]:
                a, b = st.witnesses[(k, int(unit))]
                assert graph.evaluate(a[None])[1][k][0, unit] != graph.evaluate(b[None])[1][k][0, unit]


# -- compression ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", BUILDERS)
@pytest.mark.parametrize("method", ["crown", "milp"])
def test_compressed_graph_equals_the_original_on_the_domain(cls, method):
    net = build(cls, 3, 4, scale=0.8)
    with torch.no_grad():  # the first layer's unit 0 far on its last piece (a max window's winner)
        net.a.bias[0] += 5.0
    graph = canonical(net, (3,)).graph()
    box = Box(np.array([-1.0, -0.5, 0.0]), np.array([0.5, 1.0, 0.6]))
    small, report = stability.compress(net, box, method=method, time_limit=10.0)
    X = points(box, 100_000, 11)
    with torch.no_grad():
        want = net(torch.from_numpy(X)).numpy()
    assert np.abs(canonical(small).graph().evaluate(X)[0] - want).max() <= 1e-9
    with torch.no_grad():  # the compressed network is a module too
        assert np.abs(small(torch.from_numpy(X[:1000])).numpy() - want[:1000]).max() <= 1e-9
    assert report.max_abs_diff <= 1e-9
    units = lambda g: sum(layer.units for layer in g.layers)
    assert units(canonical(small).graph()) == units(graph) - report.stability.num_stable
    assert report.stability.num_stable > 0  # (substitution can add weights: a skip to the input)


def test_dead_and_saturated_units_are_substituted():
    # unit 0 of the hardtanh is saturated at 0.7 (z >= 5), ReLU6 unit 1 is dead (z <= -5)
    net = build(Clamped, 2, 0, scale=0.5)
    with torch.no_grad():
        net.a.bias[0], net.b.bias[1] = 6.0, -6.0
    box = Box(-np.ones(2), np.ones(2))
    small, report = stability.compress(net, box, method="ibp")
    st = report.stability
    assert st.status[0][0] == STABLE and st.piece[0][0] == 2  # above both limits of hardtanh
    assert st.status[1][1] == STABLE and st.piece[1][1] == 0
    assert report.widths_after[0] <= 4 and report.widths_after[1] <= 3
    X = points(box, 20_000, 3)
    with torch.no_grad():
        assert np.abs(small(torch.from_numpy(X)).numpy() - net(torch.from_numpy(X)).numpy()).max() <= 1e-12


def test_chain_compression_still_returns_a_sequential():
    net = mlp([3, 6, 6], seed=1)
    small, report = stability.compress(net, Box(-np.ones(3), np.ones(3)), method="crown")
    assert isinstance(small, nn.Sequential) and report.max_abs_diff <= 1e-12


# -- the compressed graph is a torch module -------------------------------------------------------

class SkipCNN(nn.Module):
    """A small CNN on 6x6 images: conv, ReLU, 2x2 max pool, then a residual conv block."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.out = nn.Linear(18, 3)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return self.out((F.relu(self.conv2(h)) + h).flatten(1))


def _residual():
    net = build(Residual, 3, 2, scale=0.8)
    with torch.no_grad():  # a unit of each layer far on one side
        net.a.bias[0] += 5.0
        net.b.bias[1] -= 5.0
    return net, Box.linf_ball(np.zeros(3), 1.0)


def _cnn():
    torch.manual_seed(0)
    net = SkipCNN().double()
    with torch.no_grad():
        net.conv1.bias[0] += 0.5
    return net, Box.linf_ball(np.random.default_rng(0).uniform(0, 1, 36), 0.3)


@pytest.fixture(scope="module", params=["residual_leaky_mlp", "skip_cnn_maxpool"])
def compressed(request):
    """(original, compressed, report, box, input shape) for a residual LeakyReLU MLP and a CNN with max pool."""
    net, box = _residual() if request.param == "residual_leaky_mlp" else _cnn()
    shape = (3,) if request.param == "residual_leaky_mlp" else (1, 6, 6)
    net.input_shape = shape
    small, report = stability.compress(net, box, method="crown")
    assert report.stability.num_stable > 0 and not canonical(net).graph().is_chain
    return net, small, report, box, shape


def _outputs(model, X, shape):
    with torch.no_grad():
        return model(torch.as_tensor(X).reshape(len(X), *shape)).numpy()


def test_compressed_module_equals_the_original_in_float64(compressed):
    net, small, report, box, shape = compressed
    X = points(box, 20_000, 1)
    want = _outputs(net, X, shape)
    assert np.abs(_outputs(small, X, shape) - want).max() <= 1e-12 * (1 + np.abs(want).max())
    params = list(small.parameters())
    assert params and all(isinstance(p, nn.Parameter) and p.dtype == torch.float64 and p.requires_grad for p in params)
    assert sum(p.numel() for p in params) == report.params_after  # no max window shares an entry


def test_compressed_module_saves_and_loads(compressed, tmp_path):
    net, small, report, box, shape = compressed
    path = zoo.save(small, tmp_path / "small.pt", input_shape=shape)
    back = zoo.load_file(path.read_bytes())
    X = points(box, 2_000, 2)
    want = _outputs(net, X, shape)
    np.testing.assert_allclose(_outputs(back, X, shape), _outputs(small, X, shape), rtol=0, atol=1e-13)
    assert np.abs(_outputs(back, X, shape) - want).max() <= 1e-12 * (1 + np.abs(want).max())


def test_deepfool_on_the_compressed_module_is_deepfool_on_the_original(compressed):
    net, small, report, box, shape = compressed
    X = (box.center + box.radius * np.random.default_rng(3).uniform(-0.2, 0.2, (200, box.dim))).reshape(-1, *shape)
    want, got = attacks.deepfool(net, X), attacks.deepfool(small, X)
    flat = want.path.reshape(len(X), want.path.shape[1], -1)
    # where the original's whole path stays in the box, the two networks are one function along it
    inside = want.success & ((flat >= box.lower - 1e-12) & (flat <= box.upper + 1e-12)).all((1, 2))
    assert inside.sum() >= 20
    np.testing.assert_array_equal(got.iterations[inside], want.iterations[inside])
    np.testing.assert_array_equal(got.adversarial[inside], want.adversarial[inside])
    np.testing.assert_allclose(got.x_adv[inside], want.x_adv[inside], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got.original, want.original)


def test_compressed_module_converts_dtype(compressed):
    net, small, report, box, shape = compressed
    small32 = copy.deepcopy(small).to(torch.float32)
    assert all(p.dtype == torch.float32 for p in small32.parameters())
    assert sum(p.numel() for p in small32.parameters()) == report.params_after
    X = points(box, 2_000, 4)
    want = _outputs(net, X, shape)
    got = _outputs(small32, X.astype(np.float32), shape)
    assert got.dtype == np.float32 and np.abs(got - want).max() <= 1e-5 * (1 + np.abs(want).max())


def test_compressed_module_trains(compressed):
    net, small, report, box, shape = compressed
    model = copy.deepcopy(small).train()
    X = torch.from_numpy(points(box, 256, 5)).reshape(-1, *shape)
    target = torch.from_numpy(_outputs(net, X.numpy(), shape)) + 1.0
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.mse_loss(model(X), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(1.0, abs=1e-12)  # the compressed net is the original: every output 1 off
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_compressed_module_reads_back_with_the_reported_units(compressed):
    net, small, report, box, shape = compressed
    graph = canonical(small).graph()
    assert [layer.units for layer in graph.layers] == report.widths_after
    assert sum(report.widths_after) == sum(report.widths_before) - report.stability.num_stable
    kinds = [layer.kind for k, layer in enumerate(canonical(net).graph().layers) if k not in report.collapsed_layers]
    assert [layer.kind for layer in graph.layers] == kinds
