"""Known answers for explorer.attacks and explorer.attacks.certified.

Affine classifiers have closed-form minimal perturbations (DeepFool, CVPR 2016,
Eq. 3 and 8-9); ReLU models are checked by invariants: every reported
perturbation flips the label, batching changes nothing, and on 2-D models
certified radius <= exact distance <= DeepFool's distance.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from explorer import attacks, datasets, zoo
from explorer.attacks import certified

ETA = 0.02


def affine(d: int, k: int, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(d, k).double().eval()


def closed_form(model: nn.Linear, x: np.ndarray, dual: str = "l2"):
    """Distance from x to the boundary of its class polyhedron: min_k |f'_k| / ||w'_k||_q."""
    W, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    f = x @ W.T + b
    k0 = f.argmax(axis=1)
    rows = np.arange(len(x))
    fp = f - f[rows, k0][:, None]
    wp = W[None, :, :] - W[k0][:, None, :]
    q = np.linalg.norm(wp, axis=2) if dual == "l2" else np.abs(wp).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.abs(fp) / q
    dist[rows, k0] = np.inf
    return dist.min(axis=1), dist.argmin(axis=1)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


def test_affine_binary_is_one_projection_step():
    model = affine(5, 2, seed=0)
    x = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = attacks.deepfool(model, x, overshoot=ETA, step_margin=0.0)
    W, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    k0 = res.original
    w = W[1 - k0] - W[k0]  # gradient of f' = f_other - f_k0
    fx = (x.numpy() * w).sum(1) + (b[1 - k0] - b[k0])
    expected = -fx[:, None] * w / (w * w).sum(1, keepdims=True)  # r* = -f'(x) w / ||w||^2
    np.testing.assert_allclose(res.r, (1 + ETA) * expected, rtol=1e-10, atol=1e-12)
    assert (res.iterations == 1).all() and res.success.all()
    on_plane = x.numpy() + expected  # x + r* lies on the hyperplane w^T z + c = 0
    np.testing.assert_allclose((on_plane * w).sum(1) + (b[1 - k0] - b[k0]), 0, atol=1e-9)


@pytest.mark.parametrize("d,k", [(2, 2), (20, 5), (64, 10)])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_affine_multiclass_closed_form(d, k, norm):
    model = affine(d, k, seed=d + k)
    x = np.random.default_rng(d * k).normal(size=(16, d))
    res = attacks.deepfool(model, x, norm=norm, overshoot=ETA, step_margin=0.0)
    dist, target = closed_form(model, x, "l2" if norm == "l2" else "l1")
    norms = res.l2 if norm == "l2" else res.linf
    np.testing.assert_allclose(norms, (1 + ETA) * dist, rtol=1e-9)
    assert (res.iterations == 1).all() and res.success.all()
    np.testing.assert_array_equal(res.adversarial, target)


def test_foolbox_margin_convention_on_affine():
    model = affine(20, 5, seed=3)
    x = np.random.default_rng(0).normal(size=(10, 20))
    res = attacks.deepfool(model, x, overshoot=ETA)  # step_margin 1e-4 by default
    dist, _ = closed_form(model, x)
    np.testing.assert_allclose(res.l2, (1 + ETA) * (dist + 1e-4), rtol=1e-9)


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn"])
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_every_success_flips_the_label_and_norms_match(digits, name, norm):
    model = zoo.load(name)
    x = digits.X_test[:60]
    res = attacks.deepfool(model, x, norm=norm, clip=(0.0, 1.0))
    assert res.success.all()
    with torch.no_grad():
        pred = model(torch.as_tensor(res.x_adv)).argmax(1).numpy()
    np.testing.assert_array_equal(pred, res.adversarial)
    assert (pred != res.original).all()
    np.testing.assert_array_equal(res.original, attacks.predict(model, x))
    np.testing.assert_allclose(res.x_adv, x + res.r, atol=1e-6)
    np.testing.assert_allclose(res.l2, np.linalg.norm(res.r, axis=1), rtol=1e-6)
    np.testing.assert_allclose(res.linf, np.abs(res.r).max(axis=1), rtol=1e-6)
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    # the path starts at x and ends at x_adv after `iterations` steps
    np.testing.assert_array_equal(res.path[:, 0], res.x)
    np.testing.assert_array_equal(res.path[np.arange(len(x)), res.iterations], res.x_adv)


def test_batched_equals_one_at_a_time(digits):
    model = copy.deepcopy(zoo.load("digits-mlp")).double()
    x = digits.X_test[:12].astype(np.float64)
    batch = attacks.deepfool(model, x, clip=(0.0, 1.0))
    for i in range(len(x)):
        one = attacks.deepfool(model, x[i:i + 1], clip=(0.0, 1.0))
        np.testing.assert_allclose(one.r[0], batch.r[i], atol=1e-12)
        assert one.iterations[0] == batch.iterations[i]


def test_top_candidates_restrict_the_targets():
    model = affine(10, 6, seed=5)
    x = np.random.default_rng(2).normal(size=(20, 10))
    res = attacks.deepfool(model, x, candidates=2)
    f = model(torch.as_tensor(x)).detach().numpy()
    runner_up = np.argsort(-f, axis=1)[:, 1]
    np.testing.assert_array_equal(res.adversarial, runner_up)


def test_constant_model_fails_cleanly():
    model = nn.Linear(3, 3).double()
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    res = attacks.deepfool(model, np.ones((4, 3)), max_iter=5)
    assert not res.success.any()
    assert np.isfinite(res.r).all() and (res.iterations == 5).all()


def test_superdeepfool_is_never_larger_and_still_flips(digits):
    model = zoo.load("digits-cnn")
    x = digits.X_test[:40]
    df = attacks.deepfool(model, x, clip=(0.0, 1.0))
    sdf = attacks.deepfool(model, x, clip=(0.0, 1.0), refine=True)
    assert sdf.success.all()
    assert (sdf.l2 <= df.l2 * (1 + 1e-6)).all()
    assert np.median(sdf.l2) < np.median(df.l2)
    with torch.no_grad():
        assert (model(torch.as_tensor(sdf.x_adv)).argmax(1).numpy() != sdf.original).all()


def test_superdeepfool_on_affine_lands_on_the_boundary():
    model = affine(8, 4, seed=9)
    x = np.random.default_rng(4).normal(size=(10, 8))
    sdf = attacks.deepfool(model, x, refine=True)
    dist, _ = closed_form(model, x)
    assert (sdf.l2 >= dist).all() and (sdf.l2 <= dist * (1 + 2e-3) + 1e-4).all()


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
@pytest.mark.parametrize("norm,dual", [("linf", "l1"), ("l2", "l2")])
def test_minimal_epsilon_on_affine_binary_is_the_distance(method, norm, dual):
    # for a linear binary classifier the gradient-sign (or gradient) step is the optimal
    # direction, so the smallest flipping budget is |f'| / ||w'||_q
    model = affine(6, 2, seed=11)
    x = np.random.default_rng(5).normal(size=(12, 6))
    res = attacks.minimal_epsilon(model, x, method=method, norm=norm, eps_max=20.0, tol=1e-5)
    dist, _ = closed_form(model, x, dual)
    assert res.success.all()
    np.testing.assert_allclose(res.eps, dist, rtol=1e-3, atol=1e-3)
    with torch.no_grad():
        assert (model(torch.as_tensor(res.x_adv)).argmax(1).numpy() != res.original).all()


def test_fgsm_and_pgd_stay_in_the_ball_and_box(digits):
    model = zoo.load("digits-mlp")
    x = digits.X_test[:20]
    for adv in (attacks.fgsm(model, x, 0.1, clip=(0, 1)), attacks.pgd(model, x, 0.1, clip=(0, 1), steps=10)):
        assert np.abs(adv - x).max() <= 0.1 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    adv = attacks.pgd(model, x, 0.5, norm="l2", steps=10)
    assert (np.linalg.norm(adv - x, axis=1) <= 0.5 + 1e-5).all()


def test_robustness_summary(digits):
    model = zoo.load("digits-mlp")
    X, y = digits.X_test[:50], digits.y_test[:50]
    calls = []
    rob = attacks.robustness(model, X, y, batch_size=20, clip=(0, 1), progress=lambda d, t: calls.append((d, t)))
    res = attacks.deepfool(model, X, clip=(0, 1))
    np.testing.assert_allclose(rob.norms_l2, res.l2, rtol=1e-6)
    ok = res.success
    assert rob.rho_adv == pytest.approx(np.mean(res.l2[ok] / np.linalg.norm(X[ok], axis=1)), rel=1e-6)
    assert rob.success_rate == 1.0 and rob.hist_counts.sum() == ok.sum()
    assert rob.accuracy == pytest.approx(np.mean(res.original == y))
    assert calls[0] == (0, 50) and calls[-1] == (50, 50) and len(calls) == 4


@pytest.mark.parametrize("kwargs", [dict(norm="l1"), dict(clip=(1, 0)), dict(refine=True, norm="linf"),
                                    dict(max_iter=0), dict(candidates=1)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        attacks.deepfool(affine(3, 3, seed=0), np.zeros((2, 3)), **kwargs)


def test_inputs_outside_the_clip_box_raise():
    with pytest.raises(ValueError, match="outside the clip box"):
        attacks.deepfool(affine(3, 3, seed=0), np.full((1, 3), 2.0), clip=(0, 1))


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


def test_adversarial_plane_puts_x_and_x_adv_on_the_first_axis(digits):
    model = zoo.load("digits-mlp")
    res = attacks.deepfool(model, digits.X_test[:1], clip=(0.0, 1.0))
    part = attacks.adversarial_plane(model, res.x[0], res.r[0])
    n = res.l2[0]
    np.testing.assert_allclose(part.to_input([[0.0, 0.0], [n, 0.0]]), [res.x[0], res.x_adv[0]], atol=1e-6)
    # the decision boundary crosses the segment from x to x + r: its nearest piece is within ||r||
    # and no closer than the certified radius
    d = certified.point_segment_distance(np.zeros(2), part.boundary_segments).min()
    cert = certified.certified_radius(model, res.x, pairwise=True).radius[0]
    assert cert <= d <= n * (1 + 1e-6)
