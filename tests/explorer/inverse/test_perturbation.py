"""The worst-case perturbation search (explorer.inverse.perturbation): never below random, the top
singular value of a linear map."""

import numpy as np
import torch

from explorer import inverse


def test_search_never_reports_less_than_random_and_finds_the_top_singular_value():
    p = inverse.make_problem(N=30, m=15, kind="gaussian", s=2, seed=1)
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.standard_normal((30, 15)))
    V, _ = np.linalg.qr(rng.standard_normal((15, 15)))
    lin = torch.nn.Linear(15, 30, bias=False).double()
    with torch.no_grad():  # singular values 1, 1.25, ..., 4.5: the worst case is 4.5 at any y
        lin.weight.copy_(torch.as_tensor(U @ np.diag(np.linspace(1, 4.5, 15)) @ V.T))
    r = inverse.worst_case_perturbation(lin, rng.standard_normal((4, 15)), eta=0.1, steps=150)
    assert np.all(r.amplification <= 4.5 + 1e-12) and np.all(r.amplification > 4.5 * (1 - 1e-4))
    net = inverse.FIRENet(p.A, 0.1, restarts=3, inner=5)
    Y = inverse.measure(p, inverse.sparse_signals(p, 5, seed=2))
    r = inverse.worst_case_perturbation(net, Y, eta=0.05, steps=10, seed=3)
    assert np.all(r.amplification >= r.random_amplification)
    assert np.all(np.diff(r.history, axis=0) >= 0)
    np.testing.assert_allclose(np.linalg.norm(r.e, axis=1), 0.05, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(r.x_perturbed - r.x_clean, axis=1) / 0.05, r.amplification,
                               rtol=1e-9)
