"""Success and error sweeps (explorer.inversion.sweeps): progress, known rates, and every 'ok' checked."""

import numpy as np

from explorer import inversion as I


def test_sweeps_report_progress_and_known_rates():
    calls = []
    sweep = I.success_vs_expansion([(10, 50, 250)], methods=("layered", "ls"), trials=4,
                                   progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_array_equal(sweep.success, [[1.0], [1.0]])  # 5x expansion: always recovered
    assert calls[-1] == (8, 8) and sweep.ratios[0] == 5
    noise = I.error_vs_noise((10, 50, 250), levels=(0.0, 1e-3), methods=("layered",), trials=3,
                             progress=lambda d, t: calls.append((d, t)))
    assert noise.oracle[0] < 1e-12 and noise.median_error[0, 0] < 1e-12
    assert noise.median_error[0, 1] <= 2.5 * noise.oracle[1]
    assert calls[-1][0] == calls[-1][1]


def test_every_ok_of_random_sweeps_fits_and_recovers_z():
    # property test: random generators of depth 1-3 and expansion 2-5x, with and without masks
    rng = np.random.default_rng(17)
    sizes_list = []
    for depth in (1, 2, 3, 1, 2, 3):
        sizes = [int(rng.integers(2, 7))]
        ratio = rng.uniform(2, 5)
        for _ in range(depth):
            sizes.append(round(sizes[-1] * ratio))
        sizes_list.append(tuple(sizes))
    n_ok = n_other = 0
    for keep in (1.0, 0.4):
        sweep = I.success_vs_expansion(sizes_list, methods=("layered", "lp", "ls", "gd"), trials=5, keep=keep,
                                       seed=3, gd_options={"restarts": 2, "steps": 300})
        ok = sweep.statuses == "ok"
        assert (sweep.residuals[ok] <= I.RESIDUAL_TOL).all()
        assert (sweep.errors[ok] < 1e-6).all()  # "ok" also means the latent was recovered
        n_ok, n_other = n_ok + ok.sum(), n_other + (~ok).sum()
    assert n_ok > 50 and n_other > 20  # both kinds of answer occur, so the property was exercised
