"""The Adversarial tab's numbers: DeepFool or a library's attack (:func:`explorer.attacks.run_attack`)
on one test sample, comparisons of attack methods (on the sample; the libraries' attacks on the first
test samples), robustness over the test split, and the neighbourhood of the sample (the certified <= exact <=
DeepFool radii of a 2-D sample; the exact regions of the plane through an image along r).

No Panel here: a notebook or a test drives :class:`AdversarialAnalysis` directly, and the tab's
view draws what it returns. Every number comes from :mod:`explorer.attacks` /
:mod:`explorer.attacks.certified`; results are computed once per process (:func:`dashboard.memo.memoize`),
the long ones in worker processes when served (:func:`dashboard.serving.jobs.run`).

Example
-------
>>> from explorer import datasets, zoo
>>> analysis = AdversarialAnalysis(model=zoo.load("moons-mlp"), dataset=datasets.load("moons"), sample=4)
>>> s = analysis.sandwich()
>>> bool(s.certified <= s.exact <= s.deepfool)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import param
from torch import nn

from explorer import attacks, datasets, regions, zoo
from explorer.attacks import certified
from explorer.training import evaluation

from ... import services
from ...memo import memoize
from ...serving import jobs
from ..bounds import ATTACK_EPSILON, COMPARED_SAMPLES, SAMPLE_INDEX, SEED, zoo_classifiers

NEIGHBOURHOOD_RESOLUTION = 200  # decision-map pixels per side around a 2-D sample
LIBRARY_NAMES = {"explorer": "", "foolbox": "Foolbox", "art": "ART"}


def _method_label(m: attacks.libraries.Method) -> str:
    """E.g. "Square (ART, black-box)": the name in papers, where it comes from, what it sees."""
    notes = [note for note in (LIBRARY_NAMES[m.library], "black-box" if m.black_box else "") if note]
    return m.title + (f" ({', '.join(notes)})" if notes else "")


METHOD_LABELS = {name: _method_label(m) for name, m in attacks.METHODS.items()}


# -- library calls, once per process (models are keyed by their explorer_key) ---------------------

@memoize(max_items=128)
def deepfool(model: nn.Module, x: np.ndarray, norm: str, overshoot: float, max_iter: int, clip, refine: bool):
    return attacks.deepfool(model, np.asarray(x, dtype=np.float32)[None], norm=norm, overshoot=overshoot,
                            max_iter=max_iter, clip=clip, refine=refine)


@memoize(max_items=64)
def library_attack(model: nn.Module, x: np.ndarray, method: str, norm: str, epsilon, clip, seed: int, image_shape):
    return jobs.run(attacks.run_attack, model, np.asarray(x, dtype=np.float32)[None], method=method, norm=norm,
                    epsilon=epsilon, clip=clip, seed=seed, image_shape=image_shape)


@memoize(max_items=16)
def attack_comparison(model: nn.Module, X: np.ndarray, methods: list, norm: str, epsilon: float, clip, seed: int,
                      image_shape, progress=None):
    return jobs.run(attacks.compare_attacks, model, np.asarray(X, dtype=np.float32), methods=methods, norm=norm,
                    epsilon=epsilon, clip=clip, seed=seed, image_shape=image_shape, progress=progress)


@memoize(max_items=64)
def sandwich(model: nn.Module, x: np.ndarray) -> certified.Sandwich:
    return certified.sandwich(model, np.asarray(x, dtype=np.float64))


@memoize(max_items=16)
def adversarial_plane(model: nn.Module, x: np.ndarray, r: np.ndarray):
    return jobs.run(attacks.adversarial_plane, model, np.asarray(x, dtype=np.float64), np.asarray(r, dtype=np.float64))


@memoize(max_items=64)
def partition(model: nn.Module, box: tuple):
    return jobs.run(regions.partition_2d, model, box=box)


@memoize(max_items=32)
def robustness(model: nn.Module, data: datasets.Dataset, clip, progress=None) -> attacks.RobustnessResult:
    return jobs.run(attacks.robustness, model, data.X_test, data.y_test, clip=clip, progress=progress)


@dataclass
class Neighbourhood:
    """What the 2-D view draws around a sample: the square ``box`` (x0, x1, y0, y1), the decision
    map and the exact linear regions in it, and the three radii about the sample."""

    box: tuple
    decision: evaluation.DecisionMap
    partition: object
    sandwich: certified.Sandwich


class AdversarialAnalysis(param.Parameterized):
    """DeepFool on a test sample, method comparison, robustness and the sample's neighbourhood.

    Parameters
    ----------
    model : nn.Module
        The classifier attacked (a zoo model, an upload, any module; the radii need a
        piecewise-linear one).
    dataset : explorer.datasets.Dataset
        The data: the sample is its test split's ``sample``-th; its domain clips images.
    sample, method, norm, epsilon, seed, overshoot, max_iter, clip, refine, compared
        The tab's settings (see each parameter's doc).
    resolve : callable, optional
        ``name -> nn.Module`` for the zoo models compared on the test split (default: the zoo).
    """

    URL_SETTINGS = ("sample", "method", "norm", "epsilon", "seed", "overshoot", "max_iter", "clip", "refine",
                    "compared")

    model = param.ClassSelector(class_=nn.Module, doc="The classifier attacked")
    dataset = param.ClassSelector(class_=datasets.Dataset, doc="The data whose test samples are attacked")
    sample = param.Integer(default=0, bounds=SAMPLE_INDEX, doc="Test sample to attack")
    method = param.Selector(default="deepfool", objects=list(METHOD_LABELS), doc="The attack on the sample")
    norm = param.Selector(default="l2", objects=list(attacks.libraries.LIBRARY_NORMS),
                          doc="Norm the attack minimises (or bounds, for APGD and Square)")
    epsilon = param.Number(default=0.5, bounds=ATTACK_EPSILON, step=0.01,
                           doc="Budget ||r|| of the fixed-budget attacks (APGD, Square), and of the comparison's "
                               "'success at eps'")
    seed = param.Integer(default=0, bounds=SEED, doc="Seed of the attacks' random starts and searches")
    overshoot = param.Number(default=0.02, bounds=(0.0, 0.5), step=0.01, doc="DeepFool's eta")
    max_iter = param.Integer(default=50, bounds=(1, 200), doc="Iterations at most")
    clip = param.Boolean(default=True, doc="Keep the adversarial input in the data's valid range")
    refine = param.Boolean(default=False, doc="SuperDeepFool refinement (L2 only)")
    compared = param.Integer(default=10, bounds=COMPARED_SAMPLES, doc="Test samples the attack comparison runs on")
    resolve = param.Callable(default=services.zoo_model, doc="Model name -> nn.Module, for the zoo comparison")

    # -- what the data is ------------------------------------------------------------------------
    @property
    def is_2d(self) -> bool:
        return self.dataset.num_features == 2

    @property
    def is_reconstruction(self) -> bool:
        """The model reconstructs a signal: it has no classes to flip."""
        return self.dataset.is_reconstruction

    def clip_box(self) -> tuple | None:
        """The data's valid range when clipping applies (images), else None."""
        return self.dataset.domain if self.clip and self.dataset.image_shape else None

    def x(self) -> np.ndarray:
        """The chosen test sample (the last one when ``sample`` is past the end)."""
        X = self.dataset.X_test
        return X[min(self.sample, len(X) - 1)]

    # -- the numbers ------------------------------------------------------------------------------
    def attack(self) -> attacks.DeepFoolResult | attacks.AttackResult:
        """The chosen method on the chosen sample with the chosen settings (DeepFool's own result for
        DeepFool; a library's attack in a worker process when served)."""
        spec = attacks.METHODS[self.method]
        if self.norm not in spec.norms:
            raise ValueError(f"{spec.title} works in the norms {', '.join(spec.norms)}; choose one of them.")
        if self.method == "deepfool":
            refine = self.refine and self.norm == "l2"
            return deepfool(self.model, self.x(), self.norm, float(self.overshoot), int(self.max_iter),
                            self.clip_box(), refine)
        if self.method == "square" and not self.dataset.image_shape:
            raise ValueError("Square searches square windows of a picture: it attacks image data only.")
        return library_attack(self.model, self.x(), self.method, self.norm,
                              None if spec.minimal else float(self.epsilon), self.clip_box(), int(self.seed),
                              self.dataset.image_shape)

    def uses_budget(self) -> bool:
        """Whether the chosen method attacks within the budget epsilon (it does not look for the smallest
        perturbation itself)."""
        return not attacks.METHODS[self.method].minimal

    def probabilities(self, res: attacks.DeepFoolResult) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities at x and at x_adv."""
        p = evaluation.predict_proba(self.model, np.concatenate([res.x, res.x_adv]))
        return p[0], p[1]

    def sandwich(self) -> certified.Sandwich:
        """The three radii around a 2-D sample."""
        return sandwich(self.model, self.x())

    @staticmethod
    def radii_table(s: certified.Sandwich) -> pd.DataFrame:
        """The sandwich's radii (certified <= exact <= DeepFool) and the colour of each one's circle."""
        return pd.DataFrame({
            "radius": ["certified (margin/(√2 L))", "certified (pairwise)", "exact distance", "DeepFool ||r||₂"],
            "circle": ["", "green", "black", "red"],
            "value": [s.certified, s.certified_pairwise, s.exact, s.deepfool]})

    @staticmethod
    def window(res: attacks.DeepFoolResult) -> tuple:
        """The square around the point that holds the iterates and the DeepFool circle, with a margin."""
        x = res.x[0]
        reach = max(float(np.abs(res.path[0] - x).max()), float(res.l2[0]), 1e-3)
        h = 1.4 * reach
        return (float(x[0] - h), float(x[0] + h), float(x[1] - h), float(x[1] + h))

    def neighbourhood(self, res: attacks.DeepFoolResult) -> Neighbourhood:
        """A 2-D sample's surroundings: decision map, exact regions and radii in :meth:`window`."""
        s = self.sandwich()  # first: a model that is not piecewise linear is refused here
        box = self.window(res)
        return Neighbourhood(box, services.decision_map(self.model, box, NEIGHBOURHOOD_RESOLUTION),
                             partition(self.model, box), s)

    def compare_methods(self) -> pd.DataFrame:
        """DeepFool (L2, Linf) against FGSM and PGD with the smallest flipping epsilon (bisection)."""
        model, x, clip = self.model, self.x()[None], self.clip_box()
        rows = []
        for norm in ("l2", "linf"):
            df = attacks.deepfool(model, x, norm=norm, clip=clip)
            rows.append(("DeepFool", norm, df.success[0], df.l2[0], df.linf[0]))
        for method in ("fgsm", "pgd"):
            for norm in ("l2", "linf"):
                kw = dict(steps=20) if method == "pgd" else {}
                me = attacks.minimal_epsilon(model, x, method=method, norm=norm, clip=clip, tol=1e-4, **kw)
                r = me.r.reshape(-1)
                rows.append((method.upper(), norm, me.success[0], np.linalg.norm(r), np.abs(r).max()))
        return pd.DataFrame(rows, columns=["method", "norm", "flips", "||r||_2", "||r||_inf"])

    def compared_methods(self) -> list[str]:
        """The library attacks that work in the chosen norm (Square on pictures only), for :meth:`compare_attacks`."""
        return [name for name, m in attacks.METHODS.items() if name != "deepfool" and self.norm in m.norms
                and (name != "square" or self.dataset.image_shape)]

    def compare_attacks(self, progress=None) -> pd.DataFrame:
        """DeepFool and the library attacks on the first ``compared`` test samples, in the chosen norm: success
        rates, success within ``epsilon``, median and mean ||r|| of the flipped samples, seconds."""
        X = self.dataset.X_test[:self.compared]
        table = attack_comparison(self.model, X, self.compared_methods(), self.norm, float(self.epsilon),
                                  self.clip_box(), int(self.seed), self.dataset.image_shape, progress=progress)
        if progress:
            progress(1, 1)
        return table

    def _split_clip(self) -> tuple | None:
        return self.dataset.domain if self.dataset.image_shape else None

    def measure(self, progress=None) -> attacks.RobustnessResult:
        """DeepFool over the whole test split (once per model, dataset and clip setting)."""
        result = robustness(self.model, self.dataset, self._split_clip(), progress=progress)
        if progress:
            progress(1, 1)  # a result computed before reports that it is done too
        return result

    def zoo_table(self, progress=None) -> pd.DataFrame:
        """Robustness of every zoo classifier trained on the current dataset, one row each."""
        names = [n for n in zoo_classifiers() if zoo.card(n)["dataset"] == self.dataset.name]
        rows = []
        for i, name in enumerate(names):
            rob = robustness(self.resolve(name), self.dataset, self._split_clip())
            rows.append((name, rob.accuracy, rob.success_rate, rob.median_l2, rob.rho_adv))
            if progress:
                progress(i + 1, len(names))
        return pd.DataFrame(rows, columns=["model", "accuracy", "success", "median ||r||_2", "rho_adv"])

    def plane(self):
        """Exact regions on the plane through x spanned by the attack's r and a random direction."""
        res = self.attack()
        if not res.success[0]:
            raise ValueError("The attack did not flip this sample, so there is no direction to show.")
        return adversarial_plane(self.model, res.x[0], res.r[0]), res
