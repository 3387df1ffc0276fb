"""Debian's Chromium driven by Playwright (never `playwright install`); skipped when missing."""

import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "artifacts" / "ui"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


VIEWPORT = {"width": 1500, "height": 1000}


@pytest.fixture(scope="module")
def browser_context(browser):
    """One browser context for a test file's pages: they share its HTTP cache and compiled scripts, so
    a page of the app after the first costs Chromium about half the CPU (measured: 2.1 s, not 4.6 s).
    They share cookies and storage too (the app keeps none); a test that must see every request a
    fresh page makes opens a context of its own with ``browser.new_context(viewport=VIEWPORT)``."""
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    yield page
    page.close()


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
