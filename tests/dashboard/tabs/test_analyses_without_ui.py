"""Each tab's analysis runs in a plain Python process with no UI library imported, and gives the
library's numbers (issue 26): the way a notebook or a script uses it.

One fresh interpreter runs every tab (tests/dashboard/tabs/analyses_without_ui.py); each test reads its tab's part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.dashboard.tabs.analyses_without_ui import ROOT, UI_LIBRARIES


@pytest.fixture(scope="module")
def measured() -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.dashboard.tabs.analyses_without_ui"], cwd=ROOT,
                         capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def tab(measured: dict, name: str) -> dict:
    result = measured["tabs"][name]
    assert "error" not in result, result.get("error")
    return result


def test_every_tab_analysis_imports_and_runs_without_a_ui_library(measured):
    assert len(measured["modules"]) >= 8, "no tab analysis found under dashboard/tabs"
    assert measured["ui"] == [], f"the analyses imported UI modules: {measured['ui']} (of {UI_LIBRARIES})"


def test_overview_gives_the_models_accuracy(measured):
    result = tab(measured, "overview")
    assert result["shown"] == pytest.approx(result["library"], abs=1e-12) and result["shown"] > 0.9


def test_linear_regions_counts_the_librarys_regions(measured):
    result = tab(measured, "regions")
    assert result["shown"] == result["library"] > 1


def test_the_3d_slice_and_topology_are_the_librarys(measured):
    result = tab(measured, "regions 3-D")
    assert len(result) == 10 and all(result.values()), result


def test_adversarial_sandwich_and_deepfool_are_the_librarys(measured):
    result = tab(measured, "adversarial")
    assert result["exact"] == pytest.approx(result["library"])
    assert result["l2"] == pytest.approx(result["library_l2"], rel=1e-6)


def test_a_library_attack_from_the_adversarial_analysis_is_the_librarys(measured):
    result = tab(measured, "adversarial library attack")
    assert result["shown"] == result["library"] > 0 and result["success"]


def test_inversion_gives_the_librarys_latent(measured):
    result = tab(measured, "inversion")
    assert result["gap"] <= 1e-12 and result["status"] == ["ok"]


def test_inverse_problems_give_the_librarys_errors(measured):
    result = tab(measured, "inverse")
    assert result["shown"] == result["library"]


def test_symmetry_gives_the_librarys_predictions_and_an_exactly_equivariant_p4cnn(measured):
    result = tab(measured, "symmetry")
    assert result["gap"] <= 1e-6 and result["p4_error"] <= 1e-12


def test_training_loss_is_the_librarys_and_the_koopman_fit_forecasts_ahead(measured):
    result = tab(measured, "training")
    assert result["steps"] == [30, 30]
    assert result["shown"] == result["library"]
    assert result["history test loss"] == result["library"][1]
    assert result["fit stop"] == 30 and result["forecast step"] == result["forecast expected"]
