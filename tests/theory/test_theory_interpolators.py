"""Pure-theory checks: interpolators, stability thresholds, generalization, vertex theorem."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import one_point_gf_path_sharpness
from scipy.optimize import linprog, minimize

import theory

SETTINGS = settings(deadline=None, max_examples=25)


def _instance(seed, d, nonneg=True):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.4, 1.6, d)
    bs = rng.uniform(0.0, 1.0, d) if nonneg else rng.normal(size=d)
    y = float(x @ bs) if nonneg else float(rng.uniform(0.2, 2.0))
    return x, y, bs


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(2, 7), model=st.sampled_from(["ww", "pm", "uv"]))
def test_vertices_solve_the_norm_and_sharpness_lps(seed, d, model):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.4, 1.6, d) * (rng.choice([-1, 1], d) if model != "ww" else 1)
    y = float(rng.uniform(0.3, 2.0))
    c = theory.one_point.SHARPNESS_CONSTANT[model]
    A = x[None, :] if model == "ww" else np.hstack([x, -x])[None, :]
    w = np.abs(x) if model == "ww" else np.concatenate([np.abs(x), np.abs(x)])
    lp_norm = linprog(np.ones(A.shape[1]), A_eq=A, b_eq=[y], bounds=(0, None)).fun
    lp_sharp = linprog(c * w**2, A_eq=A, b_eq=[y], bounds=(0, None)).fun
    vn = theory.min_norm_interpolator(x, y, model)
    vs = theory.min_sharpness_interpolator(x, y, model)
    assert np.isclose(vn.l1, lp_norm, rtol=1e-9)
    assert np.isclose(vs.sharpness, lp_sharp, rtol=1e-9)
    assert np.isclose(vs.sharpness, theory.sharpness_at_interpolation(x, vs.beta, model))
    assert np.isclose(x @ vn.beta, y) and np.isclose(x @ vs.beta, y)
    assert vs.l1 >= vn.l1 - 1e-12 and vs.sharpness <= vn.sharpness + 1e-12  # the conflict
    if model == "ww":
        assert np.isclose(theory.min_norm_eta_max(x, y), 1 / (2 * y * x.max()))
        assert np.isclose(vn.sharpness, 4 * y * x.max())
        assert np.isclose(vs.sharpness, 4 * y * x.min())


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(2, 6), nonneg=st.booleans())
def test_best_interpolator_is_the_projection_and_vertex_condition_is_exact(seed, d, nonneg):
    x, y, bs = _instance(seed, d, nonneg)
    p = theory.best_interpolator(x, y, bs, 2)
    ref = minimize(lambda b: np.sum((b - bs) ** 2), np.full(d, y / x.sum()), method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda b: x @ b - y}],
                   bounds=[(0, None)] * d, options={"ftol": 1e-15, "maxiter": 500})  # fmt: skip
    assert np.all(p >= 0) and np.isclose(x @ p, y, rtol=1e-13)
    assert np.sum((p - bs) ** 2) <= np.sum((ref.x - bs) ** 2) * (1 + 1e-7)  # SLSQP: ~feasible
    V = theory.interpolating_vertices(x, y)
    at_vertex = np.array([np.max(np.abs(p - V[j])) < 1e-9 for j in range(d)])
    np.testing.assert_array_equal(theory.vertex_is_optimal(x, y, bs), at_vertex)


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(2, 6), p=st.sampled_from([1, np.inf]))
def test_best_interpolator_lp_norms(seed, d, p):
    x, y, bs = _instance(seed, d, nonneg=False)
    best = theory.best_interpolator(x, y, bs, p)
    err = getattr(theory.generalization_error(best, bs), "l1" if p == 1 else "linf")
    rng = np.random.default_rng(seed)
    for _ in range(50):  # random feasible points are never better
        b = rng.dirichlet(np.ones(d)) * y / x
        b = b * (y / (x @ b))
        other = theory.generalization_error(b, bs)
        assert (other.l1 if p == 1 else other.linf) >= err - 1e-9


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(2, 6), k=st.integers(2, 6))
def test_noise_free_optimum_is_neither_vertex_when_support_at_least_two(seed, d, k):
    x, _, _ = _instance(seed, d)
    rng = np.random.default_rng(seed + 1)
    bs = np.zeros(d)
    bs[rng.choice(d, size=min(k, d), replace=False)] = rng.uniform(0.1, 1.0, min(k, d))
    y = float(x @ bs)
    assert theory.optimum_is_neither_vertex(x, y, bs)
    np.testing.assert_allclose(theory.best_interpolator(x, y, bs), bs, atol=1e-12)
    # and a 1-sparse beta* at the min-norm vertex makes that vertex optimal
    j = int(np.argmax(x))
    e = np.zeros(d)
    e[j] = 1.0
    assert not theory.optimum_is_neither_vertex(x, float(x[j]), e)


def test_errors_and_expected_test_loss_by_monte_carlo():
    rng = np.random.default_rng(0)
    beta, bs = rng.normal(size=4), rng.normal(size=4)
    err = theory.generalization_error(beta, bs, noise_var=0.3)
    diff = beta - bs
    assert np.isclose(err.l1, np.abs(diff).sum()) and np.isclose(err.linf, np.abs(diff).max())
    assert np.isclose(err.l2, np.linalg.norm(diff))
    Xt = rng.normal(size=(400_000, 4))
    noise = rng.normal(scale=np.sqrt(0.3), size=400_000)
    mc = 0.5 * np.mean((Xt @ beta - (Xt @ bs + noise)) ** 2)
    assert np.isclose(err.test_loss, mc, rtol=1e-2)


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(2, 6), log_alpha=st.floats(-4, -0.3))
def test_gf_path_certificate_and_eta_max(seed, d, log_alpha):
    x, y, _ = _instance(seed, d)
    alpha = 10.0**log_alpha
    path = theory.one_point_gf_path(x, y, alpha, num=401)
    # s_GF against an independent brute-force maximisation over a 10x finer grid
    s_ref = one_point_gf_path_sharpness(x, y, alpha, 1e-12)
    assert path.s_gf == pytest.approx(s_ref, rel=1e-9)
    assert path.eta_c == pytest.approx(2 / s_ref, rel=1e-9)
    if path.endpoint_certified:  # the certificate claims the maximum is at the end of the path
        assert path.s_gf == pytest.approx(path.sharpness[-1], rel=1e-12)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="x"):
        theory.best_interpolator([-1.0, 1.0], 1.0, [0.0, 0.0])
    with pytest.raises(ValueError, match="p"):
        theory.best_interpolator([1.0, 1.0], 1.0, [0.0, 0.0], p=3)
    with pytest.raises(ValueError, match="etas"):
        theory.two_coordinate_slice_point([2.0, 1.0], 1.0, [-0.1])
    with pytest.raises(ValueError, match="sharpness"):
        theory.eta_max(0.0)
    with pytest.raises(ValueError, match="beta"):
        theory.sharpness_at_interpolation([1.0, 2.0], [1.0, 2.0, 3.0])
