"""The lean, chunked 2-D partition (explorer.regions.store, .patterns, .refine): region for region equal to a
plain per-region reference, the same whatever the chunk size, patterns packed as bits, maps recomputed on
demand equal to the forward pass's, the memory budget, and cancelling through the progress callback."""

import numpy as np
import pytest

from explorer import regions
from explorer.nets import canonical
from explorer.regions import store
from explorer.regions.patterns import LayerCodec
from explorer.regions.polygons import vertex_means
from tests.explorer.builders import mlp
from tests.explorer.regions.region_builders import NETS, _net

SUB_BOX = (-1.5, 0.5, -1.0, 0.75)


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
    """One Python iteration per region and unit, as the engine before issue 30 did it region by region:
    [(pattern, polygon)] of the final regions."""
    x0, x1, y0, y1 = box
    diam = np.hypot(x1 - x0, y1 - y0)
    todo = [(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), np.eye(2), np.zeros(2), [])]
    for W, b in blocks[:-1]:
        done = []
        for poly, A, c, pat in todo:
            G, g = W @ A, W @ c + b
            pieces = [poly]
            for j in range(W.shape[0]):
                tol = 1e-12 * (np.linalg.norm(G[j]) * diam + abs(g[j]))
                nxt = []
                for piece in pieces:
                    z = piece @ G[j] + g[j]
                    if z.max() > tol and z.min() < -tol:
                        nxt += [p for p in _clip(piece, G[j], np.where(np.abs(z) <= tol, 0, g[j])) if len(p) >= 3]
                    else:
                        nxt.append(piece)
                pieces = nxt
            for piece in pieces:
                on = (piece.mean(0) @ G.T + g) > 0
                done.append((piece, on[:, None] * G, on * g, pat + list(on)))
        todo = done
    return [(np.array(pat, dtype=bool), poly) for poly, _, _, pat in todo]


def _by_pattern(part):
    return {p.tobytes(): poly for p, poly in zip(np.packbits(part.patterns, axis=1), part.polygons)}


@pytest.mark.parametrize("widths", [[2, 8, 8], [2, 12, 10, 6]])
def test_regions_equal_the_per_region_reference(widths):
    net = mlp(widths, seed=3)
    part = regions.partition_2d(net, box=SUB_BOX)
    ref = reference_partition(canonical(net).dense_blocks(), SUB_BOX)
    got = _by_pattern(part)
    assert len(got) == part.num_regions == len(ref)
    for pat, poly in ref:
        mine = got[np.packbits(pat).tobytes()]
        assert len(mine) == len(poly)
        # the same vertices, up to rounding (the order may start at another vertex)
        d = np.linalg.norm(mine[:, None] - poly[None], axis=2)
        assert d.min(1).max() < 1e-9 and d.min(0).max() < 1e-9


@pytest.fixture(scope="module")
def tiny_chunks():
    """The engine with chunks of a few regions: every path of the depth-first walk runs many times."""
    old = store.CHUNK_BYTES
    store.CHUNK_BYTES = 20_000
    yield
    store.CHUNK_BYTES = old


@pytest.mark.parametrize("make", [lambda: mlp([2, 16, 16, 16], seed=5, n_out=3)] + [lambda m=m: _net(m) for m in NETS])
def test_chunks_do_not_change_the_partition(make, tiny_chunks, monkeypatch):
    net = make()
    with monkeypatch.context() as m:
        m.setattr(store, "CHUNK_BYTES", 1 << 30)
        whole = regions.partition_2d(net, box=(-2.0, 2.0, -1.0, 1.5))
    part = regions.partition_2d(net, box=(-2.0, 2.0, -1.0, 1.5))
    assert part.num_regions == whole.num_regions > 10
    key = {r.tobytes(): i for i, r in enumerate(whole.pattern_bytes)}
    match = np.array([key[r.tobytes()] for r in part.pattern_bytes])
    np.testing.assert_allclose(part.areas, whole.areas[match], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(part.output_A, whole.output_A[match], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(part.predicted, whole.predicted[match])
    assert part.num_linear_regions == whole.num_linear_regions
    for k in range(1, len(part.layers)):
        lo, hi, _, _ = part.unit_ranges(k)
        wlo, whi, _, _ = whole.unit_ranges(k)
        np.testing.assert_allclose(lo, wlo, atol=1e-9)
        np.testing.assert_allclose(hi, whi, atol=1e-9)
        assert (part.layers[k].patterns[part.ancestors[k]] == part.patterns[:, :part.layers[k].patterns.shape[1]]).all()


def test_recomputed_maps_are_the_forward_pass(deep, tiny_chunks):
    net, part = deep
    graph = canonical(net).graph()
    for k in range(1, len(part.layers) - 1):
        layer = part.layers[k]
        A, c = layer.preact_A, layer.preact_c
        cen = vertex_means(layer.vertices, layer.counts)
        zs = graph.preactivations(part.to_input(cen))
        np.testing.assert_allclose(np.einsum("rus,rs->ru", A, cen) + c, zs[k], rtol=1e-9, atol=1e-9)
        lo, hi, _, _ = part.unit_ranges(k + 1)
        unit = int(np.argmax(np.minimum(-lo, hi)))  # a unit whose zero line crosses the slice
        seg = part.bent_hyperplane(k + 1, unit)
        z = graph.preactivations(part.to_input(seg.reshape(-1, 2)))[k][:, unit]
        assert len(seg) > 0 and np.abs(z).max() < 1e-9


@pytest.mark.parametrize("levels", [2, 3, 4, 7])
def test_codec_round_trips(levels):
    choice = np.random.default_rng(levels).integers(0, levels, (50, 19)).astype(np.int8)
    codec = LayerCodec(19, levels, np.int8)
    packed = codec.encode(choice)
    assert packed.shape == (50, codec.bits * 3) and codec.bits == int(np.ceil(np.log2(levels)))
    np.testing.assert_array_equal(codec.decode(packed), choice)


def test_memory_budget_stops_with_a_clear_error():
    net = mlp([2, 16, 16], seed=1)
    part = regions.partition_2d(net)
    with pytest.raises(regions.TooManyRegionsError, match="memory budget of 5,000 bytes"):
        regions.partition_2d(net, max_regions=5_000)
    assert regions.partition_2d(net, max_regions=50 * 2 ** 20).num_regions == part.num_regions


class Cancelled(Exception):
    pass


def test_progress_reaches_the_total_and_cancels(tiny_chunks):
    net = mlp([2, 16, 16], seed=2)
    calls = []
    regions.partition_2d(net, progress=lambda done, total: calls.append((done, total)))
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] == 2 * regions.partition.PROGRESS_STEPS

    def stop(done, total):
        if done > 0:
            raise Cancelled

    with pytest.raises(Cancelled):
        regions.partition_2d(net, progress=stop)
