"""Batched GD: agreement with gradient flow and with a hand-written loop (stop and divergence
steps, compaction, both paths), statuses, recording, averaging, chunked kernel calls."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import beta_and_jacobian, gd_reference, one_point_gf_path_sharpness
from scipy.optimize import brentq

import diaglin as dl
from diaglin import Status, chunks, driver


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
    assert gf.converged and gf.status == dl.FlowStatus.CONVERGED
    assert rel_err(gf.beta_final, gf_limit_one_point(ds.X[0], ds.y[0], alpha)) < 1e-5
    # s_GF = max sharpness on the path, against a brute-force maximisation over the closed-form
    # path beta(lam) = alpha^2 exp(lam x)
    s_ref = one_point_gf_path_sharpness(ds.X[0], ds.y[0], alpha, 1e-14)
    assert gf.s_gf == pytest.approx(s_ref, rel=1e-7)


@pytest.mark.parametrize("method", ["dual", "dop853"])
def test_gradient_flow_reports_why_it_stopped(method):
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    # from w = 0 the gradient vanishes: the flow never moves, so there is no s_GF
    still = dl.gradient_flow(m, ds.X, ds.y, np.zeros(5), t_max=10.0, method=method)
    assert still.status == dl.FlowStatus.T_MAX and not still.converged
    assert np.isnan(still.s_gf) and np.isnan(still.eta_c)
    np.testing.assert_array_equal(still.theta_final, np.zeros(5))
    # a step cap ends an integration with its own status
    capped = dl.gradient_flow(m, ds.X, ds.y, m.init(5, 0.01), max_steps=3, method=method)
    assert capped.status == dl.FlowStatus.MAX_STEPS and len(capped.t) == 4
    assert np.isnan(capped.eta_c)
    with pytest.raises(ValueError, match="max_steps"):
        dl.gradient_flow(m, ds.X, ds.y, m.init(5, 0.01), max_steps=0)


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
    # Theorem: if GD converges to a minimum theta*, then S(theta*) <= 2/eta. The eps stop alone
    # does not show convergence (it can catch a transient near an unstable minimum), so each
    # run that stopped is continued: it is covered by the claim iff it stays at loss < eps.
    ds = dl.data.one_point(d, seed=seed)
    m = dl.get_model("ww")
    gf = dl.gradient_flow(m, ds.X, ds.y, m.init(d, 0.05))
    etas = gf.eta_c * np.linspace(0.2, 1.0, 8) * eta_scale
    eps = 1e-14
    r = dl.run_gd(m, ds.X, ds.y, etas, m.init(d, 0.05), eps=eps, max_steps=100_000)
    assert r.converged[etas < 0.9 * gf.eta_c].all()  # below eta_c GD follows the flow
    ok = r.converged
    more = dl.run_gd(m, ds.X, ds.y, etas[ok], r.theta[ok], eps=1e-300, max_steps=3000,
                     record_every=1)  # fmt: skip
    stays = np.nanmax(more.trajectory.loss, axis=1) < eps
    assert stays.sum() >= 1
    s = more.sharpness[stays]
    assert np.all(s <= 2 / etas[ok][stays] * (1 + 1e-6)), s * etas[ok][stays] / 2


# --- the kernels against the hand-written loop -------------------------------------------


def _contract_batch():
    """70 runs over two tiles and more than 32 live runs: converging at many different steps,
    duplicates of one eta (stopping on the same step), a group hitting max_steps together
    (several stop on one step, in both tiles), and runs diverging to inf and overflowing."""
    ds = dl.data.sparse_regression(3, 4, 2, seed=11, nonneg=True)
    m = dl.get_model("pm")
    th0 = m.init(4, 0.4)
    etas = np.concatenate([
        np.geomspace(0.01, 0.2, 30),  # converge at distinct steps
        np.full(6, 0.05),  # identical runs: stop on the same step
        np.geomspace(1e-4, 4e-4, 20),  # too slow: all stop at max_steps
        np.geomspace(1.0, 40.0, 14),  # diverge
    ])  # fmt: skip
    return m, ds.X, ds.y, etas, th0


@pytest.mark.warm_cache
@pytest.mark.parametrize("path", ["tile", "blas"])
def test_every_run_matches_the_reference_loop(path):
    m, X, y, etas, th0 = _contract_batch()
    eps, max_steps = 1e-10, 3000
    r = dl.run_gd(m, X, y, etas, th0, eps=eps, max_steps=max_steps, path=path)
    statuses = set(r.status.tolist())
    assert statuses == {Status.CONVERGED, Status.DIVERGED, Status.MAX_STEPS}
    for b, eta in enumerate(etas):
        ref = gd_reference("pm", X, y, eta, th0, eps=eps, max_steps=max_steps)
        assert (r.status[b], r.steps[b]) == (ref.status, ref.steps), b
        np.testing.assert_allclose(r.theta[b], ref.theta, rtol=1e-9, atol=1e-12, err_msg=str(b))
        assert r.loss[b] == pytest.approx(ref.loss, rel=1e-9, abs=1e-20)
    # every max_steps run stopped on the same step; the simultaneous stops kept their own theta
    stuck = r.status == Status.MAX_STEPS
    assert stuck.sum() >= 20 and np.all(r.steps[stuck] == max_steps)


@pytest.mark.warm_cache
@pytest.mark.parametrize("path", ["tile", "blas"])
@pytest.mark.parametrize("name", dl.MODEL_NAMES)
def test_every_model_matches_the_reference_loop(name, path):
    """Each model's kernel runs that model's formulas (a kernel loaded from numba's cache ran
    another model's driver once: issue 26); ``.ci/run`` repeats this on the warm cache."""
    depth = 3
    m = dl.get_model(name, **({"depth": depth} if name in ("prod", "power") else {}))
    ds = dl.data.sparse_regression(3, 5, 1, seed=3, nonneg=name in ("ww", "power"))
    th0 = m.init(5, 0.5)
    etas = np.array([0.02, 0.1, 0.3, 1e-4, 50.0])
    eps, max_steps = 1e-8, 1500
    r = dl.run_gd(m, ds.X, ds.y, etas, th0, eps=eps, max_steps=max_steps, path=path, stats="none")
    for b, eta in enumerate(etas):
        ref = gd_reference(name, ds.X, ds.y, eta, th0, eps=eps, max_steps=max_steps, depth=depth)
        assert (r.status[b], r.steps[b]) == (ref.status, ref.steps), (b, r.status, r.steps)
        np.testing.assert_allclose(r.theta[b], ref.theta, rtol=1e-9, atol=1e-12, err_msg=str(b))
    assert {Status.CONVERGED, Status.DIVERGED, Status.MAX_STEPS} <= set(r.status.tolist())


@pytest.mark.parametrize("path", ["tile", "blas"])
@pytest.mark.parametrize("factor", [1e2, 1e8, 1e12])
def test_divergence_step_follows_the_bound(path, factor):
    # Start next to a minimum at a step size where it is unstable: the loss grows by a steady
    # factor per step, so the step at which it passes factor * L(theta0) pins the bound.
    ds = dl.data.one_point(3, seed=5)
    m = dl.get_model("ww")
    w_min = np.sqrt(ds.beta_star)
    th0 = w_min * (1 + 1e-9)  # L(theta0) ~ 1e-18: the growth stays linear up to 1e12 L(theta0)
    S = dl.sharpness(m, w_min, ds.X, ds.y).top_abs
    etas = np.array([2.2, 2.5, 3.0, 3.5]) / S  # |1 - eta S| in (1.2, 2.5): geometric growth
    r = dl.run_gd(m, ds.X, ds.y, etas, th0, eps=1e-300, max_steps=500, diverge_factor=factor,
                  path=path)  # fmt: skip
    assert np.all(r.status == Status.DIVERGED)
    for b, eta in enumerate(etas):
        ref = gd_reference("ww", ds.X, ds.y, eta, th0, eps=1e-300, max_steps=500,
                           diverge_factor=factor)  # fmt: skip
        assert r.steps[b] == ref.steps >= 2, (b, r.steps[b], ref.steps)
        np.testing.assert_allclose(r.theta[b], ref.theta, rtol=1e-8)


@settings(deadline=None, max_examples=10)
@given(seed=st.integers(0, 10_000), name=st.sampled_from(["ww", "uv", "pm", "prod", "power"]))
def test_tile_and_blas_paths_agree_beyond_one_tile(seed, name):
    rng = np.random.default_rng(seed)
    ds = dl.data.sparse_regression(4, 9, 2, seed=seed, nonneg=True)
    m = dl.get_model(name, **({"depth": 3} if name in ("prod", "power") else {}))
    th0 = m.init(9, 0.3) * rng.uniform(0.8, 1.2, m.n_params(9))
    # below eta_c (EoS dynamics are chaotic: rounding differences between the paths grow there)
    # and far above it (fast divergence)
    eta_c = dl.gradient_flow(m, ds.X, ds.y, th0, eps=1e-6).eta_c  # (a loose eps is quick)
    etas = eta_c * np.concatenate([np.geomspace(0.02, 0.6, 40), np.geomspace(20, 100, 8)])
    kw = dict(eps=1e-10, max_steps=4000, average_last=3, record_every=50, record_grads=True)
    a = dl.run_gd(m, ds.X, ds.y, etas, th0, path="tile", **kw)
    b = dl.run_gd(m, ds.X, ds.y, etas, th0, path="blas", **kw)
    assert a.diverged.any()
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.averaged.theta, b.averaged.theta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.grad_history, b.grad_history, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.trajectory.theta, b.trajectory.theta, rtol=1e-8, atol=1e-10)


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


def test_tile_width_keeps_every_thread_busy_and_changes_no_result(monkeypatch):
    from diaglin.kernels.tile import MIN_TILE, TILE, tile_width

    assert tile_width(1024, 2) == TILE and tile_width(64, 16) == MIN_TILE
    assert tile_width(64, 4) == 16 and tile_width(1, 1) == MIN_TILE
    m, X, y, etas, th0 = _contract_batch()
    kw = dict(eps=1e-10, max_steps=3000, average_last=4, record_every=7)
    runs = {}
    for width in (MIN_TILE, 13, TILE):
        monkeypatch.setattr(driver, "tile_width", lambda B, threads, w=width: w)
        runs[width] = dl.run_gd(m, X, y, etas, th0, **kw)
    for r in runs.values():
        for field in ("theta", "steps", "status"):
            np.testing.assert_array_equal(getattr(r, field), getattr(runs[TILE], field))
        np.testing.assert_array_equal(r.trajectory.theta, runs[TILE].trajectory.theta)


def test_auto_path_takes_blas_only_for_enough_work_per_thread():
    # the rule: blas iff ceil(B / threads) · n · d >= BLAS_MIN_WORK
    assert driver.choose_cpu_path(1024, 1, 5, 2) == "tile"
    assert driver.choose_cpu_path(1024, 20, 100, 2) == "blas"
    assert driver.choose_cpu_path(64, 20, 100, 2) == "tile"
    assert driver.choose_cpu_path(128, 20, 100, 1) == "blas"
    assert driver.choose_cpu_path(199, 20, 100, 2) == "blas"  # 100 · 2000 >= 2e5
    assert driver.choose_cpu_path(198, 20, 100, 2) == "tile"  # 99 · 2000 < 2e5


@pytest.mark.parametrize("split", ["threads", "cache"])
def test_blas_blocks_agree_with_one_block(split, monkeypatch):
    # the BLAS path deals the runs out to one block per thread, or to more blocks (run one after
    # the other on each thread) when a block's state would outgrow MAX_BLOCK_BYTES; with one
    # thread and no cap it is one block
    numba = pytest.importorskip("numba")
    from diaglin.kernels import blas

    m, X, y, etas, th0 = _contract_batch()
    kw = dict(eps=1e-10, max_steps=3000, average_last=4, record_every=7, path="blas")
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = dl.run_gd(m, X, y, etas, th0, **kw)
    finally:
        numba.set_num_threads(threads)
    if split == "cache":  # blocks of MIN_BLOCK runs: 70 runs in 4 or more blocks
        monkeypatch.setattr(blas, "MAX_BLOCK_BYTES", 8 * m.n_params(X.shape[1]) * blas.MIN_BLOCK)
    elif threads == 1:
        pytest.skip("one Numba thread: nothing to compare")
    calls = []
    many = dl.run_gd(m, X, y, etas, th0, progress=calls.append, **kw)
    np.testing.assert_array_equal(one.status, many.status)
    np.testing.assert_array_equal(one.steps, many.steps)
    np.testing.assert_allclose(one.theta, many.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(one.averaged.theta, many.averaged.theta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(one.trajectory.theta, many.trajectory.theta, rtol=1e-9,
                               atol=1e-12, equal_nan=True)  # fmt: skip
    assert calls == sorted(calls) and all(0 <= c <= 3000 for c in calls)


def test_chunked_kernel_calls_change_nothing(monkeypatch):
    m, X, y, etas, th0 = _contract_batch()
    kw = dict(eps=1e-10, max_steps=3000, average_last=4, record_every=7, record_grads=True)
    whole = dl.run_gd(m, X, y, etas, th0, **kw)
    calls = []
    monkeypatch.setattr(chunks, "_FIRST_CHUNK_WORK", 1)  # first call: one step
    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 1e-5)  # then tiny chunks
    pieces = dl.run_gd(m, X, y, etas, th0, progress=calls.append, **kw)
    assert len(calls) > 50 and calls == sorted(calls) and calls[-1] <= 3000
    for field in ("theta", "steps", "status", "loss"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(pieces, field))
    np.testing.assert_array_equal(whole.averaged.theta, pieces.averaged.theta)
    np.testing.assert_array_equal(whole.grad_history, pieces.grad_history)
    np.testing.assert_array_equal(whole.trajectory.theta, pieces.trajectory.theta)


def test_an_exception_between_chunks_stops_the_run(monkeypatch):
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 1e-4)
    seen = []

    def interrupt(step):
        seen.append(step)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dl.run_gd(m, ds.X, ds.y, [1e-6], m.init(5, 0.01), max_steps=10**9, progress=interrupt)
    assert len(seen) == 3 and seen[-1] < 10**9


def test_statuses_and_finite_summaries():
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    th0 = m.init(5, 0.01)
    etas = np.array([0.05, 0.05, 5.0, 1e3, 1e300])
    r = dl.run_gd(m, ds.X, ds.y, etas, th0, eps=1e-12, max_steps=100_000)
    assert r.status[0] == Status.CONVERGED and r.loss[0] < 1e-12
    assert (r.status[2:] == Status.DIVERGED).all()
    for field in ("theta", "beta", "loss", "sharpness", "l1_theta", "l1_beta", "l2_beta"):
        assert np.isfinite(getattr(r, field)).all(), field
    short = dl.run_gd(m, ds.X, ds.y, [0.05], th0, max_steps=3)
    ref = gd_reference("ww", ds.X, ds.y, 0.05, th0, eps=1e-12, max_steps=3)
    assert short.status[0] == Status.MAX_STEPS and short.steps[0] == ref.steps == 3
    np.testing.assert_allclose(short.theta[0], ref.theta, rtol=1e-14)
    assert short.loss[0] == pytest.approx(ref.loss, rel=1e-13)


def test_per_run_initial_points_follow_their_runs():
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    # etas out of order: run_gd sorts runs internally, each must keep its own start
    etas = np.array([0.02, 0.2, 0.05, 0.1])
    th0 = np.stack([m.init(5, a) for a in (0.01, 0.02, 0.05, 0.1)])
    r = dl.run_gd(m, ds.X, ds.y, etas, th0, eps=1e-12, max_steps=20_000)
    for b in range(4):
        ref = gd_reference("ww", ds.X, ds.y, etas[b], th0[b], eps=1e-12, max_steps=20_000)
        assert (r.status[b], r.steps[b]) == (ref.status, ref.steps)
        np.testing.assert_allclose(r.theta[b], ref.theta, rtol=1e-10)


def test_grad_history_and_trajectory_replay_the_iteration():
    ds = dl.data.sparse_regression(4, 6, 2, seed=1)
    for name, depth in (("pm", 2), ("prod", 3)):
        m = dl.get_model(name, **({"depth": depth} if name == "prod" else {}))
        th0 = m.init(6, 0.3)
        etas = np.array([0.05, 0.1])
        r = dl.run_gd(m, ds.X, ds.y, etas, th0, max_steps=40, record_every=1, record_grads=True)
        tr = r.trajectory
        for b, eta in enumerate(etas):
            k = r.steps[b]
            thetas = tr.theta[b, : k + 1]
            for j in range(k):
                beta, J = beta_and_jacobian(name, thetas[j], 6, depth)
                g = ds.X.T @ (ds.X @ beta - ds.y) / ds.X.shape[0]
                np.testing.assert_allclose(r.grad_history[b, j], g, rtol=1e-12, atol=1e-14)
                step = thetas[j] - eta * (J * g).reshape(-1)
                np.testing.assert_allclose(thetas[j + 1], step, rtol=1e-13, atol=1e-15)
            losses = [np.sum((ds.X @ beta_and_jacobian(name, t, 6, depth)[0] - ds.y) ** 2) / 8
                      for t in thetas]  # fmt: skip
            np.testing.assert_allclose(tr.loss[b, : k + 1], losses, rtol=1e-12)
            assert np.isnan(tr.loss[b, k + 1 :]).all()


def test_averaged_statistics_are_those_of_the_mean_of_the_last_iterates():
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    r = dl.run_gd(m, ds.X, ds.y, [0.2], m.init(5, 0.01), max_steps=300, record_every=1,
                  average_last=4)  # fmt: skip
    k = r.steps[0]
    mean = r.trajectory.theta[0, k - 3 : k + 1].mean(axis=0)
    np.testing.assert_allclose(r.averaged.theta[0], mean, rtol=1e-14)
    # the sharpness there, against the eigenvalues of the closed-form one-point Hessian
    # H = g gᵀ + 2 r diag(x), g = 2 x ⊙ w (spec 01 §3)
    x = ds.X[0]
    g = 2 * x * mean
    H = np.outer(g, g) + 2 * (x @ mean**2 - ds.y[0]) * np.diag(x)
    assert r.averaged.sharpness[0] == pytest.approx(np.abs(np.linalg.eigvalsh(H)).max(), rel=1e-12)


def test_memory_estimate_bounds_what_run_gd_allocates():
    import tracemalloc

    # P = 30 and 60: dense final sharpness; P = 400: Lanczos (its Krylov bases counted)
    cases = (("ww", 4000, 0, 0, 30), ("pm", 3000, 3, 0, 30), ("uv", 300, 0, 20, 30),
             ("ww", 300, 0, 0, 400))  # fmt: skip
    for name, B, avg, rec, d in cases:
        ds = dl.data.sparse_regression(6, d, 3, seed=0, nonneg=True)
        m = dl.get_model(name)
        th0 = m.init(d, 0.1)
        etas = np.geomspace(1e-3, 0.05, B)
        dl.run_gd(m, ds.X, ds.y, etas[:40], th0, max_steps=5, average_last=avg, record_every=rec)
        tracemalloc.start()
        dl.run_gd(m, ds.X, ds.y, etas, th0, max_steps=400, average_last=avg, record_every=rec)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        est = driver.memory_bytes(B, 6, d, m.n_blocks, max_steps=400, record_every=rec,
                                     average_last=avg)  # fmt: skip
        assert 0.8 * peak <= est <= 2.5 * peak, (name, est, peak)


_CACHED_CALL = """
import diaglin as dl
from diaglin.kernels.tile import gd_kernel
from diaglin.models._ops import WW
ds = dl.data.sparse_regression(1, 5, 1, seed=0)
m = dl.get_model("ww")
dl.run_gd(m, ds.X, ds.y, [0.01, 0.02], m.init(5, 0.1), max_steps=5, stats="none", path="tile")
kernel = gd_kernel(WW)
for disp in (kernel, kernel.py_func.__globals__["drive"]):
    print(sum(disp.stats.cache_hits.values()), sum(disp.stats.cache_misses.values()))
"""


def test_a_second_process_loads_the_tile_kernel_from_numbas_cache():
    """Numba's cache key must not change between processes (it would if, e.g., the kernel held
    a dispatcher in its closure): after one process has run the kernel (compiled or loaded),
    the next loads the kernel (its driver's code inside) and compiles nothing."""

    def hits_and_misses():
        out = subprocess.run([sys.executable, "-c", _CACHED_CALL], capture_output=True,
                             text=True, check=True, timeout=600).stdout  # fmt: skip
        return [tuple(map(int, line.split())) for line in out.split("\n") if line.strip()]

    hits_and_misses()  # the cache dir is the session's (conftest): this may compile
    (kernel_hits, kernel_misses), (_, driver_misses) = hits_and_misses()
    assert (kernel_hits, kernel_misses, driver_misses) == (1, 0, 0)
