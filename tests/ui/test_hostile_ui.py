"""Hostile strings stay text in a real browser (issue 31): a link, a file name, a file's content and a
teacher's data folder each carry ``<img src=x onerror=...>``, whose script would set a marker on the page.

The served app all served tests share (its ``--data`` folder holds a file with a hostile name and a
broken file, tests/served.py) and one browser serve every case: every URL key of every tab in one
link (each tab clicked open), a hostile model and tab, a model upload with a hostile name, CSV and
npz uploads with hostile column, class and file names, a CSV whose bad cell is quoted in the error,
the data folder's dataset, and two sessions that upload different files under one name.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

import numpy as np
import pytest

from dashboard.app import TABS
from dashboard.state import settings_class, url_key
from tests.served import HOSTILE, HOSTILE_MARKER, blobs_csv

pytestmark = pytest.mark.ui

MARKER = HOSTILE_MARKER


def npz_with_class_names(names) -> bytes:
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    np.savez(buffer, X=rng.normal(size=(40, 2)), y=np.arange(40) % len(names), class_names=np.array(names))
    return buffer.getvalue()


@pytest.fixture
def url(served_url):
    """The shared served app, whose data folder holds a hostile file name and a broken file
    (tests/served.py, :func:`teachers_folder`)."""
    return served_url


def no_script_ran(page) -> None:
    assert page.evaluate(f"typeof {MARKER}") == "undefined", "a hostile string ran as script"


def shown_text(page, selector: str) -> str:
    """The text of the paragraphs and table cells under ``selector`` (Panel panes draw them in a shadow root)."""
    return "\n".join(page.locator(f"{selector} p, {selector} td, {selector} th").all_inner_texts())


def upload(page, box: str, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
    page.locator(f"{box} input[type=file]").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def remove_from_box(page, box: str) -> None:
    page.locator(f"{box} .filepond--action-revert-item-processing").first.click()
    page.locator(f"{box} .filepond--item").first.wait_for(state="detached")


def test_every_url_key_of_every_tab_stays_text(url, page, artifacts):
    query = {"model": "digits-mlp", "tab": "Overview"}
    keys = {title: [url_key(title, name) for name in getattr(settings_class(view), "URL_SETTINGS", ())]
            for title, view in TABS}
    for title_keys in keys.values():
        query.update({key: HOSTILE for key in title_keys})
    page.goto(f"{url}?{urlencode(query)}")
    page.wait_for_selector("text=Test accuracy (measured now)")
    for title, _ in TABS:
        page.locator(".bk-tab", has_text=title).first.click()
        for key in keys[title]:  # the notice names every refused key of the tab once it is open
            page.locator(".link-notice", has_text=key).first.wait_for()
        no_script_ran(page)
    notice = shown_text(page, ".link-notice")
    assert "onerror" not in notice and "<img" not in notice  # the values are not reflected
    assert page.locator("text=could not be shown").count() == 0
    page.screenshot(path=str(artifacts / "hostile-link-every-key.png"))

    page.goto(f"{url}?{urlencode({'model': HOSTILE, 'tab': HOSTILE})}")
    page.wait_for_selector("text=Test accuracy (measured now)")  # the default model and tab instead
    page.locator(".link-notice", has_text="model").first.wait_for()
    assert "tab" in shown_text(page, ".link-notice")
    no_script_ran(page)


def test_hostile_file_names_contents_and_folder_stay_text(url, page, artifacts):
    page.goto(url)
    page.wait_for_selector("text=Test accuracy (measured now)")

    upload(page, ".model-upload", f"{HOSTILE}.pt", b"\x00 not a checkpoint")
    page.locator(".upload-status", has_text="was not loaded").first.wait_for()
    assert f"{HOSTILE}.pt was not loaded" in shown_text(page, ".upload-status")  # shown as the characters
    no_script_ran(page)

    page.get_by_role("button", name="Upload your own data…").click()
    upload(page, ".data-upload", f"{HOSTILE}.csv", blobs_csv(header=(HOSTILE, "v", "kind"), classes=(HOSTILE, "b")),
           mime="text/csv")
    page.locator(".data-status", has_text="Loaded").first.wait_for()
    page.locator(".dataset-card", has_text=HOSTILE).first.wait_for()  # the file and column names, as text
    no_script_ran(page)
    remove_from_box(page, ".data-upload")

    bad_cell = f"u,v,kind\n0,1,a\n{HOSTILE},2,b\n1,1,a\n".encode()
    upload(page, ".data-upload", "cells.csv", bad_cell, mime="text/csv")
    page.locator(".data-status", has_text="cells.csv was not loaded").first.wait_for()
    no_script_ran(page)
    remove_from_box(page, ".data-upload")

    upload(page, ".data-upload", "named.npz", npz_with_class_names([HOSTILE, "b"]))
    page.locator(".data-status", has_text="yours: named").first.wait_for()
    page.locator(".dataset-card", has_text="yours: named").first.wait_for()
    assert HOSTILE in shown_text(page, "table")  # its class names, in the card's table
    no_script_ran(page)

    # the teacher's folder: its hostile file is offered to every session (moons-mlp fits 2-D, 2 classes)
    dataset = page.locator("select").filter(has=page.locator("option[value^='folder: ']")).first
    option = dataset.locator("option[value^='folder: ']").first
    assert option.inner_text().startswith(f"folder: {HOSTILE}")
    dataset.select_option(value=option.get_attribute("value"))
    page.locator(".dataset-card", has_text=f"{HOSTILE}: 50 samples").first.wait_for()
    page.locator(".bk-tab", has_text="Overview").first.click()
    page.locator(".overview-summary", has_text=f"folder: {HOSTILE}").first.wait_for()
    no_script_ran(page)
    page.screenshot(path=str(artifacts / "hostile-names-as-text.png"))


def test_two_sessions_uploading_one_name_each_keep_their_own(url, browser):
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        pages.append(context.new_page())
        pages[-1].set_default_timeout(60_000)
    try:
        for page, classes in zip(pages, [("setosa", "virginica"), ("cat", "dog")]):
            page.goto(url)
            page.wait_for_selector("text=Test accuracy (measured now)")
            page.get_by_role("button", name="Upload your own data…").click()
            upload(page, ".data-upload", "iris.csv", blobs_csv(classes=classes), mime="text/csv")
            page.locator(".data-status", has_text="Loaded").first.wait_for()
        for page, own, other in [(pages[0], "setosa", "cat"), (pages[1], "cat", "setosa")]:
            page.locator(".bk-tab", has_text="Overview").first.click()
            page.locator(".overview-summary", has_text="yours: iris").first.wait_for()
            card = shown_text(page, ".dataset-card") + shown_text(page, "table")
            assert own in card and other not in card
        names = [shown_text(page, ".overview-summary") for page in pages]
        assert names[0] != names[1]  # one name, two contents: two datasets
    finally:
        for page in pages:
            page.context.close()
