"""WeightWatcher's numbers: known answers (no WeightWatcher needed) and its own numbers on zoo models."""

import io
import logging
import math
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch
from torch import nn

from explorer import spectra, zoo
from explorer.spectra import power_law


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# -- the power-law fit ----------------------------------------------------------------------------

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


# -- the Marchenko-Pastur fit ---------------------------------------------------------------------

@pytest.mark.parametrize("N, M", [(800, 200), (600, 300)])
def test_mp_fit_of_a_gaussian_matrix_finds_its_bulk(rng, N, M):
    s = 0.3
    evals = np.linalg.svd(s * rng.normal(size=(N, M)), compute_uv=False) ** 2
    fit = spectra.marchenko_pastur_fit(evals, N, M)
    # on the rescaled axis (mean eigenvalue 1) a pure random matrix has sigma_mp = 1
    assert fit.sigma_mp == pytest.approx(1.0, abs=0.05) and fit.num_spikes == 0
    assert fit.w_scale ** 2 == pytest.approx(1 / (N * s * s), rel=0.02)
    # the edges on the eigenvalues' own axis: s^2 (sqrt N -+ sqrt M)^2
    assert fit.bulk_max == pytest.approx(s * s * (math.sqrt(N) + math.sqrt(M)) ** 2, rel=0.1)
    assert fit.bulk_min == pytest.approx(s * s * (math.sqrt(N) - math.sqrt(M)) ** 2, rel=0.15)


def test_mp_fit_counts_a_planted_spike(rng):
    N, M = 800, 200
    W = rng.normal(size=(N, M))
    u, v = rng.normal(size=N), rng.normal(size=M)
    W += 6 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v)) * math.sqrt(N)
    fit = spectra.marchenko_pastur_fit(np.linalg.svd(W, compute_uv=False) ** 2, N, M)
    assert fit.num_spikes == 1 and fit.mp_softrank < 0.2


# -- the pooled ESD and the report ---------------------------------------------------------------

def test_pooled_scale_halves_conv_eigenvalues_and_leaves_matrices_alone(rng):
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    K = Q[:, :, None, None]  # an orthogonal 1x1 conv: every slice singular value 1
    assert np.allclose(spectra.weightwatcher_pooled(K, scale=False), 1.0)
    assert np.allclose(spectra.weightwatcher_pooled(K) ** 2, 0.5)
    assert np.allclose(spectra.weightwatcher_pooled(Q), 1.0)  # a Linear weight is not scaled


def test_orthogonal_linear_layer_has_all_singular_values_one(rng):
    layer = nn.Linear(32, 32, bias=False).double()  # float64 weights stay float64
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.linalg.qr(rng.normal(size=(32, 32)))[0]))
    report = spectra.quality_report(nn.Sequential(layer))
    (q,) = report.layers
    assert np.allclose(q.eigenvalues, 1.0)
    assert q.stable_rank == pytest.approx(32) and abs(q.log_spectral_norm) < 1e-12
    assert q.log_norm == pytest.approx(math.log10(32))
    assert math.isnan(q.alpha) and q.warning == ""  # a flat spectrum has no power-law tail


def test_orthogonal_conv_operator_versus_pooled_slices():
    """The orthogonal zoo conv: its operator's singular values are all 1, its slices' are spread."""
    model = zoo.load("digits-cnn-orth")
    conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)][1]
    operator = spectra.conv_singular_values(conv.weight, (8, 8), padding="circular", method="fft")
    pooled = spectra.weightwatcher_pooled(conv.weight, scale=False)
    assert np.allclose(operator, 1.0, atol=1e-5)
    assert pooled.max() < 0.9 and np.median(pooled) < 0.1  # the 81 slices of a 9x9 kernel share the energy


def test_operator_contrast_on_the_orthogonal_zoo_model():
    model = zoo.load("digits-cnn-orth")
    report = spectra.quality_report(model, mp_fit=False, randomize=False)
    calls = []
    rows = spectra.operator_contrast(model, report, progress=lambda d, t: calls.append((d, t)))
    conv1, conv2, linear = rows
    for row in (conv1, conv2):  # operator: flat at 1 (float32 weights); slices: a power-law tail
        assert row.exact and math.isnan(row.alpha) and abs(row.log_spectral_norm) < 1e-6
        assert row.stable_rank == pytest.approx(row.num_values, rel=1e-6) and row.pooled_stable_rank < 25
        assert np.isfinite(row.pooled_alpha)
    # a Linear layer's operator is its matrix: the two views agree
    assert (linear.alpha, linear.stable_rank) == (linear.pooled_alpha, linear.pooled_stable_rank)
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_report_norms_equal_the_weight_norms(rng):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(20, 30))
    report = spectra.quality_report(model, mp_fit=False, randomize=False)
    conv, linear = report.layers
    K, W = model[0].weight.detach().double(), model[3].weight.detach().double()
    assert (conv.N, conv.M, conv.rf, conv.num_evals) == (8, 3, 9, 27)
    assert conv.log_norm == pytest.approx(math.log10(0.5 * float((K ** 2).sum())), rel=1e-12)
    assert linear.log_norm == pytest.approx(math.log10(float((W ** 2).sum())), rel=1e-12)
    assert linear.log_spectral_norm == pytest.approx(2 * math.log10(float(torch.linalg.matrix_norm(W, 2))))
    for q in report.layers:
        assert q.alpha_weighted == pytest.approx(q.alpha * q.log_spectral_norm)
        assert q.log_alpha_norm == pytest.approx(math.log10(float(np.sum(q.eigenvalues ** q.alpha))))
        assert q.warning == ("over-trained" if q.alpha < 2 else "under-trained" if q.alpha > 6 else "")
    assert report.summary["alpha"] == pytest.approx(np.mean([q.alpha for q in report.layers]))


def test_report_skips_small_layers_and_reports_progress():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 40), nn.Linear(40, 40),  # M = 4, 5, 40
                          nn.Unflatten(1, (4, 10)), nn.Conv1d(4, 4, 3))
    calls = []
    report = spectra.quality_report(model, randomize=False, progress=lambda d, t: calls.append((d, t)))
    assert [q.name for q in report.layers] == ["3"] and [name for name, _ in report.skipped] == ["0", "2", "5"]
    assert report.layers[0].layer_id == 4  # its index in named_modules(): the model itself is 0
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_randomization_is_seeded_and_zero_for_column_slices():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3), nn.Linear(30, 30))
    a, b = (spectra.quality_report(model, seed=3) for _ in range(2))
    c = spectra.quality_report(model, seed=4)
    assert a.layers[1].rand_distance == b.layers[1].rand_distance != c.layers[1].rand_distance
    # each slice of a conv with one input channel is a vector: permuting it keeps its norm
    assert a.layers[0].rand_distance < 1e-6 and a.layers[0].ww_softrank == pytest.approx(1.0)


# -- WeightWatcher's own numbers ------------------------------------------------------------------

COLUMNS = ["alpha", "xmin", "D", "sigma", "num_pl_spikes", "norm", "log_norm", "spectral_norm",
           "log_spectral_norm", "alpha_weighted", "log_alpha_norm", "stable_rank", "sigma_mp", "bulk_min",
           "bulk_max", "num_spikes", "mp_softrank", "W_scale", "rand_distance", "ww_softrank", "ww_maxdist",
           "max_rand_eval", "num_traps", "rand_sigma_mp", "rand_mp_softrank", "rand_bulk_min", "rand_bulk_max"]


@pytest.fixture(scope="module")
def weightwatcher():
    ww = pytest.importorskip("weightwatcher")
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    return ww


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits-cnn", "digits-lenet", "digits-resnet"])
def test_quality_report_equals_weightwatchers_analyze(weightwatcher, name):
    model = zoo.load(name)
    np.random.seed(0)  # WeightWatcher permutes with numpy's global generator
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        details = weightwatcher.WeightWatcher(model=model).analyze(randomize=True, mp_fit=True)
        summary = weightwatcher.WeightWatcher(model=model).get_summary(details)
    report = spectra.quality_report(model, seed=0)
    assert [q.layer_id for q in report.layers] == list(details["layer_id"])
    for q, (_, row) in zip(report.layers, details.iterrows()):
        assert q.name.split(".")[-1] == row["name"] and (q.N, q.M, q.rf) == (row["N"], row["M"], row["rf"])
        assert q.warning == row["warning"]
        for column in COLUMNS:
            theirs, ours = float(row[column]), float(getattr(q, column))
            if column == "rand_distance" and math.isnan(theirs):  # their divergence rounded below 0
                assert ours < 1e-6
            else:
                assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (q.name, column)
    for metric, value in summary.items():
        assert report.summary[metric] == pytest.approx(float(value), rel=1e-12), metric


@pytest.mark.parametrize("name", ["digits-cnn", "digits-lenet", "digits-resnet"])
def test_pooled_spectrum_equals_weightwatchers_get_esd(weightwatcher, name):
    model = zoo.load(name)
    watcher = weightwatcher.WeightWatcher(model=model)
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for layer_id, (_, module) in enumerate(model.named_modules()):
            if not isinstance(module, (nn.Conv2d, nn.Linear)):
                continue
            esd_theirs = np.sort(watcher.get_ESD(layer=layer_id))
            ours = np.sort(spectra.weightwatcher_pooled(module.weight, scale=False) ** 2)
            assert np.allclose(ours, esd_theirs, rtol=1e-12, atol=1e-15)
