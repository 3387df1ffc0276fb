"""The Adversarial tab, driven through its parameters (no browser)."""

import asyncio
import dataclasses

import numpy as np
import panel as pn
import pytest
import torch
from bokeh.models import Circle, Line

from dashboard.tabs.adversarial.view import AdversarialView
from explorer import attacks, datasets, zoo
from explorer.attacks import certified


def test_digits_attack_really_flips_and_matches_the_library(state):
    state.model_name = "digits-cnn"
    view = AdversarialView(state=state, sample=7)
    res = view.analysis.attack()
    x = datasets.load("digits").X_test[7]
    np.testing.assert_allclose(res.x[0], x)
    model = zoo.load("digits-cnn")
    with torch.no_grad():
        assert model(torch.as_tensor(res.x_adv)).argmax(1).item() != model(torch.as_tensor(x[None])).argmax(1).item()
    direct = attacks.deepfool(model, x[None], clip=(0.0, 1.0))
    np.testing.assert_allclose(res.l2, direct.l2, rtol=1e-6)
    before, after = view.analysis.probabilities(res)
    assert before.argmax() == res.original[0] and after.argmax() == res.adversarial[0]
    body = view._body()
    assert not isinstance(body, pn.pane.Alert)
    summary = body[1].object
    assert f"{res.l2[0]:.4f}" in summary and f"in **{res.iterations[0]}** iterations" in summary


def test_settings_reach_the_attack(state):
    state.model_name = "digits-mlp"
    view = AdversarialView(state=state, sample=3)
    l2 = view.analysis.attack()
    view.analysis.param.update(norm="linf", clip=False, max_iter=3)
    linf = view.analysis.attack()
    assert linf.norm == "linf" and linf.iterations[0] <= 3
    assert linf.linf[0] <= l2.linf[0] + 1e-6  # the L-infinity attack finds a smaller L-infinity step
    view.analysis.param.update(norm="l2", clip=True, refine=True, max_iter=50)
    assert view.analysis.attack().l2[0] <= l2.l2[0] * (1 + 1e-6)


def test_deepfool_only_controls_show_with_deepfool_only(state):
    view = AdversarialView(state=state)
    names = {w.name: w for w in view._widgets}
    deepfool_only = ("Overshoot", "Max iterations", "SuperDeepFool refinement")
    assert all(names[n].visible for n in deepfool_only) and not names["Budget ε (APGD, Square)"].visible
    budgeted = next(m for m, spec in attacks.METHODS.items() if not spec.minimal)
    view.analysis.method = budgeted
    assert not any(names[n].visible for n in deepfool_only) and names["Budget ε (APGD, Square)"].visible
    view.analysis.method = "deepfool"
    assert all(names[n].visible for n in deepfool_only)


def test_two_d_view_shows_the_sandwich(state):
    view = AdversarialView(state=state, sample=4)
    s = view.analysis.sandwich()
    x = datasets.load("moons").X_test[4]
    direct = certified.sandwich(zoo.load("moons-mlp"), x)
    assert s.exact == pytest.approx(direct.exact) and s.certified <= s.exact <= s.deepfool
    body = view._body()
    assert not isinstance(body, pn.pane.Alert)
    table = body[1][1][1].object
    assert {'green', 'black', 'red'} <= set(table['circle'])
    assert list(table["value"]) == pytest.approx([s.certified, s.certified_pairwise, s.exact, s.deepfool])
    fig = body[1][0].object  # the circles are the three radii about the point, the walk DeepFool's iterates
    circles = [r.glyph for r in fig.renderers if isinstance(r.glyph, Circle)]
    assert sorted(2 * c.radius for c in circles) == pytest.approx(sorted(2 * r for r in (s.certified_pairwise,
                                                                                            s.exact, s.deepfool)))
    assert all((c.x, c.y) == pytest.approx(tuple(x)) for c in circles)
    assert fig.match_aspect and fig.frame_width == fig.frame_height  # equal aspect: an L2 ball is a circle
    assert fig.x_range.end - fig.x_range.start == pytest.approx(fig.y_range.end - fig.y_range.start)
    (legend,) = fig.right  # the key beside the data: every class by name, and the three radii
    labels = [item.label.value for item in legend.items]
    assert {"class 0", "class 1", "certified radius", "exact radius", "DeepFool radius"} <= set(labels)
    walk = next(r.data_source.data for r in fig.renderers if isinstance(r.glyph, Line))
    np.testing.assert_allclose(np.c_[walk["x"], walk["y"]], view.analysis.attack().path[0])


def test_method_comparison_flips_with_every_method(state):
    state.model_name = "digits-mlp"
    view = AdversarialView(state=state, sample=0)
    table = view.analysis.compare_methods()
    assert list(table["method"]) == ["DeepFool", "DeepFool", "FGSM", "FGSM", "PGD", "PGD"]
    assert table["flips"].all()
    df_l2 = table[(table.method == "DeepFool") & (table.norm == "l2")]["||r||_2"].item()
    assert df_l2 == pytest.approx(view.analysis.attack().l2[0], rel=1e-6)


def test_robustness_runs_in_the_background_with_progress(state):
    state.model_name = "digits-mlp-adv"
    view = AdversarialView(state=state)
    seen = []
    view._progress.param.watch(lambda e: seen.append(e.new), "value")
    asyncio.run(view._on_measure())
    rob = view.analysis.measure()
    assert seen and seen[-1] == 100 and not view._progress.visible
    text = view._measure_out[0][0].object
    assert f"{rob.rho_adv:.4f}" in text and rob.success_rate == 1.0
    data = datasets.load("digits")
    direct = attacks.robustness(zoo.load("digits-mlp-adv"), data.X_test, clip=(0.0, 1.0))
    assert rob.rho_adv == pytest.approx(direct.rho_adv, rel=1e-6)


def test_zoo_table_lists_the_digits_models(state):
    state.model_name = "digits-mlp"
    view = AdversarialView(state=state)
    # DeepFool on the first 60 test digits for each of the 8 models (the whole split took 60 s in the suite)
    data = view.analysis.dataset
    view.analysis.dataset = dataclasses.replace(data, X_test=data.X_test[:60], y_test=data.y_test[:60])
    table = view.analysis.zoo_table()
    digits_models = [n for n in zoo.names()
                     if zoo.card(n)["dataset"] == "digits" and zoo.card(n)["task"] == "classifier"]
    assert list(table["model"]) == digits_models
    assert (table["success"] == 1.0).all()
    adv = table.set_index("model")["median ||r||_2"]
    assert adv["digits-mlp-adv"] > adv["digits-mlp"]  # adversarial training makes DeepFool work harder


def test_plane_through_the_sample_shows_the_boundary_within_r(state):
    state.model_name = "digits-mlp"
    view = AdversarialView(state=state, sample=2)
    part, res = view.analysis.plane()
    assert part.num_regions > 1 and len(part.boundary_segments) > 0
    np.testing.assert_allclose(part.to_input([[0.0, 0.0]])[0], res.x[0], atol=1e-6)
    asyncio.run(view._on_plane())
    assert isinstance(view._plane_out[0], pn.Column)
    view.analysis.sample = 3  # results of another sample are cleared
    assert len(view._plane_out) == 0


def test_plane_section_only_for_image_models(state):
    view = AdversarialView(state=state)
    assert len(view._plane_section()) == 0
    state.model_name = "digits-mlp"
    assert len(view._plane_section()) == 3


