"""Convolutions applied as gathered blocks (explorer.regions.operators): the same products as the dense
matrices, and the same partition region for region on small CNNs (a chain and a residual graph)."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from explorer import regions
from explorer.nets import canonical
from explorer.regions import linear_regions, operators
from explorer.regions.operators import LinearOp, linear_op


class _ResidualCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        h = torch.relu(self.c1(x.view(-1, 1, 8, 8)))
        h = torch.relu(self.c2(h) + h)
        return self.head(nn.functional.max_pool2d(h, 2).flatten(1))


def _chain_cnn():
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 3))


def _build(make, seed):
    torch.manual_seed(seed)
    net = make().double().eval()
    images = np.random.default_rng(seed).uniform(0, 1, (3, 64))
    images[:, :8] = 0.0  # a zero band: windows whose entries tie on the whole slice
    return canonical(net, input_shape=(64,)).graph(), regions.plane_through(images)


@pytest.mark.parametrize("shape", [(1, 6, 6, 2, 3, 1), (3, 7, 7, 4, 3, 0), (2, 9, 9, 3, 5, 2)])
def test_blocks_are_the_dense_product(shape):
    c_in, h, w, c_out, k, pad = shape
    conv = nn.Conv2d(c_in, c_out, k, padding=pad).double()
    W = canonical(nn.Sequential(nn.Unflatten(1, (c_in, h, w)), conv, nn.ReLU(), nn.Flatten(),
                                nn.Linear(c_out * (h + 2 * pad - k + 1) * (w + 2 * pad - k + 1), 1)).double(),
                  input_shape=(c_in * h * w,)).graph().layers[0].sources[0]
    op = LinearOp(W)
    X = np.random.default_rng(1).normal(size=(300, W.shape[1]))  # more rows than one gathered batch
    assert op.kind == "blocks"
    np.testing.assert_allclose(op.apply(X), X @ W.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.apply(np.abs(X), absolute=True), np.abs(X) @ np.abs(W).T, rtol=1e-12, atol=1e-12)
    assert LinearOp(np.eye(7)).kind == "identity" and LinearOp(np.ones((4, 5))).kind == "dense"
    back = pickle.loads(pickle.dumps(op))  # a partition travels pickled from a worker process
    assert back.kind == "blocks" and np.array_equal(back.apply(X), op.apply(X))
    dense = pickle.loads(pickle.dumps(LinearOp(np.ones((4, 5)))))
    assert np.array_equal(dense.apply(np.ones((2, 5))), np.full((2, 4), 5.0))


def _partition(graph, plane):
    operators._CACHE.clear()
    return regions.partition_plane(graph, *plane)


@pytest.mark.parametrize("make", [_chain_cnn, _ResidualCNN], ids=["chain", "residual"])
def test_conv_blocks_give_the_dense_partition_region_for_region(make, monkeypatch):
    graph, plane = _build(make, seed=2)
    conv = graph.layers[0].sources[0]
    assert linear_op(conv).kind == "blocks"
    fast = _partition(graph, plane)
    with monkeypatch.context() as m:
        m.setattr(operators, "BLOCK_GAIN", float("inf"))
        dense = _partition(graph, plane)
        assert linear_op(conv).kind == "dense"
    operators._CACHE.clear()
    assert fast.num_regions == dense.num_regions > 50
    key = {r.tobytes(): i for i, r in enumerate(dense.pattern_bytes)}
    match = np.array([key[r.tobytes()] for r in fast.pattern_bytes])
    assert len(set(match.tolist())) == fast.num_regions
    np.testing.assert_allclose(fast.areas, dense.areas[match], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(fast.output_A, dense.output_A[match], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.output_c, dense.output_c[match], rtol=1e-9, atol=1e-12)
    for r in range(fast.num_regions):
        a, b = fast.polygons[r], dense.polygons[match[r]]
        d = np.linalg.norm(a[:, None] - b[None], axis=2)
        assert len(a) == len(b) and d.min(1).max() < 1e-9
    np.testing.assert_array_equal(fast.predicted, dense.predicted[match])
    assert fast.num_linear_regions == dense.num_linear_regions
    assert len(fast.boundary_segments) == len(dense.boundary_segments)


@pytest.mark.parametrize("make", [_chain_cnn, _ResidualCNN], ids=["chain", "residual"])
def test_merge_filter_keeps_the_linear_regions(make, monkeypatch):
    """Edges whose neighbour the plane tells (or that no region of their map's chain touches) skip the
    forward pass: the linear regions are those of every candidate edge stepped across."""
    graph, plane = _build(make, seed=4)
    found = []
    real = linear_regions._touches_same_chain

    def spy(*args):
        status, across = real(*args)
        found.append(np.bincount(status, minlength=3))
        return status, across

    monkeypatch.setattr(linear_regions, "_touches_same_chain", spy)
    fast = _partition(graph, plane)
    assert found[0][1] > 0  # some neighbours found on the plane
    forward_all = lambda V, n, cand, chain, rr, mid, poly: (np.full(len(rr), 2, np.int8), np.full(len(rr), -1))  # noqa: E731
    monkeypatch.setattr(linear_regions, "_touches_same_chain", forward_all)
    slow = _partition(graph, plane)
    assert fast.num_regions == slow.num_regions
    assert fast.num_linear_regions == slow.num_linear_regions < fast.num_regions
    np.testing.assert_array_equal(fast.linear_region_of, slow.linear_region_of)


def test_a_partition_read_back_from_a_pickle_is_walked_again():
    # a job's worker gets the partition pickled; its weights may come back as arrays numpy copies on conversion,
    # and an operator that held such a copy only weakly lost it (the LeNet page's dual graph failed in the app)
    from explorer import zoo
    from explorer.data import datasets

    model, data = zoo.load("digits-lenet"), datasets.load("digits")
    plane = regions.plane_through(data.X_test[[0, 1, 2]].astype(np.float64))
    centre = plane.polygon.mean(axis=0)
    plane = plane._replace(polygon=centre + (plane.polygon - centre) / 4)
    part = regions.partition_plane(model, *plane)
    again = pickle.loads(pickle.dumps(part))
    graph, graph_again = regions.dual_graph(part), regions.dual_graph(again)
    assert graph_again.num_nodes == graph.num_nodes == part.num_regions
    assert sorted(map(tuple, graph_again.edges)) == sorted(map(tuple, graph.edges))
