"""The Inversion tab's numbers: recover a generator's latent code from a clean or corrupted signal.

A generator (random expansive ReLU sizes, or the digits VAE decoder from the zoo), a target
latent, a corruption; gradient descent, layer-wise pursuit, Lei et al.'s LP and layer-wise least
squares side by side; the identifiability check; success against expansion and error against
noise. The tab reads nothing from the session: its generators are its own, and ``dataset`` is
the digits data whose test digits the trained generator's targets come from.

No Panel here: a notebook or a test drives :class:`InversionAnalysis` directly, and the tab's view
draws what it returns. Every number comes from :mod:`explorer.inversion`; the long runs go to
worker processes when served (:func:`dashboard.serving.jobs.run`).

Example
-------
>>> analysis = InversionAnalysis(sizes="20-100-500", generator_seed=3, seed=5, methods=["layered"])
>>> problem, results = analysis.run()
>>> bool(results["layered"].rel_error < 1e-10), problem.check.verdict
(True, 'unique')
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import param
import torch

from explorer import datasets, inversion, zoo
from explorer.inversion.generators import random_generator

from ... import services
from ...serving import jobs
from ..bounds import SAMPLE_INDEX, SEED, TYPED_LIST

DECODER, ENCODER = "digits-vae-decoder", "digits-vae-encoder"
PRESETS = ["20-100-500", "20-40-80", "20-50-125", "20-60-180", "20-100-200-500", "20-40-80-160-320"]
CORRUPTIONS = ["none", "noise only", "random pixels missing", "block missing", "compressed sensing"]
METHOD_NAMES = {"gd": "gradient descent", "layered": "layer-wise pursuit", "lp": "Lei et al. LP",
                "ls": "layer-wise least squares"}
# what each verdict of explorer.inversion.identifiability has proved, in the badge's words
VERDICT_LABELS = {"unique": "unique (proved)",
                  "unique among sparse": "unique among latents as sparse as z (denser ones not excluded)",
                  "not guaranteed": "uniqueness not established",
                  "not unique": "not unique (a second latent gives the same observation)",
                  "not identifiable": "not identifiable", "ambiguous": "ambiguous"}


def parse_sizes(text: str) -> tuple:
    """'20-100-500' -> (20, 100, 500), with a message fit for the user when it is not."""
    try:
        sizes = tuple(int(s) for s in text.replace(",", "-").replace(" ", "").split("-") if s)
    except ValueError:
        raise ValueError(f"Layer sizes like 20-100-500, got {text!r}.") from None
    if len(sizes) < 2 or min(sizes) < 1 or max(sizes) > 5000:
        raise ValueError(f"Give two or more layer sizes between 1 and 5000, got {text!r}.")
    return sizes


def support_codes(result: inversion.Inversion) -> list[np.ndarray]:
    """Per layer, each unit's support against the true one: 0 true positive, 1 false positive,
    2 false negative, 3 true negative."""
    return [np.where(s & t, 0, np.where(s & ~t, 1, np.where(~s & t, 2, 3)))
            for s, t in zip(result.supports, result.true_supports)]


class InversionAnalysis(param.Parameterized):
    """Generator, target, corruption, methods side by side, identifiability, sweeps.

    Parameters
    ----------
    dataset : explorer.datasets.Dataset, optional
        The digits whose test digits are the trained generator's targets (default: the app's digits).
    generator, sizes, generator_seed, target, digit, seed, corruption, noise, keep, block, measurements
        The problem (see each parameter's doc); these are the tab's link settings.
    methods, restarts, steps, lr, prior, sweep_ratios, sweep_trials
        The methods and the sweeps.
    """

    URL_SETTINGS = ("generator", "sizes", "generator_seed", "target", "digit", "seed", "corruption", "noise", "keep",
                    "block", "measurements")

    dataset = param.ClassSelector(class_=datasets.Dataset, default=None, allow_None=True,
                                  doc="The digits whose test digits the trained generator is asked for")
    generator = param.Selector(default="random", objects=["random", "trained digits"],
                               doc="Random expansive ReLU generator, or the digits VAE decoder")
    sizes = param.String(default="20-40-80", regex=TYPED_LIST,
                         doc="Layer sizes of the random generator (e.g. 20-100-500)")
    generator_seed = param.Integer(default=0, bounds=SEED, doc="Seed of the random generator's weights")
    target = param.Selector(default="random latent", objects=["random latent", "test digit"],
                            doc="The true latent: drawn from the seed, or a test digit's code (trained generator)")
    digit = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test digit (trained generator)")
    seed = param.Integer(default=0, bounds=SEED, doc="Seed of the latent, the mask, the noise and GD")
    corruption = param.Selector(default="none", objects=CORRUPTIONS, doc="What happens to G(z) before it is seen")
    noise = param.Number(default=0.0, bounds=(0.0, 0.5), step=0.005, doc="Noise std as a fraction of rms(G(z))")
    keep = param.Number(default=0.5, bounds=(0.05, 0.95), step=0.05, doc="Fraction of outputs kept")
    block = param.Integer(default=3, bounds=(1, 8), doc="Side of the missing block (digit images)")
    measurements = param.Integer(default=100, bounds=(1, 2000), doc="Compressed-sensing measurements m")
    methods = param.ListSelector(default=["gd", "layered", "lp", "ls"], objects=list(inversion.METHODS),
                                 doc="The methods run side by side")
    restarts = param.Integer(default=3, bounds=(1, 20), doc="Gradient descent's random starts")
    steps = param.Integer(default=1000, bounds=(50, 5000), doc="Gradient descent's steps per start")
    lr = param.Number(default=0.05, bounds=(1e-4, 1.0), doc="Gradient descent's learning rate")
    prior = param.Number(default=0.0, bounds=(0.0, 1.0), doc="Weight of ||z||^2 in GD's loss")
    sweep_ratios = param.String(default="1.5, 2, 2.5, 3, 5", regex=TYPED_LIST,
                                doc="Expansion ratios for the success sweep")
    sweep_trials = param.Integer(default=10, bounds=(2, 100), doc="Random problems per point of a sweep")

    # -- the problem ------------------------------------------------------------------------------
    def is_image(self) -> bool:
        """The generator draws 8x8 digits (the trained one)."""
        return self.generator == "trained digits"

    def generator_model(self):
        if self.is_image():
            return services.zoo_model(DECODER)
        return random_generator(parse_sizes(self.sizes), seed=int(self.generator_seed))

    def digits(self) -> np.ndarray:
        return (self.dataset or services.dataset("digits")).X_test

    def latent(self) -> np.ndarray | None:
        """The true z: the encoder's mean for a test digit, else None (drawn from the seed)."""
        if self.is_image() and self.target == "test digit":
            X = self.digits()
            x = X[min(self.digit, len(X) - 1)]
            with torch.no_grad():
                return services.zoo_model(ENCODER)(torch.as_tensor(x[None])).double().numpy()[0]
        return None

    def corruption_options(self) -> dict:
        """The corruption as :func:`explorer.inversion.make_problem`'s keyword arguments."""
        options = {"noise": float(self.noise)}
        if self.corruption == "random pixels missing":
            options.update(missing="random", keep=float(self.keep))
        elif self.corruption == "block missing":
            options.update(missing="block", keep=float(self.keep), block=int(self.block),
                           image_shape=(8, 8) if self.is_image() else None)
        elif self.corruption == "compressed sensing":
            options.update(measurements=int(self.measurements))
        elif self.corruption == "none":
            options["noise"] = 0.0
        return options

    def problem(self) -> inversion.Problem:
        return inversion.make_problem(self.generator_model(), self.latent(), seed=int(self.seed),
                                      **self.corruption_options())

    def notes(self) -> list[str]:
        """What the chosen settings mean for the run (the trained generator's card, ignored settings)."""
        notes = []
        if self.is_image():
            card = zoo.card(DECODER)
            notes.append(f"**{DECODER}**: {card['description']} Test reconstruction error "
                         f"{card.get('test_reconstruction_error', float('nan')):.3f} per pixel; outputs clipped "
                         "to [0, 1] for drawing only.")
        elif self.target == "test digit":
            notes.append("A test digit needs the trained generator; a random latent is used.")
        if self.corruption == "compressed sensing":
            notes.append("Layer-wise methods need the outputs themselves: with fewer measurements than "
                         "outputs only gradient descent applies.")
        return notes

    # -- the numbers ------------------------------------------------------------------------------
    def run(self, progress=None) -> tuple[inversion.Problem, dict]:
        """Every chosen method on the current problem: {method: Inversion or error text}."""
        problem = self.problem()
        results = jobs.run(inversion.compare, problem, list(self.methods), progress=progress,
                           restarts=int(self.restarts), steps=int(self.steps), lr=float(self.lr),
                           prior=float(self.prior), seed=int(self.seed))
        return problem, results

    def sweep(self, progress=None) -> inversion.SuccessSweep:
        """Success rate of each method against the expansion ratio (random generators)."""
        try:
            ratios = [float(r) for r in self.sweep_ratios.replace(";", ",").split(",") if r.strip()]
        except ValueError:
            raise ValueError("Expansion ratios must be numbers separated by commas, "
                             f"not '{self.sweep_ratios}'.") from None
        if not ratios or min(ratios) < 1:
            raise ValueError("Give expansion ratios >= 1, e.g. 1.5, 2, 3.")
        depth = len(parse_sizes(self.sizes)) - 1 if self.generator == "random" else 2
        latent = parse_sizes(self.sizes)[0] if self.generator == "random" else 20
        return jobs.run(inversion.success_vs_expansion, ratios=ratios, latent=latent, depth=depth,
                        methods=list(self.methods), trials=int(self.sweep_trials), seed=int(self.seed),
                        gd_options={"restarts": 1, "steps": int(self.steps)}, progress=progress)

    def noise_sweep(self, progress=None) -> inversion.NoiseSweep:
        """Median latent error of each method against the noise level, with the oracle's."""
        sizes = parse_sizes(self.sizes) if self.generator == "random" else (20, 100, 500)
        methods = [m for m in self.methods if m != "ls"] or ["layered"]
        return jobs.run(inversion.error_vs_noise, sizes, levels=(1e-3, 1e-2, 1e-1), methods=methods,
                        trials=int(self.sweep_trials), seed=int(self.seed),
                        gd_options={"restarts": int(self.restarts), "steps": int(self.steps)}, progress=progress)

    @staticmethod
    def verdict(problem: inversion.Problem, results: dict) -> tuple[str, str]:
        """The identifiability verdict and its message: the check at the true latent, unless a
        method's answer is a second latent that gives the same observation."""
        check = problem.check
        found = [m for m, r in results.items() if not isinstance(r, str) and r.status == "not unique"]
        if found and check.verdict not in ("not unique", "not identifiable"):
            return "not unique", (f"{METHOD_NAMES[found[0]]}: {results[found[0]].message} "
                                  f"(The check at the true z alone: {check.message})")
        return check.verdict, check.message

    @staticmethod
    def summary_table(results: dict) -> pd.DataFrame:
        """One row per method: its status, latent error, residual, pattern distance, time and note."""
        rows = []
        for m, r in results.items():
            if isinstance(r, str):
                rows.append((METHOD_NAMES[m], "does not apply", np.nan, np.nan, np.nan, np.nan, r))
                continue
            rows.append((METHOD_NAMES[m], r.status, r.rel_error, r.residual, r.pattern_distance,
                         1e3 * r.time_s, r.message))
        return pd.DataFrame(rows, columns=["method", "status", "latent error", "residual",
                                           "pattern distance", "time (ms)", "note"])

    @staticmethod
    def identifiability_table(problem: inversion.Problem) -> pd.DataFrame:
        """The identifiability check at the true latent, one row per layer."""
        return pd.DataFrame([{
            "layer": c.layer, "n_in": c.n_in, "n_out": c.n_out, "s_i": c.support, "s_(i-1)": c.input_support,
            "rank W[S]": c.rank, "spark bound": c.spark_bound, "needs": ("= n_0" if c.layer == 1 else "> 2 s_(i-1)"),
            "condition": c.condition,
            "spark": "n/a" if c.layer == 1 else ("checked" if c.spark_checked else "general position assumed"),
            "coherence guarantee (very conservative)": round(c.coherence_bound, 2)}
            for c in problem.check.layers])

    @staticmethod
    def sweep_table(sweep: inversion.SuccessSweep) -> pd.DataFrame:
        """The success sweep as drawn: one row per expansion ratio and method."""
        return pd.DataFrame([{"expansion ratio": ratio, "sizes": "-".join(map(str, sizes)), "method": METHOD_NAMES[m],
                              "success rate": sweep.success[i, j], "median latent error": sweep.median_error[i, j],
                              "trials": sweep.trials}
                             for j, (ratio, sizes) in enumerate(zip(sweep.ratios, sweep.sizes))
                             for i, m in enumerate(sweep.methods)])

    @staticmethod
    def noise_table(sweep: inversion.NoiseSweep) -> pd.DataFrame:
        """The noise sweep as drawn: one row per noise level, the oracle's and each method's median error."""
        return pd.DataFrame({"noise level": sweep.levels, "oracle (LS in true region)": sweep.oracle,
                             **{METHOD_NAMES[m]: sweep.median_error[i] for i, m in enumerate(sweep.methods)}})
