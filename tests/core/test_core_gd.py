"""Batched GD: agreement with gradient flow, between kernels, statuses, recording, averaging."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import diaglin as dl
from diaglin import Status


def gf_limit_one_point(x, y, alpha):
    """β_i = α² exp(λ x_i) with Σ x_i α² e^{λ x_i} = y (spec 01 §3), solved independently."""
    lam = brentq(lambda t: np.sum(x * alpha**2 * np.exp(t * x)) - y, -50, 200, xtol=1e-15)
    return alpha**2 * np.exp(lam * x)


def rel_err(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@settings(deadline=None, max_examples=10)
@given(st.integers(0, 2**31), st.integers(2, 6), st.floats(1e-3, 0.1))
def test_gradient_flow_matches_closed_form_to_5_digits(seed, d, alpha):
    ds = dl.data.one_point(d, seed=seed)
    m = dl.get_model("ww")
    gf = dl.gradient_flow(m, ds.X, ds.y, m.init(d, alpha), eps=1e-14)
    assert gf.converged
    assert rel_err(gf.beta_final, gf_limit_one_point(ds.X[0], ds.y[0], alpha)) < 1e-5
    assert gf.s_gf >= gf.sharpness.max() * (1 - 1e-12)
    assert gf.eta_c == pytest.approx(2 / gf.s_gf)


def test_gd_with_small_steps_converges_to_gradient_flow_at_first_order():
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    ref = gf_limit_one_point(ds.X[0], ds.y[0], 0.01)
    etas = np.array([4e-3, 2e-3, 1e-3, 5e-4])
    r = dl.run_gd(m, ds.X, ds.y, etas, m.init(5, 0.01), eps=1e-20, max_steps=200_000)
    assert r.converged.all()
    errs = np.array([rel_err(b, ref) for b in r.beta])
    ratios = errs[:-1] / errs[1:]
    assert np.all((ratios > 1.7) & (ratios < 2.3)), (errs, ratios)  # error = O(η)
    assert errs[-1] < 1e-3


@settings(deadline=None, max_examples=15)
@given(st.integers(0, 2**31), st.integers(2, 6), st.floats(0.05, 3.0))
def test_converged_runs_satisfy_the_stability_bound(seed, d, eta_scale):
    # A GD run that converges to a minimum has S <= 2/η (up to the distance to the minimum).
    ds = dl.data.one_point(d, seed=seed)
    m = dl.get_model("ww")
    gf = dl.gradient_flow(m, ds.X, ds.y, m.init(d, 0.05))
    etas = gf.eta_c * np.linspace(0.2, 1.0, 8) * eta_scale
    r = dl.run_gd(m, ds.X, ds.y, etas, m.init(d, 0.05), eps=1e-14, max_steps=100_000)
    ok = r.converged
    assert np.all(r.sharpness[ok] <= 2 / etas[ok] * (1 + 1e-5))


def test_tile_and_blas_paths_agree():
    ds = dl.data.sparse_regression(8, 30, 3, seed=2, nonneg=True)
    for name in ("ww", "pm", "uv"):
        m = dl.get_model(name)
        th0 = m.init(30, 0.1)
        etas = np.geomspace(0.01, 0.3, 12)
        kw = dict(eps=1e-10, max_steps=20_000, average_last=3, record_every=50, record_grads=True)
        a = dl.run_gd(m, ds.X, ds.y, etas, th0, path="tile", **kw)
        b = dl.run_gd(m, ds.X, ds.y, etas, th0, path="blas", **kw)
        assert np.array_equal(a.status, b.status)
        same = a.status != Status.DIVERGED
        assert np.array_equal(a.steps[same], b.steps[same])
        np.testing.assert_allclose(a.theta[same], b.theta[same], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(a.averaged.theta[same], b.averaged.theta[same], atol=1e-9)
        np.testing.assert_allclose(a.grad_history[same], b.grad_history[same], atol=1e-9)
        np.testing.assert_allclose(
            a.trajectory.theta[same], b.trajectory.theta[same], atol=1e-9, equal_nan=True
        )


def test_a_run_is_bitwise_identical_whatever_its_batch():
    ds = dl.data.sparse_regression(5, 12, 2, seed=4, nonneg=True)
    m = dl.get_model("ww")
    th0 = m.init(12, 0.1)
    etas = np.geomspace(0.01, 1.0, 70)  # 3 tiles, mixed stop times, some divergent
    batch = dl.run_gd(m, ds.X, ds.y, etas, th0, eps=1e-10, max_steps=5000)
    for i in (0, 33, 69):
        alone = dl.run_gd(m, ds.X, ds.y, etas[i], th0, eps=1e-10, max_steps=5000)
        assert np.array_equal(alone.theta[0], batch.theta[i])
        assert alone.steps[0] == batch.steps[i] and alone.status[0] == batch.status[i]


def test_statuses_and_finite_summaries():
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    etas = np.array([0.05, 0.05, 5.0, 1e3, 1e300])
    r = dl.run_gd(m, ds.X, ds.y, etas, m.init(5, 0.01), eps=1e-12, max_steps=100_000)
    assert r.status[0] == Status.CONVERGED and r.loss[0] < 1e-12
    assert (r.status[2:] == Status.DIVERGED).all()
    for field in ("theta", "beta", "loss", "sharpness", "l1_theta", "l1_beta", "l2_beta"):
        assert np.isfinite(getattr(r, field)).all(), field
    short = dl.run_gd(m, ds.X, ds.y, [0.05], m.init(5, 0.01), max_steps=3)
    assert short.status[0] == Status.MAX_STEPS and short.steps[0] == 3
    assert short.loss[0] == pytest.approx(m.loss(short.theta[0], ds.X, ds.y), rel=1e-14)
    # per-run initial points
    th0 = np.stack([m.init(5, 0.01), m.init(5, 0.02)])
    two = dl.run_gd(m, ds.X, ds.y, [0.05, 0.05], th0, max_steps=0)
    np.testing.assert_array_equal(two.theta, th0)


def test_grad_history_and_trajectory_replay_the_iteration():
    ds = dl.data.sparse_regression(4, 6, 2, seed=1)
    for name, kw in (("pm", {}), ("prod", {"depth": 3})):
        m = dl.get_model(name, **kw)
        th0 = m.init(6, 0.3)
        etas = np.array([0.05, 0.1])
        r = dl.run_gd(m, ds.X, ds.y, etas, th0, max_steps=40, record_every=1, record_grads=True)
        tr = r.trajectory
        for b, eta in enumerate(etas):
            k = r.steps[b]
            thetas = tr.theta[b, : k + 1]
            for j in range(k):
                beta = m.beta(thetas[j])
                g = ds.X.T @ (ds.X @ beta - ds.y) / ds.X.shape[0]
                np.testing.assert_allclose(r.grad_history[b, j], g, rtol=1e-12, atol=1e-14)
                step = thetas[j] - eta * m.grad(thetas[j], ds.X, ds.y)
                np.testing.assert_allclose(thetas[j + 1], step, rtol=1e-13, atol=1e-15)
            assert np.allclose(tr.loss[b, : k + 1], m.loss(thetas, ds.X, ds.y), rtol=1e-12)
            assert np.isnan(tr.loss[b, k + 1 :]).all()


def test_averaged_statistics_are_those_of_the_mean_of_the_last_iterates():
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    r = dl.run_gd(m, ds.X, ds.y, [0.2], m.init(5, 0.01), max_steps=300, record_every=1,
                  average_last=4)  # fmt: skip
    k = r.steps[0]
    mean = r.trajectory.theta[0, k - 3 : k + 1].mean(axis=0)
    np.testing.assert_allclose(r.averaged.theta[0], mean, rtol=1e-14)
    s = dl.sharpness(m, mean, ds.X, ds.y)
    assert r.averaged.sharpness[0] == pytest.approx(s.top_abs, rel=1e-12)
