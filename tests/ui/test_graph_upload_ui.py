"""A residual MaxPool CNN saved with ``zoo.save(model, path, input_shape=(1, 8, 8))`` (the README's
recipe; issue 31) is uploaded to the served app and used in every tab.

The served app all served tests share (``served_url``, tests/conftest.py) serves two clients: a
``bokeh.client`` session that sends the upload as the browser does and reads every tab's text from
the document, and Chromium, which uploads the file through the upload box and opens every tab.
Each tab must show its content and no red box; Overview's accuracy is the library's.
"""

from __future__ import annotations

import html
import re

import panel.models  # noqa: F401  (Panel's own bokeh models, needed to read the pulled documents)
import panel.models.file_dropper  # noqa: F401  (loaded lazily by Panel; the upload boxes use it)
import pytest
from bokeh.client import pull_session
from bokeh.document.events import MessageSentEvent
from bokeh.models import Select
from panel.models.file_dropper import FileDropper, UploadEvent

from dashboard import services
from dashboard.app import TABS
from dashboard.views.common import percent
from explorer import datasets, training
from tests.dashboard.conftest import event_loop_of_its_own  # noqa: F401  (bokeh.client's event loop, a fixture)
from tests.dashboard.test_graph_model_upload import saved_residual_cnn
from tests.served import app_tabs, browser_ready, run_until
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


class BrowserUpload(UploadEvent):
    """One piece of an upload as the browser sends it (bokeh's Python side would send the model only)."""

    def event_values(self) -> dict:
        return {**super().event_values(), "data": self.data}


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


def _texts(*models) -> str:
    """The text of the Markdown / HTML panes under bokeh models, as a reader sees it (no tags)."""
    return "\n".join(re.sub(r"<[^>]*>", "", html.unescape(m.text)) for model in models for m in model.references()
                     if isinstance(getattr(m, "text", None), str))


@pytest.mark.usefixtures("event_loop_of_its_own")
def test_a_served_session_uploads_the_cnn_and_every_tab_shows_it(served_url, cnn_file, accuracy):
    """What the browser sends (one upload event with the file's bytes), then each tab opened in turn."""
    session = pull_session(url=served_url)
    try:
        browser_ready(session)
        doc = session.document
        box = next(m for m in doc.models if isinstance(m, FileDropper) and "model-upload" in m.css_classes)
        piece = {"name": NAME, "chunk": 1, "total_chunks": 1, "type": "application/octet-stream",
                 "data": cnn_file.read_bytes()}
        doc.callbacks.trigger_on_change(MessageSentEvent(doc, "bokeh_event", BrowserUpload(box, data=piece)))
        tabs = app_tabs(doc)
        overview, loaded = f"upload: {NAME} on digits: test accuracy {accuracy}", f"Loaded upload: {NAME}."
        assert run_until(session, lambda: overview in _texts(tabs.tabs[0].child) and loaded in _texts(*doc.roots),
                         timeout=LONG / 1000), _texts(*doc.roots)[:1000]
        for index, title in enumerate(SHOWN):
            tabs.active = index

            def shown(text: str) -> bool:  # the tab's content arrives in its place once built (dynamic tabs)
                return text in _texts(tabs.tabs[index].child)
            assert run_until(session, lambda: shown(SHOWN[title]) or shown("could not be shown"),
                             timeout=LONG / 1000), f"{title}: {_texts(tabs.tabs[index].child)[:500]}"
            assert "could not be shown" not in _texts(*doc.roots), f"{title}: {_texts(tabs.tabs[index].child)[:500]}"
        model = next(m for m in doc.models if isinstance(m, Select) and m.title == "Model")
        assert model.value == f"upload: {NAME}"  # every tab was opened on the upload
    finally:
        session.close()


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
