"""theory's Hessian / sharpness formulas against diaglin's exact Hessians."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import diaglin
import theory

SETTINGS = settings(deadline=None, max_examples=25)


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(1, 6))
def test_one_point_hessian_matches_diaglin(seed, d):
    rng = np.random.default_rng(seed)
    x, w, y = rng.uniform(-1.5, 1.5, d), rng.uniform(-1, 1, d), float(rng.uniform(-2, 2))
    H = diaglin.hessian(diaglin.get_model("ww"), w, x[None, :], np.array([y]))
    np.testing.assert_allclose(theory.hessian(x, w, y), H, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(1, 6))
def test_sharpness_at_interpolation_matches_diaglin(seed, d):
    rng = np.random.default_rng(seed)
    x, w = rng.uniform(0.3, 1.5, d), rng.uniform(-1, 1, d)
    y = float(x @ w**2)
    res = diaglin.sharpness(diaglin.get_model("ww"), w, x[None, :], np.array([y]))
    assert np.isclose(theory.sharpness_at_interpolation(x, w**2), res.top_abs, rtol=1e-11)
    assert np.isclose(theory.sharpness_at_interpolation(x, w**2), res.trace, rtol=1e-11)


def _interpolating_theta(model, X, rng, balanced):
    """theta with X beta(theta) = y for y := X beta(theta) (any theta interpolates its own y)."""
    d = X.shape[1]
    if model == "ww":
        return rng.uniform(-1, 1, d)
    u = rng.uniform(0.2, 1.0, d) * rng.choice([-1, 1], d)
    if model == "uv":
        v = np.abs(u) * rng.choice([-1, 1], d) if balanced else rng.uniform(-1, 1, d)
    else:
        v = np.zeros(d) if balanced else rng.uniform(-1, 1, d)
        if balanced:  # u_i v_i = 0 with mixed roles
            swap = rng.random(d) < 0.5
            u, v = np.where(swap, 0.0, u), np.where(swap, u, 0.0)
    return np.concatenate([u, v])


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    model=st.sampled_from(["ww", "uv", "pm"]),
    balanced=st.booleans(),
    n=st.integers(1, 4),
)
def test_n_sample_sharpness_and_bounds_match_diaglin(seed, model, balanced, n):
    rng = np.random.default_rng(seed)
    d = n + int(rng.integers(0, 4))
    X = rng.normal(size=(n, d))
    m = diaglin.get_model(model)
    theta = _interpolating_theta(model, X, rng, balanced)
    beta = m.beta(theta)
    y = X @ beta
    S = diaglin.sharpness(m, theta, X, y).top_abs
    assert np.isclose(theory.interpolation_sharpness(X, theta, model), S, rtol=1e-10, atol=1e-12)
    bound = theory.sharpness_lower_bound(X, beta, model)
    assert bound <= S * (1 + 1e-10) + 1e-12
    if model == "ww" or balanced:  # equality conditions
        assert np.isclose(bound, S, rtol=1e-10, atol=1e-12)
