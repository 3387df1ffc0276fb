"""A residual MaxPool CNN saved with ``zoo.save(model, path, input_shape=(1, 8, 8))`` (the README's
recipe; issue 31) is uploaded to the served app and used in every tab.

Chromium uploads the file through the upload box of the served app all served tests share
(``served_url``, tests/conftest.py) and opens every tab. Each tab must show its content and no red
box and fit a laptop's screen; Overview's accuracy is the library's.
"""

from __future__ import annotations

import pytest

from dashboard import services
from dashboard.app import TABS
from dashboard.views.common import percent
from explorer import datasets, training
from tests.dashboard.test_graph_model_upload import saved_residual_cnn
from tests.ui import screen_fit

LONG = 180_000  # ms: a tab's first build on a busy 2-core machine
NAME = "cnn.pt"

# what each tab shows once built, with the uploaded model selected (tabs about other models show theirs)
SHOWN = {
    "Overview": "test accuracy",
    "Linear regions": "activation regions",
    "Spectra": "Singular-value spectra",
    "Adversarial": "flips the label",
    "Inversion": "press Invert",
    "Inverse problems": "Press Reconstruct",
    "Symmetry": "Equivariance error per layer",
    "Training": "The Koopman view of training",
}
assert list(SHOWN) == [title for title, _ in TABS]


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("upload") / NAME
    saved_residual_cnn(path)
    return path


@pytest.fixture(scope="module")
def accuracy(cnn_file):
    """The uploaded model's test accuracy on the digits, as the library measures it."""
    data = datasets.load("digits")
    return percent(training.accuracy(services.uploaded_model(cnn_file.read_bytes()), data.X_test, data.y_test))


@pytest.mark.ui
def test_upload_the_cnn_in_chromium_and_open_every_tab(served_url, page, cnn_file, accuracy, artifacts):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(served_url)
    page.wait_for_selector("text=Test accuracy (measured now)")
    page.locator(".model-upload input[type=file]").set_input_files(str(cnn_file))
    page.locator(".upload-status p", has_text=f"Loaded upload: {NAME}").first.wait_for(timeout=LONG)
    summary = page.locator(".overview-summary p", has_text=f"upload: {NAME}").first
    summary.wait_for(timeout=LONG)
    assert f"upload: {NAME} on digits: test accuracy {accuracy}" in summary.inner_text()
    defects = []
    for title, text in SHOWN.items():
        page.locator(".bk-tab", has_text=title).first.click()
        page.get_by_text(text).first.wait_for(timeout=LONG)
        assert "could not be shown" not in page.locator("body").inner_text(), title
        defects += screen_fit.defects_at(page, (screen_fit.LAPTOP,), f"{title} on an uploaded CNN")
        if title in ("Overview", "Linear regions"):
            page.locator("canvas >> visible=true").first.wait_for()
            page.screenshot(path=str(artifacts / f"graph-upload-{title.lower().replace(' ', '-')}.png"))
    assert not defects, "\n".join(defects[:20])  # every tab on the uploaded model fits a laptop's screen
    assert page.locator("select").first.input_value() == f"upload: {NAME}"  # every tab was opened on the upload
