"""Known answers for explorer.attacks.certified: certified radius <= exact distance <= DeepFool's distance
on 2-D and graph models (residual, MaxPool, LeakyReLU), radii exact for affine classifiers, and the
exact 2-D distance equal to a fine ray cast where two logits tie."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from explorer import attacks, datasets, nets, zoo
from explorer.attacks import certified
from tests.explorer.attacks.affine_models import affine, closed_form
from tests.explorer.builders import CLASS_MAP_NETS, classes, preacts, tied_on_a_strip

# -- the zoo's graph models (residual, MaxPool, LeakyReLU) ----------------------------------------

@pytest.mark.parametrize("name", ["digits-resnet", "digits-lenet", "moons-leaky"])
def test_certified_radius_never_exceeds_deepfool(name):
    model = zoo.load(name)
    data = datasets.load(zoo.card(name)["dataset"])
    x = data.X_test[:20]
    net = nets.canonical(model)
    assert isinstance(net, nets.GraphNet)
    df = attacks.deepfool(net, x, norm="l2")
    radius = certified.certified_radius(net, x).radius
    assert df.success.any()
    assert (radius[df.success] <= df.l2[df.success] * (1 + 1e-9)).all()


def test_moons_leaky_sandwich_orders_certified_exact_deepfool():
    model = zoo.load("moons-leaky")
    data = datasets.load(zoo.card("moons-leaky")["dataset"])
    for x in data.X_test[:5]:
        s = certified.sandwich(model, x)
        assert s.certified <= s.exact * (1 + 1e-9) <= s.deepfool * (1 + 1e-6)
        with torch.no_grad():  # the nearest boundary point really sits between two classes
            logits = nets.canonical(model)(torch.from_numpy(s.nearest[None])).numpy()[0]
        top = np.sort(logits)[-2:]
        assert abs(top[1] - top[0]) <= 1e-6 * (1 + np.abs(logits).max())


# -- exact 2-D distance where two logits tie on a whole region -----------------------------------

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
    net = CLASS_MAP_NETS[name]()
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
    assert abs(certified.exact_distance_2d(tied_on_a_strip(), [-1.0, 0.0], 1.5)[0] - 1.0) < 1e-12


# -- certified radius and the sandwich -----------------------------------------------------------

def test_certified_equals_exact_for_symmetric_linear():
    # W = [w; -w]: margin 2|w.x|, L = sqrt(2)||w||, so margin / (sqrt(2) L) = |w.x| / ||w|| = exact
    w = np.array([1.0, 2.0])
    model = nn.Linear(2, 2, bias=False).double()
    model.weight.data = torch.tensor(np.stack([w, -w]))
    x = np.array([[1.0, 0.0], [0.3, -0.9]])
    exact = np.abs(x @ w) / np.linalg.norm(w)
    np.testing.assert_allclose(exact[0], 0.447214, atol=1e-6)
    for pairwise in (False, True):
        np.testing.assert_allclose(attacks.certified_radius(model, x, pairwise=pairwise).radius, exact, rtol=1e-12)


def test_pairwise_radius_is_exact_for_affine_multiclass():
    model = affine(7, 5, seed=2)
    x = np.random.default_rng(7).normal(size=(9, 7))
    dist, _ = closed_form(model, x)
    np.testing.assert_allclose(certified.certified_radius(model, x, pairwise=True).radius, dist, rtol=1e-10)
    assert (certified.certified_radius(model, x).radius <= dist + 1e-12).all()


def test_spectral_norms_are_exact(digits):
    model = zoo.load("digits-mlp")
    norms, W_last = certified.lipschitz_blocks(model)
    for n, layer in zip(norms, [model[0], model[2], model[4]]):
        assert n == pytest.approx(torch.linalg.matrix_norm(layer.weight.double(), 2).item(), rel=1e-9)
    np.testing.assert_allclose(W_last, model[4].weight.double().detach().numpy())


@pytest.mark.parametrize("name", ["moons-mlp", "spirals-mlp"])
def test_sandwich_holds_on_2d_models(name):
    model = zoo.load(name)
    X = datasets.load(zoo.card(name)["dataset"]).X_test[:12]
    for x in X:
        s = certified.sandwich(model, x)
        assert s.certified <= s.certified_pairwise * (1 + 1e-9)
        assert s.certified_pairwise <= s.exact + 1e-9
        assert s.exact <= s.deepfool + 1e-9
        # the nearest boundary point is a tie of the top two logits, at the reported distance
        assert np.linalg.norm(s.nearest - s.x) == pytest.approx(s.exact, abs=1e-9)
        with torch.no_grad():
            f = np.sort(model(torch.as_tensor(s.nearest[None], dtype=torch.float32)).numpy()[0])
        assert f[-1] - f[-2] < 1e-4


def test_exact_distance_matches_brute_force_rays():
    model = zoo.load("moons-mlp")
    x = datasets.load("moons").X_test[5].astype(np.float64)
    s = certified.sandwich(model, x)
    angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    radii = np.linspace(0, s.deepfool * 1.01, 1500)
    pts = x + radii[None, :, None] * np.stack([np.cos(angles), np.sin(angles)], 1)[:, None, :]
    with torch.no_grad():
        labels = model(torch.as_tensor(pts.reshape(-1, 2), dtype=torch.float32)).argmax(1).numpy()
    flipped = labels.reshape(len(angles), len(radii)) != s.label
    first = np.where(flipped.any(1), radii[flipped.argmax(1)], np.inf).min()
    step = radii[1]
    assert s.exact <= first + 1e-9 and first - s.exact <= step + 2 * np.pi / 720 * s.deepfool


def test_scaling_the_last_layer_keeps_all_radii():
    model = zoo.load("moons-mlp")
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        scaled[-1].weight.mul_(3.7)
        scaled[-1].bias.mul_(3.7)
    for x in datasets.load("moons").X_test[:5]:
        a, b = certified.sandwich(model, x), certified.sandwich(scaled, x)
        for field in ("certified", "certified_pairwise", "exact", "deepfool"):
            assert getattr(b, field) == pytest.approx(getattr(a, field), rel=1e-6), field
