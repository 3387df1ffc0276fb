"""The power-law fit (explorer.spectra.power_law) against a brute-force fit over every xmin, and on
Pareto samples."""

import math

import numpy as np
import pytest

from explorer import spectra
from explorer.spectra import power_law

# -- the power-law fit ----------------------------------------------------------------------------

def test_power_law_fit_recovers_the_exponent(rng):
    alpha = 2.5
    x = (1 - rng.random(20000)) ** (-1 / (alpha - 1))  # Pareto, density ~ x^-alpha on [1, inf)
    fit = spectra.power_law_fit(x, xmin=1.0)
    assert abs(fit.alpha - alpha) < 0.05 and fit.xmin == 1.0 and fit.n_tail == len(x)
    fit = spectra.power_law_fit(x[:3000])  # every xmin is tried: O(N^2)
    assert abs(fit.alpha - alpha) < 0.15 and fit.ks_distance < 0.05


def _brute_force_fit(x, corrected):
    """The fit over every xmin, one candidate at a time, in plain Python (the definition)."""
    x = sorted(x)
    best = None
    for i in range(len(x) - 1):
        tail = x[i:]
        n = len(tail)
        s = sum(math.log(v / x[i]) for v in tail)
        if corrected and (n < 8 or s <= 1e-12):
            continue
        alpha = 1 + (n - 1 if corrected else n) / s
        d = max(abs(j / n - (1 - (v / x[i]) ** (1 - alpha))) for j, v in enumerate(tail))
        if best is None or d < best[2]:
            best = (alpha, x[i], d, (alpha - 1) / math.sqrt(n))
    return best


@pytest.mark.parametrize("n", [12, 19, 20, 60])
def test_power_law_fit_picks_the_ks_optimal_xmin_found_by_brute_force(rng, n):
    x = (1 - rng.random(n)) ** (-1 / 1.5) + rng.random(n)
    fit = spectra.power_law_fit(x)
    alpha, xmin, d, sigma = _brute_force_fit(x, corrected=n < 20)
    assert fit.small_sample == (n < 20)
    assert fit.xmin == xmin and fit.alpha == pytest.approx(alpha, rel=1e-10)
    assert fit.ks_distance == pytest.approx(d, abs=1e-12) and fit.sigma == pytest.approx(sigma, rel=1e-10)
    assert fit.n_tail == int(np.sum(x >= xmin))


def test_power_law_fit_in_blocks_equals_one_block(rng, monkeypatch):
    x = rng.lognormal(size=400)
    whole = spectra.power_law_fit(x)
    monkeypatch.setattr(power_law, "_BLOCK", 997)  # many blocks, ragged ends
    assert spectra.power_law_fit(x) == whole


@pytest.mark.parametrize("sample", ["lognormal", "pareto"])
def test_pruned_search_equals_the_exhaustive_one(rng, monkeypatch, sample):
    x = rng.lognormal(size=3000) if sample == "lognormal" else rng.pareto(1.5, size=3000) + rng.random(3000)
    pruned = spectra.power_law_fit(x)  # above power_law._PRUNE_ABOVE: lower bounds rule candidates out
    monkeypatch.setattr(power_law, "_PRUNE_ABOVE", 10 ** 9)
    assert spectra.power_law_fit(x) == pruned


@pytest.mark.parametrize("alpha", [2.0, 3.5])
def test_power_law_fit_recovers_a_pareto_exponent_within_its_standard_error(rng, alpha):
    x = (1 - rng.random(4000)) ** (-1 / (alpha - 1))  # Pareto: density ~ x^-alpha on [1, inf)
    fit = spectra.power_law_fit(x)
    assert abs(fit.alpha - alpha) < 4 * fit.sigma and fit.sigma < 0.25
    fixed = spectra.power_law_fit(x, xmin=1.0)  # the whole sample: standard error (alpha - 1) / sqrt(n)
    assert abs(fixed.alpha - alpha) < 4 * (alpha - 1) / math.sqrt(len(x))


def test_power_law_fit_refuses_what_has_no_tail():
    with pytest.raises(ValueError, match="all equal"):
        spectra.power_law_fit(np.ones(30))
    with pytest.raises(ValueError, match="at least 2"):
        spectra.power_law_fit([0.0, 0.0, 1.0])
