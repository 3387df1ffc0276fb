"""Property tests for the claims the app calls exact, proven or a bound (issues 16 and 17.4).

Seeded random networks outside the known-answer tests: verdicts invariant under positive
rescaling and true on many points and on every vertex of the exact partition; class cells
that tile the slice (one-output, width-1, tie and dead-unit nets); boundary pieces that
separate two classes and cover every class change; the grid count below the exact count;
conv spectra on every layer shape the canonical form accepts; the exact 2-D distance
equal to a fine ray cast in tie regions.
"""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets, regions, spectra, stability
from explorer.attacks import certified
from explorer.nets import canonical
from explorer.nets.threads import single_threaded
from explorer.regions.polygons import polygon_areas
from explorer.stability import ACTIVE, INACTIVE, UNSTABLE
from tests.explorer.builders import mlp, set_linear

BOX = (-1.0, 1.0, -1.0, 1.0)


def preacts(net, X):
    return [z.numpy() for z in canonical(net).preactivations(torch.as_tensor(X, dtype=torch.float64))]


def classes(net, X):
    """The forward pass's class: argmax, ties to the lowest index; one logit: f > 0."""
    with torch.no_grad():
        f = net(torch.as_tensor(X, dtype=torch.float64)).numpy()
    return (f[:, 0] > 0).astype(int) if f.shape[1] == 1 else f.argmax(1)


def scaled(net, layer_factors):
    """The net with every pre-activation of layer j multiplied by prod(layer_factors[:j + 1]) > 0.

    Layer j's weights times layer_factors[j], its bias times the running product: the signs of
    all pre-activations (hence every verdict) stay; the issue's example is of this kind.
    """
    out = nn.Sequential(*[nn.Linear(m.in_features, m.out_features).double() if isinstance(m, nn.Linear) else m
                          for m in net])
    pairs = list(zip([m for m in net if isinstance(m, nn.Linear)], [m for m in out if isinstance(m, nn.Linear)]))
    layer_factors = list(layer_factors) + [1.0] * (len(pairs) - len(layer_factors))
    for (src, dst), s, total in zip(pairs, layer_factors, np.cumprod(layer_factors)):
        set_linear(dst, s * src.weight.detach(), total * src.bias.detach())
    return out


def issue_net(s):
    """f(x) = (1/s) relu(s (|x1 - 0.3| - 1e-5)): the second-layer unit dips to -1e-5 s at x1 = 0.3."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    set_linear(net[0], [[s, 0.0], [-s, 0.0]], [-0.3 * s, 0.3 * s])
    set_linear(net[2], [[1.0, 1.0]], [-1e-5 * s])
    set_linear(net[4], [[1.0 / s]], [0.0])
    return net


# -- stable units: scale-free verdicts that hold everywhere ---------------------------------------

@pytest.mark.parametrize("s", [1.0, 1e-3, 2.0 ** -12, 1e4])
def test_milp_issue_example_is_never_proven(s):
    st = stability.stable_units(issue_net(s), BOX, method="milp")
    assert st.status[1][0] == UNSTABLE
    x_on, x_off = st.witnesses[(1, 0)]
    z = preacts(issue_net(s), np.stack([x_on, x_off]))[1][:, 0]
    assert z[0] > 0 > z[1]


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


# -- class cells tile the slice, boundary pieces separate classes ---------------------------------

def _width1(n_out):
    net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, n_out)).double()
    set_linear(net[0], [[0.7, -0.2]], [0.1])
    set_linear(net[2], [[1.5]] if n_out == 1 else [[1.5], [-0.4]], [0.0] if n_out == 1 else [0.0, 0.2])
    return net


def _tie(seed):
    """Two logits equal on the whole region where the last hidden layer is dead."""
    net = mlp([2, 6, 5], seed=seed, n_out=2)
    with torch.no_grad():
        net[2].bias.sub_(0.3)
        net[4].weight.mul_(4.0)
        net[4].bias.fill_(0.25)
    return net


def _tie_17():
    """Issue 17.4: logits (0, relu(x1) - relu(-x1 - 0.5))."""
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)).double()
    set_linear(net[0], [[1.0, 0.0], [-1.0, 0.0]], [0.0, -0.5])
    set_linear(net[2], [[0.0, 0.0], [1.0, -1.0]], [0.0, 0.0])
    return net


def _dead(seed):
    net = mlp([2, 8, 8], seed=seed, n_out=3)
    with torch.no_grad():
        net[0].bias[:3] = -5.0  # dead on the box
        net[2].weight[:, 3:5] = 0.0
        net[4].weight.mul_(5.0)
    return net


NETS = {"width1-one-output": lambda: _width1(1), "width1-two-outputs": lambda: _width1(2),
        "tie-17": _tie_17, **{f"tie-{s}": (lambda s=s: _tie(s)) for s in (1, 11, 23)},
        **{f"dead-{s}": (lambda s=s: _dead(s)) for s in (2, 15)},
        "one-output": lambda: mlp([2, 8, 8], seed=4, n_out=1), "three-classes": lambda: mlp([2, 10, 10], 8, 3)}


@pytest.mark.parametrize("name", list(NETS))
def test_class_cells_tile_the_slice_and_boundary_separates_classes(name):
    net = NETS[name]()
    box = (-2.0, 2.0, -2.0, 2.0)
    part = regions.partition_2d(net, box)
    cells = part.class_cells
    area = sum(polygon_areas(c[None], np.array([len(c)]))[0] for c, _, _ in cells)
    assert abs(area - 16.0) <= 1e-12 * 16
    # each cell's class is the forward pass's at an interior point
    inner = np.array([c.mean(0) for c, _, _ in cells])
    np.testing.assert_array_equal(classes(net, inner), [k for _, k, _ in cells])
    seg = part.boundary_segments
    # every piece separates two classes: look just beside its midpoint
    if len(seg):
        mid = seg.mean(1)
        d = seg[:, 1] - seg[:, 0]
        normal = np.stack([-d[:, 1], d[:, 0]], 1) / np.linalg.norm(d, axis=1)[:, None]
        assert (classes(net, mid + 1e-7 * normal) != classes(net, mid - 1e-7 * normal)).all()
    # every class change between neighbouring grid points is within a grid step of a piece
    g = np.linspace(-2, 2, 161)
    X = np.stack(np.meshgrid(g, g), -1)
    C = classes(net, X.reshape(-1, 2)).reshape(X.shape[:2])
    pairs = [(X[:, :-1], X[:, 1:], C[:, :-1] != C[:, 1:]), (X[:-1], X[1:], C[:-1] != C[1:])]
    h = g[1] - g[0]
    for a, b, change in pairs:
        for p in 0.5 * (a[change] + b[change]):
            assert certified.point_segment_distance(p, seg).min() <= h


def test_width1_boundary_length():
    part = regions.partition_2d(_width1(1))
    seg = part.boundary_segments
    # the line 0.7 x - 0.2 y + 0.1 = 0 across the box: x from -3/7 to 1/7
    length = np.hypot(4 / 7, 2.0)
    assert abs(np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1).sum() - length) < 1e-12


# -- exact 2-D distance in tie regions (issue 17.4) ----------------------------------------------

def ray_cast_distance(net, x, reach, directions=720, steps=800):
    """Smallest distance along rays from x to a point of another class (then bisection)."""
    y = classes(net, x[None])[0]
    theta = 2 * np.pi * np.arange(directions) / directions
    dirs = np.stack([np.cos(theta), np.sin(theta)], 1)
    t = np.linspace(0, reach, steps + 1)[1:]
    P = x + t[None, :, None] * dirs[:, None, :]
    other = (classes(net, P.reshape(-1, 2)) != y).reshape(directions, steps)
    hit = other.any(1)
    first = other.argmax(1)
    lo = np.where(first > 0, t[np.maximum(first - 1, 0)], 0.0)[hit]
    hi = t[first][hit]
    dirs = dirs[hit]
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        out = classes(net, x + mid[:, None] * dirs) != y
        hi, lo = np.where(out, mid, hi), np.where(out, lo, mid)
    return hi.min()


@pytest.mark.parametrize("name", ["tie-17", "tie-1", "tie-11", "tie-23", "width1-one-output"])
def test_exact_distance_equals_ray_cast_in_tie_regions(name):
    net = NETS[name]()
    g = np.linspace(-1.2, 1.2, 7) + 0.0731  # off the lines through the origin
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    in_tie = (preacts(net, grid)[-1] <= 0).all(1)
    assert in_tie.any() and not in_tie.all()
    for x in (grid[in_tie][len(grid[in_tie]) // 2], grid[~in_tie][len(grid[~in_tie]) // 2]):
        ray = ray_cast_distance(net, x, 4.0)
        exact, nearest = certified.exact_distance_2d(net, x, 1.2 * ray)
        assert exact <= ray + 1e-9, (name, x)
        assert ray - exact <= 1e-4 * ray, (name, x)
        assert abs(np.linalg.norm(nearest - x) - exact) < 1e-12


def test_exact_distance_issue_17_example():
    assert abs(certified.exact_distance_2d(_tie_17(), [-1.0, 0.0], 1.5)[0] - 1.0) < 1e-12


# -- the grid count is a lower bound ---------------------------------------------------------------

@pytest.mark.parametrize("bias", [False, True])
def test_grid_estimate_below_exact_count_at_every_resolution(bias):
    torch.manual_seed(1)  # bias-free: the old count exceeded the exact one at most odd resolutions
    net = nn.Sequential(nn.Linear(2, 8, bias=bias), nn.ReLU(), nn.Linear(8, 6, bias=bias), nn.ReLU(),
                        nn.Linear(6, 2)).double()
    exact = regions.partition_2d(net, BOX).num_regions
    for resolution in range(15, 258):
        assert regions.grid_estimate(net, BOX, resolution).count <= exact, resolution


def test_grid_estimate_skips_the_origin_of_a_bias_free_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8, bias=False), nn.ReLU(), nn.Linear(8, 2)).double()
    grid = regions.grid_estimate(net, BOX, 255)
    assert grid.skipped >= 1 and grid.count <= regions.partition_2d(net, BOX).num_regions


# -- spectra on every conv layer the canonical form accepts ---------------------------------------

def _conv_models():
    for padding_mode in ("zeros", "circular"):
        for k in range(1, 6):
            for stride in (1, 2, 3):
                for n in range(4, 10):
                    for pad in sorted({(k - 1) // 2, k // 2}):
                        if padding_mode == "circular" and pad > n or n + 2 * pad < k:
                            continue
                        conv = nn.Conv2d(2, 3, k, stride=stride, padding=pad, padding_mode=padding_mode)
                        yield (padding_mode, k, stride, n, pad), nn.Sequential(conv).double(), (2, n, n)


def test_spectra_succeed_on_every_conv_layer_and_are_exact_where_they_say():
    torch.manual_seed(0)
    with single_threaded():  # small matrices: threads only cost here
        count = _spectra_sweep()
    assert count > 200


def _spectra_sweep():
    count = 0
    for key, model, shape in _conv_models():
        net = nets.canonical(model, shape)  # every one of these is accepted
        count += 1
        layer = net.weight_layers()[0]
        A = spectra.conv_matrix(layer.weight, shape[1:], key[0], key[2], key[4])
        dense = np.linalg.svd(A, compute_uv=False)
        (spec,) = spectra.model_spectra(net)
        assert spec.exact, key  # small layers are always exact (fft or dense)
        np.testing.assert_allclose(spec.values, dense, atol=1e-12 * dense[0] + 1e-300, err_msg=str(key))
        lip = spectra.lipschitz_bound(net, power_iters=5)
        assert lip.methods == ["exact"] and abs(lip.norms[0] - dense[0]) <= 1e-12 * dense[0], key
        assert lip.gram[0] >= dense[0] * (1 - 1e-12) and lip.estimates[0] <= dense[0] * (1 + 1e-9), key
    return count


def test_large_irregular_circular_conv_gets_a_bound():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="circular")).double()
    model.input_shape = (8, 17, 17)  # 2312 inputs: no dense operator, and 17 is odd
    (spec,) = spectra.model_spectra(model)
    assert spec.method == "density" and not spec.exact
    lip = spectra.lipschitz_bound(model, power_iters=50)
    assert lip.methods == ["bound"] and lip.norms[0] >= lip.estimates[0]
    layer = nets.canonical(model).weight_layers()[0]
    assert spectra.schur_bound(layer.weight, (17, 17), "circular", 2, 1) == lip.norms[0]
