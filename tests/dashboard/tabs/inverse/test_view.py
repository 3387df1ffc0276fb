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


def test_a_solver_that_stops_at_its_limit_is_said_not_to_converge(state):
    view = InverseView(state=state, N=40, m=20, kind="gaussian", s=3, noise=0.05, lam=0.1, restarts=2, inner=5,
                       count=4)
    acc = view.analysis.accuracy()
    problem = inverse.make_problem(**view.analysis.problem_kwargs())
    X = inverse.sparse_signals(problem, 4, seed=0)
    ref = inverse.solve(problem.A, inverse.measure(problem, X, noise=0.05, seed=1), 0.1)
    assert not ref.converged and acc.solver_converged == ref.converged
    row = view.analysis.accuracy_table(acc).set_index("method").loc[inverse.SOLVER, "size"]
    assert row.startswith("did not converge") and str(ref.iterations) in row
    text = view._draw_accuracy(acc)[0].object
    assert "did not converge" in text


def test_signal_plots_fit_their_signals_and_the_perturbed_output_has_its_own_colour(state):
    import holoviews as hv

    from dashboard.tabs.inverse import figures

    view = InverseView(state=state, restarts=2, inner=10, count=2, steps=5)
    st = view.analysis.stability()
    name = next(iter(st.amplification))
    plot = figures.signals(st.x_true, {figures.CLEAN: st.x_clean[name], figures.PERTURBED: st.x_perturbed[name]}, "t")
    lo, hi = hv.Store.lookup_options("bokeh", plot, "plot").kwargs["ylim"]
    values = np.concatenate([st.x_true, st.x_clean[name], st.x_perturbed[name]])
    assert lo <= values.min() and values.max() <= hi
    assert hi - lo <= 1.2 * (values.max() - values.min()) + 0.1  # scaled to the signal, not a fixed range
    colors = [hv.Store.lookup_options("bokeh", curve, "style").kwargs["color"] for curve in plot.values()]
    assert len(set(colors)) == 3  # x, Φ(y) and Φ(y + e) in three colours
    panes = view._draw_stability(st)[-1]
    assert all(not pane.linked_axes for pane in panes)  # no pane takes another plot's range


def test_the_twins_table_says_what_its_bound_means(state):
    view = InverseView(state=state, restarts=2, inner=10)
    table = view.analysis.twins_table(view.analysis.twins()).set_index("method")
    for method, row in table.iterrows():
        if row["lower bound (d − δ − δ')/η"] <= 0:
            assert row["what the bound says"].startswith("vacuous") and row["bound holds"]
        else:
            assert "accurate on both twins" in row["what the bound says"]
