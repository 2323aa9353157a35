"""GF limits, GF-path sharpness and tiny-step GD against diaglin's integrators."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import diaglin
import theory

SETTINGS = settings(deadline=None, max_examples=20)


def _data(seed, model, n, d):
    ds = diaglin.data.sparse_regression(n, d, min(2, d), seed=seed)
    y = ds.X @ np.abs(ds.beta_star) + (0.05 * ds.X.sum(axis=1) if model == "ww" else 0.0)
    return ds.X, (y if model == "ww" else ds.y)


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    model=st.sampled_from(["ww", "uv", "pm"]),
    n=st.integers(1, 3),
    alpha=st.floats(0.03, 1.0),
)
def test_gf_limit_matches_diaglin_gradient_flow(seed, model, n, alpha):
    X, y = _data(seed, model, n, n + 4)
    m = diaglin.get_model(model)
    gf = diaglin.gradient_flow(m, X, y, m.init(X.shape[1], alpha), eps=1e-16)
    assert gf.converged
    pred = theory.gf_limit(X, y, model, alpha).beta
    assert np.max(np.abs(pred - gf.beta_final)) < 1e-6 * (1 + np.max(np.abs(pred)))


@SETTINGS
@given(seed=st.integers(0, 10_000), d=st.integers(2, 6), log_alpha=st.floats(-3, -0.5))
def test_one_point_s_gf_and_eta_c_match_diaglin(seed, d, log_alpha):
    ds = diaglin.data.one_point(d, seed=seed)
    alpha = 10.0**log_alpha
    m = diaglin.get_model("ww")
    gf = diaglin.gradient_flow(m, ds.X, ds.y, m.init(d, alpha), eps=1e-12)
    path = theory.one_point_gf_path(ds.X[0], ds.y[0], alpha, eps=1e-12)
    assert np.isclose(path.s_gf, gf.s_gf, rtol=1e-7)
    assert np.isclose(path.eta_c, gf.eta_c, rtol=1e-7)
    if path.endpoint_certified:  # closed form: s_GF = 4 sum x^2 beta_GF (up to the eps stop)
        beta_inf = theory.gf_limit(ds.X, ds.y, "ww", alpha).beta
        assert np.isclose(path.s_gf, theory.sharpness_at_interpolation(ds.X[0], beta_inf), 1e-4)


@settings(deadline=None, max_examples=10)
@given(seed=st.integers(0, 10_000), model=st.sampled_from(["ww", "uv", "pm"]))
def test_tiny_step_gd_matches_gf_limit(seed, model):
    X, y = _data(seed, model, 2, 6)
    alpha, eta, eps = 0.1, 1e-3, 1e-16
    m = diaglin.get_model(model)
    th0 = m.init(6, alpha)
    # GD at step eta needs about t/eta steps, t = the time gradient flow takes to reach eps
    # (in slow instances some coordinates decay like 1/t, and t reaches 1e3-1e6)
    gf = diaglin.gradient_flow(m, X, y, th0, eps=eps, t_max=1e9)
    assert gf.converged
    max_steps = int(3 * gf.t[-1] / eta) + 10_000
    r = diaglin.run_gd(m, X, y, np.array([eta]), th0, eps=eps, max_steps=max_steps)
    assert r.status[0] == diaglin.Status.CONVERGED, (r.steps[0], max_steps)
    pred = theory.gf_limit(X, y, model, alpha).beta
    # GD = GF with alpha_inf^2 = alpha^2 prod(1 - c^2 eta^2 g^2): O(eta) relative gap
    assert np.max(np.abs(pred - r.beta[0])) < 2e-3 * (1 + np.max(np.abs(pred)))
