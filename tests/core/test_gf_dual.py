"""Gradient flow in its dual form (``diaglin.kernels.gf_dual``): the Radau IIA tableau, the
closed-form coordinate maps, the flow against the explicit integrator and against theory, the
tail certificate as an upper bound, and the batched call against single runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diaglin as dl
import theory
from diaglin.kernels import gf_dual

SETTINGS = settings(deadline=None, max_examples=15)
MODELS = [("ww", {}), ("uv", {}), ("pm", {}), ("power", {"depth": 3}), ("prod", {"depth": 3}),
          ("power", {"depth": 1}), ("prod", {"depth": 2})]  # fmt: skip


def test_the_radau_tableau_has_order_five():
    c, A = gf_dual.C, gf_dual.A
    b = A[2]  # stiffly accurate: the weights are the last row
    assert np.allclose(A.sum(axis=1), c, atol=1e-15)
    for k in range(1, 6):  # B(5): quadrature of order 5
        assert abs(b @ c ** (k - 1) - 1 / k) < 1e-15
    for k in range(1, 4):  # C(3): stage order 3
        assert np.allclose(A @ c ** (k - 1), c**k / k, atol=1e-15)
    z = -1e8  # L-stable: R(z) -> 0 as z -> -inf
    assert abs(1 + z * b @ np.linalg.solve(np.eye(3) - z * A, np.ones(3))) < 1e-7


def _tile(theta, K, d):
    return np.ascontiguousarray(np.asarray(theta, float).reshape(K, d, 1))


@SETTINGS
@given(case=st.sampled_from(MODELS), seed=st.integers(0, 10_000), s=st.floats(-0.3, 0.3))
def test_the_coordinate_maps_solve_their_equation(case, seed, s):
    """θ_j(s) solves dθ_j/ds = −∇β_j(θ_j) (central differences, h = 1e-5)."""
    name, kw = case
    m = dl.get_model(name, **kw)
    rng = np.random.default_rng(seed)
    K, d = m.n_blocks, 4
    w = rng.uniform(0.2, 1.0, d) * rng.choice([-1.0, 1.0], d)
    th0 = np.tile(w, K) if name == "prod" else rng.uniform(-1.0, 1.0, K * d)
    tile0 = _tile(th0, K, d)

    def at(si):
        out = np.empty((K, d, 1))
        for j in range(d):
            gf_dual.coord(m.kind, m.depth, tile0, j, si, out)
        return out

    h = 1e-5
    mid = at(s)
    deriv = (at(s + h) - at(s - h)) / (2 * h)
    grad = np.empty((K, d))
    for k in range(K):
        for j in range(d):
            grad[k, j] = dl.models._ops.dbeta_jt(m.kind, m.depth, mid, k, j, 0)
    assert np.allclose(deriv[:, :, 0], -grad, rtol=1e-6, atol=1e-8)
    assert np.allclose(at(0.0), tile0, rtol=1e-15, atol=0)


def _instance(seed, name, kw):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 4)), int(rng.integers(4, 8))
    X = rng.standard_normal((n, d))
    if name in ("ww", "power", "prod") and kw.get("depth", 2) % 2 == 0 or name == "ww":
        X = np.abs(X)  # beta >= 0 models: a positive target they can reach
    y = X @ rng.uniform(0.2, 1.0, d)
    m = dl.get_model(name, **kw)
    return m, X, y, m.init(d, float(rng.uniform(0.05, 0.3)))


@SETTINGS
@given(case=st.sampled_from(MODELS), seed=st.integers(0, 10_000))
def test_the_dual_flow_matches_the_explicit_integrator(case, seed):
    m, X, y, th0 = _instance(seed, *case)
    dual = dl.gradient_flow(m, X, y, th0, eps=1e-10, method="dual", t_max=1e5)
    ref = dl.gradient_flow(m, X, y, th0, eps=1e-10, method="dop853", t_max=1e5)
    assert dual.method == "dual" and ref.method == "dop853"
    assert dual.status == ref.status
    if not ref.converged:
        return
    assert np.isclose(dual.s_gf, ref.s_gf, rtol=1e-8)
    assert np.isclose(dual.t[-1], ref.t[-1], rtol=1e-6)
    assert np.allclose(dual.beta_final, ref.beta_final, rtol=1e-6, atol=1e-8)
    assert dual.s_gf_certified
    # the recorded path is a gradient-flow path: its loss falls, its theta is theta(rho)
    assert np.all(np.diff(dual.loss) <= 1e-15 * dual.loss[0])


@settings(deadline=None, max_examples=10)
@given(seed=st.integers(0, 10_000), model=st.sampled_from(["ww", "uv", "pm"]),
       alpha=st.floats(0.01, 0.3))  # fmt: skip
def test_the_limit_is_theorys_gf_limit(seed, model, alpha):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 5)), int(rng.integers(5, 16))
    X = np.abs(rng.standard_normal((n, d)))
    y = X @ rng.uniform(0.1, 1.0, d)  # a dense target: the limit is not on a face
    m = dl.get_model(model)
    gf = dl.gradient_flow(m, X, y, m.init(d, alpha), eps=1e-12)
    assert gf.converged and gf.s_gf_certified
    pred = theory.gf_limit(X, y, model, alpha).beta
    assert np.max(np.abs(gf.beta_limit - pred)) <= 1e-8 * np.max(np.abs(pred))
    # the endpoint at L = eps lies within the certified ball's reach of the limit
    assert np.max(np.abs(gf.beta_final - pred)) <= 1e-3 * np.max(np.abs(pred))


@SETTINGS
@given(case=st.sampled_from(MODELS[:4]), seed=st.integers(0, 10_000), u=st.floats(0, 1))
def test_the_tail_bound_bounds_the_sharpness_on_its_ball(case, seed, u):
    """Every point of the certified ball (radius R around rho) whose residual is at most the
    centre's has sharpness <= the bound: the flow's future lies among such points."""
    m, X, y, th0 = _instance(seed, *case)
    n, d = X.shape
    tile0 = _tile(th0, m.n_blocks, d)
    info = np.empty(8 + n)
    one, row = np.empty(1), np.empty((1, n))
    gf_dual.integrate(m.kind, m.depth, tile0, X, y, 1e-6, 1e7, 1e-11, 1e-14, 50_000, one, row,
                      one.copy(), info, False)  # fmt: skip
    if info[0] != gf_dual.CONVERGED:
        return
    rho = info[8:]
    bound, R = gf_dual.tail_bound(m.kind, m.depth, tile0, X, y, rho)
    if not np.isfinite(bound):
        return
    rng = np.random.default_rng(seed)
    th, r0, r = np.empty((m.n_blocks, d, 1)), np.empty(n), np.empty(n)
    gf_dual.residual(m.kind, m.depth, tile0, X, y, rho, th, r0)
    for _ in range(20):
        v = rng.standard_normal(n)
        point = rho + u * R * v / np.linalg.norm(v)
        gf_dual.residual(m.kind, m.depth, tile0, X, y, point, th, r)
        if np.linalg.norm(r) > np.linalg.norm(r0):
            continue
        s = dl.sharpness(m, th[:, :, 0].reshape(-1), X, y).top_abs
        assert s <= bound * (1 + 1e-12)


def test_a_batch_of_initialisations_is_the_single_runs():
    m, X, y, _ = _instance(3, "ww", {})
    alphas = [0.01, 0.05, 0.2]
    th0 = np.stack([m.init(X.shape[1], a) for a in alphas])
    batch = dl.gradient_flow_batch(m, X, y, th0, eps=[1e-12, 1e-10, 1e-12])
    for b, eps in enumerate([1e-12, 1e-10, 1e-12]):
        one = dl.gradient_flow(m, X, y, th0[b], eps=eps)
        assert batch.status[b] == one.status
        assert batch.s_gf[b] == one.s_gf and batch.eta_c[b] == one.eta_c
        assert np.array_equal(batch.beta_final[b], one.beta_final)
        assert np.array_equal(batch.beta_limit[b], one.beta_limit)


def test_every_call_ends_in_a_status():
    m, X, y, th0 = _instance(5, "ww", {})
    short = dl.gradient_flow(m, X, y, th0, t_max=1e-3)
    assert short.status == dl.FlowStatus.T_MAX and np.isnan(short.s_gf)
    capped = dl.gradient_flow(m, X, y, th0, max_steps=3)
    assert capped.status == dl.FlowStatus.MAX_STEPS and capped.t.size == 4
    # a target the model cannot reach (w*w >= 0, y < 0): the loss stalls above eps
    stuck = dl.gradient_flow(m, X, -np.abs(y), th0, t_max=1e6)
    assert stuck.status == dl.FlowStatus.T_MAX and np.isnan(stuck.beta_limit).all()


def test_bad_options_are_named():
    m, X, y, th0 = _instance(5, "ww", {})
    with pytest.raises(ValueError, match="method"):
        dl.gradient_flow(m, X, y, th0, method="rk4")
    prod = dl.get_model("prod", depth=2)
    uneven = np.concatenate([np.full(X.shape[1], 0.1), np.full(X.shape[1], 0.2)])
    with pytest.raises(ValueError, match="method"):
        dl.gradient_flow(prod, X, y, uneven, method="dual")
    assert dl.gradient_flow(prod, X, y, uneven, t_max=1.0).method == "dop853"
    with pytest.raises(ValueError, match="eps"):
        dl.gradient_flow_batch(m, X, y, np.stack([th0, th0]), eps=[1e-12, -1.0])
