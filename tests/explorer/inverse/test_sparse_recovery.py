"""Sparse-recovery problems (explorer.inverse.sparse_recovery): orthonormal DCT rows, and twins that are
what they claim and do not depend on the basis an SVD returns."""

import numpy as np

from explorer import inverse


def test_dct_rows_are_orthonormal_and_twins_are_what_they_claim():
    D = inverse.dct_matrix(16)
    np.testing.assert_allclose(D @ D.T, np.eye(16), atol=1e-12)
    from scipy.fft import dct
    np.testing.assert_allclose(D, dct(np.eye(16), norm="ortho", axis=0), atol=1e-12)
    for kind in inverse.MEASUREMENTS:
        p = inverse.make_problem(N=40, m=20, kind=kind, s=3, seed=2)
        X = inverse.sparse_signals(p, 5, seed=3)
        T = inverse.make_twins(p, X, eta=0.05, seed=4)
        np.testing.assert_allclose(np.linalg.norm(T - X, axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm((T - X) @ p.A.T, axis=1), 0.05, atol=1e-12)
    Y = inverse.measure(p, X, noise=0.1, seed=0)
    np.testing.assert_allclose(np.linalg.norm(Y - X @ p.A.T, axis=1), 0.1, atol=1e-12)


def test_twins_do_not_depend_on_the_basis_an_svd_returns():
    """Q A (Q orthogonal) has the kernel, row space and ||A r|| of A, but another SVD basis:
    the twins of the same seed are the same."""
    problem = inverse.make_problem(**inverse.ZOO_PROBLEM)
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((problem.m, problem.m)))
    rotated = inverse.SparseProblem(Q @ problem.A, problem.kind, problem.s, problem.seed)
    X = inverse.sparse_signals(problem, 5, seed=1)
    twins, twins_rotated = inverse.make_twins(problem, X, seed=2), inverse.make_twins(rotated, X, seed=2)
    np.testing.assert_allclose(twins, twins_rotated, atol=1e-12)
    D = twins - X
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(D @ problem.A.T, axis=1), 0.05, rtol=1e-10)
