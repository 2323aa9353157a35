"""The large-n·d kernel shape on the GPU: each step is two matrix–matrix products over the runs.

With the runs as columns (tile layout: θ (K, d, W), Bᵀ = β(θ) (d, W)) a step is

    Rᵀ = X Bᵀ − y            (n, W)   GEMM, then ``stop_kernel``: loss, stopping rule
    Gᵀ = Xᵀ Rᵀ               (d, W)   GEMM
    θ' = θ − η ⊙ J ⊙ Gᵀ / n,  Bᵀ' = β(θ')    ``update_kernel`` (one thread per (j, run))

The GEMMs are cuBLAS's (through CuPy) when CuPy is installed, else ``matmul_kernel``, a
shared-memory tiled product in numba.cuda. Stopped runs stay in place (their columns are skipped
by the elementwise kernels) until the caller compacts the state (``GemmState.compact``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba import float64

from diaglin._names import MODEL_NAMES
from diaglin.cuda import runtime
from diaglin.cuda.runtime import cupy_or_none, device_function, simulated
from diaglin.kernels.specialise import jit_specialised
from diaglin.kernels.stop import finish_run, stop_status
from diaglin.models._ops import beta_jt, dbeta_jt

#: ``numba.cuda``, checked to have a GPU (or the simulator); a module global, as the simulator
#: swaps it inside kernels
cuda = runtime.cuda()
runtime.simulator_safe(globals())

#: threads per block along the runs in the elementwise kernels
THREADS = 128
#: tile edge of ``matmul_kernel``
MATMUL_TILE = 16
#: columns per block of ``stop_kernel`` (its threads along y split the rows of a column)
STOP_COLUMNS = 32
#: at most this many threads share the rows of a column in ``stop_kernel``
STOP_MAX_GROUPS = 16


def stop_groups(n: int) -> int:
    """Threads per column in ``stop_kernel`` for n rows: about 8 rows each, 1 to
    STOP_MAX_GROUPS. A function of n alone, so the loss of a column is summed in the same
    order whatever the number of columns (compaction changes nothing)."""
    return min(STOP_MAX_GROUPS, max(1, n // 8))


class GemmState(NamedTuple):
    """Device arrays of the W columns (runs) still held: run ids (kernel order) and state."""

    rows: object  # (W,) int64: the run in column w
    theta: object  # (K, d, W) theta_k
    prev: object  # (K, d, W) theta_{k-1}
    beta: object  # (d, W) beta(theta_k)
    prev_loss: object  # (W,)
    bound: object  # (W,)
    ring: object  # (avg_k, K, d, W) or (1, 1, 1, 1)

    @classmethod
    def start(cls, K: int, d: int, B: int, avg_k: int) -> GemmState:
        """The state of B columns, allocated (rows: 0..B-1): ``layout.start`` fills theta and
        prev_loss before step 0, ``beta_kernel`` then beta."""
        ring = (avg_k, K, d, B) if avg_k else (1, 1, 1, 1)
        # prev is only read once a step has written it (a run that stops at step 0 reports
        # theta_0): left uninitialised, it costs no host array and no copy.
        return cls(
            cuda.to_device(np.arange(B, dtype=np.int64)), cuda.device_array((K, d, B)),
            cuda.device_array((K, d, B)), cuda.device_array((d, B)), cuda.device_array(B),
            cuda.device_array(B), cuda.device_array(ring),
        )  # fmt: skip

    def compact(self, keep: np.ndarray) -> GemmState:
        """The state of columns ``keep`` only, gathered on the device (no host round trip)."""
        keep_dev = cuda.to_device(np.ascontiguousarray(keep, dtype=np.int64))
        return GemmState(*(
            gather_columns(a, keep_dev) if a.shape != (1, 1, 1, 1) else a for a in self
        ))  # fmt: skip


def gather_columns(a, keep):
    """A new device array of the columns (last index) ``keep`` (device, int64) of ``a``."""
    lead, W = tuple(a.shape[: a.ndim - 1]), a.shape[a.ndim - 1]  # (device shapes: no [-1])
    Wk = keep.shape[0]
    rows = a.size // W if W else 0
    out = cuda.device_array((*lead, Wk), dtype=a.dtype)
    if rows and Wk:
        T = min(THREADS, rows * Wk)
        _gather_kernel[-(-rows * Wk // T), T](a.reshape(rows, W), keep, out.reshape(rows, Wk))
    return out


@cuda.jit
def _gather_kernel(src, keep, dst):
    """dst[m, j] = src[m, keep[j]]; one thread per entry of dst (j fastest)."""
    q = cuda.grid(1)
    Wk = dst.shape[1]
    if q < dst.shape[0] * Wk:
        m, j = q // Wk, q % Wk
        dst[m, j] = src[m, keep[j]]


def engine() -> str:
    """Whose GEMM ``product`` uses: "cublas (cupy)", "numpy (simulator)" or "numba"."""
    if cupy_or_none() is not None:
        return "cublas (cupy)"
    return "numpy (simulator)" if simulated() else "numba"


def product(A, B, C) -> Callable[[], None]:
    """A function that sets C = A @ B (device arrays, fixed for its lifetime): cuBLAS through
    CuPy where available (the CuPy views are made once, here), else ``matmul_kernel``. Under
    the simulator, whose threads are Python threads that make a tiled product take seconds,
    NumPy computes it (``matmul_kernel`` is tested on its own there)."""
    cp = cupy_or_none()
    if cp is not None:
        a, b, c = cp.asarray(A), cp.asarray(B), cp.asarray(C)
        return lambda: cp.matmul(a, b, out=c)
    if simulated():
        return lambda: C.copy_to_device(A.copy_to_host() @ B.copy_to_host())
    kernel, grid = (
        matmul_kernel(MATMUL_TILE),
        (-(-C.shape[1] // MATMUL_TILE), -(-C.shape[0] // MATMUL_TILE)),
    )
    return lambda: kernel[grid, (MATMUL_TILE, MATMUL_TILE)](A, B, C)


@functools.cache
def matmul_kernel(tpb: int):
    """C = A @ B, tiles of tpb×tpb entries of A and B staged through shared memory."""

    @jit_specialised(cuda.jit, f"tpb{tpb}")
    def kernel(A, B, C):
        sa = cuda.shared.array((tpb, tpb), float64)
        sb = cuda.shared.array((tpb, tpb), float64)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        col = cuda.blockIdx.x * tpb + tx
        row = cuda.blockIdx.y * tpb + ty
        M, L = A.shape
        N = B.shape[1]
        acc = 0.0
        for t in range((L + tpb - 1) // tpb):
            q = t * tpb
            sa[ty, tx] = A[row, q + tx] if row < M and q + tx < L else 0.0
            sb[ty, tx] = B[q + ty, col] if q + ty < L and col < N else 0.0
            cuda.syncthreads()
            for s in range(tpb):
                acc += sa[ty, s] * sb[s, tx]
            cuda.syncthreads()
        if row < M and col < N:
            C[row, col] = acc

    return kernel


@functools.cache
def gemm_kernels(kind: int, depth: int, groups: int = 1):
    """(beta_kernel, stop_kernel, update_kernel) for model ``kind``; see their docstrings.
    ``groups`` (``stop_groups(n)``): threads that share the rows of a column in stop_kernel."""
    beta = device_function(beta_jt)
    dbeta = device_function(dbeta_jt)
    stop = device_function(stop_status)
    finish = device_function(finish_run)
    cols = STOP_COLUMNS
    tag = f"{MODEL_NAMES[kind]}_D{depth}_g{groups}"

    @jit_specialised(cuda.jit, tag)
    def beta_kernel(theta, out):
        """out[j, w] = beta_j(theta[:, :, w]); grid (W, d)."""
        w, j = cuda.grid(2)
        if w < theta.shape[2] and j < theta.shape[1]:
            out[j, w] = beta(kind, depth, theta, j, w)

    @jit_specialised(cuda.jit, tag)
    def stop_kernel(R, y, rows, theta, prev, prev_loss, bound, ring, eps, max_steps,
                    diverge_factor, floor, step, record_every, rec_theta, avg_k,
                    out_theta, out_loss, out_steps, out_status, out_avg):  # fmt: skip
        """Blocks of (STOP_COLUMNS, groups) threads: thread (x, g) of block c takes column
        w = c·STOP_COLUMNS + x and rows i ≡ g (mod groups), sets R[i, w] -= y[i] and sums
        their squares (neighbouring threads read neighbouring columns: coalesced; a column's
        rows in `groups` short loops rather than one long serial one). Thread (x, 0) then adds
        the partial sums in the order of g, L = sum / (2n): at step 0 it sets the bound and
        records theta_0; then the stopping rule, and the outputs of a run that stops."""
        part = cuda.shared.array((groups, cols), float64)
        x, g = cuda.threadIdx.x, cuda.threadIdx.y
        w = cuda.blockIdx.x * cols + x
        K, d, W = theta.shape
        n = R.shape[0]
        b = 0
        live = False
        if w < W:
            b = rows[w]
            live = out_status[b] < 0
        acc = 0.0
        if live:
            for i in range(g, n, groups):
                ri = R[i, w] - y[i]
                R[i, w] = ri
                acc += ri * ri
        part[g, x] = acc
        cuda.syncthreads()
        if g != 0 or not live:
            return
        loss = 0.0
        for q in range(groups):
            loss += part[q, x]
        loss /= 2.0 * n
        if step == 0:
            bound[w] = diverge_factor * max(loss, floor[b])
            for k in range(K):
                for j in range(d):
                    if record_every > 0:
                        rec_theta[b, 0, k, j] = theta[k, j, w]
                    if avg_k > 0:
                        ring[0, k, j, w] = theta[k, j, w]
        status = stop(loss, eps, bound[w], step, max_steps)
        if status < 0:
            prev_loss[w] = loss
            return
        finish(status, loss, prev_loss[w], step, theta, prev, w, ring, w, avg_k, b, out_theta,
               out_loss, out_steps, out_status, out_avg)  # fmt: skip

    @jit_specialised(cuda.jit, tag)
    def update_kernel(G, rows, theta, new_theta, beta_out, ring, etas, n, step, record_every,
                      rec_theta, avg_k, grad_hist, out_status):  # fmt: skip
        """One thread per (column w, coordinate j) of a running run: g = G[j, w] / n,
        new_theta = theta − η J g, beta = beta(new_theta); records new_theta (iterate step + 1)
        in the ring and the trajectory, and g in the gradient history."""
        w, j = cuda.grid(2)
        K, d, W = theta.shape
        if w >= W or j >= d:
            return
        b = rows[w]
        if out_status[b] >= 0:
            return
        g = G[j, w] / n
        eta = etas[b]
        for k in range(K):
            new_theta[k, j, w] = theta[k, j, w] - eta * dbeta(kind, depth, theta, k, j, w) * g
        beta_out[j, w] = beta(kind, depth, new_theta, j, w)
        nxt = step + 1
        for k in range(K):
            if avg_k > 0:
                ring[nxt % avg_k, k, j, w] = new_theta[k, j, w]
            if record_every > 0 and nxt % record_every == 0:
                rec_theta[b, nxt // record_every, k, j] = new_theta[k, j, w]
        if grad_hist.shape[1] > 0:
            grad_hist[b, step, j] = g

    return beta_kernel, stop_kernel, update_kernel
