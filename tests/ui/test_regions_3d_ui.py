"""The Linear regions tab's 3-D slice in Chromium at 1366x768: drawn, turned by dragging, the Betti
numbers shown are the library's, the sub-view fits the screen, and nothing loads from outside hosts."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

from dashboard.tabs.regions.analysis import RegionsAnalysis
from explorer import datasets, regions, zoo
from tests.ui import screen_fit
from tests.ui.screen_fit import LAPTOP

SETTLE_S = 240  # a busy 2-core machine computing the 3-D slice

pytestmark = [pytest.mark.ui, pytest.mark.slow]

MODEL = "digits-mlp-l1"


def _library_betti() -> np.ndarray:
    """Betti numbers per class on the 3-D slice the tab opens with (its default samples and margin)."""
    params = RegionsAnalysis.param
    samples = [int(s) for s in params.samples_3d.default.split(",")]
    data = datasets.load("digits")
    space = regions.space_through(*data.X_test[samples], margin=params.margin.default)
    return regions.decision_topology(regions.partition_slice(zoo.load(MODEL), space)).betti


def _pixels(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("L"), dtype=np.int16)


def test_the_3d_slice_is_drawn_turns_and_shows_the_librarys_topology_offline(browser, served_url, artifacts):
    context = browser.new_context(viewport=LAPTOP)  # its own: every file the page needs is requested
    page = context.new_page()
    page.set_default_timeout(SETTLE_S * 1000)
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if urlsplit(request.url).hostname not in ("127.0.0.1", None) else None)
    try:
        page.goto(f"{served_url}?model={MODEL}&tab=Linear%20regions")
        page.locator(".regions-counts").first.wait_for()
        page.get_by_role("button", name="3-D slice").click()
        page.locator(".regions-counts-3d").first.wait_for()
        table = page.locator(".regions-topology-table table").first
        table.wait_for()
        screen_fit.settle(page, SETTLE_S)
        header = [h.strip() for h in table.locator("thead th").all_inner_texts()]
        rows = [[c.strip() for c in row.locator("td").all_inner_texts()] for row in table.locator("tbody tr").all()]
        columns = [header.index(f"b{k} ({what})") for k, what in enumerate(["components", "holes", "voids"])]
        shown = np.array([[int(row[c]) for c in columns] for row in rows])
        np.testing.assert_array_equal(shown, _library_betti())

        plot = page.locator(".bk-Canvas").first  # the 3-D picture is the tab's only plot now
        before = _pixels(plot)
        background = np.bincount(before.ravel()).argmax()
        assert (np.abs(before - background) > 24).mean() > 0.05  # cells drawn, not just a frame
        box = plot.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 80, y + 30, steps=8)
        page.mouse.up()
        page.wait_for_timeout(500)
        assert (np.abs(_pixels(plot) - before) > 24).mean() > 0.01  # dragging turned the picture
        page.screenshot(path=str(artifacts / "regions-3d.png"), full_page=True)
        assert screen_fit.defects(page) == []
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert outside == []
