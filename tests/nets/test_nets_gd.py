"""``diaglin.run_gd`` on small networks: the iteration θ_{k+1} = θ_k − η ∇L(θ_k) (against a
plain loop over the network's own loss and gradient), gradient flow in the small-step limit
(against ``scipy.integrate.solve_ivp``), batch independence, the stopping rule and its
statuses, linear stability of converged runs, trajectories and averaged iterates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import diaglin as dl
from diaglin import Status, chunks
from diaglin.nets import mlp

N, D, WIDTH = 12, 6, 5


def regression(activation="tanh"):
    """An over-parameterised MLP (P = 41 > n = 12) on real-valued targets: MSE, one output."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((N, D)), rng.standard_normal(N)
    net = mlp(D, (WIDTH,), 1, activation=activation, loss="mse")
    return net, X, y, net.init(1.0, seed=1)


def classification(activation="tanh"):
    """The same inputs with 3 classes: softmax cross-entropy, three outputs."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, 3, N).astype(float)
    net = mlp(D, (WIDTH,), 3, activation=activation, loss="ce")
    return net, X, y, net.init(1.0, seed=1)


PROBLEMS = {"mse": regression, "ce": classification}
#: losses the problems' GD runs reach within a few thousand steps (CE only tends to 0)
EPS = {"mse": 1e-6, "ce": 0.05}


def sharpness0(net, X, y, theta0):
    """S(θ0): the scale of the step sizes (GD is stable near θ0 for η < 2/S(θ0))."""
    return dl.sharpness(net, theta0, X, y).top_abs


def gd_reference(net, X, y, eta, theta0, *, eps, max_steps, diverge_factor=1e8):
    """One run by the contract of run_gd, as a plain loop on ``net.loss`` / ``net.grad``:
    stop at the first k with L(θ_k) < eps (CONVERGED), L non-finite or above
    diverge_factor · max(L(θ_0), eps) (DIVERGED; the previous iterate when L is non-finite),
    or k = max_steps (MAX_STEPS). Returns (θ, L, steps, status, [θ_0, …, θ_k])."""
    th, prev, prev_loss, bound, path = np.array(theta0, float), None, None, None, []
    with np.errstate(all="ignore"):
        for k in range(max_steps + 1):
            path.append(th)
            loss = net.loss(th, X, y) if np.isfinite(th).all() else np.inf
            if bound is None:
                bound = diverge_factor * max(loss, eps)
            if loss < eps:
                return th, loss, k, Status.CONVERGED, path
            if not loss <= bound:
                if k > 0 and not np.isfinite(loss):
                    return prev, prev_loss, k - 1, Status.DIVERGED, path
                return th, loss, k, Status.DIVERGED, path
            if k == max_steps:
                return th, loss, k, Status.MAX_STEPS, path
            prev, prev_loss = th, loss
            th = th - eta * net.grad(th, X, y)
    raise AssertionError("unreachable")


# --- the iteration ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mse", "ce"])
def test_one_step_is_theta0_minus_eta_times_the_gradient(kind):
    net, X, y, th0 = PROBLEMS[kind]()
    etas = np.array([0.3, 0.05, 1.7])
    r = dl.run_gd(net, X, y, etas, th0, eps=1e-300, max_steps=1, record_every=1, stats="none")
    assert (r.status == Status.MAX_STEPS).all() and (r.steps == 1).all()
    g = net.grad(th0, X, y)
    assert np.abs(g).max() > 1e-3
    for b, eta in enumerate(etas):
        np.testing.assert_array_equal(r.trajectory.theta[b, 0], th0)
        np.testing.assert_allclose(r.theta[b], th0 - eta * g, rtol=1e-14, atol=1e-15)
        np.testing.assert_array_equal(r.trajectory.theta[b, 1], r.theta[b])
    # a single run takes exactly the same floating-point step as θ0 − η ∇L(θ0)
    one = dl.run_gd(net, X, y, 0.3, th0, eps=1e-300, max_steps=1, stats="none")
    np.testing.assert_array_equal(one.theta[0], th0 - 0.3 * g)
    assert one.loss[0] == net.loss(th0 - 0.3 * g, X, y)


@pytest.mark.parametrize("kind", ["mse", "ce"])
def test_every_run_follows_the_reference_loop(kind):
    """Runs that converge at different steps, stop at max_steps and diverge (η far above
    2/sharpness), batched: statuses, step counts, iterates and losses of the plain loop."""
    net, X, y, th0 = PROBLEMS[kind]()
    eps = EPS[kind]
    etas = np.array([0.6, 1.0, 1.4, 0.05, 1e12]) / sharpness0(net, X, y, th0)
    max_steps = 2500
    r = dl.run_gd(net, X, y, etas, th0, eps=eps, max_steps=max_steps, stats="none")
    assert set(r.status.tolist()) == {Status.CONVERGED, Status.MAX_STEPS, Status.DIVERGED}
    for b, eta in enumerate(etas):
        th, loss, steps, status, _ = gd_reference(net, X, y, eta, th0, eps=eps,
                                                  max_steps=max_steps)  # fmt: skip
        assert (r.status[b], r.steps[b]) == (status, steps), b
        np.testing.assert_allclose(r.theta[b], th, rtol=1e-10, atol=1e-12, err_msg=str(b))
        assert r.loss[b] == pytest.approx(loss, rel=1e-10)
        assert r.loss[b] == pytest.approx(net.loss(r.theta[b], X, y), rel=1e-14)


@pytest.mark.parametrize("kind", ["mse", "ce"])
def test_small_steps_track_gradient_flow_at_first_order(kind):
    """‖θ_k − θ_GF(ηk)‖ = O(η) (Euler's method): at t = 2 the error, relative to how far the
    flow moved, is below 1e-3 and halves with η."""
    net, X, y, th0 = PROBLEMS[kind]()
    t_end = 2.0
    sol = solve_ivp(lambda t, th: -net.grad(th, X, y), (0.0, t_end), th0, method="DOP853",
                    rtol=1e-12, atol=1e-13)  # fmt: skip
    assert sol.success
    ref = sol.y[:, -1]
    moved = np.linalg.norm(ref - th0)
    assert moved > 0.1
    etas = np.array([4e-3, 2e-3, 1e-3])
    errs = []
    for eta in etas:
        k = int(round(t_end / eta))
        r = dl.run_gd(net, X, y, eta, th0, eps=1e-300, max_steps=k, stats="none")
        assert r.status[0] == Status.MAX_STEPS and r.steps[0] == k
        errs.append(np.linalg.norm(r.theta[0] - ref) / moved)
    errs = np.array(errs)
    assert errs[1] < 1e-3, errs
    ratios = errs[:-1] / errs[1:]
    assert np.all((ratios > 1.8) & (ratios < 2.2)), (errs, ratios)


def test_a_run_is_bitwise_identical_alone_and_in_any_batch():
    """Runs stopping at many different steps (converged, max_steps, diverged) drop out of the
    batch at different times: each run's outcome is bitwise what it is alone, whatever the
    order of the step sizes, also with one start per run."""
    net, X, y, th0 = regression()
    rng = np.random.default_rng(5)
    etas = rng.permutation(np.geomspace(0.05, 30.0, 12))
    starts = th0 + 0.1 * rng.standard_normal((etas.size, th0.size))
    kw = dict(eps=1e-4, max_steps=2000, average_last=3, record_every=50, stats="none")
    for theta0 in (th0, starts):
        batch = dl.run_gd(net, X, y, etas, theta0, **kw)
        assert len(set(batch.status.tolist())) == 3 and len(set(batch.steps.tolist())) >= 8
        for b in range(etas.size):
            alone = dl.run_gd(net, X, y, etas[b], theta0 if theta0.ndim == 1 else theta0[b],
                              **kw)  # fmt: skip
            assert (alone.status[0], alone.steps[0]) == (batch.status[b], batch.steps[b])
            np.testing.assert_array_equal(alone.theta[0], batch.theta[b])
            np.testing.assert_array_equal(alone.loss[0], batch.loss[b])
            np.testing.assert_array_equal(alone.averaged.theta[0], batch.averaged.theta[b])
            np.testing.assert_array_equal(alone.trajectory.theta[0], batch.trajectory.theta[b])


def test_chunked_calls_change_nothing(monkeypatch):
    net, X, y, th0 = classification()
    etas = np.array([10.0, 2.0, 0.5, 1e12])
    kw = dict(eps=0.05, max_steps=400, average_last=4, record_every=7, stats="none")
    whole = dl.run_gd(net, X, y, etas, th0, **kw)
    calls = []
    monkeypatch.setattr(chunks, "_FIRST_CHUNK_WORK", 1)  # first call: one step
    monkeypatch.setattr(chunks, "CHUNK_SECONDS", 1e-6)  # then tiny chunks
    pieces = dl.run_gd(net, X, y, etas, th0, progress=calls.append, **kw)
    assert len(calls) > 20 and calls == sorted(calls) and calls[-1] <= 400
    for field in ("theta", "steps", "status", "loss"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(pieces, field))
    np.testing.assert_array_equal(whole.averaged.theta, pieces.averaged.theta)
    np.testing.assert_array_equal(whole.trajectory.theta, pieces.trajectory.theta)


# --- statuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mse", "ce"])
def test_statuses_and_their_summaries(kind):
    net, X, y, th0 = PROBLEMS[kind]()
    eps = EPS[kind]
    etas = np.array([1.0, 0.005, 1e12]) / sharpness0(net, X, y, th0)
    r = dl.run_gd(net, X, y, etas, th0, eps=eps, max_steps=2500)
    L0 = net.loss(th0, X, y)
    assert r.status.tolist() == [Status.CONVERGED, Status.MAX_STEPS, Status.DIVERGED]
    assert r.converged.tolist() == [True, False, False]
    assert r.diverged.tolist() == [False, False, True]
    assert r.loss[0] < eps <= r.loss[1]
    assert r.steps[1] == 2500
    assert r.loss[2] > 1e8 * L0 and r.steps[2] >= 1
    for field in ("theta", "beta", "loss", "sharpness", "hessian_trace", "l2_theta", "l2_beta"):
        assert np.isfinite(getattr(r, field)).all(), field
    # the reported statistics are those of the reported iterates
    np.testing.assert_allclose(r.loss, net.loss(r.theta, X, y), rtol=1e-14)
    np.testing.assert_allclose(r.beta, net.beta(r.theta), rtol=1e-14)
    s = dl.sharpness(net, r.theta, X, y)
    np.testing.assert_allclose(r.sharpness, s.top_abs, rtol=1e-12)
    np.testing.assert_allclose(r.hessian_trace, s.trace, rtol=1e-12)
    assert r.config["network"] == net.options()


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_a_run_that_overflows_reports_its_last_finite_iterate():
    """With the divergence bound out of reach (infinite), a huge step grows the loss until it
    overflows to inf: the run is DIVERGED at the previous, finite iterate."""
    net, X, y, th0 = regression()
    big = np.finfo(float).max  # the bound diverge_factor · L(θ0) overflows to inf
    r = dl.run_gd(net, X, y, 1e6, th0, eps=1e-12, max_steps=200, diverge_factor=big,
                  record_every=1, stats="none")  # fmt: skip
    assert r.status[0] == Status.DIVERGED
    th, loss, steps, status, path = gd_reference(net, X, y, 1e6, th0, eps=1e-12, max_steps=200,
                                                 diverge_factor=big)  # fmt: skip
    # the reference stopped at k = len(path) − 1 on a non-finite loss and reports step k − 1
    assert status == Status.DIVERGED and steps == len(path) - 2
    assert r.steps[0] == steps
    assert np.isfinite(r.theta[0]).all() and np.isfinite(r.loss[0])
    np.testing.assert_allclose(r.theta[0], th, rtol=1e-10)
    np.testing.assert_array_equal(r.trajectory.theta[0, steps], r.theta[0])


# --- linear stability -------------------------------------------------------------------------


def test_converged_runs_satisfy_the_linear_stability_bound():
    """If GD converges to a minimum θ*, then S(θ*) ≤ 2/η: at S > 2/η the map θ ↦ θ − η∇L
    expands the top eigendirection by |1 − ηS| > 1, so the minimum repels the iterates.
    Stopping at L < eps alone does not show convergence (it can catch a transient near an
    unstable minimum), so each converged run is continued: it is covered by the claim iff its
    loss stays below eps. Step sizes up to 2.5/S(θ0) reach the edge of stability (GD
    converges where S is about 2/η, not to the flow's limit), so the bound is tight there."""
    net, X, y, th0 = regression()
    s0 = dl.sharpness(net, th0, X, y).top_abs
    etas = np.array([0.5, 1.0, 1.5, 1.9, 2.5]) / s0
    eps = 1e-10
    r = dl.run_gd(net, X, y, etas, th0, eps=eps, max_steps=8000, stats="none")
    ok = r.converged
    assert ok.sum() >= 4
    more = dl.run_gd(net, X, y, etas[ok], r.theta[ok], eps=1e-300, max_steps=2000,
                     record_every=1, stats="none")  # fmt: skip
    stays = np.nanmax(more.trajectory.loss, axis=1) < eps
    assert stays.sum() >= 3
    s = dl.sharpness(net, more.theta[stays], X, y).top_abs
    ratio = etas[ok][stays] * s / 2
    assert np.all(ratio <= 1 + 1e-3), ratio
    assert ratio.max() > 0.95, ratio  # the instance reaches the edge of stability


# --- trajectories and averages ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mse", "ce"])
def test_trajectory_records_every_kth_iterate_and_averages_the_last_k(kind):
    net, X, y, th0 = PROBLEMS[kind]()
    eps = 0.1 if kind == "mse" else 0.3
    # converges, hits max_steps, converges sooner
    etas = np.array([0.5, 0.002, 1.0]) / sharpness0(net, X, y, th0)
    M, K = 300, 4
    every = dl.run_gd(net, X, y, etas, th0, eps=eps, max_steps=M, record_every=1,
                      average_last=K, stats="none")  # fmt: skip
    assert every.status.tolist() == [Status.CONVERGED, Status.MAX_STEPS, Status.CONVERGED]
    assert K <= every.steps[2] < every.steps[0] < M
    assert every.trajectory.theta.shape == (3, M + 1, th0.size)
    np.testing.assert_array_equal(every.trajectory.steps, np.arange(M + 1))
    for b in range(3):
        k = every.steps[b]
        path = every.trajectory.theta[b]
        assert np.isfinite(path[: k + 1]).all() and np.isnan(path[k + 1 :]).all()
        np.testing.assert_array_equal(path[k], every.theta[b])
        # the averaged iterate: the mean of the last K iterates, θ_{k−K+1}, …, θ_k
        np.testing.assert_allclose(every.averaged.theta[b], path[k - K + 1 : k + 1].mean(axis=0),
                                   rtol=1e-14, atol=1e-15)  # fmt: skip
        assert every.averaged.loss[b] == pytest.approx(
            net.loss(every.averaged.theta[b], X, y), rel=1e-13)  # fmt: skip
        np.testing.assert_allclose(every.trajectory.loss[b, : k + 1],
                                   net.loss(path[: k + 1], X, y), rtol=1e-14)  # fmt: skip
    # record_every = 7: the same run, every 7th iterate
    sparse = dl.run_gd(net, X, y, etas, th0, eps=eps, max_steps=M, record_every=7,
                       stats="none")  # fmt: skip
    T = M // 7 + 1
    assert sparse.trajectory.theta.shape == (3, T, th0.size)
    np.testing.assert_array_equal(sparse.trajectory.steps, 7 * np.arange(T))
    np.testing.assert_array_equal(sparse.trajectory.theta, every.trajectory.theta[:, ::7])
    np.testing.assert_array_equal(sparse.theta, every.theta)


def test_average_over_fewer_iterates_than_k_when_a_run_stops_early():
    net, X, y, th0 = regression()
    r = dl.run_gd(net, X, y, 0.3, th0, eps=1e-300, max_steps=2, record_every=1, average_last=6,
                  stats="none")  # fmt: skip
    assert r.steps[0] == 2
    np.testing.assert_allclose(r.averaged.theta[0], r.trajectory.theta[0, :3].mean(axis=0),
                               rtol=1e-14)  # fmt: skip
    r0 = dl.run_gd(net, X, y, 0.3, th0, eps=1e-300, max_steps=0, average_last=3, stats="none")
    assert r0.steps[0] == 0
    np.testing.assert_array_equal(r0.averaged.theta[0], th0)
    np.testing.assert_array_equal(r0.theta[0], th0)
