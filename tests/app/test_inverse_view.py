"""The Inverse problems tab, driven through its parameters (no browser)."""

import asyncio

import numpy as np
import panel as pn

from dashboard.app import TABS
from dashboard.tabs.inverse.analysis import NETS, InverseAnalysis
from dashboard.tabs.inverse.view import InverseView
from explorer import inverse


def test_the_tab_is_listed():
    assert ("Inverse problems", InverseView) in TABS


def test_reconstruct_matches_the_library_and_draws(state):
    view = InverseView(state=state, restarts=6, inner=20, count=8)
    assert view.analysis.trained_nets() == NETS
    acc = view.analysis.accuracy()
    direct = inverse.accuracy_study(inverse.ZOO_PROBLEM, restarts=6, inner=20, count=8)
    np.testing.assert_allclose(acc.layer_error, direct.layer_error, rtol=1e-12, atol=1e-15)
    assert set(acc.net_error) == set(NETS) and acc.layer_error.size == 120
    assert acc.layer_error[-1] < 0.01 < min(acc.net_error.values())   # FIRENET beats the trained nets here
    asyncio.run(view._on_accuracy())
    assert isinstance(view.__panel__(), pn.FlexBox)
    out = view._outs["accuracy"][0]
    assert not isinstance(out, pn.pane.Alert)
    assert "per restart" in out[0].object
    assert 2.4 < InverseAnalysis.restart_factor(acc) < 3.2   # about e


def test_stability_and_twins_say_who_is_unstable(state):
    view = InverseView(state=state, restarts=4, inner=20, count=4, steps=10)
    seen = []
    view._progress.param.watch(lambda e: seen.append(e.new), "value")
    asyncio.run(view._on_stability())
    assert seen and seen[-1] == 100 and not view._progress.visible
    st = view.analysis.stability()
    table = view.analysis.stability_table(st)
    assert list(table["method"]) == [inverse.FIRENET, *NETS]
    assert (table["worst-case amplification"] >= table["random-e amplification"]).all()
    amp = table.set_index("method")["worst-case amplification"]
    assert view.analysis.perturb_where() == "twins"
    assert amp["inverse-mlp-twins"] > 3 * amp[inverse.FIRENET]   # accurate on the twins, so unstable there
    asyncio.run(view._on_twins())
    assert not isinstance(view._outs["twins"][0], pn.pane.Alert)
    twins = view.analysis.twins_table(view.analysis.twins()).set_index("method")
    assert twins["bound holds"].all()
    assert twins.loc["inverse-mlp-twins", "lower bound (d − δ − δ')/η"] > 5


def test_another_problem_drops_the_trained_nets_and_bad_settings_get_a_message(state):
    view = InverseView(state=state, N=40, m=20, kind="gaussian", s=3, restarts=3, inner=10, count=4)
    assert view.analysis.trained_nets() == ()
    assert view.analysis.accuracy().net_error == {}
    asyncio.run(view._on_twins())
    assert isinstance(view._outs["twins"][0], pn.pane.Alert)
    view.analysis.m = 50
    asyncio.run(view._on_accuracy())
    alert = view._outs["accuracy"][0]
    assert isinstance(alert, pn.pane.Alert) and "at most N = 40" in alert.object
