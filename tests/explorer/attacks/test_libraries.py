"""Known answers for explorer.attacks.libraries: the field's attacks (Foolbox, ART) behind run_attack.

A two-class affine classifier f(x) = Wx + b has its decision boundary on the hyperplane
w.x + c = 0 (w = W_1 - W_0, c = b_1 - b_0): the smallest perturbation that flips x has
||r||_p = |w.x + c| / ||w||_q with q the dual norm (L2: ||w||_2, Linf: ||w||_1, L1: ||w||_inf).
The minimal attacks must reach it (DeepFool exactly, with its overshoot and margin), no attack
may flip a sample with a budget below it, and on any model every reported success must flip
the label when the model is evaluated again, with the reported norms those of the perturbation.
Each library's tests are skipped when it is not installed.
"""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import attacks, datasets, zoo
from explorer.attacks import libraries

needs_foolbox = pytest.mark.skipif(not libraries.is_available("fmn"),
                                   reason="foolbox is not installed (pip install foolbox==3.3.4)")
needs_art = pytest.mark.skipif(not libraries.is_available("apgd"),
                               reason="ART is not installed (pip install adversarial-robustness-toolbox==1.20.1)")
NEEDS = {"explorer": [], "foolbox": [needs_foolbox], "art": [needs_art]}
DUAL = {"l2": 2, "linf": 1, "l1": np.inf}
SIDE = 8  # the linear classifier reads 8x8 pictures, so that Square (square windows) runs on it too


def with_library(method, *values):
    return pytest.param(method, *values, marks=NEEDS[libraries.METHODS[method].library], id=f"{method}-{values}")


@pytest.fixture(scope="module")
def linear():
    """A float64 two-class linear classifier on 8x8 pictures and 6 pictures at L2 distances 0.1-0.35 from its
    boundary, on both sides, inside [0, 1]; the libraries' box (the inputs' range widened by its width) holds
    the nearest boundary point in every norm (L1's moves one pixel the farthest)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 2)).double().eval()
    layer = model[1]
    w = (layer.weight[1] - layer.weight[0]).detach().numpy()
    c = float((layer.bias[1] - layer.bias[0]).detach())
    rng = np.random.default_rng(0)
    targets = np.array([0.1, -0.15, 0.2, -0.25, 0.3, -0.35])  # signed L2 distances
    X = rng.uniform(0.3, 0.7, size=(len(targets), SIDE * SIDE))
    X += ((targets * np.linalg.norm(w) - (X @ w + c)) / (w @ w))[:, None] * w
    assert 0 <= X.min() and X.max() <= 1
    j = np.abs(w).argmax()
    l1_nearest = X[:, j] - (X @ w + c) / w[j]
    low, high = libraries.library_box(torch.as_tensor(X))
    assert (low < l1_nearest).all() and (l1_nearest < high).all()
    return model, X.reshape(-1, 1, SIDE, SIDE), w, c


def distances(linear, norm):
    _, X, w, c = linear
    return np.abs(X.reshape(len(X), -1) @ w + c) / np.linalg.norm(w, ord=DUAL[norm])


def check_result(model, X, res, epsilon=None):
    """The invariants of every result: x_adv = x + r, norms of r, successes flip on a new forward pass."""
    np.testing.assert_array_equal(res.x_adv, res.x + res.r)
    np.testing.assert_allclose(res.x, np.asarray(X, dtype=res.x.dtype))
    np.testing.assert_allclose(res.norms, libraries.perturbation_norms(res.x_adv - res.x, res.norm), rtol=1e-12,
                               atol=1e-12)
    with torch.no_grad():
        labels = model(torch.as_tensor(res.x_adv)).argmax(1).numpy()
    np.testing.assert_array_equal(labels, res.adversarial)
    assert (labels[res.success] != res.original[res.success]).all()
    if epsilon is not None:
        assert (res.norms[res.success] <= epsilon * (1 + libraries.EPSILON_RTOL)).all()


def test_deepfool_reaches_the_distance_exactly(linear):
    model, X, *_ = linear
    for norm in ("l2", "linf"):
        res = attacks.run_attack(model, X, method="deepfool", norm=norm)
        check_result(model, X, res)
        # one step to the boundary plus Foolbox's margin, times (1 + overshoot)
        np.testing.assert_allclose(res.norms, (distances(linear, norm) + 1e-4) * 1.02, rtol=1e-12)
        assert res.success.all()


@pytest.mark.parametrize("method, norm, rtol, options", [
    with_library("fmn", "l2", 1e-4, {}),
    with_library("fmn", "linf", 1e-3, {}),
    with_library("fmn", "l1", 1e-3, {}),
    with_library("cw", "l2", 1e-2, {"steps": 300}),
    with_library("ddn", "l2", 1e-2, {}),
])
def test_minimal_attacks_reach_the_closed_form_distance(linear, method, norm, rtol, options):
    model, X, *_ = linear
    res = attacks.run_attack(model, X, method=method, norm=norm, **options)
    check_result(model, X, res)
    true = distances(linear, norm)
    assert res.success.all()
    assert (res.norms >= true * (1 - 1e-9)).all()  # nothing flips below the distance
    np.testing.assert_allclose(res.norms, true, rtol=rtol)


@needs_foolbox
def test_l0_and_ead_flip_and_stay_above_the_bounds(linear):
    model, X, *_ = linear
    l0 = attacks.run_attack(model, X, method="fmn", norm="l0")
    check_result(model, X, l0)
    assert l0.success.all() and (l0.norms >= 1).all()
    ead = attacks.run_attack(model, X, method="ead", norm="l1", steps=200)
    check_result(model, X, ead)
    assert ead.success.all() and (ead.norms >= distances(linear, "l1") * (1 - 1e-9)).all()


@pytest.mark.parametrize("method, norm", [
    ("deepfool", "l2"), ("deepfool", "linf"),
    with_library("fmn", "l2"), with_library("fmn", "linf"), with_library("fmn", "l1"), with_library("cw", "l2"),
    with_library("apgd", "l2"), with_library("apgd", "linf"), with_library("apgd", "l1"),
    with_library("square", "l2"), with_library("square", "linf"),
])
def test_no_attack_flips_below_the_minimal_distance(linear, method, norm):
    """A budget 0.9 times the smallest distance: a lower bound that every attack must respect."""
    model, X, *_ = linear
    epsilon = 0.9 * distances(linear, norm).min()
    options = {"cw": {"steps": 100}, "square": {"max_iter": 200}}.get(method, {})
    res = attacks.run_attack(model, X, method=method, norm=norm, epsilon=epsilon, **options)
    check_result(model, X, res, epsilon)
    assert not res.success.any()


@needs_art
@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_apgd_flips_every_sample_above_its_distance(linear, norm):
    """On a linear model the loss's gradient points straight at the boundary: APGD flips a sample iff
    epsilon exceeds its distance."""
    model, X, *_ = linear
    true = distances(linear, norm)
    epsilon = float(np.median(true))
    res = attacks.run_attack(model, X, method="apgd", norm=norm, epsilon=epsilon)
    check_result(model, X, res, epsilon)
    np.testing.assert_array_equal(res.success, true < epsilon)


@pytest.mark.parametrize("method, norm, epsilon", [
    ("deepfool", "l2", None), with_library("fmn", "linf", None), with_library("ddn", "l2", None),
    with_library("apgd", "linf", 0.05), with_library("square", "linf", 0.05), with_library("square", "l2", 1.0),
])
def test_every_success_flips_a_digit_classifier(method, norm, epsilon):
    """A ReLU network on digits in the pixel box: the invariants, and x + r stays in the box."""
    model = zoo.load("digits-mlp")
    X = datasets.load("digits").X_test[:4]
    options = {"max_iter": 100} if method == "square" else {}
    res = attacks.run_attack(model, X, method=method, norm=norm, epsilon=epsilon, clip=(0.0, 1.0),
                             image_shape=(8, 8), **options)
    check_result(model, X, res, epsilon)
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    if epsilon is None:
        assert res.success.all()


@needs_art
def test_the_seed_makes_square_reproducible_and_leaves_the_global_generators_alone(linear):
    model, X, *_ = linear
    np.random.seed(123)
    torch.manual_seed(123)
    before = np.random.random(), torch.rand(1).item()
    np.random.seed(123)
    torch.manual_seed(123)
    runs = [attacks.run_attack(model, X, method="square", norm="linf", epsilon=0.2, seed=5, max_iter=50)
            for _ in range(2)]
    np.testing.assert_array_equal(runs[0].r, runs[1].r)
    assert (np.random.random(), torch.rand(1).item()) == before


def test_an_already_misclassified_sample_is_left_where_it_is(linear):
    model, X, *_ = linear
    predicted = attacks.predict(model, X)
    y = predicted.copy()
    y[0] = 1 - y[0]
    res = attacks.run_attack(model, X, y, method="deepfool")
    assert res.success[0] and res.norms[0] == 0 and (res.r[0] == 0).all()
    np.testing.assert_array_equal(res.original, y)
    assert res.success[1:].all() and (res.norms[1:] > 0).all()


def test_compare_attacks_puts_deepfool_first_and_matches_run_attack(linear):
    model, X, *_ = linear
    methods = [m for m in ("fmn", "apgd") if libraries.is_available(m)]
    epsilon = float(np.median(distances(linear, "l2")))
    table = attacks.compare_attacks(model, X, methods=methods, norm="l2", epsilon=epsilon)
    assert list(table.columns) == libraries.COMPARISON_COLUMNS
    assert table["method"].tolist() == ["DeepFool"] + [libraries.METHODS[m].title for m in methods]
    for row, method in zip(table.itertuples(index=False), ["deepfool", *methods]):
        minimal = libraries.METHODS[method].minimal
        res = attacks.run_attack(model, X, method=method, epsilon=None if minimal else epsilon)
        ok = res.success
        assert row.success == pytest.approx(ok.mean())
        assert row[libraries.COMPARISON_COLUMNS.index("median ||r||")] == pytest.approx(np.median(res.norms[ok]))
        within = (ok & (res.norms <= epsilon * (1 + libraries.EPSILON_RTOL))).mean()
        assert row[libraries.COMPARISON_COLUMNS.index("success at eps")] == pytest.approx(within)
    # an L1 table: DeepFool runs in L2 and says so; its perturbations are measured in L1
    l1 = attacks.compare_attacks(model, X, methods=[], norm="l1")
    deepfool_l2 = attacks.run_attack(model, X, method="deepfool")
    assert l1["method"].tolist() == ["DeepFool (l2)"]
    assert l1["median ||r||"][0] == pytest.approx(np.median(libraries.perturbation_norms(deepfool_l2.r, "l1")))


def test_clear_errors(linear, monkeypatch):
    model, X, *_ = linear
    with pytest.raises(ValueError, match="the attacks are: deepfool, fmn, cw, ddn, ead, apgd, square"):
        attacks.run_attack(model, X, method="bim")
    with pytest.raises(ValueError, match=r"C&W works in the norms \('l2',\), not 'linf'"):
        attacks.run_attack(model, X, method="cw", norm="linf")
    with pytest.raises(ValueError, match="norm must be one of"):
        attacks.run_attack(model, X, method="fmn", norm="l3")
    with pytest.raises(ValueError, match="fixed-budget attack: give epsilon"):
        attacks.run_attack(model, X, method="apgd")
    with pytest.raises(ValueError, match="non-negative"):
        attacks.run_attack(model, X, method="deepfool", epsilon=-1)
    with pytest.raises(ValueError, match="6 inputs"):
        attacks.run_attack(model, X, [0, 1], method="deepfool")
    with pytest.raises(ValueError, match="outside the clip box"):
        attacks.run_attack(model, X + 2, method="deepfool", clip=(0, 1))
    with pytest.raises(ValueError, match="fixed-budget"):
        attacks.compare_attacks(model, X, methods=["square"], norm="l2")

    def missing(name, *args, **kwargs):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(libraries.importlib, "import_module", missing)
    with pytest.raises(libraries.MissingLibrary, match=r"pip install foolbox==3\.3\.4"):
        attacks.run_attack(model, X, method="fmn")
    with pytest.raises(libraries.MissingLibrary, match=r"pip install adversarial-robustness-toolbox==1\.20\.1"):
        attacks.run_attack(model, X, method="square", epsilon=0.1)


@needs_art
def test_square_needs_a_picture_its_window_fits_in():
    model = nn.Linear(4, 2).double().eval()
    X = np.full((2, 4), 0.5)
    with pytest.raises(ValueError, match="image_shape"):
        attacks.run_attack(model, X, method="square", epsilon=0.1, image_shape=(3, 3))
    with pytest.raises(ValueError, match="does not fit in pictures of 2x2 pixels"):
        attacks.run_attack(model, X, method="square", epsilon=0.1, image_shape=(2, 2))
