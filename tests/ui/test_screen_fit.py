"""Every tab and sub-view fits a laptop's screen (1366x768) and a large one (1920x1080) (issue 26).

For each tab, on the model that gives it the most to show, and each of its sub-views (the inner
tabs), the page is checked with the scripts of ``tests/ui/screen_fit.py``: no content cut
without a scrollbar, no control or text drawn over another, no legend over a plot's data, every
toggle group's selected option at least 3:1 in contrast against the others, and no plot left blank. Then a model switch
with a highlighted unit, and a dataset switch, must leave no loading overlay once the plot is back.

The states a user reaches by acting are checked where the tests act (with :func:`screen_fit.defects_at`):
an uploaded model in every tab (test_graph_upload_ui), an uploaded CSV (test_user_data_ui), training
while it runs (test_training_ui) and Inversion after Invert (test_tabs_ui).
"""

from __future__ import annotations

import re
import time

import pytest

from dashboard.state import TAB_TITLES
from tests.ui import screen_fit

pytestmark = [pytest.mark.ui, pytest.mark.slow]

LAPTOP, LARGE = screen_fit.LAPTOP, screen_fit.LARGE
# (tab, model): each tab on a model that fills it (images where a tab draws them)
CASES = [("Overview", "digits-cnn"), ("Overview", "moons-mlp"), ("Linear regions", "moons-mlp"),
         ("Spectra", "digits-cnn"), ("Adversarial", "moons-mlp"), ("Adversarial", "digits-mlp"),
         ("Inversion", "moons-mlp"), ("Inverse problems", "inverse-lista"), ("Symmetry", "moons-mlp"),
         ("Training", "moons-mlp")]
SETTLE_S = 240  # a busy 2-core machine computing a sub-view


@pytest.fixture
def url(served_url):
    return served_url


def _inner_tabs(page) -> list[str]:
    names = [name.strip() for name in page.locator(".bk-tab").all_inner_texts()]
    return [name for name in dict.fromkeys(names) if name and name not in TAB_TITLES]


@pytest.mark.parametrize("tab, model", CASES, ids=[f"{t}-{m}" for t, m in CASES])
def test_every_sub_view_fits_the_screen(browser, url, artifacts, tab, model):
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(SETTLE_S * 1000)
    defects = []
    try:
        page.goto(f"{url}?model={model}&tab={tab}")
        page.locator(".bk-tab.bk-active", has_text=tab).wait_for()
        screen_fit.settle(page, SETTLE_S)
        views = [None, *_inner_tabs(page)]
        for view in views:
            if view is not None:
                page.locator(".bk-tab", has_text=view).first.click()
                screen_fit.settle(page, SETTLE_S)
            for size in (LAPTOP, LARGE):
                page.set_viewport_size(size)
                time.sleep(0.5)
                where = f"{tab} / {view or 'main'} on {model} at {size['width']}x{size['height']}"
                defects += [f"{where}: {line}" for line in screen_fit.defects(page)]
            page.set_viewport_size(LAPTOP)
        slug = f"fit-{tab}-{model}".lower().replace(" ", "-")
        page.screenshot(path=str(artifacts / f"{slug}.png"), full_page=True)
    finally:
        context.close()
    assert not defects, "\n".join(defects[:40])


def test_no_loading_overlay_stays_after_a_model_switch_with_a_highlighted_unit_or_a_dataset_switch(browser, url):
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(SETTLE_S * 1000)
    try:
        page.goto(f"{url}?model=moons-mlp&tab=Linear%20regions&regions.unit=3")
        screen_fit.settle(page, SETTLE_S)
        page.locator(".bk-input-group select").first.select_option("moons-leaky")  # the sidebar's model
        page.wait_for_url(re.compile("model=moons-leaky"))  # the server took the switch (a busy one takes a while)
        screen_fit.settle(page, SETTLE_S)
        assert page.evaluate(screen_fit.LOADING_OVERLAYS) == 0
        page.locator(".bk-input-group select").first.select_option("digits-mlp")  # its own dataset: a switch too
        page.wait_for_url(re.compile("model=digits-mlp"))
        screen_fit.settle(page, SETTLE_S)
        assert page.evaluate(screen_fit.LOADING_OVERLAYS) == 0
        assert page.locator(".regions-counts").count() >= 1
    finally:
        context.close()
