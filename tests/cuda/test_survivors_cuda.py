"""GPU-backend properties a mutation audit showed the suite did not pin down (under numba's CUDA
simulator in CI, tests/conftest.py): the device's lower bound on λ_min at iterates far from any
minimum, where the mixed second derivatives of β matter, against dense ``eigvalsh`` of a Hessian
built here from the closed forms; and the results of an unsorted η batch with per-run starts
coming back in the caller's order, run by run equal to the CPU backend's."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import diaglin as dl
from diaglin.cuda import spectrum as device_spectrum
from diaglin.cuda.runtime import cuda

# --- the λ_min floor ---------------------------------------------------------------------------

#: the models whose β_j has mixed second derivatives ∂²β_j/∂θ_kj∂θ_lj: products of K factors
PRODUCTS = [("uv", {}, 2), ("prod", {"depth": 3}, 3)]


def _product_hessian_and_floor(w, X, y):
    """For β_j = Π_k w_kj (w (K, d)): the exact Hessian Jᵀ(XᵀX/n)J + blockdiag_j(g_j ∂²β_j)
    (P, P) with J_kj = Π_{m≠k} w_mj, ∂²β_j/∂w_kj∂w_lj = Π_{m≠k,l} w_mj (k ≠ l, 0 for k = l),
    g = Xᵀ(Xβ − y)/n; and the documented floor min_kj(g_j ∂²β_j/∂w_kj² −
    |g_j| Σ_{l≠k} |∂²β_j/∂w_kj∂w_lj|) (diaglin.cuda.spectrum)."""
    K, d = w.shape
    n = X.shape[0]
    beta = np.prod(w, axis=0)
    g = X.T @ (X @ beta - y) / n
    J = np.array([np.prod(np.delete(w, k, axis=0), axis=0) for k in range(K)])  # (K, d)
    D2 = np.zeros((K, K, d))
    for k in range(K):
        for m in range(K):
            if m != k:
                D2[k, m] = np.prod(np.delete(w, [k, m], axis=0), axis=0)
    A = X.T @ X / n
    H = np.zeros((K * d, K * d))
    for k in range(K):
        for m in range(K):
            H[k * d : (k + 1) * d, m * d : (m + 1) * d] = (J[k][:, None] * A * J[m][None, :]
                                                           + np.diag(g * D2[k, m]))  # fmt: skip
    diag = np.array([g * D2[k, k] for k in range(K)])
    off = np.array([np.abs(g) * sum(np.abs(D2[k, m]) for m in range(K) if m != k)
                    for k in range(K)])  # fmt: skip
    return H, (diag - off).min(), (diag + off).min()


def _device_data(X, y):
    cu = cuda()
    return SimpleNamespace(
        X=cu.to_device(X), Xt=cu.to_device(np.ascontiguousarray(X.T)), y=cu.to_device(y),
        a_diag=cu.to_device((X * X).mean(axis=0)),
    )  # fmt: skip


def _far_from_minima(K, seed, B=6, n=5, d=4):
    """Small weights of either sign and large targets: the gradient g is large and the
    second-order part g_j ∂²β_j dominates the Hessian, of either sign."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = 3.0 * rng.standard_normal(n)
    w = 0.3 * rng.choice([-1.0, 1.0], (B, K, d)) + 0.1 * rng.standard_normal((B, K, d))
    return X, y, w


@pytest.mark.parametrize("name,kw,K", PRODUCTS, ids=[m for m, _, _ in PRODUCTS])
def test_the_device_floor_is_a_lower_bound_on_lambda_min_far_from_minima(name, kw, K):
    """The floor the device computes (``_curvature``) is the documented Gershgorin bound and
    lies below λ_min of the dense Hessian, at iterates where the bound with the off-diagonal
    terms added instead would not (the mixed derivatives matter there)."""
    model = dl.get_model(name, **kw)
    X, y, w = _far_from_minima(K, seed=3)
    B = w.shape[0]
    tile = cuda().to_device(np.ascontiguousarray(w.transpose(1, 2, 0)))  # (K, d, B)
    trace = np.empty(B)
    _, floor = device_spectrum._curvature(model, tile, _device_data(X, y), trace)
    above = []
    for b in range(B):
        H, want, plus = _product_hessian_and_floor(w[b], X, y)
        ev = np.linalg.eigvalsh(H)
        scale = np.abs(ev).max()
        assert floor[b] <= ev[0] + 1e-12 * scale, (b, floor[b], ev[0])
        assert floor[b] == pytest.approx(want, rel=1e-12, abs=1e-14 * scale), b
        assert trace[b] == pytest.approx(np.trace(H), rel=1e-10, abs=1e-12 * scale)
        above.append(plus > ev[0])
    assert all(above), "the off-diagonal terms must matter at these iterates"


def test_sharpness_is_minus_lambda_min_where_it_dominates_far_from_minima():
    """``hessian_stats``: where −λ_min > λ_max (depth-3 products, all weights of one sign and a
    gradient of the sign that makes the second-order part's bottom eigenvalue the larger one),
    S = −λ_min and λ_min is reported, as dense eigvalsh says; a floor that overstated λ_min
    would skip it and report λ_max."""
    model = dl.get_model("prod", depth=3)
    X, y, w = _far_from_minima(3, seed=1)
    w = np.abs(w)
    B = w.shape[0]
    ev = np.array([np.linalg.eigvalsh(_product_hessian_and_floor(w[b], X, y)[0])
                   for b in range(B)])  # fmt: skip
    assert (-ev[:, 0] > 1.05 * ev[:, -1]).sum() >= B // 2, "the instance must show the case"
    thetas = cuda().to_device(np.ascontiguousarray(w))  # (B, K, d): the kernels' output layout
    got = device_spectrum.hessian_stats(model, thetas, X, y, _device_data(X, y), sharpness=True)
    scale = np.abs(ev).max(axis=1)
    np.testing.assert_allclose(got.top_abs, scale, rtol=1e-10)
    np.testing.assert_allclose(got.top, ev[:, -1], rtol=0, atol=1e-10 * scale.max())
    dominated = -ev[:, 0] > ev[:, -1]
    np.testing.assert_allclose(got.bottom[dominated], ev[dominated, 0], rtol=1e-10)


# --- the caller's order of an unsorted batch --------------------------------------------------


# under the simulator the kernels run as Python, where the η = 1e150 run overflows on purpose
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("path", ["tile", "blas"])
def test_an_unsorted_eta_batch_with_per_run_starts_comes_back_in_the_callers_order(path):
    """The kernels run the runs sorted by η and the results are put back: with η in no sorted
    order (and no reversed one, whose sort order is its own inverse) and a start per run, every
    run's status, steps, iterates, losses, averages, trajectory, gradients and sharpness equal
    the CPU backend's for the same run."""
    rng = np.random.default_rng(5)
    n, d = 6, 4
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = X @ (np.abs(rng.standard_normal(d)) * (rng.random(d) < 0.7))
    model = dl.get_model("pm")
    etas = np.array([0.3, 1e-3, 20.0, 1.2, 1e150, 1.0, 0.02])
    order = np.argsort(-etas, kind="stable")
    assert not np.array_equal(order[order], np.arange(etas.size))  # not its own inverse
    theta0 = model.init(d, 0.4) + 0.05 * rng.standard_normal((etas.size, model.n_params(d)))
    opts = dict(eps=1e-4, max_steps=150, record_every=10, average_last=3, record_grads=True)
    cpu = dl.run_gd(model, X, y, etas, theta0, path="tile", **opts)
    gpu = dl.run_gd(model, X, y, etas, theta0, backend="cuda", path=path, **opts)
    assert {0, 1, 2} <= set(cpu.status.tolist()) and len(set(cpu.steps.tolist())) >= 5
    np.testing.assert_array_equal(gpu.etas, etas)
    np.testing.assert_array_equal(gpu.status, cpu.status)
    np.testing.assert_array_equal(gpu.steps, cpu.steps)
    for got, want, what in [
        (gpu.theta, cpu.theta, "theta"), (gpu.loss, cpu.loss, "loss"),
        (gpu.averaged.theta, cpu.averaged.theta, "averaged"),
        (gpu.trajectory.theta, cpu.trajectory.theta, "trajectory"),
        (gpu.grad_history, cpu.grad_history, "gradients"),
        (gpu.final.sharpness, cpu.final.sharpness, "sharpness"),
        (gpu.final.hessian_trace, cpu.final.hessian_trace, "trace"),
    ]:  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300, err_msg=what)
    # each run alone: the batch's row b is that run
    for b in (1, 2, 6):
        alone = dl.run_gd(model, X, y, etas[b : b + 1], theta0[b], backend="cuda", path=path,
                          **opts)  # fmt: skip
        assert (alone.status[0], alone.steps[0]) == (gpu.status[b], gpu.steps[b]), b
        np.testing.assert_allclose(alone.loss[0], gpu.loss[b], rtol=1e-12)
