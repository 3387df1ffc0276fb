"""The Adversarial tab's library attacks (Foolbox, ART): the analysis gives the library's own numbers,
without Panel; the view draws them like DeepFool's and tabulates the comparison with its CSV.

Skipped when a library is not installed (the `attacks` extra, also in `test`)."""

import asyncio

import numpy as np
import pandas as pd
import panel as pn
import pytest
import torch

from dashboard import state as app_state
from dashboard.tabs.adversarial.analysis import METHOD_LABELS, AdversarialAnalysis
from dashboard.tabs.adversarial.view import AdversarialView
from dashboard.tabs.bounds import ATTACK_EPSILON, COMPARED_SAMPLES
from explorer import attacks, datasets, zoo
from explorer.attacks import libraries
from tests.dashboard.views.test_table_downloads import check_downloads

pytestmark = pytest.mark.skipif(not (libraries.is_available("fmn") and libraries.is_available("apgd")),
                                reason="foolbox and ART are not installed (pip install -e '.[attacks]')")


def test_square_in_the_tab_is_the_library_call_with_the_same_seed(state):
    state.model_name = "digits-mlp"
    view = AdversarialView(state=state, sample=5, method="square", norm="linf", epsilon=0.3, seed=3)
    res = view.analysis.attack()
    x = datasets.load("digits").X_test[5:6]
    direct = attacks.run_attack(zoo.load("digits-mlp"), x, method="square", norm="linf", epsilon=0.3, seed=3,
                                clip=(0.0, 1.0), image_shape=(8, 8))
    np.testing.assert_array_equal(res.r, direct.r)
    assert res.success[0] and res.linf[0] <= 0.3 * (1 + libraries.EPSILON_RTOL)
    with torch.no_grad():
        label = zoo.load("digits-mlp")(torch.as_tensor(res.x_adv)).argmax(1).item()
    assert label == res.adversarial[0] and (label != res.original[0]) == res.success[0]
    body = view._body()
    assert not isinstance(body, pn.pane.Alert)
    summary = body[1].object
    assert summary.startswith("Square (linf) flips the label within ε = 0.3")
    assert f"||r||∞ = **{res.linf[0]:.4f}**" in summary and f"||r||₂ = **{res.l2[0]:.4f}**" in summary


def test_a_two_d_sample_shows_the_library_step_beside_the_sandwich(state):
    view = AdversarialView(state=state, sample=4, method="fmn", norm="l2")
    res = view.analysis.attack()
    s = view.analysis.sandwich()
    assert res.success[0] and s.exact <= res.l2[0] * (1 + 1e-4)  # no attack beats the exact distance
    body = view._body()
    assert not isinstance(body, pn.pane.Alert)
    assert body[0].object.startswith("FMN (l2) flips the label")


def test_settings_an_attack_cannot_take_are_explained(state):
    view = AdversarialView(state=state, sample=4, method="deepfool", norm="l1")  # moons
    with pytest.raises(ValueError, match="DeepFool works in the norms l2, linf"):
        view.analysis.attack()
    assert isinstance(view._body(), pn.pane.Alert)
    view.analysis.param.update(method="square", norm="linf")
    with pytest.raises(ValueError, match="image data only"):
        view.analysis.attack()
    assert view.analysis.compared_methods() == ["fmn", "apgd"]  # no Square on moons


def test_compare_attacks_runs_in_the_background_and_downloads(state):
    state.model_name = "digits-mlp"
    view = AdversarialView(state=state, norm="linf", epsilon=0.3, compared=3)
    seen = []
    view._progress.param.watch(lambda e: seen.append(e.new), "value")
    asyncio.run(view._on_attacks())
    assert seen and seen[-1] == 100 and not view._progress.visible
    table = view.analysis.compare_attacks()
    assert table["method"].tolist() == ["DeepFool", "FMN", "APGD", "Square"]
    data = datasets.load("digits")
    direct = attacks.compare_attacks(zoo.load("digits-mlp"), data.X_test[:3], methods=["fmn", "apgd", "square"],
                                     norm="linf", epsilon=0.3, clip=(0.0, 1.0), image_shape=(8, 8))
    numbers = [c for c in libraries.COMPARISON_COLUMNS if c != "seconds"]
    pd.testing.assert_frame_equal(table[numbers], direct[numbers])
    check_downloads(view._attacks_out, {"attack-comparison.csv": table})
    view.analysis.epsilon = 0.2  # a table of other settings is cleared
    assert len(view._attacks_out) == 0


def test_the_new_settings_are_link_settings_with_bounds():
    owner = AdversarialAnalysis
    assert {"method", "epsilon", "seed", "compared"} <= set(owner.URL_SETTINGS)
    assert owner.param.epsilon.bounds == ATTACK_EPSILON and owner.param.compared.bounds == COMPARED_SAMPLES
    assert list(owner.param.method.objects) == list(attacks.METHODS) == list(METHOD_LABELS)
    refused = []
    query = {"adversarial.method": "cw", "adversarial.epsilon": 1000.0, "adversarial.compared": 0,
             "adversarial.seed": 7, "adversarial.norm": "l0"}  # as the page reads a link's values
    settings = app_state.settings_from(query, "Adversarial", AdversarialView, refused)
    assert settings == {"method": "cw", "seed": 7, "norm": "l0"}
    assert sorted(refused) == ["adversarial.compared", "adversarial.epsilon"]
