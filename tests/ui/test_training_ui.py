"""The Training tab in Chromium: a link replays its run, play trains live, pause stops at once."""

import re

import pytest

from tests.ui import screen_fit

pytestmark = pytest.mark.ui


def _status(page) -> str:
    return "\n".join(page.locator(".training-status p").all_inner_texts())


def _step(page) -> int:
    return int(re.search(r"Step ([\d,]+)", _status(page)).group(1).replace(",", ""))


def test_link_replays_then_play_pause_and_use_the_net(page, artifacts, served_url):
    url = served_url
    page.goto(url + "?tab=Training&training.hidden=8,8&training.seed=3&training.step=40")
    page.locator(".training-status p", has_text="Step 40").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="▶ Play").click()
    for _ in range(600):  # the status pane lives in a shadow root: poll its text
        if _step(page) >= 60:
            break
        page.wait_for_timeout(100)
    # while it trains: every plot and control fits a laptop's screen (blank plots aside: frames redraw them)
    defects = [line for line in screen_fit.defects_at(page, (screen_fit.LAPTOP,), "Training while it runs",
                                                       settled=False)
               if "blank:" not in line]
    assert not defects, "\n".join(defects[:20])
    for _ in range(600):
        if _step(page) >= 100:
            break
        page.wait_for_timeout(100)
    page.get_by_role("button", name="Pause").click()
    play = page.get_by_role("button", name="▶ Play")
    for _ in range(300):  # Play is enabled again once the server has paused: no frame starts any more
        if play.is_enabled():
            break
        page.wait_for_timeout(100)
    # a frame already under way when Pause was clicked may still be drawn, late on a busy machine:
    # wait until the step has held for 2 s (training frames come every 0.1-0.3 s while it runs)
    paused, held = _step(page), 0
    for _ in range(120):
        page.wait_for_timeout(250)
        now = _step(page)
        held = held + 1 if now == paused else 0
        paused = now
        if held >= 8:
            break
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
