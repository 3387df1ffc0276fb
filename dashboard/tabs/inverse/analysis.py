"""The Inverse problems tab's numbers: FIRENET against trained reconstruction networks (Colbrook,
Antun & Hansen 2022).

Set up sparse recovery y = A x + e; reconstruct with FIRENET (restarts x inner steps = layers), the
trained LISTA and MLPs of the zoo and a plain SR-LASSO solver; the error layer by layer, the
worst-case perturbation of each reconstructor and the twins bound. Every number comes from
:mod:`explorer.inverse`; the studies run through :func:`dashboard.serving.jobs.run` (worker processes
in the served app, the calling thread elsewhere).

No Panel here: a notebook or a test drives :class:`InverseAnalysis` directly.

Example
-------
>>> analysis = InverseAnalysis(N=40, m=20, kind="gaussian", s=3, restarts=3, inner=10, count=4)
>>> acc = analysis.accuracy()
>>> acc.layer_error.size, analysis.trained_nets()
(30, ())
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import param

from explorer import inverse, zoo

from ...memo import memoize
from ...serving import jobs
from ..bounds import SEED

NETS = ("inverse-lista", "inverse-mlp", "inverse-mlp-twins")


def _nets(names) -> dict:
    return {n: zoo.load(n) for n in names}


def accuracy_job(problem_kwargs: dict, net_names: tuple, **options) -> inverse.Accuracy:
    """Module-level (picklable) entry for the worker process: load the nets, run the study."""
    return inverse.accuracy_study(problem_kwargs, nets=_nets(net_names), **options)


def stability_job(problem_kwargs: dict, net_names: tuple, progress=None, **options) -> inverse.Stability:
    return inverse.stability_study(problem_kwargs, nets=_nets(net_names), progress=progress, **options)


def twins_job(problem_kwargs: dict, net_names: tuple, **options) -> dict:
    return inverse.twins_study(problem_kwargs, _nets(net_names), **options)


@memoize(max_items=32)
def accuracy(problem_kwargs: dict, net_names: tuple, noise: float, lam: float, restarts: int, inner: int,
             count: int, seed: int) -> inverse.Accuracy:
    return jobs.run(accuracy_job, problem_kwargs, net_names, noise=noise, lam=lam, restarts=restarts,
                    inner=inner, count=count, seed=seed)


class InverseAnalysis(param.Parameterized):
    """The problem, FIRENET's settings and three experiments: accuracy, stability, the twins.

    The tab shows its own networks (FIRENET built for the problem, the zoo's trained ones when the
    problem is the one they were trained on), not the session's model: it has no ``model`` parameter.

    Parameters
    ----------
    kind, N, m, s, problem_seed, noise, lam, restarts, inner, eta, perturb_at, count, steps, seed
        The tab's settings (see each parameter's doc).
    """

    URL_SETTINGS = ("kind", "N", "m", "s", "problem_seed", "noise", "lam", "restarts", "inner", "eta", "perturb_at",
                    "count")

    kind = param.Selector(default="dct", objects=list(inverse.MEASUREMENTS), doc="Measurement matrix")
    N = param.Integer(default=inverse.ZOO_PROBLEM["N"], bounds=(4, 1024), doc="Signal length")
    m = param.Integer(default=inverse.ZOO_PROBLEM["m"], bounds=(1, 1024), doc="Measurements")
    s = param.Integer(default=inverse.ZOO_PROBLEM["s"], bounds=(1, 100), doc="Sparsity")
    problem_seed = param.Integer(default=inverse.ZOO_PROBLEM["seed"], bounds=SEED, doc="Seed of the matrix")
    noise = param.Number(default=0.0, bounds=(0.0, 0.5), step=0.005, doc="||e||_2 of the measurement noise")
    lam = param.Number(default=0.1, bounds=(0.001, 2.0), step=0.01, doc="SR-LASSO lambda")
    restarts = param.Integer(default=12, bounds=(1, 30), doc="FIRENET's restarts")
    inner = param.Integer(default=20, bounds=(1, 100), doc="Primal-dual steps per restart")
    eta = param.Number(default=0.05, bounds=(1e-4, 1.0), step=0.01, doc="||e|| of the worst-case search")
    perturb_at = param.Selector(default="twins", objects=["twins", "test signals"],
                                doc="Search around the twins' measurements or fresh test signals'")
    count = param.Integer(default=20, bounds=(1, 200), doc="Test signals")
    steps = param.Integer(default=30, bounds=(0, 200), doc="Steps of the perturbation search")
    seed = param.Integer(default=0, bounds=SEED, doc="Seed of the test signals and the search")

    # -- the problem ----------------------------------------------------------------------------
    def problem_kwargs(self) -> dict:
        if self.m > self.N:
            raise ValueError(f"Use at most N = {self.N} measurements (m = {self.m}).")
        return {"N": int(self.N), "m": int(self.m), "kind": self.kind, "s": int(self.s), "seed": int(self.problem_seed)}

    def trained_nets(self) -> tuple:
        """The zoo nets trained on this matrix (N, m, kind and seed as in ZOO_PROBLEM), else none."""
        z = inverse.ZOO_PROBLEM
        p = self.problem_kwargs()
        same = all(p[k] == z[k] for k in ("N", "m", "kind", "seed"))
        return tuple(n for n in NETS if n in zoo.names()) if same else ()

    def _options(self) -> dict:
        return {"noise": float(self.noise), "lam": float(self.lam), "restarts": int(self.restarts),
                "inner": int(self.inner)}

    def perturb_where(self) -> str:
        """Twins exist for the zoo's matrix (the pairs the twins MLP was fitted to); else test signals."""
        return "twins" if self.perturb_at == "twins" and self.trained_nets() else "signals"

    # -- the experiments --------------------------------------------------------------------------
    def accuracy(self) -> inverse.Accuracy:
        """FIRENET layer by layer, the solver and the trained nets on ``count`` test signals (computed once)."""
        o = self._options()
        return accuracy(self.problem_kwargs(), self.trained_nets(), o["noise"], o["lam"], o["restarts"],
                        o["inner"], int(self.count), int(self.seed))

    def stability(self, progress=None) -> inverse.Stability:
        """The worst-case perturbation of norm ``eta`` of each method (at most 20 signals)."""
        return jobs.run(stability_job, self.problem_kwargs(), self.trained_nets(), progress=progress,
                        eta=float(self.eta), count=min(int(self.count), 20), steps=int(self.steps),
                        seed=int(self.seed), at=self.perturb_where(), **self._options())

    def twins(self) -> dict:
        """Each method on the zoo problem's twin pairs: errors, the lower bound, the measured Lipschitz."""
        nets = self.trained_nets()
        if not nets:
            raise ValueError("The twins experiment uses the trained nets: set the problem back to the zoo's "
                             f"(N = {inverse.ZOO_PROBLEM['N']}, m = {inverse.ZOO_PROBLEM['m']}, "
                             f"{inverse.ZOO_PROBLEM['kind']}, seed {inverse.ZOO_PROBLEM['seed']}).")
        o = self._options()
        return jobs.run(twins_job, self.problem_kwargs(), nets, lam=o["lam"], restarts=o["restarts"],
                        inner=o["inner"], pairs=8, samples=3)

    # -- their tables -----------------------------------------------------------------------------
    @staticmethod
    def accuracy_table(acc: inverse.Accuracy) -> pd.DataFrame:
        """Each method's size and median error; the solver's row says whether it converged."""
        solver = (f"{acc.solver_iterations} iterations" if acc.solver_converged else
                  f"did not converge (stopped at its limit of {acc.solver_iterations} iterations)")
        rows = [(inverse.FIRENET, f"{acc.restarts * acc.inner} layers", float(acc.layer_error[-1])),
                (inverse.SOLVER, solver, acc.solver_error)]
        rows += [(n, f"{len(zoo.card(n)['layers']) // 2 + 1} weight layers, trained", e)
                 for n, e in acc.net_error.items()]
        return pd.DataFrame(rows, columns=["method", "size", "median error ||x̂ − x||"])

    @staticmethod
    def restart_factor(acc: inverse.Accuracy) -> float:
        """Geometric mean of err_k / err_(k+1) over the restarts after the first (nan if undefined)."""
        per = acc.layer_error[acc.inner - 1::acc.inner]
        if per.size < 3 or per.min() <= 0:
            return float("nan")
        return float(np.exp(np.mean(np.log(per[1:-1] / per[2:]))))

    @staticmethod
    def stability_table(st: inverse.Stability) -> pd.DataFrame:
        return pd.DataFrame([(n, st.error[n], st.amplification[n], st.random[n]) for n in st.amplification],
                            columns=["method", "median error", "worst-case amplification",
                                     "random-e amplification"])

    @staticmethod
    def twins_table(res: dict) -> pd.DataFrame:
        """Per method: error on the twins, the lower bound on its Lipschitz constant, the measured one,
        whether the bound holds, and what a bound at or below zero means."""
        rows = []
        for n, t in res.items():
            bound = float(np.median(t.bound))
            rows.append((n, float(np.median((t.error + t.error_twin) / 2)), bound, float(np.median(t.lipschitz)),
                         bool(np.all(t.lipschitz >= t.bound - 1e-9)),
                         "accurate on both twins, so it must stretch their gap: a Lipschitz constant at least "
                         "the bound" if bound > 0 else
                         "vacuous (at most 0): its errors on the twins add up to more than their distance, "
                         "so nothing is forced"))
        return pd.DataFrame(rows, columns=["method", "median error on the twins", "lower bound (d − δ − δ')/η",
                                           "measured Lipschitz", "bound holds", "what the bound says"])
