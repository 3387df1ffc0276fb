"""A notebook in JupyterLab, offline: its views render inline and answer a widget (issue 26).

JupyterLab serves one of the project's notebooks on loopback; Chromium may reach nothing else
(every other request is refused and recorded). The test runs the notebook's cells, finds the
tab view its last cell shows, changes the view's layer and sees the view redraw.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.served import free_port, stop

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOK = "02_spectra.ipynb"  # its last cell shows the Spectra tab inline
TOKEN = "network-explorer-test"

pytestmark = [pytest.mark.ui, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    pytest.importorskip("jupyterlab")
    folder = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, folder / NOTEBOOK)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_CONFIG_DIR": str(folder / ".config"),
           "JUPYTER_RUNTIME_DIR": str(folder / ".runtime"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/status?token={TOKEN}", timeout=2).ok:
                break
        except requests.RequestException:
            time.sleep(0.5)
    else:
        stop(proc)
        pytest.fail("JupyterLab did not start within 120 s")
    yield url
    stop(proc)


def test_a_notebook_runs_offline_in_jupyterlab_and_its_view_answers_a_widget(lab, browser, artifacts):
    outside = []

    def local_only(route):
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.route("**/*", local_only)
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(f"{lab}/lab/tree/{NOTEBOOK}?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook", state="visible")
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(state="visible")  # the kernel is up
        page.get_by_role("menuitem", name="Run").first.click()
        page.locator("li[data-command='runmenu:run-all']").click()
        layer = page.locator(".jp-OutputArea-output select").first  # the view's layer picker
        layer.wait_for(state="visible", timeout=90_000)
        heading = page.locator(".jp-OutputArea-output", has_text="Layer 1 (").last
        heading.wait_for(state="visible")
        page.screenshot(path=str(artifacts / "notebook-offline-before.png"))
        layer.select_option(index=2)
        page.locator(".jp-OutputArea-output", has_text="Layer 2 (").last.wait_for(state="visible", timeout=60_000)
        page.screenshot(path=str(artifacts / "notebook-offline-after.png"))
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        assert "Traceback" not in " ".join(errors.all_inner_texts())
    except Exception:
        page.screenshot(path=str(artifacts / "notebook-offline-failed.png"), full_page=True)
        raise
    finally:
        context.close()
    assert outside == [], f"the notebook page asked outside hosts: {outside[:5]}"
