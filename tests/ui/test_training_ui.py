"""The Training tab in Chromium: a link replays its run, the Playground's controls are all there, play
trains live, the learning rate changes while it plays (no reset), pause stops at once."""

import re

import pytest

from tests.ui import screen_fit

pytestmark = pytest.mark.ui


def _status(page) -> str:
    return "\n".join(page.locator(".training-status p").all_inner_texts())


def _step(page) -> int:
    return int(re.search(r"Step ([\d,]+)", _status(page)).group(1).replace(",", ""))


def _options(page) -> set[str]:
    return {text for i in range(page.locator("select").count())
            for text in page.locator("select").nth(i).locator("option").all_inner_texts()}


def playground_checklist(page) -> dict[str, bool]:
    """TensorFlow Playground's controls (issue 27), each present or not on the Training tab."""
    options = _options(page)

    def shown(text):
        return page.get_by_text(text).count() > 0
    return {
        "datasets gaussian, plane, multi-gaussian": {"gaussian", "plane", "multi-gaussian"} <= options,
        "noise": shown("Noise"), "train/test ratio": shown("Training data (%)"),
        "feature inputs": all(page.get_by_role("checkbox", name=f, exact=True).count() == 1
                              for f in ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2")),
        "activations tanh / sigmoid / linear": {"relu", "tanh", "sigmoid", "linear"} <= options,
        "L1 / L2 and a rate": {"l1", "l2"} <= options and shown("Regularization rate"),
        "per-neuron heatmaps and the network diagram":
            page.locator(".training-network", has_text="per-neuron heatmaps").count() == 1
            and page.locator(".training-network", has_text="edges by weight").count() == 1,
        "discretize output": shown("Discretize output"),
        "show training / test data": shown("Show training data") and shown("Show test data"),
        "epochs": "Epoch" in _status(page),
        "learning rate": page.locator(".bk-input-group", has_text="Learning rate").locator("input").count() == 1}


def test_link_replays_then_play_pause_and_use_the_net(page, artifacts, served_url):
    url = served_url
    page.goto(url + "?tab=Training&training.hidden=8,8&training.seed=3&training.step=40")
    page.locator(".training-status p", has_text="Step 40").first.wait_for(timeout=60_000)
    checklist = playground_checklist(page)
    assert all(checklist.values()), f"missing: {[item for item, ok in checklist.items() if not ok]}"
    page.get_by_role("button", name="▶ Play").click()
    for _ in range(600):  # the status pane lives in a shadow root: poll its text
        if _step(page) >= 60:
            break
        page.wait_for_timeout(100)
    # a new learning rate while it plays (the input sends it when it loses focus): the run goes on
    lr = page.locator(".bk-input-group", has_text="Learning rate").locator("input")
    lr.fill("0.03")
    before = _step(page)
    lr.press("Tab")
    page.wait_for_url(re.compile(r"training\.lr_schedule=0%3A0\.01%2C(\d+)%3A0\.03"))
    changed_at = int(re.search(r"lr_schedule=0%3A0\.01%2C(\d+)%3A0\.03", page.url).group(1))
    assert changed_at >= before >= 60 and _step(page) >= changed_at  # the step counter kept counting
    # while it trains: every plot and control fits a laptop's screen (blank plots aside: frames redraw them)
    defects = screen_fit.defects_at(page, (screen_fit.LAPTOP,), "Training while it runs", settled=False)
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
