"""WeightWatcher's quality report (explorer.spectra.quality): known answers (no WeightWatcher needed) and
its own numbers on zoo models."""

import io
import math
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch
from torch import nn

from explorer import spectra, zoo

# -- the report: known answers, no WeightWatcher needed -------------------------------------------

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
