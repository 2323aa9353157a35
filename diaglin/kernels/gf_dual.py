"""Gradient flow of a diagonal model in its dual form: the integrated residual, n numbers.

With r = X β(θ) − y and g = Xᵀ r / n, coordinate j's block θ_j (K numbers) obeys
dθ_j/dt = −g_j ∇β_j(θ_j). In the variable s_j(t) = ∫₀ᵗ g_j = (Xᵀ ρ(t))_j / n, where
ρ(t) = ∫₀ᵗ r is the integrated residual, that is the autonomous equation
dθ_j/ds_j = −∇β_j(θ_j), solved in closed form from θ_j(0) (``coords``):

    ww     w = w0 e^{−2s}
    pm     u = u0 e^{−2s},  v = v0 e^{2s}
    uv     u ± v = (u0 ± v0) e^{∓s}
    power  β = w^D, dw/ds = −D w^{D−1}:  D = 1: w0 − s;  D = 2: w0 e^{−2s};
           D ≥ 3: |w|^{2−D} = |w0|^{2−D} + D(D−2) sgn(w0)^D s
    prod   D equal blocks w, dw/ds = −w^{D−1}:  D = 1: w0 − s;  D = 2: w0 e^{−s};
           D ≥ 3: |w|^{2−D} = |w0|^{2−D} + (D−2) sgn(w0)^D s

(prod with unequal blocks has no closed form: ``gradient_flow`` integrates those in θ). Gradient
flow is then the n-dimensional equation

    ρ' = F(ρ) = X β(s(ρ)) − y,    ∂F/∂ρ = −(1/n) X diag(‖∇β_j‖²) Xᵀ   (minus the NTK over n),

and the loss is ‖F(ρ)‖² / (2n). Near the interpolating set the NTK's eigenvalues spread over
many decades (stiff), so each step is a Radau IIA step (3 stages, order 5, L-stable) solved by
Newton's method with the exact Jacobian; step sizes are chosen by step doubling.

Certificate (``tail_bound``): for t ≥ t1, r' = (∂F/∂ρ) r, so while ρ stays in a ball where
−∂F/∂ρ ⪰ μ I, ‖r(t)‖ ≤ ‖r(t1)‖ e^{−μ (t − t1)} and ‖ρ(t) − ρ(t1)‖ ≤ ‖r(t1)‖ / μ: a ball of
radius R with ‖r(t1)‖ / μ(R) ≤ R is never left. On it every s_j lies within ‖X_{:,j}‖ R / n of
its value, ‖g_j‖ ≤ ‖X_{:,j}‖ ‖r(t1)‖ / n (the loss only decreases), and the sharpness is at
most λ_max((1/n) X diag(max ‖∇β_j‖²) Xᵀ) + max_j |g_j| max ‖∇²β_j‖ (the Gauss–Newton part's
nonzero eigenvalues are those of the n × n kernel; the rest is block diagonal). The limit
ρ∞ lies in the same ball, the unique zero of F there (Newton's method finds it).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from diaglin.models._numerics import hessian_run
from diaglin.models._ops import PM, POWER, PROD, UV, WW, beta_jt, d2beta_jt, dbeta_jt

_JIT = dict(cache=True)
#: helpers called from one place: inlined (numba IR) into their caller. A separately jitted
#: function is optimised and emitted on its own and again in every caller that links it; the
#: helpers called from several places stay separate (inlining them all made the first call of
#: ``integrate`` take more than 9 min instead of 44 s). First call of ``gradient_flow``: 43 → 35 s.
_ONCE = dict(cache=True, inline="always")

#: Radau IIA, 3 stages (order 5): nodes C, matrix A (the last row is the weights).
_S6 = math.sqrt(6.0)
C = np.array([(4.0 - _S6) / 10.0, (4.0 + _S6) / 10.0, 1.0])
A = np.array([
    [(88.0 - 7.0 * _S6) / 360.0, (296.0 - 169.0 * _S6) / 1800.0, (-2.0 + 3.0 * _S6) / 225.0],
    [(296.0 + 169.0 * _S6) / 1800.0, (88.0 + 7.0 * _S6) / 360.0, (-2.0 - 3.0 * _S6) / 225.0],
    [(16.0 - _S6) / 36.0, (16.0 + _S6) / 36.0, 1.0 / 9.0],
])  # fmt: skip
_NEWTON_ITERS = 25


@nb.njit(**_ONCE)
def _power_law(w0, rate, depth, s):
    """w(s) solving dw/ds = −rate · w^{depth−1} from w0 (depth ≥ 3); NaN past a blow-up."""
    if w0 == 0.0:
        return 0.0
    sgn = 1.0 if w0 > 0.0 else -1.0
    q = abs(w0) ** (2 - depth) + rate * (depth - 2) * (sgn**depth) * s
    if not q > 0.0:
        return np.nan
    return sgn * q ** (1.0 / (2 - depth))


@nb.njit(**_JIT)
def coord(kind, depth, th0, j, s, th):
    """th[:, j, 0] = θ_j at integrated gradient s (the closed forms of the module docstring)."""
    if kind == WW:
        th[0, j, 0] = th0[0, j, 0] * math.exp(-2.0 * s)
    elif kind == PM:
        th[0, j, 0] = th0[0, j, 0] * math.exp(-2.0 * s)
        th[1, j, 0] = th0[1, j, 0] * math.exp(2.0 * s)
    elif kind == UV:
        a = (th0[0, j, 0] + th0[1, j, 0]) * math.exp(-s)
        b = (th0[0, j, 0] - th0[1, j, 0]) * math.exp(s)
        th[0, j, 0] = 0.5 * (a + b)
        th[1, j, 0] = 0.5 * (a - b)
    else:  # POWER, or PROD with equal blocks: dw/ds = −rate · w^{D−1}
        w0 = th0[0, j, 0]
        rate = float(depth) if kind == POWER else 1.0
        if depth == 1:
            w = w0 - s
        elif depth == 2:
            w = w0 * math.exp(-rate * s)
        else:
            w = _power_law(w0, rate, depth, s)
        for k in range(th.shape[0]):
            th[k, j, 0] = w


@nb.njit(**_JIT)
def residual(kind, depth, th0, X, y, rho, th, r):
    """θ(ρ) into ``th`` (K, d, 1) and r = F(ρ) = X β(θ) − y into ``r``; returns the loss
    ‖r‖² / (2n), or NaN where θ is not finite (a blow-up)."""
    n, d = X.shape
    for j in range(d):
        s = 0.0
        for i in range(n):
            s += X[i, j] * rho[i]
        coord(kind, depth, th0, j, s / n, th)
    for i in range(n):
        acc = -y[i]
        for j in range(d):
            acc += X[i, j] * beta_jt(kind, depth, th, j, 0)
        r[i] = acc
    loss = 0.0
    for i in range(n):
        loss += r[i] * r[i]
    loss /= 2.0 * n
    return loss if math.isfinite(loss) else np.nan


@nb.njit(**_JIT)
def grad_sq(kind, depth, th, j):
    """‖∇β_j(θ_j)‖²."""
    out = 0.0
    for k in range(th.shape[0]):
        v = dbeta_jt(kind, depth, th, k, j, 0)
        out += v * v
    return out


@nb.njit(**_JIT)
def kernel(X, w, out):
    """out = (1/n) X diag(w) Xᵀ (n × n)."""
    n, d = X.shape
    for a in range(n):
        for b in range(a + 1):
            acc = 0.0
            for j in range(d):
                acc += X[a, j] * w[j] * X[b, j]
            out[a, b] = out[b, a] = acc / n


@nb.njit(**_JIT)
def jacobian(kind, depth, th, X, out):
    """out = ∂F/∂ρ = −(1/n) X diag(‖∇β_j‖²) Xᵀ at θ."""
    d = X.shape[1]
    w = np.empty(d)
    for j in range(d):
        w[j] = -grad_sq(kind, depth, th, j)
    kernel(X, w, out)


@nb.njit(**_JIT)
def radau_step(kind, depth, th0, X, y, rho0, h, rtol, atol, out):
    """One Radau IIA step of size h from ρ0 into ``out``, by Newton's method on the stage
    values with the exact Jacobian, to 1 % of the local tolerance atol + rtol |ρ0| (F carries
    rounding of about 1e-16 ‖y‖, which a step multiplies by h); False if Newton does not
    converge (or θ blows up)."""
    n = X.shape[0]
    K, d = th0.shape[0], th0.shape[1]
    th = np.empty((K, d, 1))
    Z = np.zeros((3, n))
    F = np.empty((3, n))
    J = np.empty((3, n, n))
    M = np.empty((3 * n, 3 * n))
    res = np.empty(3 * n)
    Y = np.empty(n)
    for _ in range(_NEWTON_ITERS):
        for st in range(3):
            for i in range(n):
                Y[i] = rho0[i] + Z[st, i]
            if not math.isfinite(residual(kind, depth, th0, X, y, Y, th, F[st])):
                return False
            jacobian(kind, depth, th, X, J[st])
        for a in range(3):
            for i in range(n):
                acc = Z[a, i]
                for b in range(3):
                    acc -= h * A[a, b] * F[b, i]
                res[a * n + i] = -acc
                for b in range(3):
                    for k in range(n):
                        M[a * n + i, b * n + k] = (1.0 if (a == b and i == k) else 0.0) - (
                            h * A[a, b] * J[b, i, k]
                        )
        if not np.all(np.isfinite(M)):
            return False
        delta = np.linalg.solve(M, res)
        size = 0.0
        for a in range(3):
            for i in range(n):
                Z[a, i] += delta[a * n + i]
                size = max(size, abs(delta[a * n + i]) / (atol + rtol * abs(rho0[i])))
        if not math.isfinite(size):
            return False
        if size <= 1e-2:
            for i in range(n):
                out[i] = rho0[i] + Z[2, i]
            return True
    return False


@nb.njit(**_JIT)
def sharpness_of(kind, depth, th, X, y, AtA):
    """max |λ| of the exact Hessian at θ (one run, tile (K, d, 1))."""
    P = th.shape[0] * th.shape[1]
    H = np.empty((P, P))
    hessian_run(kind, depth, th, 0, X, y, AtA, H)
    if not np.all(np.isfinite(H)):
        return np.nan
    ev = np.linalg.eigvalsh(H)
    return max(abs(ev[0]), abs(ev[-1]))


@nb.njit(**_ONCE)
def _coord_range(kind, depth, th0, j, lo, hi, th):
    """(min, max) of ‖∇β_j‖² and max ‖∇²β_j‖ (spectral norm) for s_j in [lo, hi]; NaN on a
    blow-up. ‖∇β_j‖² is monotone in s (ww, power, prod) or convex (pm, uv: its minimum is at
    s* = ln(|a|/|b|)/c, clamped); ‖∇²β_j‖ is constant or monotone in |w|."""
    K = th.shape[0]
    g_lo = g_hi = 0.0
    h_max = 0.0
    for end in range(2):
        coord(kind, depth, th0, j, lo if end == 0 else hi, th)
        g = grad_sq(kind, depth, th, j)
        if end == 0:
            g_lo = g
        else:
            g_hi = g
        if kind == PROD:
            h = (K - 1) * abs(d2beta_jt(kind, depth, th, 0, 1, j, 0)) if K > 1 else 0.0
        elif kind == UV:
            h = 1.0
        else:
            h = abs(d2beta_jt(kind, depth, th, 0, 0, j, 0))
        h_max = max(h_max, h)
    g_max = max(g_lo, g_hi)
    g_min = min(g_lo, g_hi)
    if kind == PM or kind == UV:
        a = abs(th0[0, j, 0])
        b = abs(th0[1, j, 0])
        c = 8.0 if kind == PM else 4.0
        if kind == UV:
            a, b = abs(th0[0, j, 0] + th0[1, j, 0]), abs(th0[0, j, 0] - th0[1, j, 0])
        if a > 0.0 and b > 0.0:
            s_star = min(max(math.log(a / b) / (c / 2.0), lo), hi)
            coord(kind, depth, th0, j, s_star, th)
            g_min = min(g_min, grad_sq(kind, depth, th, j))
    return g_min, g_max, h_max


@nb.njit(**_JIT)
def ball_bounds(kind, depth, th0, X, rho, r_norm, R):
    """On the ball ‖ρ' − ρ‖ ≤ R: (μ = a lower bound of λ_min(NTK/n), S_max = an upper bound
    of the sharpness given ‖r‖ ≤ r_norm); NaN where a coordinate blows up inside."""
    n, d = X.shape
    th = np.empty((th0.shape[0], d, 1))
    w_min = np.empty(d)
    w_max = np.empty(d)
    resid = 0.0
    for j in range(d):
        s = 0.0
        col = 0.0
        for i in range(n):
            s += X[i, j] * rho[i]
            col += X[i, j] * X[i, j]
        col = math.sqrt(col)
        half = col * R / n
        g_min, g_max, h_max = _coord_range(kind, depth, th0, j, s / n - half, s / n + half, th)
        if not (math.isfinite(g_min) and math.isfinite(g_max) and math.isfinite(h_max)):
            return np.nan, np.nan
        w_min[j] = g_min
        w_max[j] = g_max
        resid = max(resid, col * r_norm / n * h_max)
    Kmin = np.empty((n, n))
    Kmax = np.empty((n, n))
    kernel(X, w_min, Kmin)
    kernel(X, w_max, Kmax)
    if not (np.all(np.isfinite(Kmin)) and np.all(np.isfinite(Kmax)) and math.isfinite(resid)):
        return np.nan, np.nan
    mu = np.linalg.eigvalsh(Kmin)[0]
    top = np.linalg.eigvalsh(Kmax)[-1]
    return mu, top + resid


@nb.njit(**_ONCE)
def tail_bound(kind, depth, th0, X, y, rho):
    """(S_max, R): the sharpness bound over the rest of the flow from ρ and the radius of the
    ball it stays in (the module docstring); (inf, inf) where no ball is found."""
    n = X.shape[0]
    th = np.empty((th0.shape[0], X.shape[1], 1))
    r = np.empty(n)
    residual(kind, depth, th0, X, y, rho, th, r)
    r_norm = 0.0
    for i in range(n):
        r_norm += r[i] * r[i]
    r_norm = math.sqrt(r_norm)
    if r_norm == 0.0:
        _, top = ball_bounds(kind, depth, th0, X, rho, 0.0, 0.0)
        return (top if math.isfinite(top) else np.inf), 0.0
    mu0, _ = ball_bounds(kind, depth, th0, X, rho, r_norm, 0.0)
    if not (mu0 > 0.0):
        return np.inf, np.inf
    R = 2.0 * r_norm / mu0
    for _ in range(4):
        mu, top = ball_bounds(kind, depth, th0, X, rho, r_norm, R)
        if mu > 0.0 and r_norm / mu <= R:
            return top, r_norm / mu
        R *= 2.0
    return np.inf, np.inf


# --- the integration ------------------------------------------------------------------------
#: outcome codes (the values of diaglin.status.FlowStatus)
CONVERGED, T_MAX, MAX_STEPS, DIVERGED, STALLED = 0, 1, 2, 3, 4
#: Richardson factor of step doubling for an order-5 method: 2^5 − 1
_RICH = 31.0


@nb.njit(**_JIT)
def _two_halves(kind, depth, th0, X, y, rho0, h, rtol, atol, out):
    """ρ(t0 + h) by two Radau steps of h/2 (the accuracy of an accepted step)."""
    mid = np.empty(rho0.size)
    return radau_step(kind, depth, th0, X, y, rho0, 0.5 * h, rtol, atol, mid) and radau_step(
        kind, depth, th0, X, y, mid, 0.5 * h, rtol, atol, out
    )


@nb.njit(**_JIT)
def _sharpness_after(kind, depth, th0, X, y, AtA, rho0, tau, rtol, atol):
    """S(θ(ρ(t0 + τ))) from ρ(t0) = ρ0 (NaN if the step fails)."""
    n = X.shape[0]
    rho = np.empty(n)
    if tau > 0.0:
        if not _two_halves(kind, depth, th0, X, y, rho0, tau, rtol, atol, rho):
            return np.nan
    else:
        rho[:] = rho0
    th = np.empty((th0.shape[0], X.shape[1], 1))
    r = np.empty(n)
    residual(kind, depth, th0, X, y, rho, th, r)
    return sharpness_of(kind, depth, th, X, y, AtA)


@nb.njit(**_JIT)
def _sharpness_at(kind, depth, th0, X, y, AtA, rho_a, t_a, rho_b, t_b, tt, rtol, atol):
    """S at time tt, integrated from the nearer known point before it (t_a or t_b)."""
    if tt <= t_b:
        return _sharpness_after(kind, depth, th0, X, y, AtA, rho_a, tt - t_a, rtol, atol)
    return _sharpness_after(kind, depth, th0, X, y, AtA, rho_b, tt - t_b, rtol, atol)


@nb.njit(**_ONCE)
def _refine_peak(kind, depth, th0, X, y, AtA, rho_a, t_a, rho_b, t_b, t_c, s_best, xtol,
                 rtol, atol):  # fmt: skip
    """Golden-section search of S over [t_a, t_c] around the sampled maximum at t_b (ρ(t_a),
    ρ(t_b) known; t_c = t_b when t_b is the last point): (S, t) of the largest value found."""
    best, t_best = s_best, t_b
    lo, hi = t_a, t_c
    if not hi > lo:
        return best, t_best
    g = (math.sqrt(5.0) - 1.0) / 2.0
    x1 = hi - g * (hi - lo)
    x2 = lo + g * (hi - lo)
    f1 = _sharpness_at(kind, depth, th0, X, y, AtA, rho_a, t_a, rho_b, t_b, x1, rtol, atol)
    f2 = _sharpness_at(kind, depth, th0, X, y, AtA, rho_a, t_a, rho_b, t_b, x2, rtol, atol)
    for _ in range(200):
        if f1 > best:
            best, t_best = f1, x1
        if f2 > best:
            best, t_best = f2, x2
        if hi - lo <= xtol:
            break
        if f1 >= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = _sharpness_at(kind, depth, th0, X, y, AtA, rho_a, t_a, rho_b, t_b, x1, rtol, atol)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = _sharpness_at(kind, depth, th0, X, y, AtA, rho_a, t_a, rho_b, t_b, x2, rtol, atol)
    return best, t_best


@nb.njit(**_JIT)
def integrate(kind, depth, th0, X, y, eps, t_max, rtol, atol, max_steps, ts, rhos, sharp, out,
              track):  # fmt: skip
    """Gradient flow from θ0 (ρ(0) = 0) until L = eps, t_max or max_steps accepted steps.

    Records (t, ρ, S) of every accepted step into ``ts``, ``rhos``, ``sharp`` while there is
    room (capacity 1: nothing but the start); S stops being evaluated (NaN) once the tail
    certificate bounds it below the largest value seen. ``out`` (float64, 8 + n):
    [status, accepted steps, recorded points, t_end, s_gf, t_s_gf, tail bound, 1 if the
    tracking stopped on the certificate, ρ_end (n)]. ``track`` False: no sharpness at all."""
    n, d = X.shape
    K = th0.shape[0]
    AtA = (X.T @ X) / n
    cap = ts.size
    th = np.empty((K, d, 1))
    r = np.empty(n)
    rho = np.zeros(n)
    full = np.empty(n)
    half = np.empty(n)
    new = np.empty(n)
    t = 0.0
    loss = residual(kind, depth, th0, X, y, rho, th, r)
    s_now = sharpness_of(kind, depth, th, X, y, AtA) if track else np.nan
    ts[0] = 0.0
    rhos[0, :] = rho
    sharp[0] = s_now
    n_rec = 1
    best, t_best = s_now, 0.0
    rho_a, t_a = rho.copy(), 0.0  # the point before the sampled maximum
    rho_b = rho.copy()  # the sampled maximum
    t_c = 0.0  # the point after it
    pending = True  # the maximum is the last point so far
    tracking = track
    certified = 0.0
    bound = np.inf
    status = CONVERGED if loss <= eps else MAX_STEPS
    Jm = np.empty((n, n))
    jacobian(kind, depth, th, X, Jm)
    tr = 0.0
    for i in range(n):
        tr -= Jm[i, i]
    h = 1e-2 / max(tr, 1e-300)
    steps = 0
    attempts = 0
    blew_up = False
    while status != CONVERGED:
        if steps >= max_steps:
            status = MAX_STEPS
            break
        attempts += 1
        if attempts > 20 * max_steps:  # rejections only: the step size cannot progress
            status = STALLED
            break
        if t >= t_max:
            status = T_MAX
            break
        h = min(h, t_max - t)
        ok = radau_step(kind, depth, th0, X, y, rho, h, rtol, atol, full) and _two_halves(
            kind, depth, th0, X, y, rho, h, rtol, atol, half
        )
        err = 0.0
        if ok:
            for i in range(n):
                sc = atol + rtol * max(abs(rho[i]), abs(half[i]))
                err = max(err, abs(half[i] - full[i]) / _RICH / sc)
            ok = math.isfinite(err)
        if not ok or err > 1.0:
            if not ok:
                blew_up = True
                h *= 0.25
            else:
                h *= max(0.2, 0.9 * err ** (-1.0 / 6.0))
            if h <= 1e-15 * max(1.0, t):
                status = DIVERGED if blew_up else STALLED
                break
            continue
        blew_up = False
        for i in range(n):
            new[i] = half[i] + (half[i] - full[i]) / _RICH
        loss = residual(kind, depth, th0, X, y, new, th, r)
        t_new = t + h
        if loss <= eps:  # L = eps inside this step: bisect the step length
            lo, hi = 0.0, h
            for _ in range(200):
                if hi - lo <= 4.0 * 2.2e-16 * max(1.0, t + hi):
                    break
                mid = 0.5 * (lo + hi)
                below = _two_halves(kind, depth, th0, X, y, rho, mid, rtol, atol, half) and (
                    residual(kind, depth, th0, X, y, half, th, r) <= eps
                )
                if below:
                    hi = mid
                    new[:] = half  # the earliest state found with L <= eps
                else:
                    lo = mid
            loss = residual(kind, depth, th0, X, y, new, th, r)
            t_new = t + hi
            status = CONVERGED
        steps += 1
        s_new = np.nan
        if tracking:
            s_new = sharpness_of(kind, depth, th, X, y, AtA)
            if s_new > best:
                best, t_best = s_new, t_new
                rho_a[:] = rho
                t_a = t
                rho_b[:] = new
                pending = True
            else:
                if pending:  # the step after the sampled maximum
                    t_c = t_new
                    pending = False
                if status != CONVERGED:
                    bound, _R = tail_bound(kind, depth, th0, X, y, new)
                    if bound <= best:
                        tracking = False
                        certified = 1.0
        if n_rec < cap:
            ts[n_rec] = t_new
            rhos[n_rec, :] = new
            sharp[n_rec] = s_new
            n_rec += 1
        growth = 5.0 if err == 0.0 else min(5.0, max(0.2, 0.9 * err ** (-1.0 / 6.0)))
        rho[:] = new
        t = t_new
        h *= growth
    if pending:
        t_c = t_best  # the maximum is the last point: refine between it and the one before
    s_gf, t_s = best, t_best
    if steps > 0 and track:
        s_gf, t_s = _refine_peak(kind, depth, th0, X, y, AtA, rho_a, t_a, rho_b, t_best, t_c,
                                 best, 1e-10 * max(1.0, t_best), rtol, atol)  # fmt: skip
    out[0] = status
    out[1] = steps
    out[2] = n_rec
    out[3] = t
    out[4] = s_gf
    out[5] = t_s
    out[6] = bound
    out[7] = certified
    out[8:] = rho


@nb.njit(**_JIT)
def newton_limit(kind, depth, th0, X, y, rho0, out):
    """The flow's limit ρ∞ by Newton's method from ρ0; False if it does not converge or the
    Jacobian is singular there. F is the gradient of a concave function of ρ (∂F/∂ρ ⪯ 0), so
    a zero where the Jacobian is nonsingular is its unique maximiser, which the flow ρ' = F
    climbs to: the limit, to rounding. Where the limit lies on a face of the interpolating set
    (fewer than n coordinates active) the Jacobian is singular there, ρ(t) grows without bound
    and the flow converges only algebraically: no limit is returned."""
    n, d = X.shape
    th = np.empty((th0.shape[0], d, 1))
    r = np.empty(n)
    Jm = np.empty((n, n))
    rho = rho0.copy()
    for _ in range(100):
        if not math.isfinite(residual(kind, depth, th0, X, y, rho, th, r)):
            return False
        jacobian(kind, depth, th, X, Jm)
        if not np.all(np.isfinite(Jm)):
            return False
        lam, V = np.linalg.eigh(Jm)  # symmetric, ≤ 0: singular where a constraint is inactive
        if not lam[-1] < -1e-14 * abs(lam[0]):
            return False
        step = V @ ((V.T @ r) / lam)
        size = 0.0
        scale = 1.0
        for i in range(n):
            rho[i] -= step[i]
            size = max(size, abs(step[i]))
            scale = max(scale, abs(rho[i]))
        if size <= 4e-16 * scale:
            out[:] = rho
            return True
    return False


@nb.njit(**_JIT)
def theta_path(kind, depth, th0, X, rhos, out):
    """out[k] = θ(ρ_k) as a (P,) row (blocks of d) for each row ρ_k of ``rhos``."""
    n, d = X.shape
    K = th0.shape[0]
    th = np.empty((K, d, 1))
    for k in range(rhos.shape[0]):
        for j in range(d):
            s = 0.0
            for i in range(n):
                s += X[i, j] * rhos[k, i]
            coord(kind, depth, th0, j, s / n, th)
            for b in range(K):
                out[k, b * d + j] = th[b, j, 0]


@nb.njit(parallel=True, **_JIT)
def integrate_batch(kind, depth, th0s, X, y, eps, t_max, rtol, atol, max_steps, out, limits,
                    found):  # fmt: skip
    """``integrate`` (no path recorded) and ``newton_limit`` for each run b of the tile th0s
    (K, d, B), with its own eps[b] (found[b]: whether the limit was)."""
    B = th0s.shape[2]
    n = X.shape[0]
    for b in nb.prange(B):
        th0 = np.ascontiguousarray(th0s[:, :, b : b + 1])
        ts = np.empty(1)
        rhos = np.empty((1, n))
        sharp = np.empty(1)
        integrate(kind, depth, th0, X, y, eps[b], t_max, rtol, atol, max_steps, ts, rhos, sharp,
                  out[b], True)  # fmt: skip
        found[b] = out[b, 0] == CONVERGED and newton_limit(kind, depth, th0, X, y, out[b, 8:],
                                                            limits[b])  # fmt: skip
