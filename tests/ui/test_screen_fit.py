"""Every tab and sub-view fits a laptop's screen (1366x768) and a large one (1920x1080) (issue 26), and
each tab's main action works in the real app (Chromium), checked against the library.

For each tab, on the model that gives it the most to show, the tab's main action is taken (where it
has one: compress, measure robustness, invert, reconstruct, sweep the angle) and its result checked
against the library; then the page and each of its sub-views (the inner tabs) is checked with the
scripts of ``tests/ui/screen_fit.py``: no content cut without a scrollbar, no control or text drawn
over another, no legend over a plot's data, every toggle group's selected option at least 3:1 in
contrast against the others, and no plot left blank. One page serves both checks, so the fit is
checked in the state a user reaches by acting. Then a model switch with a highlighted unit, and a
dataset switch, must leave no loading overlay once the plot is back.

Other states a user reaches by acting are checked where those tests act (with :func:`screen_fit.defects_at`):
an uploaded model in every tab (test_graph_upload_ui), an uploaded CSV (test_user_data_ui) and training
while it runs (test_training_ui).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from dashboard.state import TAB_TITLES, AppState
from dashboard.tabs.regions.analysis import RegionsAnalysis
from explorer import spectra, zoo
from tests.ui import screen_fit

pytestmark = [pytest.mark.ui, pytest.mark.slow]

LAPTOP, LARGE = screen_fit.LAPTOP, screen_fit.LARGE
SETTLE_S = 240  # a busy 2-core machine computing a sub-view


def _text(page, css) -> str:
    """Text of a Markdown pane (its content lives in a shadow root that CSS locators pierce)."""
    page.locator(f"{css} p").first.wait_for()
    return "\n".join(page.locator(f"{css} p").all_inner_texts())


def _regions_shown(page) -> int:
    counts = _text(page, ".regions-counts")
    return int(re.search(r"([\d,]+) activation regions", counts).group(1).replace(",", ""))


def _library_regions(name: str) -> int:
    """The count the tab shows ("activation regions" of its analysis's counts): the tab's analysis with
    its default settings, without building the view (which would draw it and compute the grid estimate)."""
    state = AppState(model_name=name)
    return RegionsAnalysis(model=state.model, dataset=state.dataset).partition().num_regions


# -- each tab's main action, taken before the fit is checked ----------------------------------------

def regions_counts_and_compression(page) -> None:
    assert _regions_shown(page) == _library_regions("moons-mlp")
    page.get_by_role("button", name="Find stable units and compress").click()
    summary = _text(page, ".compression-summary")
    difference = float(re.search(r"difference on .* points of the domain: ([0-9.]+e[+-][0-9]+)", summary).group(1))
    assert difference <= 1e-9


def spectra_lists_every_layer_with_its_exact_norm(page) -> None:
    page.locator(".spectra-summary table").first.wait_for()
    rows = [row.all_inner_texts()[0].split("\t") for row in page.locator(".spectra-summary tbody tr").all()]
    bound = spectra.lipschitz_bound(zoo.load("digits-cnn"))
    assert len(rows) == len(bound.exact) == 3
    column = page.locator(".spectra-summary thead th").all_inner_texts().index("sigma_max")
    for row, exact in zip(rows, bound.exact):
        assert float(row[column]) == pytest.approx(exact, rel=1e-3)


def adversarial_flips_the_label_and_measures_robustness(page) -> None:
    summary = _text(page, ".adversarial-summary")
    assert "flips the label" in summary and "not" not in summary
    page.get_by_role("button", name="Measure robustness on the test split").click()
    assert re.search(r"ρ_adv = mean \|\|r\|\|₂/\|\|x\|\|₂ = [0-9.]+", _text(page, ".robustness-summary"))


def inversion_inverts(page) -> None:
    page.get_by_role("button", name="Invert", exact=True).click()
    assert "Corruption" in _text(page, ".inversion-summary")


def inverse_problems_firenet_converges_and_the_twins_net_is_unstable(page) -> None:
    from dashboard.tabs.inverse.analysis import InverseAnalysis

    page.get_by_role("button", name="Reconstruct").click()
    factor = float(re.search(r"factor ([0-9.]+) per restart", _text(page, ".inverse-accuracy")).group(1))
    acc = InverseAnalysis(restarts=6, count=8).accuracy()
    assert factor == pytest.approx(InverseAnalysis.restart_factor(acc), abs=0.006)
    assert 2.4 < factor < 3.2
    page.get_by_role("button", name="Worst-case perturbations").click()
    assert "Most amplified: inverse-mlp-twins" in _text(page, ".inverse-stability")


def symmetry_sweeps_accuracy_over_angle(page) -> None:
    deepfool = _text(page, ".symmetry-deepfool")
    assert re.search(r"differ by at most [0-9.]+e-(1[0-9]|[7-9])", deepfool)  # rotated r = r of the rotated digit
    page.get_by_role("button", name="Accuracy against angle on the test split").click()
    page.locator(".symmetry-sweep table").first.wait_for()
    rows = {r.split("\t")[0]: r.split("\t")[1:] for r in page.locator(".symmetry-sweep tbody tr").all_inner_texts()}
    assert len(set(rows["digits-p4cnn"])) == 1  # the same accuracy at 0, 90, 180, 270 (and 360) degrees
    assert float(rows["digits-cnn"][1]) < 0.5 < float(rows["digits-cnn"][0])
    page.get_by_role("button", name="Exact regions on the symmetric plane").click()
    page.locator(".symmetry-regions p").nth(1).wait_for()
    gaps = [float(re.search(r"lies ([0-9.e+-]+) from", t).group(1))
            for t in page.locator(".symmetry-regions p").all_inner_texts()]
    assert len(gaps) == 2 and gaps[1] < 1e-12 < gaps[0]  # digits-cnn, digits-p4cnn


@dataclass(frozen=True)
class Case:
    tab: str
    model: str
    query: str = ""  # more of the link
    action: Callable | None = None  # the tab's main action and its check against the library

    @property
    def id(self) -> str:
        return f"{self.tab}-{self.model}"


# each tab on a model that fills it (images where a tab draws them)
CASES = [Case("Overview", "digits-cnn"), Case("Overview", "moons-mlp"),
         Case("Linear regions", "moons-mlp", action=regions_counts_and_compression),
         Case("Spectra", "digits-cnn", action=spectra_lists_every_layer_with_its_exact_norm),
         Case("Adversarial", "moons-mlp"),
         Case("Adversarial", "digits-mlp", action=adversarial_flips_the_label_and_measures_robustness),
         Case("Inversion", "moons-mlp", action=inversion_inverts),
         Case("Inverse problems", "inverse-lista", "&problems.restarts=6&problems.count=8",
              inverse_problems_firenet_converges_and_the_twins_net_is_unstable),
         Case("Symmetry", "moons-mlp"),
         Case("Symmetry", "digits-p4cnn", "&symmetry.layer=4", symmetry_sweeps_accuracy_over_angle),
         Case("Training", "moons-mlp")]


def _inner_tabs(page) -> list[str]:
    names = [name.strip() for name in page.locator(".bk-tab").all_inner_texts()]
    return [name for name in dict.fromkeys(names) if name and name not in TAB_TITLES]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_sub_view_fits_the_screen_after_the_tabs_action(browser, served_url, artifacts, case):
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(SETTLE_S * 1000)
    defects = []
    try:
        page.goto(f"{served_url}?model={case.model}&tab={case.tab}{case.query}")
        page.locator(".bk-tab.bk-active", has_text=case.tab).wait_for()
        if case.action is not None:
            case.action(page)
        screen_fit.settle(page, SETTLE_S)
        views = [None, *_inner_tabs(page)]
        for view in views:
            if view is not None:
                page.locator(".bk-tab", has_text=view).first.click()
                screen_fit.settle(page, SETTLE_S)
            for size in (LAPTOP, LARGE):
                page.set_viewport_size(size)
                screen_fit.laid_out(page)
                where = f"{case.tab} / {view or 'main'} on {case.model} at {size['width']}x{size['height']}"
                defects += [f"{where}: {line}" for line in screen_fit.defects(page)]
            page.set_viewport_size(LAPTOP)
        slug = f"fit-{case.tab}-{case.model}".lower().replace(" ", "-")
        page.screenshot(path=str(artifacts / f"{slug}.png"), full_page=True)
    finally:
        context.close()
    assert not defects, "\n".join(defects[:40])


def test_no_loading_overlay_stays_after_a_model_switch_with_a_highlighted_unit_or_a_dataset_switch(browser,
                                                                                                  served_url):
    """And the LeakyReLU net switched to shows the exact count the library finds."""
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(SETTLE_S * 1000)
    try:
        page.goto(f"{served_url}?model=moons-mlp&tab=Linear%20regions&regions.unit=3")
        screen_fit.settle(page, SETTLE_S)
        # the regions arrive as one image: the browser paints it, and the hover names the region under the pointer
        plot = page.locator(".bk-Canvas").first
        pixels = np.asarray(Image.open(io.BytesIO(plot.screenshot())).convert("RGB"), dtype=np.int16)
        assert (np.abs(pixels - 255).sum(2) > 60).mean() > 0.3
        box = plot.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        tooltip = page.locator(".bk-Tooltip", has_text="units on per layer").first
        tooltip.wait_for(timeout=20_000)
        page.get_by_text(re.compile(r"^\s*\d+/16 / \d+/16\s*$")).first.wait_for(timeout=5_000)  # its value
        page.mouse.move(0, 0)
        page.locator(".bk-input-group select").first.select_option("moons-leaky")  # the sidebar's model
        page.wait_for_url(re.compile("model=moons-leaky"))  # the server took the switch (a busy one takes a while)
        screen_fit.settle(page, SETTLE_S)
        assert page.evaluate(screen_fit.LOADING_OVERLAYS) == 0
        counts = _text(page, ".regions-counts")
        assert _regions_shown(page) == _library_regions("moons-leaky")
        assert "Serra" not in counts and "argmax switches" in counts
        page.locator(".bk-input-group select").first.select_option("digits-mlp")  # its own dataset: a switch too
        page.wait_for_url(re.compile("model=digits-mlp"))
        screen_fit.settle(page, SETTLE_S)
        assert page.evaluate(screen_fit.LOADING_OVERLAYS) == 0
        assert page.locator(".regions-counts").count() >= 1
    finally:
        context.close()


def test_linear_regions_tab_on_a_lenet_with_maxpool(page, served_url, artifacts):
    """The exact counts the library finds, on the page."""
    page.set_default_timeout(SETTLE_S * 1000)
    page.goto(served_url + "?model=digits-lenet&tab=Linear%20regions")
    counts = _text(page, ".regions-counts")
    assert _regions_shown(page) == _library_regions("digits-lenet")
    assert "Serra" not in counts and "argmax switches" in counts
    page.screenshot(path=str(artifacts / "tab-linear-regions-digits-lenet.png"), full_page=True)


def test_reconstruction_networks_in_the_linear_regions_and_spectra_tabs(page, served_url, artifacts):
    """LISTA's exact regions in measurement space; FIRENET's reason for having none, and its A."""
    page.set_default_timeout(SETTLE_S * 1000)
    page.goto(served_url + "?model=inverse-lista&tab=Linear%20regions")
    assert _regions_shown(page) == _library_regions("inverse-lista")
    assert "measurement space" in _text(page, ".regions-reconstruction")
    page.screenshot(path=str(artifacts / "tab-linear-regions-inverse-lista.png"), full_page=True)
    page.goto(served_url + "?model=firenet&tab=Linear%20regions")
    assert "l2 ball" in _text(page, ".regions-firenet")
    page.screenshot(path=str(artifacts / "tab-linear-regions-firenet.png"), full_page=True)
    page.goto(served_url + "?model=firenet&tab=Spectra")
    page.locator(".spectra-summary table").first.wait_for()
    rows = page.locator(".spectra-summary tbody tr").all_inner_texts()
    assert len(rows) == 2 and "called 240 times" in rows[1]
    page.screenshot(path=str(artifacts / "tab-spectra-firenet.png"), full_page=True)
