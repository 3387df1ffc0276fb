"""Known answers for explorer.inverse: FIRENET's convergence, its module, the search, the twins bound."""

import numpy as np
import pytest
import torch

from explorer import inverse, zoo
from explorer.inverse import reconstruction

NETS = ["inverse-lista", "inverse-mlp", "inverse-mlp-twins"]


@pytest.fixture(scope="module")
def note_setting():
    """beyond.md section 5: N = 128, m = 64 DCT rows, s = 6, p = 20 inner steps, 12 restarts."""
    p = inverse.make_problem(N=128, m=64, kind="dct", s=6, seed=0)
    X = inverse.sparse_signals(p, 40, seed=1)
    return p, X, inverse.measure(p, X)


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


def test_firenet_error_falls_by_about_e_per_restart_and_reaches_the_solver(note_setting):
    p, X, Y = note_setting
    run = inverse.firenet_iterate(p.A, Y, lam=0.1, restarts=12, inner=20, x_ref=X)
    err = np.median(run.restart_error, axis=1)
    ratios = err[:-1] / err[1:]
    assert 0.01 < err[0] < 0.3 and err[-1] < 1e-5
    assert np.all(ratios[3:] > 2.5) and np.all(ratios[3:] < 3.0)      # a factor e per restart
    assert abs(np.exp(np.log(err[0] / err[-1]) / 11) - np.e) < 0.6
    ref = inverse.solve(p.A, Y, lam=0.1)
    assert ref.converged and np.abs(ref.x - X).max() < 1e-9            # exact recovery at lam = 0.1
    assert np.abs(run.x - ref.x).max() < 1e-4
    assert np.all(inverse.objective(p.A, Y, run.x, 0.1) >= ref.objective - 1e-12)


def test_lambda_too_large_stalls(note_setting):
    p, X, Y = note_setting
    run = inverse.firenet_iterate(p.A, Y, lam=0.3, restarts=12, inner=20, x_ref=X)
    err = np.median(run.restart_error, axis=1)
    assert 0.25 < err[-1] < 0.6                                        # the note: about 0.35
    assert abs(err[-1] - err[-4]) < 0.02                               # stalled, not converging
    ref = inverse.solve(p.A, Y, lam=0.3)
    # the stall is the scheme's, not the problem's: the solver's point is better still
    assert np.median(inverse.objective(p.A, Y, run.x, 0.3) - ref.objective) > 1e-4


@pytest.mark.parametrize("kind", inverse.MEASUREMENTS)
def test_firenet_module_equals_the_iteration(kind):
    p = inverse.make_problem(N=48, m=24, kind=kind, s=3, seed=5)
    X = inverse.sparse_signals(p, 6, seed=6)
    Y = inverse.measure(p, X, noise=0.02, seed=7)
    run = inverse.firenet_iterate(p.A, Y, 0.1, restarts=5, inner=8, delta=0.02)
    net = inverse.FIRENet(p.A, 0.1, restarts=5, inner=8, delta=0.02)
    assert net.num_layers == 40
    with torch.no_grad():
        out = net(torch.as_tensor(Y)).numpy()
    assert np.abs(out - run.x).max() < 1e-12


def test_lista_network_is_the_unrolled_iteration():
    p = inverse.make_problem(N=20, m=10, s=2, seed=0)
    Ws, Ss, ts = reconstruction.ista_weights(p.A, 0.05, 4)
    g = torch.Generator().manual_seed(0)
    Ws = [W + 0.1 * torch.randn(W.shape, generator=g, dtype=torch.float64) for W in Ws]
    net = inverse.lista_sequential(Ws, Ss, ts)
    y = torch.randn(7, 10, generator=g, dtype=torch.float64)
    assert torch.abs(net(y) - inverse.lista_forward(y, Ws, Ss, ts)).max() < 1e-12


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


@pytest.mark.parametrize("name", NETS)
def test_trained_nets_search_and_twins_bound(name):
    net = zoo.load(name)
    card = zoo.card(name)
    assert card["task"] == "reconstruction"
    p = inverse.make_problem(**inverse.ZOO_PROBLEM)
    X = inverse.sparse_signals(p, 8, seed=11)
    r = inverse.worst_case_perturbation(net, inverse.measure(p, X), eta=0.05, steps=15, seed=0)
    assert np.all(r.amplification >= r.random_amplification)
    Xa, Xb = inverse.training_twins(p)
    t = inverse.twins_bound(net, p.A, Xa[:6], Xb[:6], samples=4)
    assert np.all(t.quotient >= t.bound - 1e-9) and np.all(t.lipschitz >= t.bound - 1e-9)
    np.testing.assert_allclose(t.eta, 0.05, rtol=1e-9)


def test_the_twins_net_is_accurate_on_twins_hence_unstable_and_firenet_is_not():
    p = inverse.make_problem(**inverse.ZOO_PROBLEM)
    res = inverse.twins_study(inverse.ZOO_PROBLEM, {n: zoo.load(n) for n in NETS}, pairs=6, samples=3)
    twins = res["inverse-mlp-twins"]
    assert np.median(twins.bound) > 5                   # accurate on both twins => Lipschitz >= 5
    assert np.median(twins.lipschitz) >= np.median(twins.bound)
    fire = res[inverse.FIRENET]
    assert np.median(fire.lipschitz) < np.median(twins.lipschitz)
    assert np.median(fire.error + fire.error_twin) > 0.5  # FIRENET pays with accuracy on the twins
    assert p.m == 32


def test_around_the_twins_only_the_twins_net_amplifies():
    nets = {n: zoo.load(n) for n in NETS}
    st = inverse.stability_study(inverse.ZOO_PROBLEM, restarts=6, inner=20, eta=0.05, count=4, steps=20,
                                 nets=nets, at="twins")
    assert all(st.amplification[n] >= st.random[n] for n in st.amplification)
    assert st.amplification["inverse-mlp-twins"] > 3 * st.amplification[inverse.FIRENET]
    assert st.amplification[inverse.FIRENET] < 4 and st.error[inverse.FIRENET] < 0.01
    with pytest.raises(ValueError, match="Perturb at"):
        inverse.stability_study(inverse.ZOO_PROBLEM, at="nowhere")


def test_bad_input_gets_clear_messages():
    with pytest.raises(ValueError, match="choose one of"):
        inverse.make_problem(kind="fourier")
    with pytest.raises(ValueError, match="m <= N"):
        inverse.make_problem(N=10, m=20)
    p = inverse.make_problem(N=10, m=5, s=2)
    with pytest.raises(ValueError, match="do not fit"):
        inverse.solve(p.A, np.zeros((1, 6)), 0.1)
    with pytest.raises(ValueError, match="lambda must be positive"):
        inverse.FIRENet(p.A, lam=0.0)
    with pytest.raises(ValueError, match="eta must be positive"):
        inverse.worst_case_perturbation(inverse.FIRENet(p.A, restarts=1, inner=1), np.zeros((1, 5)), eta=0)


@pytest.mark.parametrize("name", NETS)
def test_trained_nets_are_relu_networks_the_other_analyses_read(name):
    """LISTA and the MLPs are plain Linear/ReLU networks: canonical form, exact regions, spectra."""
    from explorer import nets, regions, spectra

    net = zoo.load(name)
    p = inverse.make_problem(**inverse.ZOO_PROBLEM)
    Xa, Xb = inverse.training_twins(p)
    Y = inverse.measure(p, np.r_[Xa[:2], Xb[:1]])
    canon = nets.canonical(net)
    with torch.no_grad():
        expected = net(torch.as_tensor(Y, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(canon.forward(torch.as_tensor(Y)).numpy(), expected, atol=1e-5)
    A, c = canon.region_affine_map(torch.as_tensor(Y[2]))
    np.testing.assert_allclose(A @ Y[2] + c, expected[2], atol=1e-5)
    plane = regions.plane_through(Y)   # the triangle through two signals' and one twin's measurements
    part = regions.partition_plane(net, plane.origin, plane.directions, plane.polygon)
    assert part.num_regions >= 1
    assert len(spectra.model_spectra(net)) == len(zoo.card(name)["layers"]) // 2 + 1
