"""Loss, gradient, exact Hessian, HVP and trace of L = 1/(2n) ||X beta(theta) - y||².

All functions act on one run ``t`` of a tile ``th[k, j, t]`` (see ``_ops``), or on every run of
it (``*_batch``; only the O(P²)-per-run Hessian is worth a parallel region and its compile
time). With r = X beta - y and g = Xᵀ r / n (the gradient in beta space):

    dL/dθ_kj  = J_kj g_j,                      J_kj = d beta_j / d θ_kj
    d²L       = Jᵀ A J + blockdiag_j(g_j · d² beta_j),   A = Xᵀ X / n
    tr d²L    = Σ_kj J_kj² A_jj + Σ_j g_j Σ_k d² beta_j / dθ_kj²
    ∇(uᵀ d²L v) = d³L[u, v, ·]   (``hessian_entry_grad_run``)
"""

from __future__ import annotations

import numba as nb
import numpy as np

from diaglin.models._ops import beta_jt, d2beta_jt, d3beta_jt, dbeta_jt

_JIT = dict(cache=True)


@nb.njit(**_JIT)
def residual_run(kind, depth, th, t, X, y, r):
    """r = X beta(theta_t) - y (written into ``r``); returns L = ||r||² / (2n)."""
    n, d = X.shape
    b = np.empty(d)
    for j in range(d):
        b[j] = beta_jt(kind, depth, th, j, t)
    for i in range(n):  # row-wise over C-ordered X; same summation order as the GD kernels
        acc = -y[i]
        for j in range(d):
            acc += X[i, j] * b[j]
        r[i] = acc
    s = 0.0
    for i in range(n):
        s += r[i] * r[i]
    return s / (2.0 * n)


@nb.njit(**_JIT)
def gbeta_run(X, r, g):
    """g = Xᵀ r / n."""
    n, d = X.shape
    for j in range(d):
        g[j] = 0.0
    for i in range(n):  # row-wise over C-ordered X; same summation order as the GD kernels
        ri = r[i]
        for j in range(d):
            g[j] += X[i, j] * ri
    for j in range(d):
        g[j] /= n


@nb.njit(**_JIT)
def gbeta_at(kind, depth, th, t, X, y, g):
    """g = Xᵀ(X beta(theta_t) - y)/n, the gradient in beta space; returns the loss."""
    r = np.empty(X.shape[0])
    loss = residual_run(kind, depth, th, t, X, y, r)
    gbeta_run(X, r, g)
    return loss


@nb.njit(**_JIT)
def grad_run(kind, depth, th, t, X, y, out):
    """out[k, j] = dL/dθ_kj of run t; returns the loss."""
    n, d = X.shape
    g = np.empty(d)
    loss = gbeta_at(kind, depth, th, t, X, y, g)
    for k in range(th.shape[0]):
        for j in range(d):
            out[k, j] = dbeta_jt(kind, depth, th, k, j, t) * g[j]
    return loss


@nb.njit(**_JIT)
def hessian_run(kind, depth, th, t, X, y, A, out):
    """out = exact Hessian (P x P, P = K d) of run t; A = Xᵀ X / n."""
    K = th.shape[0]
    n, d = X.shape
    g = np.empty(d)
    gbeta_at(kind, depth, th, t, X, y, g)
    J = np.empty((K, d))
    for k in range(K):
        for j in range(d):
            J[k, j] = dbeta_jt(kind, depth, th, k, j, t)
    for k in range(K):
        for i in range(d):
            row = k * d + i
            for l in range(K):
                for j in range(d):
                    out[row, l * d + j] = J[k, i] * A[i, j] * J[l, j]
            for l in range(K):
                out[row, l * d + i] += g[i] * d2beta_jt(kind, depth, th, k, l, i, t)


@nb.njit(**_JIT)
def hvp_run(kind, depth, th, t, X, g, v, out):
    """out = (d²L) v for run t without forming the Hessian; v, out are (K, d) and
    g = Xᵀ r / n from ``gbeta_at`` (it does not depend on v, so Lanczos computes it once)."""
    K = th.shape[0]
    n, d = X.shape
    jv = np.zeros(d)
    for k in range(K):
        for j in range(d):
            jv[j] += dbeta_jt(kind, depth, th, k, j, t) * v[k, j]
    xjv = np.empty(n)
    for i in range(n):
        acc = 0.0
        for j in range(d):
            acc += X[i, j] * jv[j]
        xjv[i] = acc
    ajv = np.empty(d)
    gbeta_run(X, xjv, ajv)
    for k in range(K):
        for j in range(d):
            s = dbeta_jt(kind, depth, th, k, j, t) * ajv[j]
            for l in range(K):
                s += g[j] * d2beta_jt(kind, depth, th, k, l, j, t) * v[l, j]
            out[k, j] = s


@nb.njit(**_JIT)
def hessian_entry_grad_run(kind, depth, th, t, A, g, u, v, out):
    """out[m, j] = ∂(uᵀ ∇²L v)/∂θ_mj of run t — the third derivative d³L[u, v, ·] — for u, v,
    out of shape (K, d), g = Xᵀ r / n and A = Xᵀ X / n:

        (∂²β_j u_j)_m (A Jv)_j + (∂²β_j v_j)_m (A Ju)_j + J_mj (A q)_j + g_j ∂³β_j[u_j, v_j]_m,

    with (Ju)_j = Σ_k J_kj u_kj and q_j = u_jᵀ ∂²β_j v_j (u_j = u[:, j]); O(d² + K³ d)."""
    K, d = u.shape
    ju = np.zeros(d)
    jv = np.zeros(d)
    q = np.zeros(d)
    for j in range(d):
        for k in range(K):
            jk = dbeta_jt(kind, depth, th, k, j, t)
            ju[j] += jk * u[k, j]
            jv[j] += jk * v[k, j]
            for l in range(K):
                q[j] += u[k, j] * d2beta_jt(kind, depth, th, k, l, j, t) * v[l, j]
    aju = A @ ju
    ajv = A @ jv
    aq = A @ q
    for m in range(K):
        for j in range(d):
            s = dbeta_jt(kind, depth, th, m, j, t) * aq[j]
            for k in range(K):
                h = d2beta_jt(kind, depth, th, m, k, j, t)
                s += h * (u[k, j] * ajv[j] + v[k, j] * aju[j])
                for l in range(K):
                    s += g[j] * d3beta_jt(kind, depth, th, k, l, m, j, t) * u[k, j] * v[l, j]
            out[m, j] = s


@nb.njit(**_JIT)
def beta_batch(kind, depth, th, out):
    """out[t, j] = beta_j of run t (th (K, d, W): a tile, or a view of rows (W, K, d))."""
    d, W = th.shape[1], th.shape[2]
    for t in range(W):
        for j in range(d):
            out[t, j] = beta_jt(kind, depth, th, j, t)


@nb.njit(parallel=True, **_JIT)
def loss_batch(kind, depth, th, X, y, out):
    """out[t] = L(theta_t)."""
    n = X.shape[0]
    for t in nb.prange(th.shape[2]):  # t: unsigned; np.int64(t): the callees' one signature
        r = np.empty(n)
        out[t] = residual_run(kind, depth, th, np.int64(t), X, y, r)


@nb.njit(parallel=True, **_JIT)
def hessian_batch(kind, depth, th, X, y, A, out):
    """out[t] = exact Hessian of run t."""
    for t in nb.prange(th.shape[2]):  # t: unsigned; np.int64(t): the callees' one signature
        hessian_run(kind, depth, th, np.int64(t), X, y, A, out[t])


@nb.njit(**_JIT)
def trace_batch(kind, depth, th, g, a_diag, out):
    """out[t] = tr d²L of run t = Σ_kj (d beta_j/dθ_kj)² a_diag[j] + g[j, t] d² beta_j/dθ_kj²,
    given g = Xᵀ r / n (d, B) and a_diag = diag(Xᵀ X / n); O(K d) per run."""
    K, d, B = th.shape
    for t in range(B):
        out[t] = 0.0
    for k in range(K):
        for j in range(d):
            for t in range(B):
                jk = dbeta_jt(kind, depth, th, k, j, t)
                out[t] += jk * jk * a_diag[j] + g[j, t] * d2beta_jt(kind, depth, th, k, k, j, t)


@nb.njit(**_JIT)
def derivatives_batch(kind, depth, th, J, D2):
    """J[k, j, t] = d beta_j / dθ_kj and D2[k, l, j, t] = d² beta_j / dθ_kj dθ_lj of run t."""
    K, d, W = th.shape
    for k in range(K):
        for j in range(d):
            for t in range(W):
                J[k, j, t] = dbeta_jt(kind, depth, th, k, j, t)
                for l in range(K):
                    D2[k, l, j, t] = d2beta_jt(kind, depth, th, k, l, j, t)
