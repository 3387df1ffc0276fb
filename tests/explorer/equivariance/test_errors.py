"""p4 equivariance: known answers from Cohen & Welling (2016) and the notes (research/beyond.md, section 2)."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import datasets, nets, zoo
from explorer import equivariance as eq
from explorer.equivariance import export_p4, p4cnn

TOL = 1e-12


def _net(head="mean", seed=0, pool_after=(1,)):
    torch.manual_seed(seed)
    return p4cnn((3, 4, 5), pool_after, head=head).double()


def _x(n=6, seed=1):
    return torch.rand(n, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


@pytest.mark.parametrize("head", ["mean", "orbit"])
def test_every_p4_layer_is_equivariant_in_float64(head):
    err = eq.equivariance_errors(_net(head), _x())
    assert err.errors.shape == (len(err.names), 3)
    assert err.per_layer.max() <= TOL
    assert err.kinds[0] == "regular" and err.kinds[-1] == "invariant"


def test_group_action_is_a_representation_of_the_cyclic_group():
    y = torch.randn(2, 12, 5, 5, dtype=torch.float64)
    for a in range(4):
        for b in range(4):
            assert torch.equal(eq.act(eq.act(y, a), b), eq.act(y, (a + b) % 4))
    assert torch.equal(eq.act(y, 4), y)


def test_lifting_conv_matches_the_definition_by_direct_correlation():
    """y[c, s](p) = sum_q rot^s(W[c])(q) x(p + q): a brute-force loop over pixels."""
    torch.manual_seed(3)
    lift = eq.LiftingConv2d(1, 2, 3).double()
    x = torch.rand(1, 1, 5, 5, dtype=torch.float64)
    with torch.no_grad():
        got = lift(x)[0]
    xp = torch.nn.functional.pad(x[0, 0], (1, 1, 1, 1))
    for c in range(2):
        for s in range(4):
            w = torch.rot90(lift.weight[c, 0], s, dims=(0, 1))
            for i in range(5):
                for j in range(5):
                    want = (w.detach() * xp[i:i + 3, j:j + 3]).sum() + lift.bias[c].detach()
                    assert abs(float(got[4 * c + s, i, j] - want)) < 1e-13


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


def test_breaking_one_tied_weight_is_seen_by_the_layout_and_the_error():
    plain = export_p4(_net())
    with torch.no_grad():
        plain[1].weight[1, 0, 0, 0] += 0.5
    assert eq.field_layout(plain)[1] == "plain"
    assert eq.equivariance_errors(plain, _x()).per_layer[0] > 1e-2


def test_zoo_p4_net_is_equivariant_and_invariant_in_float64(digits):
    model = zoo.load("digits-p4cnn").double()
    x = torch.as_tensor(digits.X_test[:16], dtype=torch.float64)
    err = eq.equivariance_errors(model, x)
    assert err.per_layer.max() <= TOL
    assert err.kinds[-1] == "invariant"


def test_zoo_p4_predictions_are_identical_at_the_four_rotations(digits):
    model = zoo.load("digits-p4cnn")
    sweep = eq.accuracy_vs_angle(model, digits.X_test, digits.y_test, eq.P4_ANGLES)
    assert np.all(sweep.agreement == 1.0)
    assert np.all(sweep.accuracy == sweep.accuracy[0])
    one = eq.rotation_predictions(model, digits.X_test[0], [0, 90, 180, 270, 30])
    assert list(one.in_p4) == [True, True, True, True, False]
    assert np.abs(one.probabilities[:4] - one.probabilities[0]).max() < 1e-5


def test_plain_cnn_is_not_invariant(digits):
    model = zoo.load("digits-cnn").double()
    err = eq.equivariance_errors(model, torch.as_tensor(digits.X_test[:32], dtype=torch.float64))
    assert err.per_layer[-1] > 1e-2  # the class scores move under rotation
    assert set(err.kinds) == {"plain"}
    sweep = eq.accuracy_vs_angle(model, digits.X_test, digits.y_test, eq.P4_ANGLES)
    assert sweep.accuracy[0] > 0.9 and sweep.accuracy[1:].max() < 0.7


def test_deepfool_on_a_rotated_digit_is_the_rotated_perturbation(digits):
    model = zoo.load("digits-p4cnn").double()
    x = torch.as_tensor(digits.X_test[3], dtype=torch.float64)
    for r in (1, 2, 3):
        check = eq.rotated_deepfool(model, x, r)
        assert check.labels[0] == check.labels[2] and check.labels[1] == check.labels[3]
        assert abs(check.norm_rotated - check.norm_upright) <= 1e-6
        assert check.max_difference <= 1e-6


def test_six_nine_confusion_is_measured_from_the_confusion_matrix(digits):
    model = zoo.load("digits-p4cnn")
    upright = eq.six_nine_confusion(model, digits.X_test, digits.y_test)
    assert upright.confusion.sum() == len(digits.y_test)
    sixes = digits.y_test == 6
    pred = model(torch.as_tensor(digits.X_test[sixes])).argmax(1).numpy()
    assert upright.six_as_nine == pytest.approx(float((pred == 9).mean()))
    # turned upside down, a 6 keeps its p4 label; the plain CNN reads many of them as 9
    flipped = eq.six_nine_confusion(model, digits.X_test, digits.y_test, 180)
    np.testing.assert_array_equal(flipped.confusion, upright.confusion)
    cnn = eq.six_nine_confusion(zoo.load("digits-cnn"), digits.X_test, digits.y_test, 180)
    assert cnn.six_as_nine > upright.six_as_nine


def test_interpolated_angles_agree_with_rot90_near_multiples_and_are_flagged(digits):
    X = digits.X_test[:5]
    np.testing.assert_allclose(eq.rotate_any_angle(X, 90 + 1e-7), eq.rotate_flat(X, 1), atol=1e-6)
    assert list(eq.in_p4([0, 45, 90, -90, 100])) == [True, False, True, True, False]


def test_zoo_entry_matches_the_export_and_names_its_trainer():
    entry = zoo.ENTRIES["digits-p4cnn"]
    assert entry.trainer is eq.train_p4
    arch = entry.recipe.extra
    plain = export_p4(p4cnn(tuple(arch["channels"]), tuple(arch["pool_after"]), head=arch["head"]))
    zoo.model_from_spec(entry.layers, (64,)).load_state_dict(plain.state_dict())  # strict: same layers


def test_bad_inputs_are_refused_in_words():
    with pytest.raises(ValueError, match="odd kernel"):
        eq.GroupConv2d(2, 2, 2)
    with pytest.raises(ValueError, match="even sizes"):
        p4cnn((2, 2), (0,), image_size=7)
    with pytest.raises(ValueError, match="multiple of 4"):
        eq.act(torch.zeros(1, 3, 4, 4), 1, "regular")
    with pytest.raises(ValueError, match="square"):
        eq.rotate_images(torch.zeros(1, 4, 5), 1)
    with pytest.raises(ValueError, match="feature maps"):
        eq.feature_maps(_net(), _x()[0], len(_net()) - 1)


def test_exact_regions_on_the_symmetric_plane_are_four_fold_symmetric(digits):
    """g turns the plane by 90 degrees, so the p4 net's first-layer regions map onto each other."""
    from explorer import regions

    plane = eq.symmetric_plane(digits.X_test[0], extent=0.05)
    u = np.random.default_rng(0).uniform(-0.05, 0.05, size=(5, 2))
    np.testing.assert_allclose(eq.rotate_flat(plane.to_input(u), 1), plane.to_input(u @ [[0, 1], [-1, 0]]),
                               atol=1e-12)

    def asymmetry(model):
        part = regions.partition_plane(model, plane.origin, plane.directions, plane.polygon, upto_layer=1)
        centres = np.array([p.mean(0) for p in part.polygons])
        turned = centres @ np.array([[0, 1], [-1, 0]])
        return part.num_regions, np.abs(turned[:, None] - centres[None]).sum(2).min(1).max()

    n, gap = asymmetry(zoo.load("digits-p4cnn"))
    assert n > 4 and gap < 1e-12
    assert asymmetry(zoo.load("digits-cnn"))[1] > 1e-4
