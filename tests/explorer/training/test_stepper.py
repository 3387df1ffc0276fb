"""The training stepper: determinism, increments, snapshots, and live regions equal to fresh ones."""

import numpy as np
import pytest
import torch

from explorer import regions
from explorer.training import evaluation
from explorer.training.stepper import Setup, Stepper


@pytest.mark.parametrize("setup", [
    Setup(dataset="moons", hidden=(16, 16), optimiser="adam", seed=4),
    Setup(dataset="spirals", hidden=(8, 8, 8), optimiser="momentum", lr=0.05, method="l1", seed=1),
    Setup(dataset="xor", hidden=(8,), optimiser="sgd", lr=0.1, method="adversarial", batch_size=32, seed=2),
])
def test_same_seed_same_weights_and_increments_do_not_matter(setup):
    a, b = Stepper(setup), Stepper(setup)
    a.step(30)
    for _ in range(6):
        b.step(5)
    assert np.array_equal(a.weights(), b.weights())
    assert np.array_equal(a.batch_losses, b.batch_losses)
    other = Stepper(Setup(**{**setup.to_dict(), "seed": setup.seed + 1}))
    other.step(30)
    assert not np.array_equal(a.weights(), other.weights())


def test_training_learns_and_snapshots_every_k_steps():
    s = Stepper(Setup(dataset="moons", hidden=(16, 16), snapshot_every=25, seed=0))
    seen = []
    rep = s.step(300, callback=lambda step, loss: seen.append(step))
    assert seen == list(range(1, 301)) and rep.step == 300
    steps, W = s.trajectory()
    assert steps.tolist() == list(range(0, 301, 25)) and W.shape == (13, s.num_parameters)
    assert np.array_equal(W[-1], s.weights()) and W.dtype == np.float64
    assert s.snapshots[-1].test_accuracy > 0.9 > s.snapshots[0].test_accuracy
    assert s.model[0].weight.dtype == torch.float32


def test_live_region_count_equals_a_fresh_partition_of_the_frame():
    s = Stepper(Setup(dataset="moons", hidden=(16, 16), seed=0))
    box = evaluation.data_box(s.data.X_train)
    for _ in range(3):
        s.step(40)
        live = regions.partition_2d(s.model, box=box).num_regions
        frozen = regions.partition_2d(s.trained_model(), box=box).num_regions
        rebuilt = regions.partition_2d(s.model_with(s.snapshots[-1].weights), box=box).num_regions
        assert live == frozen == rebuilt


def test_init_scale_multiplies_the_initial_weights():
    a = Stepper(Setup(hidden=(8,), seed=0)).weights()
    b = Stepper(Setup(hidden=(8,), seed=0, init_scale=1e-3)).weights()
    np.testing.assert_allclose(b, a * 1e-3, rtol=1e-6)


def test_bad_setups_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="activation must be one of"):
        Setup(activation="leaky_relu")
    with pytest.raises(ValueError, match="hidden layers"):
        Setup(hidden=(8,) * 7)
    with pytest.raises(ValueError, match="optimiser"):
        Setup(optimiser="lbfgs")


def test_divergence_stops_the_steps():
    s = Stepper(Setup(dataset="moons", hidden=(16,), optimiser="sgd", lr=1e4, loss="mse", batch_size=0))
    rep = s.step(500)
    assert rep.diverged and rep.step < 500
