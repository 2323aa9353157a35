"""Lanczos in lockstep (``diaglin.lanczos``) against dense ``eigvalsh``, and the exact batched
Hessian-vector product it runs on against the closed-form Hessians."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import diaglin as dl
from diaglin import spectrum
from diaglin.lanczos import extreme_eigenvalues, ritz_extremes

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


def _instance(seed, model, n, d, B):
    """rng, a model of MODELS, random data (n, d) and B random points θ."""
    name, kw = model
    rng = np.random.default_rng(seed)
    m = dl.get_model(name, **kw)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    return rng, m, X, y, rng.uniform(-1.2, 1.2, size=(B, m.n_params(d)))


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
    rng, m, X, y, theta = _instance(seed, model, n, d, 3)
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


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 2**31), st.sampled_from(MODELS), st.integers(1, 6), st.integers(1, 8))
def test_hessian_floor_is_below_the_smallest_eigenvalue(seed, model, n, d):
    _, m, X, y, theta = _instance(seed, model, n, d, 4)
    ev = np.linalg.eigvalsh(m.hessian(theta, X, y))
    floor = m.hessian_floor(theta, X, y)
    assert np.all(floor <= ev[:, 0] + 1e-12 * (1 + np.abs(ev).max(axis=1)))


def test_hessian_floor_vanishes_at_an_interpolating_minimum():
    ds = dl.data.sparse_regression(5, 12, 2, seed=3, nonneg=True)
    m = dl.get_model("ww")
    exact = dl.run_gd(m, ds.X, ds.y, 0.05, m.init(12, 0.1), eps=1e-26, max_steps=200_000)
    assert exact.converged.all()
    assert abs(m.hessian_floor(exact.theta, ds.X, ds.y)[0]) < 1e-10


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**31), st.integers(1, 4), st.integers(2, 60), st.floats(0.0, 3.0))
def test_a_floor_above_minus_lambda_max_skips_lambda_min(seed, B, P, margin):
    # diagonal spectra in [λ_min, λ_max]; a floor f <= λ_min with -f <= λ_max settles
    # max|λ| = λ_max, so λ_min is skipped (NaN); with -f > λ_max it is still computed
    rng = np.random.default_rng(seed)
    ev = np.sort(rng.uniform(-1.0, 1.0, size=(B, P)), axis=1)
    ev[:, -1] = np.abs(ev).max(axis=1) + 0.5  # λ_max > |λ_min|
    H = np.stack([np.diag(row) for row in ev])
    v0 = rng.standard_normal((B, P))
    floor = ev[:, 0] - margin * (ev[:, -1] + ev[:, 0])  # below λ_min, -floor ≶ λ_max
    lo, hi, ok = extreme_eigenvalues(_matvec(H), v0, tol=1e-12, lo_floor=floor)
    assert ok.all()
    np.testing.assert_allclose(hi, ev[:, -1], rtol=1e-9)
    skipped = np.isnan(lo)
    assert np.all(-floor[skipped] <= hi[skipped])
    np.testing.assert_allclose(lo[~skipped], ev[~skipped, 0], rtol=1e-9, atol=1e-9)
    assert np.all(skipped[-floor <= ev[:, -1] * (1 - 1e-6)])  # skipped wherever it may be


@pytest.mark.parametrize("name", ["ww", "pm", "prod"])
def test_sharpness_without_bottom_is_the_same_sharpness(name):
    rng = np.random.default_rng(8)
    m = dl.get_model(name, **({"depth": 3} if name == "prod" else {}))
    X, y = rng.standard_normal((10, 40)), rng.standard_normal(10)
    near = dl.run_gd(m, X, y, np.geomspace(1e-3, 5e-2, 6), m.init(40, 0.3), eps=1e-300,
                     max_steps=3000, stats="none").theta  # fmt: skip
    far = rng.uniform(-1, 1, size=(4, m.n_params(40)))
    theta = np.vstack([near, far])
    dense = dl.sharpness(m, theta, X, y, method="dense")
    fast = dl.sharpness(m, theta, X, y, method="lanczos", bottom=False)
    np.testing.assert_allclose(fast.top_abs, dense.top_abs, rtol=1e-9)
    np.testing.assert_allclose(fast.top, dense.top, rtol=1e-9)
    have = ~np.isnan(fast.bottom)
    assert not have[: near.shape[0]].any()  # near a minimum λ_min is never needed
    np.testing.assert_allclose(fast.bottom[have], dense.bottom[have], rtol=1e-9, atol=1e-12)
    assert np.all(np.abs(dense.bottom[~have]) <= dense.top[~have] * (1 + 1e-9))


@settings(deadline=None, max_examples=60)
@given(st.integers(0, 2**31), st.integers(1, 50), st.sampled_from(["random", "split", "graded"]))
def test_ritz_extremes_match_dense_eigh(seed, m, kind):
    """The Ritz values and residuals that decide convergence, from bisection and inverse
    iteration, against ``eigh`` of the dense tridiagonal: extreme eigenvalues to 1e-13 of ‖T‖;
    the residual |b_m s_m| of an extreme eigenvalue separated from the next by at least
    1e-3 ‖T‖ (where the eigenvector is determined to ≈ eps ‖T‖ / gap) to 1e-11 |b_m|."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((3, m)), np.abs(rng.standard_normal((3, m)))
    if kind == "split" and m > 2:  # reducible: a zero off-diagonal
        b[:, rng.integers(0, m - 1)] = 0.0
    if kind == "graded":  # entries over many orders of magnitude
        a *= 10.0 ** rng.uniform(-6, 6, size=(3, 1))
        b *= 10.0 ** rng.uniform(-6, 6, size=(3, m))
    tol = 1e-12
    # λ_min wanted in row 0; not in row 1 (ceiling -inf), nor in row 2 (λ_max above its ceiling)
    ceiling = np.array([np.inf, -np.inf, np.min(a[2]) - 1e-9 * np.abs(a[2]).max()])
    out = ritz_extremes(a, b, tol, ceiling)
    for r in range(3):
        T = np.diag(a[r]) + np.diag(b[r, :-1], 1) + np.diag(b[r, :-1], -1)
        w, v = np.linalg.eigh(T)
        scale = np.abs(w).max()
        assert abs(out[r, 1] - w[-1]) <= 1e-13 * scale
        if r > 0:
            assert np.isnan(out[r, [0, 2]]).all()
            continue
        assert abs(out[r, 0] - w[0]) <= 1e-13 * scale
        top = max(abs(out[r, 0]), abs(out[r, 1]))
        for q, idx, gap in ((0, 0, w[min(1, m - 1)] - w[0]), (1, -1, w[-1] - w[max(m - 2, 0)])):
            if m > 1 and gap < 1e-3 * scale:
                continue
            residual = out[r, 2 + q] * tol * top
            assert abs(residual - abs(b[r, -1] * v[-1, idx])) <= 1e-11 * b[r, -1] + 1e-300
