"""Numba kernels of the continuous-time models of GD at the edge of stability
(:mod:`diaglin.eos_flows`): one run per step size, ``prange`` over the runs, time in GD steps.

Each run holds a centre θ (tile layout (K, d, 1), see ``diaglin.models._ops``) and is advanced
by ``substeps`` substeps of length dt = 1/substeps per GD step:

- central flow (Cohen, Damian et al. 2025): explicit Euler on
  dθ/dt = −η [∇L + ½ Σ_ab M_ab ∇(v_aᵀ ∇²L v_b)], v_a the Hessian's eigenvectors with
  η λ_a > ``threshold`` (the critical ones), M ⪰ 0 the solution of the semidefinite
  complementarity problem of the substep (``_sdcp``); Σ = Σ_ab M_ab v_a v_bᵀ. A Cholesky
  factorisation proves most substeps have no eigenvalue near the edge; where exactly one is,
  its eigenpair comes from the last one by Rayleigh quotient iteration (``_top_pair``,
  certified); eigh only where that fails;
- rod flow (Regis & Chewi 2026): classical Runge–Kutta (order 4) on the rod's centre θ̄ and
  extent Σ = δδᵀ (P × P; ±δ read off as its top eigenpair), with L± = L(θ̄ ± δ):
  dθ̄/dt = −(η/2)(∇L₊ + ∇L₋) − (η²/8)(∇²L₊ + ∇²L₋)(∇L₊ + ∇L₋),
  dΣ/dt = (η²/4)(∇L₊∇L₊ᵀ + ∇L₋∇L₋ᵀ) − 2Σ.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from diaglin.kernels.specialise import specialised
from diaglin.kernels.stop import DIVERGED, RUNNING, stop_status
from diaglin.models._numerics import (
    gbeta_at,
    grad_run,
    hessian_entry_grad_run,
    hessian_run,
    hvp_run,
    residual_run,
)
from diaglin.models._ops import dbeta_jt

CENTRAL = 0
ROD = 1

#: projected-gradient iterations of the semidefinite complementarity problem (≥ 2 critical
#: eigenvalues) and their stopping tolerance (relative change of M)
SDCP_ITERATIONS = 5000
#: eigenvalues with η λ above this are checked for crossing the edge within a substep
LOOKAHEAD = 1.5
SDCP_TOL = 1e-13
#: power iterations for the rod's top eigenpair before falling back to eigh, and their
#: tolerance (relative residual of the eigenpair)
ROD_ITERATIONS = 30
ROD_TOL = 1e-14
#: Rayleigh quotient iterations for the central flow's top Hessian eigenpair, warm-started from
#: the last one, before falling back to eigh, and their tolerance (relative residual)
RQI_ITERATIONS = 3
RQI_TOL = 1e-13

#: every function here is inlined (numba IR) into its caller, and the whole flow into the
#: parallel loop's body of its kernel: numba compiles and emits each separately jitted function
#: once on its own and again inside every caller that links it (three times for the body of a
#: parallel loop), so separate helpers cost first-call compile time without run-time gain.
#: First call (2 cores, old and new alternated): rod 131–152 → 82 s, central 96–107 → 88–93 s.
_JIT = dict(cache=True, inline="always")
#: ... except the solvers of a substep's linear algebra (``_solve``, ``_interior``, ``_sdcp``,
#: ``_top_pair``): called once per substep, not per entry, so a call costs nothing measurable
#: (run time within noise, results bitwise the same), while inlining their IR (numba copies a
#: callee's IR block by block into every call site, and the whole flow into the parallel loop)
#: made the central flow's first call 135-147 s, against 91-96 s compiled on their own.
_OUTLINED = dict(cache=True)


@nb.njit(**_JIT)
def _project_psd(M):
    """The nearest positive semidefinite matrix to the symmetric part of M (Frobenius)."""
    lam, V = np.linalg.eigh(0.5 * (M + M.T))
    k = lam.size
    out = np.zeros_like(M)
    for i in range(k):
        if lam[i] > 0.0:
            for a in range(k):
                for b in range(k):
                    out[a, b] += lam[i] * V[a, i] * V[b, i]
    return out


@nb.njit(**_JIT)
def _apply(Q, M):
    """Q[M]_ab = Σ_ce Q[a, b, c, e] M_ce."""
    k = M.shape[0]
    out = np.zeros_like(M)
    for a in range(k):
        for b in range(k):
            s = 0.0
            for c in range(k):
                for e in range(k):
                    s += Q[a, b, c, e] * M[c, e]
            out[a, b] = s
    return out


@nb.njit(**_OUTLINED)
def _solve(W, x, floor):
    """x ← W⁻¹x by Gaussian elimination with partial pivoting, W (P × P) overwritten by its
    factors. A pivot of magnitude ≤ ``floor`` > 0 is raised to ``floor`` (inverse iteration:
    W = H − μI is singular to working precision once μ is an eigenvalue, and the solve is to
    stay finite); False (x undefined) where a pivot is not finite or, with ``floor`` = 0, is
    zero."""
    P = W.shape[0]
    for j in range(P):
        p = j
        for i in range(j + 1, P):
            if abs(W[i, j]) > abs(W[p, j]):
                p = i
        if not np.isfinite(W[p, j]) or (floor == 0.0 and W[p, j] == 0.0):
            return False
        if abs(W[p, j]) < floor:
            W[p, j] = floor if W[p, j] >= 0.0 else -floor
        if p != j:
            for k in range(j, P):
                W[j, k], W[p, k] = W[p, k], W[j, k]
            x[j], x[p] = x[p], x[j]
        for i in range(j + 1, P):
            f = W[i, j] / W[j, j]
            for k in range(j + 1, P):
                W[i, k] -= f * W[j, k]
            x[i] -= f * x[j]
    for j in range(P - 1, -1, -1):
        s = x[j]
        for k in range(j + 1, P):
            s -= W[j, k] * x[k]
        x[j] = s / W[j, j]
    return True


@nb.njit(**_OUTLINED)
def _interior(A0, Q):
    """The symmetric M (k × k) with Q[M] = −A0: k(k+1)/2 equations in the entries M_ab, a ≤ b
    (``_solve``); NaN where that system is singular."""
    k = A0.shape[0]
    m = k * (k + 1) // 2
    S = np.empty((m, m))
    x = np.empty(m)
    r = 0
    for a in range(k):
        for b in range(a, k):
            c = 0
            for e in range(k):
                for f in range(e, k):
                    S[r, c] = Q[a, b, e, f] + (Q[a, b, f, e] if f != e else 0.0)
                    c += 1
            x[r] = -A0[a, b]
            r += 1
    M = np.full_like(A0, np.nan)
    if _solve(S, x, 0.0):
        r = 0
        for a in range(k):
            for b in range(a, k):
                M[a, b] = x[r]
                M[b, a] = x[r]
                r += 1
    return M


@nb.njit(**_OUTLINED)
def _sdcp(A0, Q):
    """M = argmin_{M ⪰ 0} ½⟨M, Q[M]⟩ + ⟨A0, M⟩ (Q a positive semidefinite operator on
    symmetric k×k matrices): the solution of the complementarity problem M ⪰ 0,
    A0 + Q[M] ⪰ 0, ⟨M, A0 + Q[M]⟩ = 0. k = 1 in closed form, else accelerated projected
    gradient (step 1/‖Q‖_F) — unless the stationary point Q[M] = −A0 (``_interior``) is
    positive definite: then it is the solution (S = A0 + Q[M] = 0), exact in one linear solve
    (at the edge every critical eigenvalue is usually held, M ≻ 0: the iteration took ~100
    steps there). Returns (M, solved): ``solved`` is False where the iteration stopped at
    SDCP_ITERATIONS without meeting SDCP_TOL (e.g. an unbounded problem, Q singular in a
    direction where A0 pulls) or the data are not finite (M is then NaN)."""
    k = A0.shape[0]
    if not (np.all(np.isfinite(A0)) and np.all(np.isfinite(Q))):
        return np.full_like(A0, np.nan), False
    if k == 1:
        q = Q[0, 0, 0, 0]
        M = np.zeros((1, 1))
        if A0[0, 0] < 0.0:
            if q <= 0.0:
                return M, False
            M[0, 0] = -A0[0, 0] / q
        return M, True
    M = _interior(A0, Q)
    if np.all(np.isfinite(M)) and np.linalg.eigvalsh(M)[0] > 0.0:
        return M, True
    lip = np.sqrt(np.sum(Q * Q))
    if lip == 0.0:
        return np.zeros_like(A0), bool(np.all(np.linalg.eigvalsh(A0) >= 0.0))
    M = np.zeros_like(A0)
    Z = M.copy()
    step = 1.0
    for _ in range(SDCP_ITERATIONS):
        new = _project_psd(Z - (_apply(Q, Z) + A0) / lip)
        change = np.max(np.abs(new - M))
        nxt = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * step * step))
        Z = new + ((step - 1.0) / nxt) * (new - M)
        M = new
        step = nxt
        if not np.isfinite(change):
            return M, False
        if change <= SDCP_TOL * (1.0 + np.max(np.abs(M))):
            return M, True
    return M, False


@nb.njit(**_JIT)
def _all_below(H, c, L):
    """Whether every eigenvalue of the symmetric H is below c: whether the Cholesky
    factorisation c I − H = L Lᵀ (into L's lower triangle) exists — P³/6 operations, against
    eigh's ~9 P³ (and its allocations)."""
    P = H.shape[0]
    for j in range(P):
        s = c - H[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not s > 0.0:
            return False
        L[j, j] = np.sqrt(s)
        for i in range(j + 1, P):
            t = -H[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / L[j, j]
    return True


@nb.njit(**_JIT)
def _rayleigh(M, u, Mu):
    """Mu ← M u for the symmetric M (P × P) and a unit u (P,); returns (μ, r, m): the Rayleigh
    quotient μ = uᵀMu, the squared residual r = ‖Mu − μu‖² of the eigenpair (μ, u) and
    m = ‖Mu‖²."""
    P = u.size
    mu = 0.0
    sq = 0.0
    for p in range(P):
        s = 0.0
        for q in range(P):
            s += M[p, q] * u[q]
        Mu[p] = s
        mu += u[p] * s
        sq += s * s
    res = 0.0
    for p in range(P):
        res += (Mu[p] - mu * u[p]) ** 2
    return mu, res, sq


@nb.njit(**_OUTLINED)
def _top_pair(H, c, u, W, L):
    """(μ, found): the top eigenpair (μ, u) of the symmetric H (P × P) where it is the only
    eigenvalue ≥ c, by Rayleigh quotient iteration x ← (H − μI)⁻¹u from ``u`` (P,; the last
    substep's top eigenvector, overwritten). ``found`` certifies ‖Hu − μu‖ ≤ RQI_TOL·|μ|, μ ≥ c
    and every other eigenvalue < c: the Cholesky factorisation of cI − (H − μuuᵀ) exists
    (``_all_below``; deflating an eigenpair leaves the rest of the spectrum and 0 < c). Not
    found (no start, no convergence in RQI_ITERATIONS, μ < c, a second eigenvalue ≥ c): the
    caller diagonalises H. Cost ~P³ against eigh's ~9 P³ and its allocations; W, L: P × P
    work."""
    P = H.shape[0]
    norm = np.sqrt(np.sum(u * u))
    if not (norm > 0.0 and np.isfinite(norm)):
        return 0.0, False
    u /= norm
    Hu = np.empty(P)
    mu = 0.0
    for it in range(RQI_ITERATIONS + 1):
        mu, res, _ = _rayleigh(H, u, Hu)
        if res <= (RQI_TOL * mu) ** 2:
            break
        if it == RQI_ITERATIONS:
            return mu, False
        for p in range(P):
            for q in range(P):
                W[p, q] = H[p, q]
            W[p, p] -= mu
        if not _solve(W, u, 1e-15 * (abs(mu) + 1e-300)):
            return mu, False
        norm = np.sqrt(np.sum(u * u))
        if not np.isfinite(norm):
            return mu, False
        u /= norm
    if not mu >= c:
        return mu, False
    for p in range(P):
        for q in range(P):
            W[p, q] = H[p, q] - mu * u[p] * u[q]
    return mu, _all_below(W, c, L)


@nb.njit(**_JIT)
def _central_substep(kind, depth, X, y, A, eta, dt, threshold, w, u, H, W, L, grad, g):
    """One Euler substep of the central flow in place on ``w`` (K, d, 1); returns (tr Σ,
    whether the complementarity problem was solved). u (P,): the Hessian's top eigenvector at
    the last substep that needed one (``_top_pair``'s start, updated). H, W, L: P × P work. A
    non-finite Hessian (the flow has diverged) leaves w NaN."""
    K, d = w.shape[0], w.shape[1]
    P = K * d
    hessian_run(kind, depth, w, 0, X, y, A, H)
    if not np.all(np.isfinite(H)):
        w[:] = np.nan
        return np.nan, True
    gbeta_at(kind, depth, w, 0, X, y, g)
    for k in range(K):
        for j in range(d):
            grad[k, j] = dbeta_jt(kind, depth, w, k, j, 0) * g[j]
    # candidates: η λ > cut; critical: η λ > threshold, or the substep would carry it past the
    # edge (its linearised 2 − η λ(θ + dt θ') < 0 without Σ): a fast-rising eigenvalue is held
    # from the substep it would cross, not one later. No eigenvalue above the cut (away from
    # the edge, most substeps): a gradient-flow substep, no eigendecomposition. One (at the
    # edge, most others): its eigenpair from the last one (``_top_pair``). Else eigh.
    cut = min(threshold, LOOKAHEAD)
    if _all_below(H, cut / eta, L):
        for k in range(K):
            for j in range(d):
                w[k, j, 0] += dt * (-eta * grad[k, j])
        return 0.0, True
    mu, found = _top_pair(H, cut / eta, u, W, L)
    if found:
        lam = np.array([mu])
        vecs = u.copy().reshape(1, K, d)
    else:
        full, V = np.linalg.eigh(H)
        u[:] = V[:, P - 1]
        cand = 0
        while cand < P and eta * full[P - 1 - cand] > cut:
            cand += 1
        lam = np.empty(cand)
        vecs = np.empty((cand, K, d))
        for a in range(cand):
            lam[a] = full[P - 1 - a]
            for k in range(K):
                for j in range(d):
                    vecs[a, k, j] = V[k * d + j, P - 1 - a]
    pick = np.empty(lam.size, np.int64)
    nc = 0
    gu = np.empty((K, d))
    for a in range(lam.size):
        take = eta * lam[a] > threshold
        if not take:
            hessian_entry_grad_run(kind, depth, w, 0, A, g, vecs[a], vecs[a], gu)
            take = 2.0 - eta * lam[a] + dt * eta * eta * np.sum(gu * grad) < 0.0
        if take:
            pick[nc] = a
            nc += 1
    vel = -eta * grad
    trace = 0.0
    solved = True
    if nc > 0:
        G = np.empty((nc, nc, K, d))
        for a in range(nc):
            for b in range(a, nc):
                hessian_entry_grad_run(kind, depth, w, 0, A, g, vecs[pick[a]], vecs[pick[b]],
                                       G[a, b])  # fmt: skip
                G[b, a] = G[a, b]
        c = dt * eta * eta
        A0 = np.zeros((nc, nc))
        Q = np.zeros((nc, nc, nc, nc))
        for a in range(nc):
            for b in range(nc):
                A0[a, b] = c * np.sum(G[a, b] * grad)
                if a == b:
                    A0[a, b] += 2.0 - eta * lam[pick[a]]
                for e in range(nc):
                    for f in range(nc):
                        Q[a, b, e, f] = 0.5 * c * np.sum(G[a, b] * G[e, f])
        M, solved = _sdcp(A0, Q)
        for a in range(nc):
            trace += M[a, a]
            for b in range(nc):
                vel -= 0.5 * eta * M[a, b] * G[a, b]
    for k in range(K):
        for j in range(d):
            w[k, j, 0] += dt * vel[k, j]
    return trace, solved


@nb.njit(**_JIT)
def _rod_vector(Sigma, K, d, u):
    """δ with δδᵀ the best rank-one approximation of Σ (P × P): √μ₁ e₁, shaped (K, d, 1)
    (NaN where Σ is not finite: the flow has diverged). e₁ by power iteration from ``u`` (P,),
    the last call's e₁, overwritten by this one's: Σ stays close to rank one, so a few products
    reach ‖Σe − μe‖ ≤ ROD_TOL·|μ|. The eigenpair found is certified the top one when
    μ ≥ tr Σ − μ (Σ ⪰ 0: every other eigenvalue is at most the rest of the trace); where the
    iteration does not converge (two near-equal top eigenvalues) or the certificate fails (a
    start u orthogonal to e₁ converges to another eigenvector), eigh decides."""
    P = K * d
    delta = np.empty((K, d, 1))
    if not np.all(np.isfinite(Sigma)):
        delta[:] = np.nan
        return delta
    mu = 0.0
    done = False
    v = np.empty(P)
    for _ in range(ROD_ITERATIONS):
        mu, res, norm = _rayleigh(Sigma, u, v)
        if norm == 0.0:  # Σ = 0 along u (a collapsed rod: Σ = 0)
            break
        norm = np.sqrt(norm)
        for p in range(P):
            u[p] = v[p] / norm
        if res <= (ROD_TOL * mu) ** 2:
            done = True
            break
    if done and mu < np.trace(Sigma) - mu:
        done = False
    if not done and np.any(Sigma != 0.0):
        lam, E = np.linalg.eigh(Sigma)
        mu = lam[P - 1]
        u[:] = E[:, P - 1]
    scale = np.sqrt(max(mu, 0.0))
    for k in range(K):
        for j in range(d):
            delta[k, j, 0] = scale * u[k * d + j]
    return delta


@nb.njit(**_JIT)
def _rod_rhs(kind, depth, X, y, eta, w, Sigma, u, dw, dSigma):
    """(dθ̄/dt, dΣ/dt) of the rod flow at (θ̄, Σ) = (w (K, d, 1), Sigma (P, P)); u: the
    direction of δ (``_rod_vector``)."""
    K, d = w.shape[0], w.shape[1]
    P = K * d
    delta = _rod_vector(Sigma, K, d, u)
    plus = w + delta
    minus = w - delta
    gp = np.empty((K, d))
    gm = np.empty((K, d))
    grad_run(kind, depth, plus, 0, X, y, gp)
    grad_run(kind, depth, minus, 0, X, y, gm)
    s = gp + gm
    hp = np.empty((K, d))
    hm = np.empty((K, d))
    gb = np.empty(d)
    gbeta_at(kind, depth, plus, 0, X, y, gb)
    hvp_run(kind, depth, plus, 0, X, gb, s, hp)
    gbeta_at(kind, depth, minus, 0, X, y, gb)
    hvp_run(kind, depth, minus, 0, X, gb, s, hm)
    for k in range(K):
        for j in range(d):
            dw[k, j, 0] = -0.5 * eta * s[k, j] - 0.125 * eta * eta * (hp[k, j] + hm[k, j])
    gpf = gp.reshape(P)
    gmf = gm.reshape(P)
    c = 0.25 * eta * eta
    for p in range(P):
        for q in range(P):
            dSigma[p, q] = c * (gpf[p] * gpf[q] + gmf[p] * gmf[q]) - 2.0 * Sigma[p, q]


@nb.njit(**_JIT)
def _rod_substep(kind, depth, X, y, eta, dt, w, Sigma, u):
    """One Runge–Kutta (order 4) substep of the rod flow in place on (w, Sigma)."""
    kw = np.empty((4,) + w.shape)
    ks = np.empty((4,) + Sigma.shape)
    for i in range(4):  # one call site of _rod_rhs: its code is inlined once, not four times
        if i == 0:
            wi, Si = w, Sigma
        else:
            c = dt if i == 3 else 0.5 * dt
            wi, Si = w + c * kw[i - 1], Sigma + c * ks[i - 1]
        _rod_rhs(kind, depth, X, y, eta, wi, Si, u, kw[i], ks[i])
    w += (dt / 6.0) * (kw[0] + 2.0 * kw[1] + 2.0 * kw[2] + kw[3])
    Sigma += (dt / 6.0) * (ks[0] + 2.0 * ks[1] + 2.0 * ks[2] + ks[3])


@nb.njit(**_JIT)
def _rod_state(kind, depth, X, y, w, Sigma, u, r):
    """(the mean loss of the rod's ends (L(θ̄ + δ) + L(θ̄ − δ)) / 2, its extent ‖δ‖²)."""
    delta = _rod_vector(Sigma, w.shape[0], w.shape[1], u)
    loss = 0.5 * (residual_run(kind, depth, w + delta, 0, X, y, r)
                  + residual_run(kind, depth, w - delta, 0, X, y, r))  # fmt: skip
    return loss, np.sum(delta * delta)


def _run(kind, depth, X, y, A, etas, theta, state, Sigma, direction, carry, step0, step_end,
         max_steps, substeps, eps, loss_cap, threshold, record_every, rec, rec_osc, rec_loss,
         status, steps, osc, unsolved, b):  # fmt: skip
    """Advance run b of the batch of flow ``FLOW`` (a constant of the namespace, see
    ``flow_kernel``; whole arrays and the run's index, so that the parallel loop's body is one
    call) from time step0 to step_end (exclusive), unless it has stopped (status[b] not
    RUNNING).

    The run's state at time step0 is state[b] (K, d) (the centre), Sigma[b] (the rod's extent,
    P × P) and direction[b] (P,; the top eigenvector of the rod's Σ, ``_rod_vector``, or of
    the central flow's Hessian, ``_top_pair``: the next substep's start), carry[b] (the central
    flow's tr Σ of its last substep); at step0 = 0 the rod starts through θ0 and
    θ1 = θ0 − η∇L(θ0). At each time the modelled GD loss (the central
    flow's time average L(θ) + tr Σ / η, the mean of the rod's ends' losses) is tested by GD's
    stopping rule (``stop_status``); theta[b], osc[b] (tr Σ; the rod's ‖δ‖²) and steps[b] keep
    the last state that passed it, so a run that diverges to a non-finite state reports the
    previous, finite one (as ``run_gd``). Every ``record_every`` steps the centre, tr Σ and
    the modelled loss go to rec[b] (T, K, d), rec_osc[b], rec_loss[b] (T,); unsolved[b] counts
    the substeps whose complementarity problem was not solved (``_sdcp``)."""
    if status[b] != RUNNING:
        return
    K, d = theta.shape[1], theta.shape[2]
    P = K * d
    eta = etas[b]
    w = np.empty((K, d, 1))
    w[:, :, 0] = state[b]
    S = Sigma[b]
    U = direction[b]
    H = np.empty((P, P))
    W = np.empty((P, P))
    L = np.empty((P, P))
    grad = np.empty((K, d))
    g = np.empty(d)
    r = np.empty(X.shape[0])
    if FLOW == ROD and step0 == 0:  # noqa: F821
        grad_run(kind, depth, w, 0, X, y, grad)
        gf = grad.reshape(P)
        for k in range(K):
            for j in range(d):
                w[k, j, 0] -= 0.5 * eta * grad[k, j]
        for p in range(P):
            for q in range(P):
                S[p, q] = 0.25 * eta * eta * gf[p] * gf[q]
        norm = np.sqrt(np.sum(gf * gf))
        for p in range(P):
            U[p] = gf[p] / norm if norm > 0.0 else 1.0 / np.sqrt(P)
    dt = 1.0 / substeps
    T = rec.shape[1]
    for step in range(step0, step_end):
        if FLOW == CENTRAL:  # noqa: F821
            tr = carry[b]
            loss = residual_run(kind, depth, w, 0, X, y, r) + tr / eta
        else:
            loss, tr = _rod_state(kind, depth, X, y, w, S, U, r)
        if record_every > 0 and step % record_every == 0 and step // record_every < T:
            rec[b, step // record_every] = w[:, :, 0]
            rec_osc[b, step // record_every] = tr
            rec_loss[b, step // record_every] = loss
        st = stop_status(loss, eps, loss_cap[b], step, max_steps)
        if st == DIVERGED and step > 0 and not np.isfinite(loss):
            status[b] = st  # theta[b], osc[b], steps[b]: the previous time's state
            return
        theta[b] = w[:, :, 0]
        osc[b] = tr
        steps[b] = step
        if st != RUNNING:
            status[b] = st
            return
        for _ in range(substeps):
            if FLOW == CENTRAL:  # noqa: F821
                carry[b], solved = _central_substep(kind, depth, X, y, A, eta, dt, threshold,
                                                    w, U, H, W, L, grad, g)  # fmt: skip
                if not solved:
                    unsolved[b] += 1
            else:
                _rod_substep(kind, depth, X, y, eta, dt, w, S, U)
    state[b] = w[:, :, 0]


def _batch(kind, depth, X, y, A, etas, theta, state, Sigma, direction, carry, step0, step_end,
           max_steps, substeps, eps, loss_cap, threshold, record_every, rec, rec_osc, rec_loss,
           status, steps, osc, unsolved):  # fmt: skip
    """Advance every run b of the batch (step size etas[b], A = XᵀX/n) from time step0 to
    step_end (``_run``, a constant of the namespace, on the arrays of the whole batch)."""
    for b in nb.prange(etas.size):
        run(  # noqa: F821 (a global of the kernel's namespace)
            kind, depth, X, y, A, etas, theta, state, Sigma, direction, carry, step0, step_end,
            max_steps, substeps, eps, loss_cap, threshold, record_every, rec, rec_osc, rec_loss,
            status, steps, osc, unsolved, np.int64(b),
        )  # fmt: skip


FLOW_NAMES = ("central", "rod")
_KERNELS: dict[int, object] = {}


def flow_kernel(flow: int):
    """The (lazily built) batch kernel of flow ``flow`` (CENTRAL or ROD): the flow is a
    compile-time constant, so each kernel holds only its own flow's code, under a name of its
    own (``_batch__central``; ``diaglin.kernels.specialise``)."""
    if flow not in _KERNELS:
        tag = FLOW_NAMES[flow]
        run = nb.njit(**_JIT)(specialised(_run, tag, FLOW=flow))
        _KERNELS[flow] = nb.njit(parallel=True, cache=True)(specialised(_batch, tag, run=run))
    return _KERNELS[flow]
