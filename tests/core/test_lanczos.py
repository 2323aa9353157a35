"""Lanczos in lockstep (``diaglin.lanczos``) against dense ``eigvalsh``, and the exact batched
Hessian-vector product it runs on against the closed-form Hessians."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diaglin as dl
from diaglin import spectrum
from diaglin.lanczos import extreme_eigenvalues

MODELS = [("ww", {}), ("uv", {}), ("pm", {}), ("prod", {"depth": 3}), ("power", {"depth": 3})]


def _symmetric(seed, B, P, kind):
    """B symmetric P×P matrices: dense indefinite, low rank (the Krylov space becomes invariant
    early), or diagonal with repeated extreme eigenvalues."""
    rng = np.random.default_rng(seed)
    if kind == "dense":
        H = rng.standard_normal((B, P, P))
        return H + H.transpose(0, 2, 1)
    if kind == "low rank":
        U = rng.standard_normal((B, P, min(P, 3)))
        return U @ U.transpose(0, 2, 1) - 2.0 * np.eye(P)
    diag = rng.integers(-3, 4, size=(B, P)).astype(float)
    return np.stack([np.diag(row) for row in diag])


def _matvec(H):
    return lambda V, rows: np.einsum("bpq,bq->bp", H[rows], V)


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 2**31), st.integers(1, 4), st.integers(1, 60),
       st.sampled_from(["dense", "low rank", "repeated"]))  # fmt: skip
def test_extreme_eigenvalues_match_eigvalsh(seed, B, P, kind):
    H = _symmetric(seed, B, P, kind)
    v0 = np.random.default_rng(seed + 1).standard_normal((B, P))
    lo, hi, ok = extreme_eigenvalues(_matvec(H), v0, tol=1e-12)
    ev = np.linalg.eigvalsh(H)
    scale = np.abs(ev).max(axis=1) + 1e-300
    assert ok.all()
    assert np.all(np.abs(lo - ev[:, 0]) <= 1e-9 * scale)
    assert np.all(np.abs(hi - ev[:, -1]) <= 1e-9 * scale)


def test_a_run_that_needs_more_steps_is_reported_unconverged():
    H = _symmetric(3, 2, 50, "dense")
    _, _, ok = extreme_eigenvalues(_matvec(H), np.ones((2, 50)), max_iter=4)
    assert not ok.any()


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**31), st.sampled_from(MODELS), st.integers(1, 6), st.integers(1, 8))
def test_batched_hvp_is_the_hessian_times_v_for_every_run(seed, model, n, d):
    name, kw = model
    rng = np.random.default_rng(seed)
    m = dl.get_model(name, **kw)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    theta = rng.uniform(-1.2, 1.2, size=(3, m.n_params(d)))
    V = rng.standard_normal(theta.shape)
    H = m.hessian(theta, X, y)
    got = m.batched_hvp(theta, X, y)(V)
    scale = 1 + np.abs(H).max()
    np.testing.assert_allclose(got, np.einsum("bpq,bq->bp", H, V), atol=1e-12 * scale * d)


@pytest.mark.parametrize("max_iter", [spectrum.LANCZOS_MAX_ITER, 3])
def test_lanczos_sharpness_and_its_arpack_fallback_agree_with_dense(max_iter, monkeypatch):
    """With 3 steps allowed every run falls back to ARPACK; either way the dense values."""
    monkeypatch.setattr(spectrum, "LANCZOS_MAX_ITER", max_iter)
    rng = np.random.default_rng(5)
    m = dl.get_model("pm")
    X, y = rng.standard_normal((8, 30)), rng.standard_normal(8)
    theta = rng.uniform(-1, 1, size=(5, m.n_params(30)))
    dense = dl.sharpness(m, theta, X, y, method="dense")
    lanczos = dl.sharpness(m, theta, X, y, method="lanczos")
    np.testing.assert_allclose(lanczos.top, dense.top, rtol=1e-9)
    np.testing.assert_allclose(lanczos.bottom, dense.bottom, rtol=1e-9, atol=1e-9)
