"""Empirical spectral densities (explorer.spectra.esd): Marchenko-Pastur fits and statistics, and
WeightWatcher's pooled conv slices against their definition and WeightWatcher itself."""

import io
import math
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from scipy.integrate import quad
from torch import nn

from explorer import spectra, zoo

# -- ESD statistics -----------------------------------------------------------------------------

def test_marchenko_pastur_density_and_random_matrix(rng):
    for ratio in (0.25, 0.5, 1.0):
        lo, hi = (1 - math.sqrt(ratio)) ** 2, (1 + math.sqrt(ratio)) ** 2
        mass, _ = quad(lambda t: spectra.marchenko_pastur_pdf(np.array([t]), ratio, 2.0)[0], 2 * lo, 2 * hi, limit=200)
        assert abs(mass - 1) < 1e-6
    Z = rng.normal(size=(2000, 500)) * 0.3
    stats = spectra.esd_statistics(np.linalg.svd(Z, compute_uv=False), Z.shape)
    lo, hi = stats.mp_edges
    inside = np.mean((stats.eigenvalues > lo * 0.95) & (stats.eigenvalues < hi * 1.05))
    assert abs(stats.mp_variance - 0.09) < 0.005 and inside == 1.0


def test_stable_rank_and_sigma_max(rng):
    Q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    s = spectra.esd_statistics(spectra.dense_singular_values(3 * Q), (10, 10))
    assert abs(s.stable_rank - 10) < 1e-12 and abs(s.sigma_max - 3) < 1e-12
    assert np.isnan(s.alpha)  # a flat spectrum has no power-law tail
    s = spectra.esd_statistics(np.array([2.0, 0, 0, 0, 0, 0]), (6, 6))
    assert s.stable_rank == 1.0
    with pytest.raises(ValueError, match="all equal"):
        spectra.power_law_fit(np.ones(10))


def test_weightwatcher_pooled_spectrum(rng):
    K = rng.normal(size=(6, 4, 3, 3))
    pooled = spectra.weightwatcher_pooled(K, scale=False)
    ref = np.concatenate([np.linalg.svd(K[:, :, a, b], compute_uv=False) for a in range(3) for b in range(3)])
    assert np.allclose(pooled, np.sort(ref)[::-1])
    assert np.allclose(spectra.weightwatcher_pooled(K), pooled / math.sqrt(2))  # analyze() halves each eigenvalue


def test_power_law_density_integrates_to_the_tail_fraction():
    rng = np.random.default_rng(3)
    stats = spectra.esd_statistics(np.sqrt(rng.pareto(2.5, size=400) + 1.0), (400, 400))
    assert np.isfinite(stats.alpha) and stats.alpha > 1
    lam = np.geomspace(stats.xmin, stats.xmin * 1e7, 200_001)
    integral = np.trapezoid(stats.power_law_pdf(lam), lam)
    tail_fraction = np.mean(stats.eigenvalues[stats.eigenvalues > 0] >= stats.xmin)
    assert integral == pytest.approx(tail_fraction, rel=1e-2)  # the tail beyond 1e7 xmin is negligible
    assert stats.power_law_pdf(stats.xmin * 0.5) == 0.0


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


def test_orthogonal_conv_operator_versus_pooled_slices():
    """The orthogonal zoo conv: its operator's singular values are all 1, its slices' are spread."""
    model = zoo.load("digits-cnn-orth")
    conv = [m for m in model.modules() if isinstance(m, nn.Conv2d)][1]
    operator = spectra.conv_singular_values(conv.weight, (8, 8), padding="circular", method="fft")
    pooled = spectra.weightwatcher_pooled(conv.weight, scale=False)
    assert np.allclose(operator, 1.0, atol=1e-5)
    assert pooled.max() < 0.9 and np.median(pooled) < 0.1  # the 81 slices of a 9x9 kernel share the energy


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
