"""IBP + CROWN on graphs against the chain code, in the same process.

1. The 784-64-64-64-10 MLP of ``bench_regions`` (eps 0.01 ball): the chain functions
   ``bounds.ibp`` + ``bounds.crown`` on dense blocks (the path ``stable_units`` takes for chains)
   against ``ibp_graph`` + ``crown_graph`` on the same network as a PLGraph; both must agree.
2. ``stable_units(method="crown")`` on that chain against its own inner steps called directly
   (normalise, IBP, CROWN, verdicts: what it was before graphs), so the graph dispatch costs nothing.
3. For scale: the same widths with skip connections (h_2 + h_1, h_3 + h_2) and LeakyReLU, as a graph.

Run: ``python -m bench.bench_bounds_graph``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bench.timing import best_of
from explorer import stability
from explorer.nets import PLGraph, bounds, canonical, crown_graph, ibp_graph
from explorer.nets.threads import single_threaded
from explorer.stability import units
from tests.explorer.builders import mlp


class _Skips(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c, self.out = nn.Linear(784, 64), nn.Linear(64, 64), nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x):
        h1 = nn.functional.leaky_relu(self.a(x), 0.1)
        h2 = torch.relu(self.b(h1)) + h1
        return self.out(torch.relu(self.c(h2)) + h2)


def main():
    model = mlp([784, 64, 64, 64], n_out=10)
    net = canonical(model)
    blocks = net.dense_blocks()
    graph = PLGraph.from_blocks(blocks)
    rng = np.random.default_rng(0)
    box = bounds.Box.linf_ball(rng.uniform(0, 1, 784), 0.01)

    def chain():
        with single_threaded():
            return bounds.crown(blocks, box, bounds.ibp(blocks, box))

    def on_graph():
        with single_threaded():
            return crown_graph(graph, box, ibp_graph(graph, box))

    a, b = chain(), on_graph()
    gap = max(np.abs(x - y).max() for x, y in zip(a.lower + a.upper, b.lower + b.upper))
    t_chain, t_graph = best_of(chain, 30), best_of(on_graph, 30)
    print(f"784-64-64-64-10 IBP + CROWN: chain {t_chain * 1e3:.2f} ms, graph {t_graph * 1e3:.2f} ms "
          f"(graph / chain {t_graph / t_chain:.2f}x), largest difference {gap:.1e}")

    def inner():
        with single_threaded():
            nb, _ = units._normalised(blocks, box)
            unit = bounds.Box(-np.ones(784), np.ones(784))
            ib = bounds.ibp(nb, unit)
            units._from_bounds(bounds.crown(nb, unit, ib))

    def public():
        stability.stable_units(net, box, method="crown")

    public()
    t_inner, t_public = best_of(inner, 30), best_of(public, 30)
    print(f"stable_units(crown) on the chain: {t_public * 1e3:.2f} ms; its steps called directly "
          f"{t_inner * 1e3:.2f} ms (ratio {t_public / t_inner:.2f}x)")

    torch.manual_seed(0)
    skips = _Skips().double()
    g = canonical(skips, (784,)).graph()

    def skip_graph():
        with single_threaded():
            crown_graph(g, box, ibp_graph(g, box))
    t_skip = best_of(skip_graph, 10)
    print(f"784-64-64-64-10 with skip connections and LeakyReLU, IBP + CROWN on the graph: {t_skip * 1e3:.2f} ms")
    return t_chain, t_graph, t_inner, t_public


if __name__ == "__main__":
    main()
