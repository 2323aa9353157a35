"""The EoS flows (``diaglin.eos_flows``): the third derivatives they use against finite
differences, the central flow's defining properties (gradient descent at a quarter step below
the edge, sharpness held at 2/η, loss never rising, endpoints on theory's slice), both flows
tending to gradient flow as η shrinks, the rod's growth above the edge, and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diaglin as dl
from diaglin.eos_flows import eos_flow
from diaglin.models import _numerics as nm
from theory import slice_candidates

MODELS = [("ww", {}), ("uv", {}), ("pm", {}), ("prod", {"depth": 3}), ("power", {"depth": 3})]


@pytest.mark.parametrize("name,kw", MODELS)
def test_hessian_entry_gradient_is_the_derivative_of_u_h_v(name, kw):
    """∇_θ(uᵀ∇²L(θ)v) (the third derivative d³L[u, v, ·]) against central differences of the
    exact Hessian, for random θ, u, v."""
    rng = np.random.default_rng(7)
    m = dl.get_model(name, **kw)
    n, d = 3, 4
    X, y = rng.normal(size=(n, d)), rng.normal(size=n)
    P = m.n_params(d)
    theta, u, v = rng.normal(size=P), rng.normal(size=P), rng.normal(size=P)
    tile = m.to_tile(theta)
    g = np.empty(d)
    nm.gbeta_at(m.kind, m.depth, tile, 0, X, y, g)
    out = np.empty((m.n_blocks, d))
    nm.hessian_entry_grad_run(m.kind, m.depth, tile, 0, X.T @ X / n, g,
                              u.reshape(m.n_blocks, d), v.reshape(m.n_blocks, d), out)  # fmt: skip
    h = 1e-5
    fd = np.empty(P)
    for p in range(P):
        e = np.zeros(P)
        e[p] = h
        fd[p] = (u @ m.hessian(theta + e, X, y) @ v - u @ m.hessian(theta - e, X, y) @ v) / (2 * h)
    np.testing.assert_allclose(out.reshape(-1), fd, rtol=1e-6, atol=1e-7)


def _one_point(d=5, alpha=0.01, seed=0):
    ds = dl.data.one_point(d, seed=seed)
    m = dl.get_model("ww")
    th0 = m.init(d, alpha)
    gf = dl.gradient_flow(m, ds.X, ds.y, th0)
    return m, ds, th0, gf


@pytest.mark.warm_cache
def test_central_flow_below_the_edge_is_gd_at_a_quarter_step():
    """With no eigenvalue near 2/η the central flow is gradient flow, integrated by Euler
    substeps of η/4: GD with step η/4, four steps per unit of time."""
    m, ds, th0, gf = _one_point()
    etas = gf.eta_c * np.array([0.2, 0.4])
    T = 30
    cf = eos_flow("central", m, ds.X, ds.y, etas, th0, eps=1e-300, max_steps=T)
    gd = dl.run_gd(m, ds.X, ds.y, etas / 4, th0, eps=1e-300, max_steps=4 * T, path="tile")
    assert (cf.status == dl.Status.MAX_STEPS).all() and (cf.steps == T).all()
    np.testing.assert_allclose(cf.theta, gd.theta, rtol=1e-12, atol=1e-15)
    assert (cf.oscillation == 0).all()


@settings(deadline=None, max_examples=6)
@given(d=st.integers(2, 5), seed=st.integers(0, 50), ratio=st.floats(1.1, 1.8))
def test_central_flow_holds_the_sharpness_at_the_edge_and_lowers_the_loss(d, seed, ratio):
    """On one-point w⊙w instances above eta_c (where theory's slice S = 2/η is nonempty): along
    the recorded path S·η/2 ≤ 1 + 3e-3 (the Euler substeps' overshoot where an eigenvalue
    reaches the edge) and the centre's loss never rises; a converged
    endpoint lies on the slice, |S·η/2 − 1| ≤ 1e-3, and interpolates."""
    m, ds, th0, gf = _one_point(d, alpha=0.05, seed=seed)
    eta = ratio * gf.eta_c
    cand = slice_candidates(ds.X[0], float(ds.y[0]), np.array([eta]), 0.05)
    if not np.isfinite(cand.min_l1).all():  # the slice is empty: no stable interpolator
        return
    r = eos_flow("central", m, ds.X, ds.y, [eta], th0, eps=1e-12, max_steps=20_000,
                 record_every=1)  # fmt: skip
    s = r.trajectory.sharpness[0] * eta / 2
    assert np.nanmax(s) <= 1 + 3e-3  # the Euler substeps overshoot by O(dt²) on activation
    loss = r.trajectory.loss[0]
    loss = loss[np.isfinite(loss)]
    assert (np.diff(loss) <= 1e-12 * loss[:-1] + 1e-300).all()
    if r.status[0] == dl.Status.CONVERGED:
        assert abs(r.sharpness[0] * eta / 2 - 1) <= 1e-3
        assert abs(ds.X[0] @ r.beta[0] - ds.y[0]) <= np.sqrt(2e-12) * 1.01


def test_both_flows_tend_to_gradient_flow_as_eta_shrinks():
    """Below eta_c the endpoints of both flows approach gradient flow's limit as η → 0, at
    first order: halving η at least nearly halves the distance (and it is small)."""
    m, ds, th0, gf = _one_point()
    etas = gf.eta_c * np.array([0.1, 0.05])
    for flow in ("central", "rod"):
        r = eos_flow(flow, m, ds.X, ds.y, etas, th0, eps=1e-14, max_steps=50_000)
        assert (r.status == dl.Status.CONVERGED).all(), flow
        err = np.linalg.norm(r.beta - gf.beta_limit, axis=1) / np.linalg.norm(gf.beta_limit)
        assert err[0] < 0.05 and err[1] < 0.6 * err[0], (flow, err)


@pytest.mark.warm_cache
def test_the_rod_starts_as_gds_first_step_and_ends_collapsed_where_gd_ends():
    """The rod starts as the segment [θ0, θ1] of GD's first step (tr Σ = (η/2)²‖∇L(θ0)‖²);
    where GD converges the rod collapses onto its endpoint (tr Σ → 0), below the edge with
    S·η/2 < 1 and above it at the edge like GD's (within 3 %)."""
    m, ds, th0, gf = _one_point()
    etas = gf.eta_c * np.array([0.5, 1.4])
    r = eos_flow("rod", m, ds.X, ds.y, etas, th0, eps=1e-12, record_every=1)
    gd = dl.run_gd(m, ds.X, ds.y, etas, th0, eps=1e-12)
    g0 = m.grad(th0, ds.X, ds.y)
    np.testing.assert_allclose(r.trajectory_oscillation[:, 0], (etas / 2) ** 2 * (g0 @ g0),
                               rtol=1e-12)  # fmt: skip
    assert (r.status == dl.Status.CONVERGED).all() and (gd.status == dl.Status.CONVERGED).all()
    assert (r.oscillation < 1e-10).all()
    edge = r.sharpness * etas / 2
    assert edge[0] < 1 and abs(edge[1] - 1) < 0.03
    assert abs(gd.sharpness[1] * etas[1] / 2 - 1) < 0.03


@pytest.mark.parametrize(
    "kwargs,name",
    [(dict(flow="edge"), "flow"), (dict(threshold=2.0), "threshold"),
     (dict(substeps=0), "substeps"), (dict(etas=[-0.1]), "eta"), (dict(eps=0.0), "eps"),
     (dict(record_until=-1), "record_until")],
)  # fmt: skip
def test_bad_arguments_are_value_errors_naming_them(kwargs, name):
    ds = dl.data.one_point(3)
    args = dict(flow="central", model="ww", X=ds.X, y=ds.y, etas=[0.1], theta0=np.ones(3))
    args.update(kwargs)
    flow = args.pop("flow")
    with pytest.raises(ValueError, match=name):
        eos_flow(flow, **args)


def test_networks_are_refused():
    from diaglin.nets import Network

    net = Network(in_shape=(1, 1, 3), hidden=(4,), n_out=1)
    with pytest.raises(ValueError, match="diagonal model"):
        eos_flow("rod", net, np.ones((2, 3)), np.ones(2), [0.1], np.zeros(5))


@pytest.mark.parametrize("flow,etas", [("central", [1000.0, 2000.0]), ("rod", [3.0, 10.0])])
def test_divergence_is_a_recorded_outcome_reporting_the_last_finite_state(flow, etas):
    """Far above the edge both flows blow up inside a GD step (their eigendecompositions then
    see inf): the run ends DIVERGED, as GD's does, and reports its last finite centre. (The
    central flow, held at the edge, diverges only where its Euler substep overshoots.)"""
    ds = dl.data.one_point(3)
    m = dl.get_model("ww")
    th0 = np.full(3, 0.5)
    etas = np.array(etas)
    r = eos_flow(flow, m, ds.X, ds.y, etas, th0, max_steps=200, diverge_factor=1e300)
    gd = dl.run_gd(m, ds.X, ds.y, etas, th0, max_steps=200, diverge_factor=1e300)
    assert (r.status == dl.Status.DIVERGED).all() and (gd.status == dl.Status.DIVERGED).all()
    assert np.isfinite(r.theta).all() and np.isfinite(r.loss).all()
    assert np.isfinite(r.oscillation).all() and (r.steps < 200).all()


@pytest.mark.parametrize("flow", ["central", "rod"])
def test_runs_cut_into_one_step_kernel_calls_are_bitwise_the_same(flow, monkeypatch):
    """The runs advance in short kernel calls (Ctrl-C acts between them); the state carried
    from call to call (centre, the rod's extent, the central flow's last tr Σ) is the whole
    state: one step per call gives bitwise the same runs, paths and progress up to the end."""
    m, ds, th0, gf = _one_point()
    etas = gf.eta_c * np.array([0.6, 1.3, 1.6])
    kw = dict(eps=1e-10, max_steps=400, record_every=3)
    whole = eos_flow(flow, m, ds.X, ds.y, etas, th0, **kw)
    monkeypatch.setattr(dl.chunks, "_FIRST_CHUNK_WORK", 1)
    monkeypatch.setattr(dl.chunks, "CHUNK_SECONDS", 1e-12)
    seen = []
    cut = eos_flow(flow, m, ds.X, ds.y, etas, th0, progress=seen.append, **kw)
    assert seen[:3] == [1, 2, 3] and seen == sorted(seen)
    assert seen[-1] == min(cut.steps.max() + 1, kw["max_steps"])
    for name in ("theta", "steps", "status", "oscillation", "trajectory_oscillation",
                 "trajectory_gd_loss"):  # fmt: skip
        np.testing.assert_array_equal(getattr(cut, name), getattr(whole, name), err_msg=name)
    assert (whole.unsolved == 0).all()


def test_a_recording_too_large_for_memory_is_refused_before_any_work(monkeypatch):
    from diaglin import driver

    monkeypatch.setattr(driver, "available_memory", lambda: 10**6)
    ds = dl.data.one_point(3)
    with pytest.raises(driver.BatchTooLarge, match="rod flow"):
        eos_flow("rod", "ww", ds.X, ds.y, np.full(50, 0.1), np.ones(3), max_steps=10**6,
                 record_every=1)  # fmt: skip


def _sdcp_instance(k, rank, seed):
    """A0 (k×k, symmetric, indefinite) and Q = ½ GᵀG over symmetric k×k matrices from
    ``rank`` vectors: Q[a,b,e,f] = ½ Σ_p G[a,b,p] G[e,f,p] as the central flow builds it."""
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(k, k, rank))
    G = 0.5 * (G + G.transpose(1, 0, 2))
    A0 = rng.normal(size=(k, k))
    return 0.5 * (A0 + A0.T) - 0.5 * np.eye(k), 0.5 * np.einsum("abp,efp->abef", G, G)


@pytest.mark.parametrize("seed", range(4))
def test_complementarity_solver_meets_its_conditions_or_says_it_did_not(seed):
    """``_sdcp``: where Q is positive definite on symmetric matrices the solution satisfies
    M ⪰ 0, S = A0 + Q[M] ⪰ 0, ⟨M, S⟩ = 0 (checked with eigh); where Q is singular and A0 pulls
    along its kernel (no solution) it reports unsolved instead of returning a wrong M."""
    from diaglin.kernels.eos_flows import _sdcp

    A0, Q = _sdcp_instance(2, rank=6, seed=seed)
    M, solved = _sdcp(A0, Q)
    S = A0 + np.einsum("abef,ef->ab", Q, M)
    assert solved
    scale = 1 + np.abs(M).max() * np.abs(Q).max()
    assert np.linalg.eigvalsh(M).min() >= -1e-9 * scale
    assert np.linalg.eigvalsh(S).min() >= -1e-7 * scale
    assert abs(np.sum(M * S)) <= 1e-7 * scale
    # Q = ½ g⊗g with g = diag(1, −1): Q[M] = 0 for M = t·I ⪰ 0, along which A0 = −I lowers
    # ½⟨M, Q[M]⟩ + ⟨A0, M⟩ without bound: no solution
    g = np.diag([1.0, -1.0])
    M, solved = _sdcp(-np.eye(2), 0.5 * np.einsum("ab,ef->abef", g, g))
    assert not solved


@given(k=st.integers(2, 3), rank=st.integers(0, 3), seed=st.integers(0, 2**16))
@settings(max_examples=30, deadline=None)
def test_complementarity_solver_finds_a_planted_solution_inside_and_on_its_boundary(k, rank, seed):
    """``_sdcp`` on problems with a known solution: Q positive definite on symmetric matrices,
    M* ⪰ 0 of rank ``rank`` (≥ k: positive definite, the interior, solved by one linear
    solve; below: on the cone's boundary, by projected gradient) and S* ⪰ 0 with S* M* = 0,
    A0 = S* − Q[M*]: the KKT conditions hold at M*, the unique solution."""
    from diaglin.kernels.eos_flows import _sdcp

    rank = min(rank, k)
    rng = np.random.default_rng(seed)
    E = np.linalg.qr(rng.normal(size=(k, k)))[0]
    M_star = (E[:, :rank] * rng.uniform(0.5, 2.0, rank)) @ E[:, :rank].T
    S_star = (E[:, rank:] * rng.uniform(0.5, 2.0, k - rank)) @ E[:, rank:].T
    _, Q = _sdcp_instance(k, rank=k * (k + 1), seed=seed)
    A0 = S_star - np.einsum("abef,ef->ab", Q, M_star)
    M, solved = _sdcp(A0, Q)
    assert solved
    np.testing.assert_allclose(M, M_star, atol=1e-8 * (1 + np.abs(M_star).max()))


@pytest.mark.parametrize("second", [0.0, 1e-3, 0.3, 1.0])
def test_rod_extent_is_the_top_eigenpair_of_sigma(second):
    """``_rod_vector``: δ = √μ₁ e₁ of Σ (sign aside) as dense ``eigh`` gives it, by power
    iteration from the last direction, or eigh where that converges slowly — also where the two
    top eigenvalues are equal (any unit vector of the top eigenspace is then a best rank-one
    approximation, so only δ's length and Rayleigh quotient are checked)."""
    from diaglin.kernels.eos_flows import _rod_vector

    rng = np.random.default_rng(3)
    K, d = 2, 4
    P = K * d
    E = np.linalg.qr(rng.normal(size=(P, P)))[0]
    mu = np.array([2.0, 2.0 * second, *rng.uniform(0, 1e-3, P - 2)])
    Sigma = (E * mu) @ E.T
    u = rng.normal(size=P)
    u /= np.linalg.norm(u)
    delta = _rod_vector(Sigma, K, d, u).reshape(P)
    lam, V = np.linalg.eigh(Sigma)
    np.testing.assert_allclose(delta @ delta, lam[-1], rtol=1e-12)
    np.testing.assert_allclose(delta @ Sigma @ delta, lam[-1] ** 2, rtol=1e-12)
    if second < 1.0:
        np.testing.assert_allclose(np.abs(delta), np.sqrt(lam[-1]) * np.abs(V[:, -1]),
                                   atol=1e-10)  # fmt: skip
    np.testing.assert_allclose(np.abs(u), np.abs(delta) / np.sqrt(lam[-1]), atol=1e-12)
    # a start exactly on another eigenvector is a fixed point of the power iteration: the trace
    # certificate rejects it and eigh finds the top eigenpair
    u = E[:, 1].copy()
    delta = _rod_vector(Sigma, K, d, u).reshape(P)
    np.testing.assert_allclose(delta @ delta, lam[-1], rtol=1e-12)


def _spectrum_matrix(lam, seed):
    """A symmetric matrix with eigenvalues ``lam`` and random orthonormal eigenvectors E."""
    E = np.linalg.qr(np.random.default_rng(seed).normal(size=(lam.size, lam.size)))[0]
    return (E * lam) @ E.T, E


@given(P=st.integers(2, 12), seed=st.integers(0, 2**16), gap=st.floats(0.02, 5.0),
       tilt=st.floats(1e-8, 1e-2))  # fmt: skip
@settings(max_examples=40, deadline=None)
def test_top_pair_is_certified_only_where_one_eigenvalue_is_above_the_cut(P, seed, gap, tilt):
    """``_top_pair`` (the central flow's warm-started top eigenpair): from a start near the top
    eigenvector (``tilt`` off it per coordinate, as the last substep's eigenvector is) it
    returns the top eigenpair of dense ``eigh`` where exactly one eigenvalue is at or above the
    cut c, and refuses (the caller then diagonalises) where a second eigenvalue is above c, or
    where the top one is below c. (From a start far off, the iteration may converge to another
    eigenpair: refused, as the next test checks.)"""
    from diaglin.kernels.eos_flows import _top_pair

    rng = np.random.default_rng(seed + 1)
    c = 1.0
    rest = rng.uniform(-2.0, c - 1e-3, P - 1)
    H, E = _spectrum_matrix(np.array([c + gap, *rest]), seed)
    work = np.empty((2, P, P))

    def start():
        u = E[:, 0] + tilt * rng.normal(size=P)
        return u / np.linalg.norm(u)

    u = start()
    mu, found = _top_pair(H, c, u, work[0], work[1])
    lam, V = np.linalg.eigh(H)
    assert found
    np.testing.assert_allclose(mu, lam[-1], rtol=1e-12)
    np.testing.assert_allclose(np.abs(u), np.abs(V[:, -1]), atol=1e-10)
    assert np.linalg.norm(H @ u - mu * u) <= 1e-12 * abs(mu)
    # a second eigenvalue above the cut: not certified, whichever eigenpair the iteration found
    H2, E = _spectrum_matrix(np.array([c + gap, c + 0.5 * gap, *rest[1:]]), seed)
    assert not _top_pair(H2, c, start(), work[0], work[1])[1]
    # the top eigenvalue below the cut (the caller's Cholesky test said otherwise: rounding)
    assert not _top_pair(H, c + 2 * gap, start(), work[0], work[1])[1]
    # no start (the first substep at the edge)
    assert not _top_pair(H, c, np.zeros(P), work[0], work[1])[1]


def test_top_pair_started_on_another_eigenvector_is_refused():
    """Rayleigh quotient iteration started exactly on a lower eigenvector stays there; the
    deflation certificate (the top eigenvalue is still above the cut) refuses it."""
    from diaglin.kernels.eos_flows import _top_pair

    H, E = _spectrum_matrix(np.array([3.0, 0.5, 0.2, -1.0]), 0)
    mu, found = _top_pair(H, 0.4, E[:, 1].copy(), np.empty((4, 4)), np.empty((4, 4)))
    np.testing.assert_allclose(mu, 0.5, rtol=1e-12)
    assert not found
