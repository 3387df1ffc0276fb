"""Generator inversion: the research note's tables (inversion.md section 6) in one run.

Random bias-free ReLU generators (weights N(0, 1/n_out), ReLU on the output),
z ~ N(0, I), float64, a fresh generator and z per trial. Success = relative latent
error < 1e-6. Methods: Lei et al.'s layer-wise least squares (LS), our layer-wise
pursuit (layered), Lei et al.'s l-infinity LP (lp), Adam with 1 or 3 restarts
(lr 0.05, 2000 steps). Targets (issue 6):

- noiseless 20-40-80: layered >= LS + 10 points and >= GD x1 + 30 points;
- 20-100-200-500: layered >= 95%;
- inpainting, 30% of outputs kept, 20-100-500: layered >= 75%, LS underdetermined (0%);
- noise eta <= 1e-2 on 20-100-500: layered error <= 2.5x the oracle (least squares in
  the true region), GD x3 <= 1.1x;
- one layered inversion of 20-100-500 in <= 50 ms (and its ratio to one LS inversion).

Run: ``python -m bench inversion`` (or ``python -m bench.bench_inversion``).
"""

from __future__ import annotations

import numpy as np

from bench.timing import best_of
from explorer import inversion
from explorer.inversion import generators

TRIALS = 50
NOISE_TRIALS = 30
SUCCESS_SIZES = [(20, 100, 500), (20, 40, 80), (20, 50, 125), (20, 60, 180), (20, 100, 200, 500)]
METHODS = ("ls", "layered", "lp", "gd")
LABELS = {"ls": "LS", "layered": "layered", "lp": "LP", "gd": "GDx1"}


def _check(ok: bool, text: str) -> bool:
    print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    return ok


def _table(sweep: inversion.SuccessSweep, title: str) -> None:
    print(f"{title} (success rate, {sweep.trials} trials)")
    print("  " + f"{'generator':20s}" + "".join(f"{LABELS[m]:>9s}" for m in sweep.methods))
    for ci, sizes in enumerate(sweep.sizes):
        print("  " + f"{'-'.join(map(str, sizes)):20s}" + "".join(f"{r:9.2f}" for r in sweep.success[:, ci]))


def main() -> None:
    checks = []
    clean = inversion.success_vs_expansion(SUCCESS_SIZES, methods=METHODS, trials=TRIALS)
    _table(clean, "Noiseless")
    rate = {(m, s): clean.success[i, j] for i, m in enumerate(METHODS) for j, s in enumerate(clean.sizes)}
    small, deep = (20, 40, 80), (20, 100, 200, 500)
    lbp, ls, gd = rate["layered", small], rate["ls", small], rate["gd", small]
    checks.append(_check(lbp >= ls + 0.10, f"20-40-80: layered {lbp:.0%} >= LS {ls:.0%} + 10 points"))
    checks.append(_check(lbp >= gd + 0.30, f"20-40-80: layered {lbp:.0%} >= GDx1 {gd:.0%} + 30 points"))
    checks.append(_check(rate["layered", deep] >= 0.95, f"20-100-200-500: layered {rate['layered', deep]:.0%} >= 95%"))
    checks.append(_check(rate["ls", deep] <= 0.70, f"20-100-200-500: LS {rate['ls', deep]:.0%} <= 70% (note's T3)"))

    inpaint = inversion.success_vs_expansion([(20, 100, 500)], methods=METHODS, trials=TRIALS, keep=0.3)
    _table(inpaint, "Inpainting, 30% of outputs kept")
    il, ils = inpaint.success[1, 0], inpaint.success[0, 0]
    layers = generators.random_layers((20, 100, 500), 0)
    z = np.random.default_rng(0).standard_normal(20)
    mask = generators.random_mask(500, 0.3, 0)
    status = inversion.invert(layers, generators.forward_all(layers, z)[-1], "ls", mask=mask).status
    checks.append(_check(il >= 0.75, f"inpainting: layered {il:.0%} >= 75%"))
    checks.append(_check(ils == 0 and status == "underdetermined", f"inpainting: LS {ils:.0%}, reports '{status}'"))

    levels = (1e-3, 1e-2, 1e-1)
    noise = inversion.error_vs_noise((20, 100, 500), levels, methods=("ls", "layered", "gd"),
                                     trials=NOISE_TRIALS, gd_options={"restarts": 3})
    print(f"Noise on 20-100-500 (median relative latent error, {NOISE_TRIALS} trials)")
    print(f"  {'eta':>8s}{'oracle':>10s}{'LS':>10s}{'layered':>10s}{'GDx3':>10s}")
    for li, eta in enumerate(levels):
        print(f"  {eta:8.0e}{noise.oracle[li]:10.2e}" + "".join(f"{e:10.2e}" for e in noise.median_error[:, li]))
    for li, eta in enumerate(levels[:2]):
        r_l = noise.median_error[1, li] / noise.oracle[li]
        r_g = noise.median_error[2, li] / noise.oracle[li]
        checks.append(_check(r_l <= 2.5, f"eta {eta:g}: layered {r_l:.2f}x oracle <= 2.5x"))
        checks.append(_check(r_g <= 1.1, f"eta {eta:g}: GDx3 {r_g:.2f}x oracle <= 1.1x"))
    slope = np.polyfit(np.log(levels), np.log(noise.median_error[1]), 1)[0]
    print(f"  layered error vs eta: log-log slope {slope:.2f} (expected about 1)")

    y = generators.forward_all(layers, z)[-1]
    t_lbp = best_of(lambda: inversion.invert(layers, y, "layered"), repeat=7)
    t_ls = best_of(lambda: inversion.invert(layers, y, "ls"), repeat=7)
    checks.append(_check(t_lbp <= 0.05, f"one layered inversion of 20-100-500: {1e3 * t_lbp:.1f} ms <= 50 ms "
                                       f"({t_lbp / t_ls:.2f}x one LS inversion)"))
    print(f"inversion targets met: {sum(checks)}/{len(checks)}")
    print(f"inversion: 20-40-80 success layered {lbp:.0%} vs LS {ls:.0%} vs GDx1 {gd:.0%}; "
          f"inpainting 30% layered {il:.0%}; layered 20-100-500 in {1e3 * t_lbp:.1f} ms")


if __name__ == "__main__":
    main()
