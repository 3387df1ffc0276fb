"""The real app in Chromium: pick every zoo model, read its card, upload a bad file."""

from urllib.parse import urlsplit

import pytest

from dashboard.state import classifier_names
from explorer import zoo
from tests.ui.conftest import VIEWPORT

pytestmark = pytest.mark.ui


def _card_text(page):
    """Text of the model card (its Markdown lives in a shadow root, which CSS locators pierce)."""
    return "\n".join(page.locator(".model-card h3, .model-card p").all_inner_texts())


def test_pick_every_model_and_upload_a_bad_file(page, artifacts, tmp_path, served_url):
    url = served_url
    page.goto(url)
    page.wait_for_selector("text=Test accuracy (measured now)")
    assert "moons-mlp" in _card_text(page)
    page.locator(".overview-summary p", has_text="test accuracy").first.wait_for()
    page.locator("canvas").first.wait_for()
    page.screenshot(path=str(artifacts / "overview-moons.png"))

    for name in classifier_names():
        page.locator("select").first.select_option(name)
        page.locator(".model-card h3", has_text=name).first.wait_for()
        text = _card_text(page)
        assert name in text
        assert f"{100 * zoo.card(name)['test_accuracy']:.1f}%" in text
        if name != classifier_names()[0]:  # the default is left out of the URL
            page.wait_for_url(f"**model={name}**")
    page.locator(".overview-summary p", has_text=classifier_names()[-1]).first.wait_for()
    page.screenshot(path=str(artifacts / "overview-last-model.png"))

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    page.locator(".model-upload input[type=file]").set_input_files(str(bad))
    page.wait_for_selector("text=bad.pt was not loaded")
    page.screenshot(path=str(artifacts / "upload-error.png"))
    status = "\n".join(page.locator(".upload-status p").all_inner_texts())
    assert "Not a readable torch checkpoint" in status

    # 20 MB travels in 8 MiB pieces under the 16 MiB websocket limit and reaches the reader
    large = tmp_path / "large.pt"
    large.write_bytes(b"\x00" * 20_000_000)
    page.locator(".model-upload input[type=file]").set_input_files(str(large))
    # three 8 MiB websocket messages decoded on a 2-core machine that other test servers share
    page.wait_for_selector("text=large.pt was not loaded", timeout=180_000)
    assert "Not a readable torch checkpoint" in "\n".join(page.locator(".upload-status p").all_inner_texts())
    # over the limit: the browser refuses it before sending anything, and says the limit
    huge = tmp_path / "huge.pt"
    huge.write_bytes(b"\x00" * (zoo.MAX_UPLOAD_BYTES + 1))
    page.locator(".model-upload input[type=file]").set_input_files(str(huge))
    page.locator(".filepond--file-status-sub", has_text="Maximum file size is 50 MB").wait_for()
    page.screenshot(path=str(artifacts / "upload-too-large.png"))
    assert "large.pt was not loaded" in "\n".join(page.locator(".upload-status p").all_inner_texts())


def test_shared_link_opens_the_same_model_and_nothing_loads_from_outside(browser, served_url):
    """A classroom without internet: the landing page and a shared link (both sessions built
    from the server's reused page, --reuse-sessions) fetch every file from this server."""
    context = browser.new_context(viewport=VIEWPORT)  # its own: no file comes from an earlier page's cache
    page = context.new_page()
    page.set_default_timeout(60_000)
    outside, missing = [], []
    page.on("request", lambda request: outside.append(request.url)
            if urlsplit(request.url).hostname not in ("127.0.0.1", None) else None)
    page.on("response", lambda response: missing.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    url = served_url
    page.goto(url)
    page.locator(".overview-summary p", has_text="test accuracy").first.wait_for()
    page.goto(url + "?model=digits-cnn&tab=Spectra")
    page.locator(".model-card h3", has_text="digits-cnn").first.wait_for()
    assert page.locator("select").first.input_value() == "digits-cnn"
    page.locator(".spectra-summary table").first.wait_for()
    page.locator("canvas").first.wait_for()
    page.wait_for_load_state("networkidle")
    context.close()
    assert outside == []
    assert missing == []


def test_a_teacher_shares_a_view_and_the_class_opens_its_link(page, artifacts, served_url):
    """"Share this view with a class…" shows the view's link (the server keeps its page built
    ahead, dashboard/serving/session_pool.py), and that link opens the same view."""
    url = served_url
    page.goto(url + "?model=digits-cnn&tab=Spectra")
    page.locator(".spectra-summary table").first.wait_for()
    page.get_by_role("button", name="Share this view with a class").click()
    page.locator(".share-note p", has_text="built ahead").first.wait_for()
    link = page.locator(".share-link input").input_value()
    page.screenshot(path=str(artifacts / "share-view.png"))
    assert link.startswith(url + "?") and "model=digits-cnn" in link and "tab=Spectra" in link
    page.goto(link)  # a student
    page.locator(".model-card h3", has_text="digits-cnn").first.wait_for()
    page.locator(".spectra-summary table").first.wait_for()
