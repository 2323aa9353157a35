"""Paper 2's model [ours]: the min-norm point of the minima manifold (an LP), the label-noise
regulariser tr ∇²L (sympy vs closed form), and the time-scale helpers' validation."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import theory

SETTINGS = settings(deadline=None, max_examples=20)


def _beta(model, th, d):
    u = th[..., :d]
    v = th[..., d:] if model != "ww" else 0
    return {"ww": u * u, "pm": u * u - v * v, "uv": u * v}[model]


@SETTINGS
@given(seed=st.integers(0, 2**31), model=st.sampled_from(["ww", "pm", "uv"]),
       n=st.integers(1, 3), d=st.integers(1, 3))  # fmt: skip
def test_sympy_hessian_trace_is_the_closed_form_on_the_manifold(seed, model, n, d):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    th = rng.normal(size=d * (1 if model == "ww" else 2))
    y = X @ _beta(model, th, d)  # theta on M
    f = theory.hessian_trace_formula(model, n, d)
    assert f(X.ravel(), y, th) == pytest.approx(theory.label_noise_regularizer(th, X, model),
                                                rel=1e-10, abs=1e-12)  # fmt: skip


def test_pm_trace_does_not_depend_on_the_labels_and_is_4_norm_sq_for_unit_columns():
    f = theory.hessian_trace_formula("pm", 2, 2)
    ys = [s for s in f.expr.free_symbols if s.name.startswith("y")]
    assert ys == []  # the residual term cancels for u⊙u − v⊙v: tr ∇²L = 4 Σ c_j (u_j² + v_j²)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 10))
    X /= np.sqrt((X * X).mean(axis=0))
    th = rng.normal(size=20)
    assert theory.label_noise_regularizer(th, X, "pm") == pytest.approx(4 * th @ th, rel=1e-12)
    # ww keeps a residual term: off the manifold it is not 4||w||²
    fw = theory.hessian_trace_formula("ww", 1, 2)
    assert any(s.name.startswith("y") for s in fw.expr.free_symbols)
    assert sp.diff(fw.expr, sp.Symbol("y_1")) != 0


@SETTINGS
@given(seed=st.integers(0, 2**31), model=st.sampled_from(["pm", "uv", "ww"]),
       n=st.integers(2, 8), extra=st.integers(1, 12))  # fmt: skip
def test_min_norm_point_is_on_the_manifold_and_optimal_by_lp_duality(seed, model, n, extra):
    rng = np.random.default_rng(seed)
    d = n + extra
    X = rng.normal(size=(n, d))
    y = X @ (np.abs(rng.normal(size=d)) if model == "ww" else rng.normal(size=d))
    mn = theory.min_norm_point(X, y, model)
    assert np.allclose(X @ _beta(model, mn.theta, d), y, atol=1e-8 * (1 + np.abs(y).max()))
    assert mn.norm_sq == pytest.approx(mn.theta @ mn.theta)
    # the dual LP max yᵀν s.t. |Xᵀν| <= 1 (Xᵀν <= 1 for ww) attains ||beta||_1 (strong duality)
    ub = np.vstack([X.T, -X.T]) if model != "ww" else X.T
    dual = linprog(-y, A_ub=ub, b_ub=np.ones(ub.shape[0]), bounds=(None, None), method="highs")
    scale = 2.0 if model == "uv" else 1.0  # ||theta||² = 2||beta||_1 for uv
    assert mn.norm_sq == pytest.approx(scale * -dual.fun, rel=1e-7, abs=1e-9)
    # other points of M are not shorter: beta + (null-space move), split with slack c >= 0
    if model == "pm":
        z = np.linalg.svd(X)[2][-1]  # X z = 0
        for t, c in ((0.3, 0.0), (-0.7, 0.1), (0.0, 0.5)):
            b = mn.beta + t * z
            other = np.concatenate([np.sqrt(np.maximum(b, 0) + c), np.sqrt(np.maximum(-b, 0) + c)])
            assert np.allclose(X @ _beta("pm", other, d), y)
            assert other @ other >= mn.norm_sq - 1e-9


def test_no_interpolator_and_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="no interpolator"):
        theory.min_norm_point(np.array([[1.0, 2.0]]), np.array([-1.0]), "ww")
    with pytest.raises(ValueError, match="theta"):
        theory.label_noise_regularizer(np.ones(3), np.ones((2, 2)), "pm")
    with pytest.raises(ValueError, match="eta"):
        theory.phase_two_steps(0.0, 1.0)
    with pytest.raises(ValueError, match="eps"):
        theory.phase_one_steps(0.1, 1.0, -1.0)
