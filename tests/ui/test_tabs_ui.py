"""Each tab's main action in the real app (Chromium), checked against the library, with screenshots."""

import re

import pytest

from dashboard.state import AppState
from dashboard.tabs.regions.view import RegionsView
from explorer import spectra, zoo
from tests.ui import screen_fit

pytestmark = pytest.mark.ui

LONG = 180_000  # ms: background work on a busy 2-core machine


def _text(page, css):
    """Text of a Markdown pane (its content lives in a shadow root that CSS locators pierce)."""
    page.locator(f"{css} p").first.wait_for(timeout=LONG)
    return "\n".join(page.locator(f"{css} p").all_inner_texts())


@pytest.fixture
def url(served_url):
    return served_url  # the shared server (tests/served.py)


def test_linear_regions_tab_counts_and_compression(page, url, artifacts):
    page.goto(url + "?model=moons-mlp&tab=Linear%20regions")
    counts = _text(page, ".regions-counts")
    shown = int(re.search(r"([\d,]+) activation regions", counts).group(1).replace(",", ""))
    expected = RegionsView(state=AppState(model_name="moons-mlp")).analysis.counts()["activation regions"]
    assert shown == expected
    page.get_by_role("button", name="Find stable units and compress").click()
    summary = _text(page, ".compression-summary")
    difference = float(re.search(r"difference on .* points of the domain: ([0-9.]+e[+-][0-9]+)", summary).group(1))
    assert difference <= 1e-9
    page.screenshot(path=str(artifacts / "tab-linear-regions.png"), full_page=True)


@pytest.mark.parametrize("name", ["moons-leaky", "digits-lenet"])
def test_linear_regions_tab_on_graph_networks(page, url, artifacts, name):
    """A LeakyReLU MLP and a LeNet with MaxPool: the exact counts the library finds, on the page."""
    page.goto(url + f"?model={name}&tab=Linear%20regions")
    counts = _text(page, ".regions-counts")
    shown = int(re.search(r"([\d,]+) activation regions", counts).group(1).replace(",", ""))
    expected = RegionsView(state=AppState(model_name=name)).analysis.counts()["activation regions"]
    assert shown == expected and "Serra" not in counts and "argmax switches" in counts
    page.screenshot(path=str(artifacts / f"tab-linear-regions-{name}.png"), full_page=True)


def test_reconstruction_networks_in_the_linear_regions_and_spectra_tabs(page, url, artifacts):
    """LISTA's exact regions in measurement space; FIRENET's reason for having none, and its A."""
    page.goto(url + "?model=inverse-lista&tab=Linear%20regions")
    counts = _text(page, ".regions-counts")
    shown = int(re.search(r"([\d,]+) activation regions", counts).group(1).replace(",", ""))
    assert shown == RegionsView(state=AppState(model_name="inverse-lista")).analysis.counts()["activation regions"]
    assert "measurement space" in _text(page, ".regions-reconstruction")
    page.screenshot(path=str(artifacts / "tab-linear-regions-inverse-lista.png"), full_page=True)
    page.goto(url + "?model=firenet&tab=Linear%20regions")
    assert "l2 ball" in _text(page, ".regions-firenet")
    page.screenshot(path=str(artifacts / "tab-linear-regions-firenet.png"), full_page=True)
    page.goto(url + "?model=firenet&tab=Spectra")
    page.locator(".spectra-summary table").first.wait_for(timeout=LONG)
    rows = page.locator(".spectra-summary tbody tr").all_inner_texts()
    assert len(rows) == 2 and "called 240 times" in rows[1]
    page.screenshot(path=str(artifacts / "tab-spectra-firenet.png"), full_page=True)


def test_spectra_tab_lists_every_layer_with_its_exact_norm(page, url, artifacts):
    page.goto(url + "?model=digits-cnn&tab=Spectra")
    page.locator(".spectra-summary table").first.wait_for(timeout=LONG)
    rows = [row.all_inner_texts() for row in page.locator(".spectra-summary tbody tr").all()]
    rows = [row[0].split("\t") for row in rows]
    bound = spectra.lipschitz_bound(zoo.load("digits-cnn"))
    assert len(rows) == len(bound.exact) == 3
    header = page.locator(".spectra-summary thead th").all_inner_texts()
    column = header.index("sigma_max")
    for row, exact in zip(rows, bound.exact):
        assert float(row[column]) == pytest.approx(exact, rel=1e-3)
    page.screenshot(path=str(artifacts / "tab-spectra.png"), full_page=True)


def test_adversarial_tab_flips_the_label_and_measures_robustness(page, url, artifacts):
    page.goto(url + "?model=digits-mlp&tab=Adversarial")
    summary = _text(page, ".adversarial-summary")
    assert "flips the label" in summary and "not" not in summary
    page.get_by_role("button", name="Measure robustness on the test split").click()
    robustness = _text(page, ".robustness-summary")
    assert re.search(r"ρ_adv = mean \|\|r\|\|₂/\|\|x\|\|₂ = [0-9.]+", robustness)
    page.screenshot(path=str(artifacts / "tab-adversarial.png"), full_page=True)


def test_inversion_tab_inverts(page, url, artifacts):
    page.goto(url + "?tab=Inversion")
    page.get_by_role("button", name="Invert", exact=True).click()
    assert "Corruption" in _text(page, ".inversion-summary")
    defects = screen_fit.defects_at(page, (screen_fit.LAPTOP,), "Inversion after Invert")
    assert not defects, "\n".join(defects[:20])
    page.screenshot(path=str(artifacts / "tab-inversion.png"), full_page=True)


def test_inverse_problems_tab_shows_firenet_converging_and_the_twins_net_unstable(page, url, artifacts):
    from dashboard.tabs.inverse.analysis import InverseAnalysis

    page.goto(url + "?tab=Inverse%20problems&problems.restarts=6&problems.count=8")
    page.get_by_role("button", name="Reconstruct").click()
    summary = _text(page, ".inverse-accuracy")
    factor = float(re.search(r"factor ([0-9.]+) per restart", summary).group(1))
    acc = InverseAnalysis(restarts=6, count=8).accuracy()
    assert factor == pytest.approx(InverseAnalysis.restart_factor(acc), abs=0.006)
    assert 2.4 < factor < 3.2
    page.get_by_role("button", name="Worst-case perturbations").click()
    assert "Most amplified: inverse-mlp-twins" in _text(page, ".inverse-stability")
    page.screenshot(path=str(artifacts / "tab-inverse-problems.png"), full_page=True)


def test_symmetry_tab_sweeps_accuracy_over_angle(page, url, artifacts):
    page.goto(url + "?model=digits-p4cnn&tab=Symmetry&symmetry.layer=4")
    deepfool = _text(page, ".symmetry-deepfool")
    assert re.search(r"differ by at most [0-9.]+e-(1[0-9]|[7-9])", deepfool)  # rotated r = r of the rotated digit
    page.get_by_role("button", name="Accuracy against angle on the test split").click()
    page.locator(".symmetry-sweep table").first.wait_for(timeout=LONG)
    rows = {r.split("\t")[0]: r.split("\t")[1:] for r in page.locator(".symmetry-sweep tbody tr").all_inner_texts()}
    assert len(set(rows["digits-p4cnn"])) == 1  # the same accuracy at 0, 90, 180, 270 (and 360) degrees
    assert float(rows["digits-cnn"][1]) < 0.5 < float(rows["digits-cnn"][0])
    page.get_by_role("button", name="Exact regions on the symmetric plane").click()
    page.locator(".symmetry-regions p").nth(1).wait_for(timeout=LONG)
    gaps = [float(re.search(r"lies ([0-9.e+-]+) from", t).group(1))
            for t in page.locator(".symmetry-regions p").all_inner_texts()]
    assert len(gaps) == 2 and gaps[1] < 1e-12 < gaps[0]  # digits-cnn, digits-p4cnn
    page.screenshot(path=str(artifacts / "tab-symmetry.png"), full_page=True)
