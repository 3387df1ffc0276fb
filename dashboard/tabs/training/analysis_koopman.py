"""The Koopman view of a training run: exact DMD of a window of weight snapshots, a jump ahead,
and the jump checked against training at the same step.

No Panel here. :class:`KoopmanAnalysis` holds the fit's settings; :meth:`KoopmanAnalysis.fit`
fits the window and checks the jump through :func:`dashboard.serving.jobs.run` (a worker process in the
served app: the check replays the seeded run up to the jump's step, seconds of training); its
tables and sentences say what the fit found in the settings' own terms. Every number comes from
:mod:`explorer.koopman`.

Example
-------
>>> from explorer.training.stepper import Setup, Stepper
>>> run = Stepper(Setup(hidden=(8,), loss="mse", optimiser="sgd", lr=0.2, batch_size=0, snapshot_every=5))
>>> report = run.step(100)
>>> analysis = KoopmanAnalysis(window=10, ahead=4)
>>> fit, forecast = analysis.fit(run)
>>> forecast.step, list(analysis.table()["step"])
(120, [120, 120, 100])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import param

from explorer import koopman
from explorer.training.stepper import Stepper

from ...serving import jobs

MAX_REPLAY_STEPS = 20_000  # the check replays the run at most this far

STATIONARY_NOTE = (
    "An eigenvalue near 1 means the fitted dynamics is **stationary** in that direction: training has "
    "slowed down there. It does **not** mean the network is good: a run stuck at a saddle (try init scale "
    "0.001) shows eigenvalues at 1 too. Read it next to the loss. Eigenvalues outside the circle grow: "
    "a learning rate too large shows one before the loss explodes. Cross-entropy on separable data has no "
    "fixed point (the weights grow for ever); MSE with a little weight decay has one."
)


def loss_text(value: float) -> str:
    """A loss with 4 significant digits (``1.234e-05``, never ``0.0000``); NaN as ``not reached``."""
    return f"{value:.4g}" if np.isfinite(value) else "not reached"


def accuracy_text(value: float) -> str:
    return f"{100 * value:.1f}%" if np.isfinite(value) else "not reached"


class KoopmanAnalysis(param.Parameterized):
    """The Koopman fit's settings and its last result (``last``: ``(KoopmanFit, Forecast)`` or None)."""

    kind = param.Selector(default="whole", objects=list(koopman.KINDS),
                          doc="Observables: all the weights, one fit per layer, or one per node")
    window = param.Integer(default=25, bounds=(3, 500), doc="Snapshots in the window (ending at the latest)")
    ahead = param.Integer(default=10, bounds=(1, 1000), doc="Snapshots to jump past the window")
    energy = param.Number(default=0.99999, bounds=(0.5, 1.0), doc="Share of the snapshots' energy the rank keeps")
    max_rank = param.Integer(default=10, bounds=(1, 200), doc="The largest rank a fit may have")

    def __init__(self, **params):
        super().__init__(**params)
        self.last = None

    def fit(self, stepper: Stepper):
        """Fit the last ``window`` snapshots of ``stepper``'s run, jump ``ahead`` snapshots past them
        and measure the jump next to the run at that step: ``(KoopmanFit, Forecast)``, also kept as
        ``last``. The fit takes milliseconds; the check, which replays the run up to the jump, is a
        job (:func:`dashboard.serving.jobs.run`: a worker process in the served app)."""
        steps, W = stepper.trajectory()
        stop = len(steps) - 1
        fit = koopman.fit_window(steps, W, stepper.layout(), start=max(0, stop - self.window + 1), stop=stop,
                                 kind=self.kind, energy=self.energy, max_rank=self.max_rank)
        forecast = jobs.run(koopman.compare_with_training, stepper, fit, self.ahead,
                            max_replay_steps=MAX_REPLAY_STEPS)
        self.last = (fit, forecast)
        return self.last

    def table(self, result=None) -> pd.DataFrame:
        """The checked jump: the forecast's test loss and accuracy at the jump's step, what training
        reached at that step (NaN where it did not get there), and the loss at the window's end."""
        fit, fc = result or self.last
        return pd.DataFrame({
            "": ["Koopman jump", "training", "window end"],
            "step": [fc.step, fc.step, fit.step_stop],
            "test loss": [fc.predicted_test_loss, fc.trained_test_loss, fc.window_end_test_loss],
            "test accuracy": [fc.predicted_accuracy, fc.trained_accuracy, np.nan]})

    def eigenvalues(self, result=None) -> pd.DataFrame:
        """Every Ritz value of the fit: real and imaginary part, modulus, residual, whether it is
        spurious (residual above :data:`explorer.koopman.SPURIOUS`) and its observable group."""
        fit, _ = result or self.last
        lam, res = fit.eigenvalues, fit.residuals
        return pd.DataFrame({"re": lam.real, "im": lam.imag, "modulus": np.abs(lam), "residual": res,
                             "spurious": res > koopman.SPURIOUS,
                             "observable": [fit.names[g] for g in fit.group_of]})

    def summary(self, result=None) -> str:
        """What the fit kept and found, in the terms of the settings (Markdown, the app's own words)."""
        fit, fc = result or self.last
        lam, bad = fit.eigenvalues, fit.residuals > koopman.SPURIOUS
        fits = len(fit.fits)
        rank = (f"rank {int(fit.ranks.max())}" if fits == 1 else
                f"ranks {int(fit.ranks.min())} to {int(fit.ranks.max())} over {fits} fits")
        kept = (f"keeps {fit.energy_kept:.10g} of the snapshots' energy (asked: at least {self.energy:.10g}"
                f"{'; the rank limit stopped it short' if fit.energy_kept < self.energy - 1e-12 else ''})")
        saved = (f"training needed **{fc.steps_saved:,}** more steps after the window to reach the jump's "
                 f"test loss" if fc.steps_saved is not None else
                 f"training did not reach the jump's test loss within {fc.searched:,} steps after the window")
        return (f"**Window** steps {fit.step_start:,} to {fit.step_stop:,} ({fit.kind} observables): {rank} "
                f"(limit {self.max_rank}), which {kept}. Largest |λ| = {np.abs(lam).max():.4f}; "
                f"{int(bad.sum())} of {len(lam)} Ritz pairs spurious (residual > {koopman.SPURIOUS}).\n\n"
                f"At step {fc.step:,} the Koopman jump's test loss is **{loss_text(fc.predicted_test_loss)}** "
                f"({accuracy_text(fc.predicted_accuracy)} accuracy); training's is "
                f"**{loss_text(fc.trained_test_loss)}** ({accuracy_text(fc.trained_accuracy)}); at the "
                f"window's end it was {loss_text(fc.window_end_test_loss)}. Equal loss: {saved}.")
