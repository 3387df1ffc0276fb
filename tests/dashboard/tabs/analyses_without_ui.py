"""Every tab's analysis, the way a notebook runs it: in a plain interpreter, no UI library imported.

Run as ``python -m tests.dashboard.tabs.analyses_without_ui``: imports every ``dashboard/tabs/*/analysis*.py``,
runs each tab's analysis beside the library call that gives the same numbers, and prints one JSON
object: ``{"tabs": {tab: what it measured, or {"error": traceback}}, "ui": [UI modules imported]}``.
One interpreter serves every tab (tests/dashboard/tabs/test_analyses_without_ui.py reads it), where one per tab
paid its imports ten times.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

UI_LIBRARIES = ("panel", "bokeh", "holoviews", "hvplot")
ROOT = Path(__file__).resolve().parents[3]
REGIONS_3D_SAMPLES = [4, 5, 6, 7]  # the 3-D slice through four test digits


def overview() -> dict:
    from dashboard.tabs.overview.analysis import OverviewAnalysis
    from explorer import datasets, training, zoo

    model, data = zoo.load("digits-mlp"), datasets.load("digits")
    return {"shown": OverviewAnalysis(model=model, dataset=data).summary()["accuracy"],
            "library": training.accuracy(model, data.X_test, data.y_test)}


def regions() -> dict:
    from dashboard.tabs.regions.analysis import RegionsAnalysis
    from explorer import datasets, zoo
    from explorer import regions as library

    model = zoo.load("moons-mlp")
    a = RegionsAnalysis(model=model, dataset=datasets.load("moons"), box=(-1.0, 1.0, -1.0, 1.0), resolution=32)
    return {"shown": a.counts()["activation regions"],
            "library": library.partition_2d(model, box=(-1, 1, -1, 1)).num_regions}


def regions_3d() -> dict:
    import numpy as np

    from dashboard.tabs.regions.analysis import RegionsAnalysis
    from explorer import datasets, zoo
    from explorer import regions as library
    from explorer.training import evaluation

    data, model = datasets.load("digits"), zoo.load("digits-mlp-l1")
    samples = ", ".join(map(str, REGIONS_3D_SAMPLES))
    a = RegionsAnalysis(model=model, dataset=data, view="3-D slice", samples_3d=samples, margin=0.1)
    part = library.partition_slice(model, library.space_through(*data.X_test[REGIONS_3D_SAMPLES], margin=0.1))
    top, graph = library.decision_topology(part), library.dual_graph(part)
    table, counts, summary = a.topology_table(), a.counts_3d(), a.graph_summary()
    moons, net = datasets.load("moons"), zoo.load("moons-mlp")
    flat = RegionsAnalysis(model=net, dataset=moons)
    box = evaluation.data_box(np.concatenate([moons.X_train, moons.X_test]))
    top2 = library.decision_topology(library.partition_2d(net, box=box))
    t2 = flat.topology_table()
    return {"regions": bool(counts["regions"] == part.num_regions),
            "bounded cells": bool(counts["bounded cells"] == part.bounded.sum()),
            "betti": bool((table[["b0 (components)", "b1 (holes)", "b2 (voids)"]].to_numpy() == top.betti).all()),
            "cells per class": bool((table["cells"].to_numpy() == top.cells_per_class).all()),
            "class names": list(table["class"]) == data.class_names,
            "adjacent pairs": bool(summary["adjacent pairs"] == len(graph.edges)),
            "graph regions": bool(summary["regions"] == graph.num_nodes),
            "2-D betti": bool((t2[["b0 (components)", "b1 (holes)"]].to_numpy() == top2.betti).all()),
            "2-D has no voids column": "b2 (voids)" not in t2,
            "2-D Euler characteristic": bool((t2["Euler characteristic"].to_numpy() == top2.euler).all())}


def adversarial() -> dict:
    from dashboard.tabs.adversarial.analysis import AdversarialAnalysis
    from explorer import attacks, datasets, zoo
    from explorer.attacks import certified

    data, model = datasets.load("moons"), zoo.load("moons-mlp")
    analysis = AdversarialAnalysis(model=model, dataset=data, sample=4)
    return {"exact": analysis.sandwich().exact, "library": certified.sandwich(model, data.X_test[4]).exact,
            "l2": float(analysis.attack().l2[0]), "library_l2": float(attacks.deepfool(model, data.X_test[4:5]).l2[0])}


def adversarial_library_attack() -> dict:
    from dashboard.tabs.adversarial.analysis import AdversarialAnalysis
    from explorer import attacks, datasets, zoo

    model, data = zoo.load("digits-mlp"), datasets.load("digits")
    shown = AdversarialAnalysis(model=model, dataset=data, sample=3, method="fmn", norm="linf").attack()
    direct = attacks.run_attack(model, data.X_test[3:4], method="fmn", norm="linf", clip=(0.0, 1.0))
    return {"shown": float(shown.norms[0]), "library": float(direct.norms[0]), "success": bool(shown.success[0])}


def inversion() -> dict:
    import numpy as np

    from dashboard.tabs.inversion.analysis import InversionAnalysis
    from explorer import inversion as library
    from explorer.inversion import generators

    analysis = InversionAnalysis(sizes="20-100-500", generator_seed=3, seed=5, methods=["layered"])
    problem, results = analysis.run()
    layers = generators.dense_layers(generators.random_generator((20, 100, 500), seed=3))
    z = np.random.default_rng(5).standard_normal(20)
    direct = library.invert(layers, generators.forward_all(layers, z)[-1], "layered", z_true=z)
    return {"gap": float(np.abs(results["layered"].z_hat - direct.z_hat).max()),
            "status": analysis.summary_table(results)["status"].tolist()}


def inverse() -> dict:
    from dashboard.tabs.inverse.analysis import InverseAnalysis
    from explorer import inverse as library

    a = InverseAnalysis(N=40, m=20, kind="gaussian", s=3, restarts=3, inner=10, count=4)
    direct = library.accuracy_study(a.problem_kwargs(), restarts=3, inner=10, count=4)
    return {"shown": float(a.accuracy().layer_error[-1]), "library": float(direct.layer_error[-1])}


def symmetry() -> dict:
    import numpy as np

    from dashboard.tabs.symmetry.analysis import SymmetryAnalysis
    from explorer import datasets, zoo
    from explorer import equivariance as eq

    analysis = SymmetryAnalysis(sample=5, angle=30)
    mine = analysis.predictions("digits-p4cnn").probabilities
    direct = eq.rotation_predictions(zoo.load("digits-p4cnn"), datasets.load("digits").X_test[5],
                                     [0, 90, 180, 270, 30]).probabilities
    return {"gap": float(np.abs(mine - direct).max()),
            "p4_error": float(analysis.errors("digits-p4cnn").per_layer.max())}


def training() -> dict:
    from dashboard.tabs.training.analysis import TrainingAnalysis
    from explorer.training.stepper import Setup, Stepper

    a = TrainingAnalysis(dataset="moons", hidden="8,8", seed=3)
    frame = a.advance(30)
    ref = Stepper(Setup(hidden=(8, 8), seed=3))
    ref.step(30)
    fit, forecast = a.koopman_fit()
    return {"steps": [frame.step, a.step], "shown": [frame.train_loss, frame.test_loss, frame.test_accuracy],
            "library": list(ref.measure()), "history test loss": float(a.history()["test loss"].iloc[-1]),
            "fit stop": fit.step_stop, "forecast step": forecast.step,
            "forecast expected": 30 + a.koopman.ahead * a.snapshot_every}


TABS = {"overview": overview, "regions": regions, "regions 3-D": regions_3d, "adversarial": adversarial,
        "adversarial library attack": adversarial_library_attack, "inversion": inversion, "inverse": inverse,
        "symmetry": symmetry, "training": training}


def main() -> None:
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts)
               for p in sorted((ROOT / "dashboard").glob("tabs/*/analysis*.py"))]
    for name in modules:
        importlib.import_module(name)
    measured = {}
    for tab, run in TABS.items():
        try:
            measured[tab] = run()
        except Exception:  # one tab's failure is its test's, not every tab's
            measured[tab] = {"error": traceback.format_exc()[-3000:]}
    ui = sorted(m for m in sys.modules if m.split(".")[0] in UI_LIBRARIES)
    print(json.dumps({"modules": modules, "tabs": measured, "ui": ui}, default=float))


if __name__ == "__main__":
    main()
