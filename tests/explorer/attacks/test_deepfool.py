"""Known answers for DeepFool and SuperDeepFool (explorer.attacks.deepfool).

Affine classifiers have closed-form minimal perturbations (DeepFool, CVPR 2016,
Eq. 3 and 8-9); ReLU models are checked by invariants: every reported
perturbation flips the label, and batching changes nothing.
"""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from explorer import attacks, zoo
from tests.explorer.attacks.affine_models import affine, closed_form

ETA = 0.02


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


@pytest.mark.parametrize("kwargs", [dict(norm="l1"), dict(clip=(1, 0)), dict(refine=True, norm="linf"),
                                    dict(max_iter=0), dict(candidates=1)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        attacks.deepfool(affine(3, 3, seed=0), np.zeros((2, 3)), **kwargs)


def test_inputs_outside_the_clip_box_raise():
    with pytest.raises(ValueError, match="outside the clip box"):
        attacks.deepfool(affine(3, 3, seed=0), np.full((1, 3), 2.0), clip=(0, 1))
