"""Fit a window of a training run, jump ahead, and check the jump against training.

:func:`fit_window` runs :func:`~explorer.koopman.dmd.exact_dmd` on each observable
group of the snapshots ``start .. stop`` (snapshot indices, inclusive); the groups'
predictions ``ahead`` snapshots later assemble into one weight vector. Snapshots are
``snapshot_every`` optimiser steps apart, so the jump lands at optimiser step
``steps[stop] + ahead * snapshot_every``.

:func:`compare_with_training` builds the network with the predicted weights and
measures its test loss next to the test loss that training reached at the same
step (read from the run's snapshots, or by replaying the seeded run that far), and
how many steps after the window training needed to get as low as the jump:
the training time the Koopman jump saves at equal loss (Dogra & Redman, NeurIPS 2020,
report such savings for node-wise fits).

An eigenvalue near 1 means the fitted dynamics is *stationary* in that direction:
training has slowed down there. It does not mean the weights are good: a run stuck
at a saddle shows it too. Read it next to the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..training.stepper import Stepper
from .dmd import DMD, exact_dmd
from .observables import observable_groups, with_constant

__all__ = ["KoopmanFit", "Forecast", "fit_window", "compare_with_training"]


@dataclass
class KoopmanFit:
    """One DMD per observable group over the snapshot window ``steps[start] .. steps[stop]``."""

    kind: str
    names: list
    fits: list  # [DMD]
    indices: list  # [(k,) int] the weight coordinates of each group
    constant: bool
    step_start: int
    step_stop: int
    snapshot_every: int
    num_weights: int

    @property
    def eigenvalues(self) -> np.ndarray:
        return np.concatenate([f.eigenvalues for f in self.fits])

    @property
    def residuals(self) -> np.ndarray:
        return np.concatenate([f.residuals for f in self.fits])

    @property
    def group_of(self) -> np.ndarray:
        """The group index of every eigenvalue in :attr:`eigenvalues`."""
        return np.concatenate([np.full(len(f.eigenvalues), g) for g, f in enumerate(self.fits)])

    @property
    def ranks(self) -> np.ndarray:
        return np.array([f.rank for f in self.fits])

    @property
    def energy_kept(self) -> float:
        """The smallest fraction of snapshot energy any group's truncation keeps."""
        return float(min(f.energy_kept for f in self.fits))

    def predict(self, ahead: int) -> np.ndarray:
        """The flat weight vector ``ahead`` snapshots after the window's last one."""
        w = np.empty(self.num_weights)
        for f, idx in zip(self.fits, self.indices):
            x = f.predict(ahead)
            w[idx] = x[:-1] if self.constant else x
        return w

    def step_after(self, ahead: int) -> int:
        return self.step_stop + int(ahead) * self.snapshot_every


def fit_window(steps: np.ndarray, weights: np.ndarray, layout, start: int = 0, stop: int | None = None,
               kind: str = "whole", energy: float = 0.999999, max_rank: int | None = 10,
               constant: bool = True) -> KoopmanFit:
    """DMD of the snapshots ``weights[start:stop + 1]`` ((m, P), as ``Stepper.trajectory()``
    gives them) per observable group of ``kind``; see the module text."""
    steps, weights = np.asarray(steps), np.asarray(weights, dtype=np.float64)
    stop = len(steps) - 1 if stop is None else int(stop)
    if not 0 <= start < stop < len(steps) or stop - start < 2:
        raise ValueError(f"The window needs at least 3 snapshots inside 0..{len(steps) - 1}; "
                         f"got {start}..{stop}.")
    spacing = np.diff(steps[start:stop + 1])
    if not np.all(spacing == spacing[0]):
        raise ValueError("The window's snapshots must be equally spaced in steps.")
    window = weights[start:stop + 1].T
    groups = observable_groups(layout, kind)
    fits: list[DMD] = []
    for g in groups:
        X = with_constant(window[g.index]) if constant else window[g.index]
        fits.append(exact_dmd(X, energy=energy, max_rank=max_rank))
    return KoopmanFit(kind, [g.name for g in groups], fits, [g.index for g in groups], constant,
                      int(steps[start]), int(steps[stop]), int(spacing[0]), weights.shape[1])


@dataclass
class Forecast:
    """The jump of ``fit`` to ``step`` against training at ``step``.

    ``steps_saved``: optimiser steps after the window that training needed to reach the
    jump's test loss (``None``: not reached within the steps looked at, ``searched``).
    """

    step: int
    predicted_weights: np.ndarray
    predicted_train_loss: float
    predicted_test_loss: float
    predicted_accuracy: float
    trained_test_loss: float
    trained_accuracy: float
    window_end_test_loss: float
    steps_saved: int | None
    searched: int


def compare_with_training(stepper: Stepper, fit: KoopmanFit, ahead: int,
                          max_replay_steps: int = 20_000) -> Forecast:
    """Measure the network ``fit.predict(ahead)`` and the run at the same step.

    The run's snapshots are used where they reach that far; otherwise a fresh stepper
    with the same setup replays the run (deterministic under its seed) up to the step,
    at most ``max_replay_steps`` steps.
    """
    target = fit.step_after(ahead)
    snaps = list(stepper.snapshots)
    if snaps[-1].step < target:
        if target > max_replay_steps:
            raise ValueError(f"Checking step {target} would replay more than {max_replay_steps} steps.")
        replay = Stepper(stepper.setup, stepper.data)
        replay.run_to(target)
        snaps = replay.snapshots
    by_step = {s.step: s for s in snaps}
    w = fit.predict(ahead)
    predicted = stepper.measure(stepper.model_with(w)) if np.all(np.isfinite(w)) else (np.inf,) * 2 + (0.0,)
    reached = by_step.get(target)
    trained = (reached.test_loss, reached.test_accuracy) if reached is not None else (np.nan, np.nan)
    after = [s for s in snaps if s.step >= fit.step_stop]
    hit = next((s.step for s in after if s.test_loss <= predicted[1]), None)
    return Forecast(target, w, predicted[0], predicted[1], predicted[2], float(trained[0]), float(trained[1]),
                    float(by_step[fit.step_stop].test_loss) if fit.step_stop in by_step else np.nan,
                    None if hit is None else int(hit - fit.step_stop), int(after[-1].step - fit.step_stop))
