"""Stable units of graphs (explorer.stability.graph_units): a proven piece never changes on the box, and
every witness pair sits on two pieces."""

import numpy as np
import pytest

from explorer import stability
from explorer.nets import Box, canonical
from explorer.stability import UNKNOWN, UNSTABLE
from tests.explorer.graph_builders import BUILDERS, Clamped, Residual, build, check_claims, points


@pytest.mark.parametrize("cls", BUILDERS)
def test_stable_units_never_flip_on_the_box(cls):
    net = build(cls, 3, 2, scale=0.8)
    graph = canonical(net, (3,)).graph()
    box = Box(np.array([-1.0, -0.5, 0.0]), np.array([0.5, 1.0, 0.6]))
    X = points(box, 100_000, 7)
    results = {m: stability.stable_units(net, box, method=m, time_limit=10.0) for m in ("ibp", "crown", "milp")}
    for st in results.values():
        check_claims(graph, st, X)
    assert results["milp"].num_stable >= results["crown"].num_stable >= results["ibp"].num_stable
    assert all((s != UNKNOWN).all() for s in results["milp"].status)


def test_exact_method_on_a_graph_agrees_with_the_forward_pass():
    """Exact verdicts from the 2-D partition: a stable unit's piece never changes on the box,
    and every unstable unit's witnesses sit on two different pieces."""
    for cls in (Residual, Clamped):
        net = build(cls, 2, 0)
        graph = canonical(net, (2,)).graph()
        box = Box(-np.ones(2), np.ones(2))
        st = stability.stable_units(net, box, method="exact")
        _, choices = graph.evaluate(points(box, 100_000, 5))
        for k, layer in enumerate(graph.layers):
            stable = st.piece[k] >= 0
            assert (choices[k][:, stable] == st.piece[k][stable]).all()
            for unit in np.nonzero(st.status[k] == UNSTABLE)[0]:
                a, b = st.witnesses[(k, int(unit))]
                assert graph.evaluate(a[None])[1][k][0, unit] != graph.evaluate(b[None])[1][k][0, unit]
