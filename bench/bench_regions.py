"""Exact 2-D partition and IBP + CROWN speed, against baselines run in the same process.

1. Exact partition of a 2-64-64-64-1 ReLU MLP (PyTorch default init, seed 0) on
   [-1, 1]^2 with ``regions.partition_2d``, against
   - a plain numpy prototype of the same algorithm that loops over regions in
     Python (the kind of code the research note timed at ~0.76 s), which must find
     the same number of regions, and
   - ``regions.grid_estimate`` at 1024 x 1024, which is slower and still misses regions.
   Targets: at most 300 ms, and faster than the 1024^2 grid.
2. IBP + CROWN bounds of a 784-64-64-64-10 MLP on an L-infinity ball (eps 0.01) around a
   random point, against one numpy forward pass of 10,000 samples of the same ball (the
   empirical, unsound alternative). Target: at most 20 ms.

Run: ``python -m bench regions`` (or ``python -m bench.bench_regions``).
"""

from __future__ import annotations

import numpy as np

from bench.timing import best_of
from explorer import regions
from explorer.nets import bounds, canonical
from explorer.nets.threads import single_threaded
from tests.explorer.builders import mlp


def _clip(poly, a, b):
    """Pieces of a convex polygon (list of points) on either side of a.u + b = 0."""
    z = poly @ a + b
    pos, neg = [], []
    for i in range(len(poly)):
        j = (i + 1) % len(poly)
        if z[i] >= 0:
            pos.append(poly[i])
        if z[i] <= 0:
            neg.append(poly[i])
        if z[i] * z[j] < 0:
            p = poly[i] + z[i] / (z[i] - z[j]) * (poly[j] - poly[i])
            pos.append(p)
            neg.append(p)
    return np.array(pos), np.array(neg)


def reference_partition(blocks, box):
    """The straightforward prototype: one Python iteration per region and cutting unit."""
    x0, x1, y0, y1 = box
    todo = [(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), np.eye(2), np.zeros(2))]
    for W, b in blocks[:-1]:
        done = []
        for poly, A, c in todo:
            G, g = W @ A, W @ c + b
            pieces = [poly]
            for j in range(W.shape[0]):
                nxt = []
                for piece in pieces:
                    z = piece @ G[j] + g[j]
                    tol = 1e-12 * (np.linalg.norm(G[j]) * 3 + abs(g[j]))
                    if z.max() > tol and z.min() < -tol:
                        nxt += [p for p in _clip(piece, G[j], g[j]) if len(p) >= 3]
                    else:
                        nxt.append(piece)
                pieces = nxt
            for piece in pieces:
                on = (piece.mean(0) @ G.T + g) > 0
                done.append((piece, on[:, None] * G, on * g))
        todo = done
    return len(todo)


def bench_partition():
    model = mlp([2, 64, 64, 64], n_out=1)
    blocks = canonical(model).dense_blocks()
    box = (-1.0, 1.0, -1.0, 1.0)
    part = regions.partition_2d(model, box=box)  # warm-up
    t_exact = best_of(lambda: regions.partition_2d(model, box=box), repeat=5)
    with single_threaded():
        t_ref = best_of(lambda: reference_partition(blocks, box), repeat=1)
        n_ref = reference_partition(blocks, box)
    t_grid = best_of(lambda: regions.grid_estimate(model, box, resolution=1024), repeat=1)
    grid = regions.grid_estimate(model, box, resolution=1024)
    print(f"2-64-64-64-1 on [-1,1]^2: {part.num_regions} activation regions, "
          f"{part.num_linear_regions} linear regions (prototype finds {n_ref})")
    print(f"  exact partition           {t_exact * 1e3:8.1f} ms  (target <= 300 ms)")
    print(f"  python-loop prototype     {t_ref * 1e3:8.1f} ms  -> {t_ref / t_exact:.1f}x slower")
    print(f"  1024^2 grid estimate      {t_grid * 1e3:8.1f} ms  -> {t_grid / t_exact:.1f}x slower, "
          f"finds {grid.count} ({100 * grid.count / part.num_regions:.1f}%)")
    return t_exact, t_ref / t_exact, t_grid / t_exact


def bench_bounds():
    model = mlp([784, 64, 64, 64], n_out=10)
    blocks = canonical(model).dense_blocks()
    rng = np.random.default_rng(0)
    box = bounds.Box.linf_ball(rng.uniform(0, 1, 784), 0.01)
    X = box.sample(10_000, rng)

    def both():
        with single_threaded():
            bounds.crown(blocks, box, bounds.ibp(blocks, box))

    def empirical():
        with single_threaded():
            h = X
            for W, b in blocks[:-1]:
                h = np.maximum(h @ W.T + b, 0)

    both()
    t_crown = best_of(both, repeat=20)
    t_emp = best_of(empirical, repeat=3)
    print(f"784-64-64-64-10, eps 0.01: IBP + CROWN {t_crown * 1e3:.2f} ms (target <= 20 ms); "
          f"10k-sample forward pass {t_emp * 1e3:.1f} ms -> {t_emp / t_crown:.1f}x slower")
    return t_crown, t_emp / t_crown


def main():
    t_exact, vs_ref, vs_grid = bench_partition()
    t_crown, vs_emp = bench_bounds()
    print(f"regions: exact partition {t_exact * 1e3:.0f} ms = {vs_ref:.1f}x faster than the python-loop "
          f"prototype and {vs_grid:.1f}x faster than a 1024^2 grid; IBP+CROWN {t_crown * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
