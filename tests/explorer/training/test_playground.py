"""The Playground's network pieces: features, activations, regularisation, regression, the learning
rate changed mid-run, the epoch count, unit maps."""

import numpy as np
import pytest
import torch
from torch import nn

from explorer import nets
from explorer.data import playground as sets
from explorer.training import playground
from explorer.training.stepper import Setup, Stepper, build_network


def test_features_at_known_points():
    X = np.array([[0.0, 1.0], [np.pi / 2, -2.0], [3.0, np.pi]])
    got = playground.feature_values(X, playground.FEATURES)
    want = [[0, 1, 0, 1, 0, 0, np.sin(1.0)], [np.pi / 2, -2, np.pi ** 2 / 4, 4, -np.pi, 1, np.sin(-2.0)],
            [3, np.pi, 9, np.pi ** 2, 3 * np.pi, np.sin(3.0), np.sin(np.pi)]]
    np.testing.assert_allclose(got, want, atol=1e-15)
    layer = playground.PlaneFeatures(playground.FEATURES)
    np.testing.assert_allclose(layer(torch.as_tensor(X)).numpy(), got, atol=1e-15)
    with pytest.raises(ValueError, match="Features must be"):
        playground.check_features(["x3"])


def test_a_linear_net_is_its_product_of_matrices():
    net = build_network(2, (5, 3), 2, seed=4, activation="linear").double()
    W = [m.weight.detach().numpy() for m in net if isinstance(m, nn.Linear)]
    b = [m.bias.detach().numpy() for m in net if isinstance(m, nn.Linear)]
    X = np.random.default_rng(0).normal(size=(20, 2))
    want = X @ (W[2] @ W[1] @ W[0]).T + (W[2] @ (W[1] @ b[0] + b[1]) + b[2])
    np.testing.assert_allclose(net(torch.as_tensor(X)).detach().numpy(), want, atol=1e-12)
    assert nets.canonical(net).hidden_sizes == []  # no activation: one affine map


@pytest.mark.parametrize("activation, layer", [("tanh", "Tanh"), ("sigmoid", "Sigmoid")])
def test_smooth_activations_train_and_the_exact_form_names_them(activation, layer):
    s = Stepper(Setup(dataset="circles", hidden=(8,), activation=activation, lr=0.05, seed=0))
    first = s.measure()[0]
    s.step(300)
    assert s.measure()[0] < 0.6 * first
    with pytest.raises(nets.NotPiecewiseLinearError, match=f"\\({layer}\\) is not piecewise linear"):
        nets.canonical(s.trained_model())


@pytest.mark.parametrize("feature, op", [("x1^2", "pow"), ("x1*x2", "mul"), ("sin x2", "sin")])
def test_nonlinear_features_stop_the_exact_form_naming_the_operation(feature, op):
    net = build_network(2, (4,), 2, features=("x1", feature), seed=0)
    with pytest.raises(nets.NotPiecewiseLinearError, match=f"'{op}'.*PlaneFeatures"):
        nets.canonical(net)


def test_the_raw_features_keep_the_net_piecewise_linear_and_equal():
    net = build_network(2, (6,), 2, features=("x2",), seed=1).double().eval()
    X = torch.as_tensor(np.random.default_rng(2).normal(size=(30, 2)))
    np.testing.assert_allclose(nets.canonical(net)(X).detach().numpy(), net(X).detach().numpy(), atol=1e-12)
    # the first Linear layer sees x2 only: x1 changes nothing
    moved = X.clone()
    moved[:, 0] += 5.0
    assert torch.equal(net(X), net(moved))


def test_regression_loss_decreases_on_the_plane():
    data = sets.load("plane", n=300, seed=0)
    s = Stepper(Setup(hidden=(4,), activation="linear", lr=0.01, batch_size=0, seed=0), data)
    assert s.model[-1].out_features == 1 and np.isnan(s.measure()[2])
    losses = [s.measure()[0]]
    for _ in range(4):
        s.step(50)
        losses.append(s.measure()[0])
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.01 * losses[0]
    with pytest.raises(ValueError, match="Adversarial training needs classes"):
        Stepper(Setup(method="adversarial"), data)


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_regularisation_shrinks_the_weights(kind):
    def norm(rate):
        s = Stepper(Setup(dataset="moons", hidden=(8,), regularization=kind, reg_rate=rate, seed=3))
        s.step(200)
        W = [m.weight.detach().numpy() for m in s.model if isinstance(m, nn.Linear)]
        return sum(np.abs(w).sum() if kind == "l1" else np.square(w).sum() for w in W)
    assert norm(0.05) < 0.5 * norm(0.0)


def test_l2_adds_rate_times_the_squared_weights_to_the_loss():
    s = Stepper(Setup(dataset="xor", hidden=(3,), regularization="l2", reg_rate=0.1, batch_size=0))
    plain = Stepper(Setup(dataset="xor", hidden=(3,), batch_size=0))
    penalty = sum(float(m.weight.detach().square().sum()) for m in s.model if isinstance(m, nn.Linear))
    assert s.step(1).batch_losses[0] == pytest.approx(plain.step(1).batch_losses[0] + 0.1 * penalty, rel=1e-6)


def test_a_new_learning_rate_keeps_the_weights_and_is_used():
    a, b = Stepper(Setup(dataset="moons", hidden=(8,), optimiser="sgd", lr=0.1, batch_size=0, seed=1)), None
    a.step(5)
    before = a.weights()
    a.set_lr(0.02)
    assert np.array_equal(a.weights(), before) and a.lr == 0.02 and a.step_count == 5
    grad_step = Stepper(Setup(dataset="moons", hidden=(8,), optimiser="sgd", lr=0.02, batch_size=0, seed=1))
    grad_step.model.load_state_dict(a.model.state_dict())
    a.step(1)
    grad_step.step(1)  # plain SGD: the next step depends only on the weights and the rate
    np.testing.assert_array_equal(a.weights(), grad_step.weights())
    del b
    a.step(10)
    replay = Stepper(a.setup)  # the recorded change replays the run
    replay.run_to(a.step_count)
    assert a.setup.lr_schedule == ((5, 0.02),) and np.array_equal(replay.weights(), a.weights())


def test_epochs_count_passes_over_the_training_set():
    s = Stepper(Setup(dataset="moons", hidden=(4,), batch_size=100))  # 450 training points: 4 steps a pass
    s.step(9)
    assert len(s.X) == 450 and s.epoch == 2
    full = Stepper(Setup(dataset="moons", hidden=(4,), batch_size=0))
    full.step(3)
    assert full.epoch == 3


def test_unit_maps_are_the_layers_outputs_on_the_grid():
    net = build_network(2, (3, 2), 1, seed=0, activation="tanh", features=("x1", "x1*x2"))
    maps = playground.unit_maps(net, (-1, 1, -2, 2), resolution=7)
    assert [m.shape for m in maps.layers] == [(2, 7, 7), (3, 7, 7), (2, 7, 7), (1, 7, 7)]
    i, j = 5, 2  # the point (xs[j], ys[i])
    point = torch.tensor([[maps.xs[j], maps.ys[i]]], dtype=torch.float64)
    np.testing.assert_allclose(maps.layers[1][:, i, j], torch.tanh(net[1].double()(net[0](point)))[0].detach(),
                               atol=1e-12)
    np.testing.assert_allclose(maps.layers[-1][0, i, j], net.double()(point)[0, 0].detach(), atol=1e-12)
    np.testing.assert_allclose(maps.layers[0][1, i, j], maps.xs[j] * maps.ys[i], atol=1e-15)
    assert [w.shape for w in playground.layer_weights(net)] == [(3, 2), (2, 3), (1, 2)]
