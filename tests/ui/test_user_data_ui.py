"""The real app in Chromium: upload a 2-D CSV, read its card, see it on the decision map; a bad CSV is refused."""

import pytest

from tests.dashboard.test_user_data_views import two_blobs_csv
from tests.ui import screen_fit

pytestmark = pytest.mark.ui


def test_upload_a_csv_and_see_its_card_and_decision_map(page, artifacts, tmp_path, served_url):
    good, bad = tmp_path / "blobs.csv", tmp_path / "broken.csv"
    good.write_bytes(two_blobs_csv())
    bad.write_text("x,y,label\n1,2,a\n3,4\n")
    url = served_url
    page.goto(url)
    page.wait_for_selector("text=Test accuracy (measured now)")
    page.get_by_role("button", name="Upload your own data…").click()
    upload = page.locator(".data-upload input[type=file]")
    upload.set_input_files(str(good))
    page.wait_for_selector("text=Loaded yours: blobs")
    card = page.locator(".dataset-card p", has_text="120 samples").first
    card.wait_for()
    assert "2 features (u, v), 2 classes" in card.inner_text()
    page.locator(".overview-summary p", has_text="yours: blobs").first.wait_for()
    page.locator("canvas").first.wait_for()
    page.screenshot(path=str(artifacts / "user-csv-overview.png"))
    defects = screen_fit.defects_at(page, (screen_fit.LAPTOP,), "Overview on an uploaded CSV")
    assert not defects, "\n".join(defects[:20])  # the uploaded data's card and plots fit a laptop's screen
    page.locator(".data-upload .filepond--action-revert-item-processing").first.click()  # out of the box
    page.locator(".data-upload .filepond--item").first.wait_for(state="detached")
    upload.set_input_files(str(bad))
    page.wait_for_selector("text=broken.csv was not loaded")
    status = "\n".join(page.locator(".data-status p").all_inner_texts())
    assert "line 3: 2 columns where line 1 has 3" in status
    page.locator(".overview-summary p", has_text="yours: blobs").first.wait_for()  # the data stays
