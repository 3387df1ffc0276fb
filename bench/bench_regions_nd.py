"""Exact regions in 3 and 5 input dimensions (``regions.partition_nd``) against relucent.

The nets are the issue's (28): ``torch.manual_seed(0)`` then ``nn.Sequential(Linear(d, 8), ReLU,
Linear(8, 8), ReLU, Linear(8, 1))`` for d = 3 and 5, PyTorch's default init; relucent 1.0.0 found
107 cells in the cube and 772 in R^3 for the first, 634 and 7,288 for the second (163 s; research
note peers_measured.md). Domains: the cube [-1, 1]^d (relucent's ``cube_radius=1``) and the
whole space.

relucent (AGPL-3.0, needs gurobipy, size-limited without a licence) is an optional peer: when it
imports, it runs on every case but the 5-D whole space (its many minutes there: set
``BENCH_RELUCENT_ALL=1`` to run that too) and its counts must equal ours. When it is missing
the bench says so and prints our times only.

Timed: the partition (patterns, irredundant inequalities, vertices, rays, Chebyshev balls,
output maps); volumes are computed on first use and not timed (relucent's search computes none).

Run: ``python -m bench regions_nd``. The last line is the figure.
"""

from __future__ import annotations

import os
import time

import torch
from torch import nn

from explorer import regions
from explorer.nets.threads import single_threaded


def issue_net(d: int) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))


def ours(net, d, cube):
    start = time.perf_counter()
    part = regions.partition_nd(net.double(), [[-1, 1]] * d if cube else None)
    return part.num_regions, time.perf_counter() - start


def peer(net, cube):
    """relucent's count and time, or None when it is not installed or fails."""
    try:
        import relucent
    except ImportError:
        return None
    start = time.perf_counter()
    cplx = relucent.Complex(net.float())
    kwargs = {"cube_radius": 1, "cube_mode": "intersect"} if cube else {}
    cplx.bfs(nworkers=1, verbose=0, **kwargs)
    return len(cplx), time.perf_counter() - start


def main():
    torch.set_num_threads(1)
    run_all = os.environ.get("BENCH_RELUCENT_ALL") == "1"
    try:
        import relucent  # noqa: F401
        have_peer = True
    except ImportError:
        have_peer = False
        print("relucent is not installed (pip install relucent; it needs gurobipy): our times only.")
    ours_total, peer_total, ours_matched = 0.0, 0.0, 0.0
    for d in (3, 5):
        for cube in (True, False):
            net = issue_net(d)
            with single_threaded():
                n, t = ours(net, d, cube)
            ours_total += t
            where = "[-1,1]^%d" % d if cube else "R^%d" % d
            line = f"{d}-8-8-1 on {where:9s}: {n:6,} regions in {t:7.2f} s"
            if have_peer and (cube or d == 3 or run_all):
                got = peer(issue_net(d), cube)
                if got is not None:
                    pn, pt = got
                    assert pn == n, f"relucent finds {pn} regions, we find {n}"
                    peer_total += pt
                    ours_matched += t
                    line += f"; relucent {pn:,} in {pt:7.1f} s -> {pt / t:.1f}x"
            print(line, flush=True)
    if peer_total:
        print(f"regions_nd: ours {ours_total:.1f} s for all four; {peer_total / ours_matched:.1f}x faster than "
              "relucent on the cases both ran, same counts")
    else:
        print(f"regions_nd: ours {ours_total:.1f} s for all four (relucent not run)")


if __name__ == "__main__":
    main()
