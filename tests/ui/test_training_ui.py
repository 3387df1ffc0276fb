"""The Training tab in Chromium: a link replays its run, play trains live, pause stops at once."""

import re

import pytest

from tests.served import served_app

pytestmark = pytest.mark.ui


def _status(page) -> str:
    return "\n".join(page.locator(".training-status p").all_inner_texts())


def _step(page) -> int:
    return int(re.search(r"Step ([\d,]+)", _status(page)).group(1).replace(",", ""))


def test_link_replays_then_play_pause_and_use_the_net(page, artifacts):
    with served_app() as url:
        page.goto(url + "?tab=Training&training.hidden=8,8&training.seed=3&training.step=40")
        page.locator(".training-status p", has_text="Step 40").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="▶ Play").click()
        for _ in range(600):  # the status pane lives in a shadow root: poll its text
            if _step(page) >= 100:
                break
            page.wait_for_timeout(100)
        page.get_by_role("button", name="Pause").click()
        paused = _step(page)
        for _ in range(50):  # a frame already under way when Pause was clicked may still be drawn
            page.wait_for_timeout(300)
            if _step(page) == paused:
                break
            paused = _step(page)
        page.wait_for_timeout(1500)
        assert _step(page) == paused >= 100  # and then nothing more: training stopped
        assert "frames/s" in _status(page)
        page.wait_for_url(re.compile(rf"training\.step={paused}"))
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts / "training-live.png"))
        page.get_by_role("button", name="Fit the window and jump ahead").click()
        page.get_by_text("Koopman jump").first.wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "training-koopman.png"), full_page=True)
        page.get_by_role("button", name="Use this net in every tab").click()
        for _ in range(300):
            if page.locator("select").first.input_value().startswith("trained:"):
                break
            page.wait_for_timeout(100)
        assert page.locator("select").first.input_value() == f"trained: moons 2-8-8-2 seed 3 step {paused}"
