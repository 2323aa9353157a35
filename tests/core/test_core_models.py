"""Closed-form gradients, Hessians, HVPs and traces against finite differences and eigvalsh."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import hessian_fd

import diaglin as dl

MODELS = [("ww", {}), ("uv", {}), ("pm", {}), ("prod", {"depth": 3}), ("power", {"depth": 3})]


def _instance(seed, name, kw, n, d):
    rng = np.random.default_rng(seed)
    m = dl.get_model(name, **kw)
    X = rng.normal(size=(n, d))
    y = rng.normal(size=n)
    theta = rng.uniform(-1.2, 1.2, size=m.n_params(d))
    return m, X, y, theta


def _central_diff(f, theta, h):
    cols = [(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(theta.size)]
    return np.array(cols)


instances = st.tuples(
    st.integers(0, 2**31), st.sampled_from(MODELS), st.integers(1, 4), st.integers(1, 5)
)


@settings(deadline=None, max_examples=40)
@given(instances)
def test_gradient_matches_finite_differences_of_loss(inst):
    seed, (name, kw), n, d = inst
    m, X, y, th = _instance(seed, name, kw, n, d)
    fd = _central_diff(lambda t: m.loss(t, X, y), th, 1e-6)
    g = m.grad(th, X, y)
    assert np.allclose(g, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(g).max()))


@settings(deadline=None, max_examples=40)
@given(instances)
def test_hessian_matches_finite_differences_of_gradient(inst):
    seed, (name, kw), n, d = inst
    m, X, y, th = _instance(seed, name, kw, n, d)
    H = m.hessian(th, X, y)
    fd = _central_diff(lambda t: m.grad(t, X, y), th, 1e-6)
    assert np.allclose(H, H.T, atol=1e-12 * (1 + np.abs(H).max()))
    assert np.allclose(H, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(H).max()))


@settings(deadline=None, max_examples=30)
@given(instances)
def test_hvp_trace_and_spectrum_match_an_independent_hessian(inst):
    seed, (name, kw), n, d = inst
    m, X, y, th = _instance(seed, name, kw, n, d)
    H = m.hessian(th, X, y)
    v = np.random.default_rng(seed + 1).normal(size=th.size)
    scale = 1 + np.abs(H).max()
    assert np.allclose(m.hvp(th, X, y, v), H @ v, atol=1e-12 * scale * np.abs(v).sum())
    s = dl.sharpness(m, th, X, y)
    assert s.trace == pytest.approx(np.trace(H), rel=1e-12, abs=1e-12 * scale)
    # the spectrum against that of a Hessian built without diaglin (finite differences of the
    # closed-form gradient of tests/oracles.py)
    ev = np.linalg.eigvalsh(hessian_fd(name, th, X, y, kw.get("depth", 2)))
    tol = 1e-7 * scale
    assert s.top == pytest.approx(ev[-1], abs=tol)
    assert s.bottom == pytest.approx(ev[0], abs=tol)
    assert s.top_abs == pytest.approx(np.abs(ev).max(), abs=tol)


@pytest.mark.parametrize("name,kw", MODELS)
def test_lanczos_agrees_with_dense(name, kw):
    m, X, y, th = _instance(7, name, kw, n=6, d=40)
    batch = np.stack([th, 0.5 * th, -th])
    dense = dl.sharpness(m, batch, X, y, method="dense")
    lanczos = dl.sharpness(m, batch, X, y, method="lanczos")
    np.testing.assert_allclose(lanczos.top_abs, dense.top_abs, rtol=1e-9)
    np.testing.assert_allclose(lanczos.top, dense.top, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lanczos.bottom, dense.bottom, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lanczos.trace, dense.trace, rtol=1e-12)


def test_one_point_interpolator_hessian_is_rank_one_with_trace_sharpness():
    # spec 01 §3: at r = 0 the Hessian is g gᵀ with g = 2 x ⊙ w, so S = tr = 4 Σ x_i² β_i.
    ds = dl.data.one_point(6, seed=3)
    m = dl.get_model("ww")
    w = np.sqrt(ds.beta_star)
    s = dl.sharpness(m, w, ds.X, ds.y)
    expected = 4 * np.sum(ds.X[0] ** 2 * ds.beta_star)
    assert s.top_abs == pytest.approx(expected, rel=1e-12)
    assert s.trace == pytest.approx(expected, rel=1e-12)
    ev = np.linalg.eigvalsh(m.hessian(w, ds.X, ds.y))
    assert np.abs(ev[:-1]).max() < 1e-12 * expected


def test_beta_and_init_conventions():
    d, a = 4, 0.3
    assert np.allclose(dl.get_model("ww").beta(dl.get_model("ww").init(d, a)), a**2)
    uv = dl.get_model("uv")
    th = uv.init(d, a)
    assert np.allclose(th[:d], np.sqrt(2) * a) and np.allclose(th[d:], 0)
    assert np.allclose(dl.get_model("pm").beta(dl.get_model("pm").init(d, a)), 0)
    p3 = dl.get_model("prod", depth=3)
    assert np.allclose(p3.beta(p3.init(d, a)), a**3)
    w4 = dl.get_model("power", depth=4)
    assert np.allclose(w4.beta(w4.init(d, a)), a**4)
