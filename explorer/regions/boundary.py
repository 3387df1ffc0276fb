"""The decision boundary inside each region, and the exact class cells.
"""

from __future__ import annotations

import numpy as np

from .polygons import ZERO_TOL, _dot2, _next_index, _snap, _split


def _decision_boundary(V, n, out_A, out_c, diam):
    """Where the top two logits tie, region by region (exact: logits are affine per region).

    For each class c the polygon is clipped to the cell where c wins (f_c >= f_m for all
    m); an edge of that cell on which f_c = f_m for some m > c is a boundary piece.
    Returns the segments, the region of each, and the class cells [(polygon, c, region)].
    """
    R, K, _ = V.shape
    n_out = out_A.shape[1]
    if n_out == 1:  # one logit: class 1 where it is positive; treat as logits (0, f)
        out_A = np.concatenate([np.zeros_like(out_A), out_A], axis=1)
        out_c = np.concatenate([np.zeros_like(out_c), out_c], axis=1)
        n_out = 2
    f = V[..., :1] * out_A[:, None, :, 0] + V[..., 1:] * out_A[:, None, :, 1] + out_c[:, None]  # logits at vertices
    valid = np.arange(K) < n[:, None]
    scale = np.linalg.norm(out_A, axis=2) * diam + np.abs(out_c)  # (R, n_out)
    segs, owners, cells = [], [], []
    for cls in range(n_out):
        # the cell of cls is empty unless, for every m, f_cls >= f_m at some vertex
        others = [m for m in range(n_out) if m != cls]
        diff = f[..., [cls]] - f[..., others]  # (R, K, n_out - 1)
        tol = ZERO_TOL * (scale[:, None, [cls]] + scale[:, None, others])
        rows = np.nonzero(((diff >= -tol) & valid[..., None]).any(1).all(1))[0]
        if rows.size == 0:
            continue
        Vc, nc, r_of = V[rows], n[rows], rows
        for m in others:
            a = out_A[r_of, cls] - out_A[r_of, m]
            b = out_c[r_of, cls] - out_c[r_of, m]
            z = _snap(_dot2(Vc, a) + b[:, None], np.linalg.norm(a, axis=1) * diam + np.abs(b))
            validc = np.arange(Vc.shape[1]) < nc[:, None]
            keep = (validc & (z > 0)).any(1)
            (Vc, nc), _ = _split(Vc[keep], nc[keep], z[keep])
            r_of = r_of[keep]
            big = nc >= 3
            Vc, nc, r_of = Vc[big], nc[big], r_of[big]
            if not len(r_of):
                break
        if not len(r_of):
            continue
        cells += [(Vc[i, :nc[i]].copy(), cls, int(r_of[i])) for i in range(len(r_of))]
        # edges of the class cell that lie on a tie line f_cls = f_m with m > cls
        Kc = Vc.shape[1]
        nxt = _next_index(nc, Kc)
        En = np.take_along_axis(Vc, nxt[..., None], 1)
        validc = np.arange(Kc) < nc[:, None]
        for m in range(cls + 1, n_out):
            a = out_A[r_of, cls] - out_A[r_of, m]
            b = out_c[r_of, cls] - out_c[r_of, m]
            tol = 1e-9 * (np.linalg.norm(a, axis=1) * diam + np.abs(b))[:, None]
            z0 = _dot2(Vc, a) + b[:, None]
            z1 = _dot2(En, a) + b[:, None]
            on = validc & (np.abs(z0) <= tol) & (np.abs(z1) <= tol) & (np.linalg.norm(En - Vc, axis=2) > 0)
            rr, kk = np.nonzero(on)
            if rr.size:
                segs.append(np.stack([Vc[rr, kk], En[rr, kk]], axis=1))
                owners.append(r_of[rr])
    if not segs:
        return np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64), cells
    return np.concatenate(segs), np.concatenate(owners), cells
