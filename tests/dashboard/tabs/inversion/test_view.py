"""The Inversion tab, driven through its parameters (no browser)."""

import asyncio

import numpy as np
import panel as pn
import pytest

from dashboard.tabs.inversion.analysis import parse_sizes
from dashboard.tabs.inversion.view import InversionView
from explorer import inversion
from explorer.inversion import generators


def test_random_generator_run_matches_the_library(state):
    view = InversionView(state=state, sizes="20-100-500", generator_seed=3, seed=5, steps=300,
                         methods=["layered", "gd"])
    problem, results = view.analysis.run()
    layers = generators.dense_layers(generators.random_generator((20, 100, 500), seed=3))
    z = np.random.default_rng(5).standard_normal(20)
    np.testing.assert_allclose(problem.z, z)
    np.testing.assert_allclose(problem.x, generators.forward_all(layers, z)[-1])
    direct = inversion.invert(layers, problem.x, "layered", z_true=z)
    np.testing.assert_allclose(results["layered"].z_hat, direct.z_hat, atol=1e-12)
    assert results["layered"].rel_error < 1e-10 and results["gd"].losses.shape == (3, 300)
    table = view.analysis.summary_table(results)
    assert list(table["status"]) == ["ok", "ok"]
    drawn = view._draw_run(problem, results)
    assert not isinstance(drawn, pn.pane.Alert)


def test_trained_digit_with_missing_block(state):
    view = InversionView(state=state, generator="trained digits", target="test digit", digit=4,
                         corruption="block missing", block=3, methods=["layered", "ls"], steps=100)
    problem, results = view.analysis.run()
    assert problem.corruption.mask.sum() == 64 - 9 and problem.z.size == 6
    assert results["layered"].rel_error < 1e-8  # 55 pixels still pin down 6 latent numbers
    assert problem.check.verdict in ("unique", "unique among sparse", "not guaranteed")


def test_compressed_sensing_reports_layerwise_does_not_apply(state):
    view = InversionView(state=state, sizes="10-50-250", corruption="compressed sensing", measurements=60,
                         methods=["gd", "layered"], steps=800)
    _, results = view.analysis.run()
    assert isinstance(results["layered"], str) and "compressed sensing" in results["layered"]
    assert results["gd"].rel_error < 1e-6
    table = view.analysis.summary_table(results)
    assert table.loc[1, "status"] == "does not apply"


def test_narrow_generator_gets_a_not_identifiable_badge(state):
    view = InversionView(state=state, sizes="10-6-80", methods=["layered"])
    problem, results = view.analysis.run()
    assert problem.check.verdict == "not identifiable"
    assert results["layered"].status == "not identifiable"
    badge = view._supports(problem, results)[0]
    assert badge.alert_type == "danger" and "not identifiable" in badge.object


def test_masked_answer_that_fits_but_is_wrong_is_not_ok_and_the_badge_says_not_unique(state):
    # 8 of 20 outputs of a 5-10-20 generator: layer-wise pursuit fits them with a latent 12% off
    view = InversionView(state=state, sizes="5-10-20", generator_seed=4, seed=0, corruption="random pixels missing",
                         keep=0.4, methods=["layered", "gd"], steps=300)
    problem, results = view.analysis.run()
    r = results["layered"]
    assert r.residual < 1e-12 and r.rel_error > 0.1 and r.status == "not unique"
    assert "ok" not in list(view.analysis.summary_table(results)["status"])
    badge = view._supports(problem, results)[0]
    assert badge.alert_type == "danger" and "not unique" in badge.object


def test_unique_badge_only_when_proved(state):
    view = InversionView(state=state, sizes="20-100-500", generator_seed=3, seed=5, methods=["layered"])
    problem, results = view.analysis.run()
    assert problem.check.verdict == "unique" and results["layered"].status == "ok"
    badge = view._supports(problem, results)[0]
    assert badge.alert_type == "success" and "unique (proved)" in badge.object


def test_bad_sizes_give_a_message(state):
    with pytest.raises(ValueError, match="Layer sizes"):
        parse_sizes("20-abc")
    view = InversionView(state=state, sizes="20")
    asyncio.run(view._on_run())
    assert isinstance(view._run_out[0], pn.pane.Alert)


def test_sweep_runs_in_the_background_with_progress(state):
    view = InversionView(state=state, sizes="10-20-40", sweep_ratios="2, 5", sweep_trials=3,
                         methods=["layered", "ls"])
    seen = []
    view._progress.param.watch(lambda e: seen.append(e.new), "value")
    asyncio.run(view._on_sweep())
    assert seen and seen[-1] == 100 and not view._progress.visible
    sweep = view.analysis.sweep()
    assert sweep.sizes == [(10, 20, 40), (10, 50, 250)]
    assert sweep.success[0, 1] == 1.0  # 5x expansion: layer-wise pursuit always succeeds
    assert isinstance(view._sweep_out[0][0], pn.pane.HoloViews)  # the plot, then its CSV button


