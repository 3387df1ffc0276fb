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
    """One DMD per observable group over the snapshot window ``steps[start] .. steps[stop]``.

    Attributes
    ----------
    kind : {"whole", "layer", "node"}
        The observables (:func:`~explorer.koopman.observables.observable_groups`).
    names : list of str
        The groups' names.
    fits : list of DMD
        One fit per group.
    indices : list of numpy.ndarray
        The weight coordinates of each group, int arrays into the flat weight vector.
    constant : bool
        Whether each group's state carries the constant observable 1 (last row).
    step_start, step_stop : int
        The optimiser steps of the window's first and last snapshot.
    snapshot_every : int
        Optimiser steps between two snapshots.
    num_weights : int
        Length P of the flat weight vector.
    """

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
        """Every group's eigenvalues, concatenated in group order (complex128)."""
        return np.concatenate([f.eigenvalues for f in self.fits])

    @property
    def residuals(self) -> np.ndarray:
        """The residual of every eigenvalue in :attr:`eigenvalues` (float64)."""
        return np.concatenate([f.residuals for f in self.fits])

    @property
    def group_of(self) -> np.ndarray:
        """The group index of every eigenvalue in :attr:`eigenvalues`."""
        return np.concatenate([np.full(len(f.eigenvalues), g) for g, f in enumerate(self.fits)])

    @property
    def ranks(self) -> np.ndarray:
        """The DMD rank of every group (int array)."""
        return np.array([f.rank for f in self.fits])

    @property
    def energy_kept(self) -> float:
        """The smallest fraction of snapshot energy any group's truncation keeps."""
        return float(min(f.energy_kept for f in self.fits))

    def predict(self, ahead: int) -> np.ndarray:
        """The flat weight vector ``ahead`` snapshots after the window's last one.

        Parameters
        ----------
        ahead : int
            Snapshot intervals after the window's last snapshot, ``>= 0``.

        Returns
        -------
        numpy.ndarray of shape (num_weights,), float64
            Every group's prediction at its coordinates.

        Raises
        ------
        ValueError
            If ``ahead`` is negative.
        """
        w = np.empty(self.num_weights)
        for f, idx in zip(self.fits, self.indices):
            x = f.predict(ahead)
            w[idx] = x[:-1] if self.constant else x
        return w

    def step_after(self, ahead: int) -> int:
        """The optimiser step ``ahead`` snapshots after the window's last one.

        Parameters
        ----------
        ahead : int
            Snapshot intervals after the window's last snapshot.

        Returns
        -------
        int
            ``step_stop + ahead * snapshot_every``.
        """
        return self.step_stop + int(ahead) * self.snapshot_every


def fit_window(steps: np.ndarray, weights: np.ndarray, layout, start: int = 0, stop: int | None = None,
               kind: str = "whole", energy: float = 0.999999, max_rank: int | None = 10,
               constant: bool = True) -> KoopmanFit:
    """DMD of the snapshots ``weights[start:stop + 1]`` per observable group of ``kind``.

    Parameters
    ----------
    steps : array_like of shape (m,), int
        The optimiser step of every snapshot, increasing (as ``Stepper.trajectory()`` gives them).
    weights : array_like of shape (m, P)
        The flat weight vector at every snapshot; read as float64.
    layout : list of (str, tuple, slice)
        (parameter name, shape, slice of the flat vector) per parameter, as
        :meth:`explorer.training.stepper.Stepper.layout` returns.
    start : int, default 0
        Index of the window's first snapshot.
    stop : int, optional
        Index of the window's last snapshot (inclusive); the last one when not given.
    kind : {"whole", "layer", "node"}, default "whole"
        The observables (:func:`~explorer.koopman.observables.observable_groups`).
    energy : float, default 0.999999
        Energy each group's truncation keeps (:func:`~explorer.koopman.dmd.exact_dmd`).
    max_rank : int or None, default 10
        Largest rank of each group's fit.
    constant : bool, default True
        Add the constant observable 1 to every group, so that an affine optimiser map is
        linear on the state.

    Returns
    -------
    KoopmanFit
        One DMD per group, with the window's steps.

    Raises
    ------
    ValueError
        If the window has fewer than 3 snapshots or leaves ``0 .. m - 1``, its snapshots
        are not equally spaced in steps, ``kind`` is unknown, or a group's DMD refuses its
        snapshots (NaN, all zero).

    References
    ----------
    .. [1] A. S. Dogra and W. T. Redman, "Optimizing Neural Networks via Koopman Operator Theory",
       NeurIPS 2020.

    Examples
    --------
    Gradient descent on ``0.5 sum h_i w_i^2 - sum w_i`` with ``h = (1, 0.5, 0.25)`` and step 0.5
    is affine, so the fit on ``[w; 1]`` finds its spectrum ``{1} U {1 - 0.5 h_i}`` and
    predicts the later weights exactly:

    >>> import numpy as np
    >>> h, w, W = np.array([1.0, 0.5, 0.25]), np.array([3.0, -2.0, 1.0]), []
    >>> for _ in range(10):
    ...     W.append(w); w = w - 0.5 * (h * w - 1.0)
    >>> layout = [("0.weight", (1, 2), slice(0, 2)), ("0.bias", (1,), slice(2, 3))]
    >>> fit = fit_window(np.arange(0, 100, 10), np.array(W), layout, stop=7)
    >>> np.round(np.sort(fit.eigenvalues.real), 6).tolist(), fit.step_after(2)
    ([0.5, 0.75, 0.875, 1.0], 90)
    >>> bool(np.allclose(fit.predict(2), W[9]))
    True
    """
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

    Attributes
    ----------
    step : int
        The optimiser step the jump lands at.
    predicted_weights : numpy.ndarray of shape (P,), float64
        The flat weight vector of the jump.
    predicted_train_loss, predicted_test_loss, predicted_accuracy : float
        The jump's network measured as training measures it (infinite losses and accuracy 0
        for non-finite weights).
    trained_test_loss, trained_accuracy : float
        The run's test loss and accuracy at ``step`` (NaN where no snapshot is there).
    window_end_test_loss : float
        The run's test loss at the window's last snapshot (NaN if not known).
    steps_saved : int or None
        Optimiser steps after the window that training needed to reach the jump's test loss
        (``None``: not reached within the steps looked at).
    searched : int
        Optimiser steps after the window that were looked at.
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

    Parameters
    ----------
    stepper : Stepper
        The run the fit was made from.
    fit : KoopmanFit
        A fit of a window of its snapshots (:func:`fit_window`).
    ahead : int
        Snapshot intervals after the window's last snapshot to jump.
    max_replay_steps : int, default 20000
        The run's snapshots are used where they reach that far; otherwise a fresh stepper
        with the same setup replays the run (deterministic under its seed) up to the step,
        if that step is at most ``max_replay_steps``.

    Returns
    -------
    Forecast
        The jump's losses and accuracy next to the run's at the same step, and the steps
        training needed to match the jump's test loss.

    Raises
    ------
    ValueError
        If the step is beyond the run's snapshots and beyond ``max_replay_steps``.

    References
    ----------
    .. [1] A. S. Dogra and W. T. Redman, "Optimizing Neural Networks via Koopman Operator Theory",
       NeurIPS 2020.

    Examples
    --------
    >>> from explorer.data import datasets
    >>> from explorer.training.stepper import Setup, Stepper
    >>> s = Stepper(Setup(hidden=(2,), optimiser="sgd", lr=0.1, batch_size=0, snapshot_every=2),
    ...             datasets.toy_2d("xor", n=40))
    >>> _ = s.step(8)
    >>> steps, weights = s.trajectory()
    >>> fit = fit_window(steps, weights, s.layout(), stop=3)      # steps 0 .. 6
    >>> f = compare_with_training(s, fit, ahead=1)
    >>> f.step, f.searched, bool(abs(f.predicted_test_loss - f.trained_test_loss) < 0.01)
    (8, 2, True)
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
