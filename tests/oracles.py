"""Independent reference implementations the tests compare diaglin against: plain NumPy, one
run at a time, written from the documented contract (docs/core_api.md), sharing no code with
the package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONVERGED, DIVERGED, MAX_STEPS = 0, 1, 2


def beta_and_jacobian(name: str, theta: np.ndarray, d: int, depth: int = 2):
    """beta (d,) and J (K, d) with J[k, j] = d beta_j / d theta_kj, from the closed forms."""
    w = theta.reshape(-1, d)
    if name == "ww":
        return w[0] ** 2, 2 * w
    if name == "uv":
        return w[0] * w[1], w[::-1].copy()
    if name == "pm":
        return w[0] ** 2 - w[1] ** 2, np.stack([2 * w[0], -2 * w[1]])
    if name == "prod":
        J = np.stack([np.prod(np.delete(w, k, axis=0), axis=0) for k in range(depth)])
        return np.prod(w, axis=0), J
    if name == "power":
        return w[0] ** depth, depth * w[:1] ** (depth - 1)
    raise ValueError(name)


@dataclass(frozen=True)
class Outcome:
    theta: np.ndarray
    loss: float
    steps: int
    status: int


def _stopped(th, loss, prev, prev_loss, k, bound, max_steps):
    """The Outcome if the run stops at step k with loss L(theta_k) (divergence: not L <= bound,
    reporting the previous iterate when L is non-finite; or k = max_steps), else None."""
    if not loss <= bound:
        if k > 0 and not np.isfinite(loss):
            return Outcome(prev, prev_loss, k - 1, DIVERGED)
        return Outcome(th, loss, k, DIVERGED)
    if k == max_steps:
        return Outcome(th, loss, k, MAX_STEPS)
    return None


def net_sgd_reference(net, X, y, schedule, theta0, seed, *, max_steps, batch, label_noise,
                      diverge_factor=1e8):  # fmt: skip
    """``sgd_reference`` for a regression network (MSE, one output: its targets are y): the
    batch loss and its gradient from ``net.loss`` / ``net.grad`` at the noisy targets."""
    from diaglin.kernels import rng

    n = X.shape[0]
    key = rng.keys(np.array([seed]))[0]
    th = np.array(theta0, float)
    sigma_max = max(p.noise for p in schedule.phases)
    bound = diverge_factor * max(net.loss(th, X, y), 0.5 * np.mean(y * y) + 0.5 * sigma_max**2)
    prev = prev_loss = None
    with np.errstate(all="ignore"):
        for k in range(max_steps + 1):
            eta, sigma = float(schedule.eta(k)), float(schedule.noise(k))
            rows, xi = sgd_draws(key, k, n, batch, sigma, label_noise)
            t = y[rows] + sigma * xi[:, 0]
            loss = net.loss(th, X[rows], t) if np.isfinite(th).all() else np.inf
            if (out := _stopped(th, loss, prev, prev_loss, k, bound, max_steps)) is not None:
                return out
            prev, prev_loss = th, loss
            th = th - eta * net.grad(th, X[rows], t)
    raise AssertionError("unreachable")


def gd_reference(name, X, y, eta, theta0, *, eps, max_steps, diverge_factor=1e8, depth=2):
    """One GD run by the contract: stop at the first k with L(theta_k) < eps (CONVERGED), or
    L non-finite or > diverge_factor * max(L(theta_0), eps) (DIVERGED; the last finite
    iterate when L is non-finite), or k = max_steps (MAX_STEPS)."""
    n, d = X.shape
    th = np.array(theta0, float)
    prev = prev_loss = None
    bound = None
    with np.errstate(all="ignore"):
        for k in range(max_steps + 1):
            beta, J = beta_and_jacobian(name, th, d, depth)
            r = X @ beta - y
            loss = float(r @ r / (2 * n))
            if bound is None:
                bound = diverge_factor * max(loss, eps)
            if loss < eps:
                return Outcome(th, loss, k, CONVERGED)
            if (out := _stopped(th, loss, prev, prev_loss, k, bound, max_steps)) is not None:
                return out
            prev, prev_loss = th, loss
            th = th - eta * (J * (X.T @ r / n)).reshape(-1)
    raise AssertionError("unreachable")


def one_point_gf_path_sharpness(x: np.ndarray, y: float, alpha: float, eps: float, num=4001):
    """max sharpness along the gradient-flow path of the one-point w⊙w model from w = alpha,
    by brute force: on that path beta_i = alpha² exp(lam x_i) for lam from 0 to the lam where
    L = eps (spec 01 §3), and the Hessian is 4 (x⊙w)(x⊙w)ᵀ + 2 r diag(x); its largest
    |eigenvalue| is maximised over a fine lam grid, then refined by golden-section search."""
    from scipy.optimize import brentq, minimize_scalar

    def residual(lam):
        return float(np.sum(x * alpha**2 * np.exp(lam * x)) - y)

    def sharp(lam):
        w = alpha * np.exp(lam * x / 2)
        g = 2 * x * w
        H = np.outer(g, g) + 2 * residual(lam) * np.diag(x)
        return np.abs(np.linalg.eigvalsh(H)).max()

    # L = r²/2 = eps at r = -sqrt(2 eps) (the flow approaches from r < 0 when beta0 is small)
    r0 = residual(0.0)
    target = -np.sqrt(2 * eps) if r0 < 0 else np.sqrt(2 * eps)
    hi = 1.0 if r0 < target else -1.0  # beta grows (lam > 0) while it undershoots y
    while (residual(hi) - target) * (r0 - target) > 0:
        hi *= 2
    lo_end, hi_end = (0.0, hi) if hi > 0 else (hi, 0.0)
    lam_end = brentq(lambda t: residual(t) - target, lo_end, hi_end, xtol=1e-14)
    grid = np.linspace(0.0, lam_end, num)
    vals = np.array([sharp(t) for t in grid])
    i = int(np.argmax(vals))
    best = vals[i]
    if 0 < i < num - 1:
        opt = minimize_scalar(lambda t: -sharp(t), bounds=(grid[i - 1], grid[i + 1]),
                              method="bounded", options={"xatol": 1e-13})  # fmt: skip
        best = max(best, -opt.fun)
    return best


def loss_gradient(name: str, theta: np.ndarray, X: np.ndarray, y: np.ndarray, depth: int = 2):
    """dL/dtheta = J ⊙ (Xᵀ(X beta - y)/n), from the closed forms above."""
    n, d = X.shape
    beta, J = beta_and_jacobian(name, theta, d, depth)
    return (J * (X.T @ (X @ beta - y) / n)).reshape(-1)


def hessian_fd(name: str, theta, X, y, depth: int = 2, h: float = 1e-5) -> np.ndarray:
    """The Hessian by central differences of ``loss_gradient`` (error ~h² + 1e-16/h),
    symmetrised."""
    cols = [(loss_gradient(name, theta + h * e, X, y, depth)
             - loss_gradient(name, theta - h * e, X, y, depth)) / (2 * h)
            for e in np.eye(theta.size)]  # fmt: skip
    H = np.array(cols)
    return (H + H.T) / 2


def sgd_draws(key, k, n, batch, sigma, label_noise, C=1):
    """Step k of the run with stream ``key``: ``batch`` distinct rows of 0..n-1 by Floyd's
    algorithm (draws 0..batch-1) and the unit label noise ξ (batch, C) of their C targets each
    (entry (t, c) from draw batch + tC + c);
    ξ = 0 when sigma = 0. From diaglin.kernels.rng (the stream is the given input here)."""
    from diaglin.kernels import rng

    if batch == n:
        rows = list(range(n))
    else:
        rows = []
        for t in range(batch):
            top = n - batch + t
            cand = min(int(rng.uniform(key, k, t) * (top + 1)), top)
            rows.append(top if cand in rows else cand)
    q = np.arange(batch * C)
    if sigma == 0:
        xi = np.zeros(batch * C)
    elif label_noise == "gaussian":
        xi = np.array([rng.normal(key, k, batch + j) for j in q])
    else:
        xi = np.array([rng.rademacher(key, k, batch + j) for j in q])
    return np.array(rows), xi.reshape(batch, C)


def sgd_reference(name, X, y, schedule, theta0, seed, *, max_steps, batch, label_noise,
                  diverge_factor=1e8, depth=2):  # fmt: skip
    """One stochastic run by the contract of diaglin.run_sgd, as a plain loop: at step k draw
    ``batch`` distinct rows by Floyd's algorithm from the run's counter-based stream, add label
    noise sigma_k xi to their targets, step on the batch loss with eta_k; stop at max_steps or
    when the batch loss is non-finite or above diverge_factor · max(L(theta0), L(0) + sigma²/2).
    The random draws come from diaglin.kernels.rng (the stream is the given input here)."""
    from diaglin.kernels import rng

    n, d = X.shape
    key = rng.keys(np.array([seed]))[0]  # a uint64 (a Python int may not fit int64)
    th = np.array(theta0, float)
    sigma_max = max(p.noise for p in schedule.phases)
    floor = 0.5 * np.mean(y * y) + 0.5 * sigma_max**2
    prev = prev_loss = bound = None
    with np.errstate(all="ignore"):
        for k in range(max_steps + 1):
            beta, J = beta_and_jacobian(name, th, d, depth)
            if bound is None:
                r_full = X @ beta - y
                bound = diverge_factor * max(float(r_full @ r_full / (2 * n)), floor)
            eta, sigma = float(schedule.eta(k)), float(schedule.noise(k))
            rows, xi = sgd_draws(key, k, n, batch, sigma, label_noise)
            r = X[rows] @ beta - (y[rows] + sigma * xi[:, 0])
            loss = float(r @ r / (2 * batch))
            if (out := _stopped(th, loss, prev, prev_loss, k, bound, max_steps)) is not None:
                return out
            prev, prev_loss = th, loss
            th = th - eta * (J * (X[rows].T @ r / batch)).reshape(-1)
    raise AssertionError("unreachable")
