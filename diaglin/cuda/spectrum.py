"""The Hessian statistics of a batch's iterates on the GPU, where the iterates already are.

For the diagonal models, L = 1/(2n) ||X β(θ) − y||², with J_kj = ∂β_j/∂θ_kj, r = Xβ − y and
g = Xᵀr/n (``diaglin.models._numerics``):

    H v      = J ⊙ (Xᵀ X (J·v) / n) + g ⊙ (∂²β · v),   J·v = Σ_k J_k ⊙ v_k
    tr H     = Σ_kj J_kj² (XᵀX/n)_jj + Σ_j g_j Σ_k ∂²β_j/∂θ_kj²
    λ_min(H) ≥ min_kj (g_j ∂²β_j/∂θ_kj² − |g_j| Σ_{l≠k} |∂²β_j/∂θ_kj∂θ_lj|)   (the floor)

With the runs as columns (tile layout), each HVP of all runs is two matrix–matrix products
(``gemm.product``: cuBLAS or numba's) and two elementwise kernels, as a GD step of the GEMM
shape is. The sharpness is Lanczos in lockstep (``diaglin.lanczos.lockstep``: the convergence
rule, the Ritz values and the floor that spares λ_min are the CPU's, run on the host from the
tridiagonal coefficients) with the Krylov bases on the device (``DeviceKrylov``): per step one
HVP, full reorthogonalisation (classical Gram–Schmidt, always twice), and one copy of three
numbers per run to the host. Runs that Lanczos does not converge on are redone on the host by
ARPACK, as on the CPU. The start vector is the CPU's, so the results agree with
``diaglin.spectrum.sharpness`` up to rounding (≈ 1e-12 relative).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import float64

from diaglin._names import MODEL_NAMES
from diaglin.cuda import gemm, runtime
from diaglin.cuda.runtime import device_function
from diaglin.kernels.specialise import jit_specialised
from diaglin.lanczos import lockstep
from diaglin.models._ops import d2beta_jt, dbeta_jt, n_blocks
from diaglin.spectrum import (
    LANCZOS_MAX_ITER,
    SharpnessResult,
    arpack_fallback,
    krylov_basis_entries,
    start_vector,
)

#: ``numba.cuda``, checked to have a GPU (or the simulator); a module global, as the simulator
#: swaps it inside kernels
cuda = runtime.cuda()
runtime.simulator_safe(globals())

#: threads per block along the runs in the elementwise kernels
THREADS = 128
#: columns per block of ``_column_dot``; its threads along y split a column's rows
DOT_COLUMNS = 32
DOT_GROUPS = 8
#: the Krylov bases of the runs solved together take at most this share of the GPU's free
#: memory (a compaction briefly holds a second copy of the kept columns) ...
BASIS_SHARE = 0.25
#: ... and at most this many bytes where the free memory is not known (the simulator)
BASIS_BYTES = 1 << 30
#: ``DeviceKrylov.keep`` gathers the columns still reported into new arrays once they are at
#: most this fraction of those held (until then the others are only masked)
COMPACT_BELOW = 0.75


def hessian_stats(model, thetas, X: np.ndarray, y: np.ndarray, data, *, sharpness: bool,
                  tol: float = 1e-12) -> SharpnessResult:  # fmt: skip
    """The Hessian's trace (and, if ``sharpness``, S = max|λ| and λ_max) at each of the B
    iterates ``thetas`` (device, (B, K, d), the GD kernels' output layout), computed on the
    device; host arrays (B,) in the order of ``thetas``; what is not computed is NaN.

    λ_min is computed only where it can be the largest in modulus (the floor above; it is NaN
    elsewhere), as ``diaglin.spectrum.sharpness(..., bottom=False)`` does. ``data``: X, Xᵀ, y
    and diag(XᵀX/n) on the device (attributes X, Xt, y, a_diag). Runs are solved in chunks
    whose Krylov bases fit in BASIS_SHARE of the free memory; X and y (host) serve ARPACK's
    rare fallback.
    """
    B, K, d = thetas.shape
    P = K * d
    m = min(P, LANCZOS_MAX_ITER)
    lo, hi, trace = np.full(B, np.nan), np.full(B, np.nan), np.empty(B)
    width = B if not sharpness else max(1, min(B, _basis_bytes() // (8 * krylov_basis_entries(P))))
    v0 = start_vector(P)
    for s in range(0, B, width):
        W = min(width, B - s)
        theta = cuda.device_array((K, d, W))
        T = min(THREADS, P * W)
        _tile_kernel[-(-P * W // T), T](thetas, s, theta)
        G, floor = _curvature(model, theta, data, trace[s : s + W])
        if not sharpness:
            continue
        krylov = DeviceKrylov(model, theta, G, data, v0, m)
        a, b, ok = lockstep(krylov, tol=tol, lo_floor=floor)
        if not ok.all():
            rows = model.from_tile(theta.copy_to_host())
            arpack_fallback(model, rows, X, y, a, b, ok, tol=tol)
        lo[s : s + W], hi[s : s + W] = a, b
    return SharpnessResult.of(lo, hi, trace)


def _basis_bytes() -> int:
    """Bytes the Krylov bases of one chunk of runs may take."""
    free = cuda.current_context().get_memory_info()[0]
    return int(BASIS_SHARE * free) if np.isfinite(free) else BASIS_BYTES


def _curvature(model, theta, data, trace_out: np.ndarray):
    """G = Xᵀ(Xβ − y) (d, W) (n·g: the gradient in β space times n) on the device, and the
    trace (written into ``trace_out``) and floor (returned, host) of each column's Hessian."""
    K, d, W = theta.shape
    n = data.X.shape[0]
    beta_kernel = gemm.gemm_kernels(model.kind, model.depth)[0]
    curvature_kernel = _model_kernels(model.kind, model.depth)[0]
    Bt, R, G = cuda.device_array((d, W)), cuda.device_array((n, W)), cuda.device_array((d, W))
    T = min(THREADS, W)
    beta_kernel[(-(-W // T), d), (T, 1)](theta, Bt)
    gemm.product(data.X, Bt, R)()
    _subtract_rows[(-(-W // T), n), (T, 1)](R, data.y)
    gemm.product(data.Xt, R, G)()
    out = cuda.device_array((2, W))
    curvature_kernel[-(-W // T), T](theta, G, data.a_diag, 1.0 / n, out)
    host = out.copy_to_host()
    trace_out[:] = host[0]
    return G, host[1]


class DeviceKrylov:
    """``diaglin.lanczos.Krylov`` on the GPU for the Hessians at the W columns of ``theta``
    (K, d, W): the bases Q (m+1, P, W), a run per column (neighbouring threads, neighbouring
    runs: coalesced). Columns no longer reported are masked (skipped by every kernel but the
    two products) until at most COMPACT_BELOW of the columns held are reported; then the state
    of those is gathered into new arrays."""

    def __init__(self, model, theta, G, data, v0: np.ndarray, max_steps: int):
        K, d, W = theta.shape
        P = K * d
        self.size, self.max_steps = W, max_steps
        self.jv_kernel, self.hvp_kernel = _model_kernels(model.kind, model.depth)[1:]
        self.data, self.theta, self.G = data, theta, G
        self.inv_n = 1.0 / data.X.shape[0]
        self.Q = cuda.device_array((max_steps + 1, P, W))
        self.w = cuda.device_array((P, W))
        self.cols = np.arange(W)  # the column of each row reported
        q0 = cuda.to_device(v0 / np.linalg.norm(v0))
        T = min(THREADS, W)
        _broadcast[(-(-W // T), P), (T, 1)](q0, self.Q[0])
        self._bind()

    def _bind(self) -> None:
        """Buffers and products for the W columns held (after the start or a compaction)."""
        P, W = self.w.shape
        d, n = self.theta.shape[1], self.data.X.shape[0]
        self.active = cuda.to_device(np.ones(W, np.int8))
        self.U, self.R, self.A = (cuda.device_array((d, W)), cuda.device_array((n, W)),
                                  cuda.device_array((d, W)))  # fmt: skip
        self.products = (gemm.product(self.data.X, self.U, self.R),
                         gemm.product(self.data.Xt, self.R, self.A))  # fmt: skip
        self.coef = cuda.device_array((self.max_steps + 1, W))
        self.sums = cuda.device_array((3, W))  # q_iᵀ H q_i, |H q_i|², |w|²

    def expand(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        P, W = self.w.shape
        d = self.theta.shape[1]
        T = min(THREADS, W)
        blocks = -(-W // T)
        q, w, act = self.Q[i], self.w, self.active
        self.jv_kernel[(blocks, d), (T, 1)](self.theta, q, act, self.U)
        for product in self.products:
            product()
        self.hvp_kernel[(blocks, d), (T, 1)](self.theta, q, self.A, self.G, self.inv_n, act, w)
        dots = (-(-W // DOT_COLUMNS), (min(DOT_COLUMNS, W), DOT_GROUPS))
        _column_dot[dots](q, w, act, self.sums[0])
        _column_dot[dots](w, w, act, self.sums[1])
        for _ in range(2):  # classical Gram–Schmidt against q_0..q_i, twice
            _gs_coefficients[(blocks, i + 1), (T, 1)](self.Q, i, w, act, self.coef)
            _gs_subtract[(blocks, P), (T, 1)](self.Q, i, self.coef, act, w)
        _column_dot[dots](w, w, act, self.sums[2])
        alpha, hq2, beta2 = self.sums.copy_to_host()[:, self.cols]
        return alpha, np.sqrt(hq2), np.sqrt(beta2)

    def keep(self, rows: np.ndarray) -> None:
        self.cols = self.cols[rows]
        W = self.w.shape[1]
        if self.cols.size > COMPACT_BELOW * W:
            mask = np.zeros(W, np.int8)
            mask[self.cols] = 1
            self.active = cuda.to_device(mask)
            return
        keep = cuda.to_device(self.cols.astype(np.int64))
        self.theta, self.G, self.Q, self.w, sums = (
            gemm.gather_columns(a, keep) for a in (self.theta, self.G, self.Q, self.w, self.sums)
        )
        self.cols = np.arange(self.cols.size)
        self._bind()
        self.sums = sums  # |w|² of the kept columns, for next_vector

    def next_vector(self, i: int, beta: np.ndarray) -> None:
        P, W = self.w.shape
        T = min(THREADS, W)
        _normalize[(-(-W // T), P), (T, 1)](self.w, self.sums[2], self.active, self.Q[i + 1])


@functools.cache
def _model_kernels(kind: int, depth: int):
    """(curvature_kernel, jv_kernel, hvp_kernel) of model ``kind``; see their docstrings."""
    K = n_blocks.py_func(kind, depth)
    dbeta = device_function(dbeta_jt)
    d2beta = device_function(d2beta_jt)
    tag = f"{MODEL_NAMES[kind]}_D{depth}"

    @jit_specialised(cuda.jit, tag)
    def curvature_kernel(theta, G, a_diag, inv_n, out):
        """out[0, w] = tr H and out[1, w] = the floor of column w (one thread per column;
        the trace's terms summed in the order of ``_numerics.trace_batch``)."""
        w = cuda.grid(1)
        d, W = theta.shape[1], theta.shape[2]
        if w >= W:
            return
        tr = 0.0
        low = math.inf
        for k in range(K):
            for j in range(d):
                g = G[j, w] * inv_n
                jk = dbeta(kind, depth, theta, k, j, w)
                dkk = g * d2beta(kind, depth, theta, k, k, j, w)
                tr += jk * jk * a_diag[j] + dkk
                off = 0.0
                for m in range(K):
                    if m != k:
                        off += abs(g * d2beta(kind, depth, theta, k, m, j, w))
                low = min(low, dkk - off)
        out[0, w] = tr
        out[1, w] = low

    @jit_specialised(cuda.jit, tag)
    def jv_kernel(theta, V, active, U):
        """U[j, w] = Σ_k J_kj V[k·d + j, w] (the tangent of β along v); grid (W, d)."""
        w, j = cuda.grid(2)
        d, W = theta.shape[1], theta.shape[2]
        if w >= W or j >= d or not active[w]:
            return
        acc = 0.0
        for k in range(K):
            acc += dbeta(kind, depth, theta, k, j, w) * V[k * d + j, w]
        U[j, w] = acc

    @jit_specialised(cuda.jit, tag)
    def hvp_kernel(theta, V, A, G, inv_n, active, out):
        """out[k·d + j, w] = J_kj A[j, w]/n + g_j Σ_l ∂²β_j/∂θ_kj∂θ_lj V[l·d + j, w], with
        A = XᵀX U (U from ``jv_kernel``) and g = G/n; grid (W, d)."""
        w, j = cuda.grid(2)
        d, W = theta.shape[1], theta.shape[2]
        if w >= W or j >= d or not active[w]:
            return
        a = A[j, w] * inv_n
        g = G[j, w] * inv_n
        for k in range(K):
            s = dbeta(kind, depth, theta, k, j, w) * a
            for m in range(K):
                s += g * d2beta(kind, depth, theta, k, m, j, w) * V[m * d + j, w]
            out[k * d + j, w] = s

    return curvature_kernel, jv_kernel, hvp_kernel


@cuda.jit
def _tile_kernel(src, start, theta):
    """theta[k, j, w] = src[start + w, k, j]: a chunk of the kernels' (B, K, d) output in the
    tile layout; one thread per entry, w fastest."""
    q = cuda.grid(1)
    K, d, W = theta.shape
    if q < K * d * W:
        w, kj = q % W, q // W
        theta[kj // d, kj % d, w] = src[start + w, kj // d, kj % d]


@cuda.jit
def _subtract_rows(R, y):
    """R[i, w] -= y[i]; grid (W, n)."""
    w, i = cuda.grid(2)
    if w < R.shape[1] and i < R.shape[0]:
        R[i, w] -= y[i]


@cuda.jit
def _broadcast(v, Q0):
    """Q0[p, w] = v[p]; grid (W, P)."""
    w, p = cuda.grid(2)
    if w < Q0.shape[1] and p < Q0.shape[0]:
        Q0[p, w] = v[p]


@cuda.jit
def _column_dot(A, B, active, out):
    """out[w] = Σ_p A[p, w] B[p, w] for the active columns. Blocks of (DOT_COLUMNS, DOT_GROUPS)
    threads: thread (x, g) sums the rows p ≡ g (mod DOT_GROUPS) of its column, then thread
    (x, 0) adds the partial sums in the order of g (an order that does not depend on W)."""
    part = cuda.shared.array((DOT_GROUPS, DOT_COLUMNS), float64)
    x, g = cuda.threadIdx.x, cuda.threadIdx.y
    w = cuda.blockIdx.x * DOT_COLUMNS + x
    live = w < A.shape[1] and active[w] != 0
    acc = 0.0
    if live:
        for p in range(g, A.shape[0], DOT_GROUPS):
            acc += A[p, w] * B[p, w]
    part[g, x] = acc
    cuda.syncthreads()
    if g == 0 and live:
        total = 0.0
        for q in range(DOT_GROUPS):
            total += part[q, x]
        out[w] = total


@cuda.jit
def _gs_coefficients(Q, i, v, active, coef):
    """coef[l, w] = q_lᵀ v of column w for l <= i; grid (W, i + 1)."""
    w, l = cuda.grid(2)
    if w >= v.shape[1] or l > i or not active[w]:
        return
    acc = 0.0
    for p in range(v.shape[0]):
        acc += Q[l, p, w] * v[p, w]
    coef[l, w] = acc


@cuda.jit
def _gs_subtract(Q, i, coef, active, v):
    """v[p, w] -= Σ_{l <= i} coef[l, w] Q[l, p, w]; grid (W, P)."""
    w, p = cuda.grid(2)
    if w >= v.shape[1] or p >= v.shape[0] or not active[w]:
        return
    acc = 0.0
    for l in range(i + 1):
        acc += coef[l, w] * Q[l, p, w]
    v[p, w] -= acc


@cuda.jit
def _normalize(v, norm2, active, q):
    """q[p, w] = v[p, w] / √norm2[w] (v itself where the norm is 0); grid (W, P)."""
    w, p = cuda.grid(2)
    if w >= v.shape[1] or p >= v.shape[0] or not active[w]:
        return
    s = math.sqrt(norm2[w])
    q[p, w] = v[p, w] / s if s > 0.0 else v[p, w]
