"""The small-n·d kernel shape on the GPU: one thread per run, the run held in local arrays.

Thread b runs run b for a range of steps with the fused step of the CPU tile kernel
(``diaglin.kernels.tile._step_tile``): per coordinate j, g_j = Σ_i X_ij r_i / n, the update
θ'_kj = θ_kj − η J_kj g_j, and the next residual r'_i += X_ij β_j(θ'), so one pass over the
run's state per step. n, d and the model are compile-time constants (a kernel is built per
(model, n, d)), so at small sizes the residuals and the iterate live in registers; X sits in
shared memory (n·d <= SHARED_X_MAX), where every thread of a warp reads the same X_ij at once
(a broadcast). The stopping rule is ``kernels.stop``'s. Sums differ from the CPU's only in
rounding: 1/n is multiplied in (FP64 division is slow on a GPU) and the gradient sums use two
accumulators.

Between calls (chunks of steps) the state is saved in a ``RunState`` in the tile layout
(run index last, so the threads of a warp touch neighbouring addresses): the iterate, the
previous iterate, its loss, the residual and loss of the iterate, and the divergence bound.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from numba import float64

from diaglin._names import MODEL_NAMES
from diaglin.cuda import runtime
from diaglin.cuda.runtime import device_function
from diaglin.kernels.specialise import jit_specialised
from diaglin.kernels.stop import finish_run, stop_status
from diaglin.models._ops import beta_jt, dbeta_jt, n_blocks

#: ``numba.cuda``, checked to have a GPU (or the simulator); a module global, as the simulator
#: swaps it inside kernels
cuda = runtime.cuda()
runtime.simulator_safe(globals())

#: threads per block of the per-run kernel
THREADS = 128
#: largest n·d of the per-run kernel: X is held in shared memory (48 KB per block, float64)
SHARED_X_MAX = 6144


class RunState(NamedTuple):
    """Device arrays of the runs between kernel calls (B runs, tile layout)."""

    theta: object  # (K, d, B) theta_k
    prev: object  # (K, d, B) theta_{k-1}
    prev_loss: object  # (B,) L(theta_{k-1})
    resid: object  # (n, B) X beta(theta_k) - y
    loss: object  # (B,) L(theta_k)
    bound: object  # (B,) the divergence bound
    ring: object  # (avg_k, K, d, B) the last avg_k iterates (or (1, 1, 1, 1))


@functools.cache
def per_run_kernel(kind: int, depth: int, n: int, d: int):
    """The kernel for model ``kind`` on n×d data. Launch with one thread per run:

    kernel[blocks, THREADS](X, y, etas, eps, max_steps, diverge_factor, floor, theta, prev,
    prev_loss, resid, loss, bound, ring, avg_k, step0, step_end, record_every, rec_theta,
    grad_hist, out_theta, out_loss, out_steps, out_status, out_avg)

    (the state arrays those of a ``RunState``) with the rest as in the CPU tile kernel's
    contract (``diaglin.kernels.tile._make_kernel``). Runs with out_status >= 0 are skipped.
    """
    K = n_blocks.py_func(kind, depth)
    inv_n, inv_2n = 1.0 / n, 1.0 / (2.0 * n)  # multiplications: FP64 division is slow on GPUs
    beta = device_function(beta_jt)
    dbeta = device_function(dbeta_jt)
    stop = device_function(stop_status)
    finish = device_function(finish_run)
    tag = f"{MODEL_NAMES[kind]}_D{depth}_n{n}_d{d}"

    @jit_specialised(cuda.jit, tag, device=True)
    def loss_of(r):
        acc = 0.0
        for i in range(n):
            acc += r[i] * r[i]
        return acc * inv_2n

    @jit_specialised(cuda.jit, tag, device=True)
    def residual(X, y, th, r):
        """r = X beta(th) - y (sums in increasing j, as in the fused step); returns the loss."""
        for i in range(n):
            r[i] = -y[i]
        for j in range(d):
            bj = beta(kind, depth, th, j, 0)
            for i in range(n):
                r[i] += X[i, j] * bj
        return loss_of(r)

    @jit_specialised(cuda.jit, tag, device=True)
    def visit(X, y, b, eta, cur, nxt, r, r2, step, loss, prev_loss, rule, ring, avg_k,
              record_every, rec_theta, grad_hist, out_theta, out_loss, out_steps,
              out_status, out_avg):  # fmt: skip
        """Iterate ``step`` is in cur (its residual in r), the previous one in nxt: record it,
        stop the run (writing its outputs; returns its status) or step into nxt and r2
        (returns RUNNING and the new loss)."""
        eps, max_steps, bound = rule
        if record_every > 0 and step % record_every == 0:
            for k in range(K):
                for j in range(d):
                    rec_theta[b, step // record_every, k, j] = cur[k, j, 0]
        if avg_k > 0:
            for k in range(K):
                for j in range(d):
                    ring[step % avg_k, k, j, b] = cur[k, j, 0]
        status = stop(loss, eps, bound, step, max_steps)
        if status >= 0:
            finish(status, loss, prev_loss, step, cur, nxt, 0, ring, b, avg_k, b, out_theta,
                   out_loss, out_steps, out_status, out_avg)  # fmt: skip
            return status, loss
        record_grads = grad_hist.shape[1] > 0
        for i in range(n):
            r2[i] = -y[i]
        for j in range(d):
            g0 = 0.0  # two accumulators (even and odd rows): half the dependent chain
            g1 = 0.0
            for i in range(0, n - 1, 2):
                g0 += X[i, j] * r[i]
                g1 += X[i + 1, j] * r[i + 1]
            if n % 2:
                g0 += X[n - 1, j] * r[n - 1]
            g = (g0 + g1) * inv_n
            if record_grads:
                grad_hist[b, step, j] = g
            for k in range(K):
                nxt[k, j, 0] = cur[k, j, 0] - eta * dbeta(kind, depth, cur, k, j, 0) * g
            bj = beta(kind, depth, nxt, j, 0)
            for i in range(n):
                r2[i] += X[i, j] * bj
        return -1, loss_of(r2)

    @jit_specialised(cuda.jit, tag, device=True)
    def save(b, cur, nxt, r, loss, prev_loss, st_theta, st_prev, st_resid, st_loss,
             st_prev_loss):  # fmt: skip
        for k in range(K):
            for j in range(d):
                st_theta[k, j, b] = cur[k, j, 0]
                st_prev[k, j, b] = nxt[k, j, 0]
        for i in range(n):
            st_resid[i, b] = r[i]
        st_loss[b] = loss
        st_prev_loss[b] = prev_loss

    @jit_specialised(cuda.jit, tag)
    def kernel(X, y, etas, eps, max_steps, diverge_factor, floor, st_theta, st_prev,
               st_prev_loss, st_resid, st_loss, st_bound, ring, avg_k, step0, step_end,
               record_every, rec_theta, grad_hist, out_theta, out_loss, out_steps, out_status,
               out_avg):  # fmt: skip
        # X in shared memory: every thread of a block reads the same X_ij (a broadcast)
        Xs = cuda.shared.array((n, d), float64)
        for q in range(cuda.threadIdx.x, n * d, cuda.blockDim.x):
            Xs[q // d, q % d] = X[q // d, q % d]
        cuda.syncthreads()
        b = cuda.grid(1)
        if b >= etas.shape[0] or out_status[b] >= 0:
            return
        a0 = cuda.local.array((K, d, 1), float64)
        a1 = cuda.local.array((K, d, 1), float64)
        r0 = cuda.local.array(n, float64)
        r1 = cuda.local.array(n, float64)
        for k in range(K):
            for j in range(d):
                a0[k, j, 0] = st_theta[k, j, b]
                a1[k, j, 0] = st_prev[k, j, b]
        if step0 == 0:
            loss = residual(Xs, y, a0, r0)
            bound = diverge_factor * max(loss, floor[b])
            st_bound[b] = bound
        else:
            for i in range(n):
                r0[i] = st_resid[i, b]
            loss = st_loss[b]
            bound = st_bound[b]
        prev_loss = st_prev_loss[b]
        eta = etas[b]
        stop_rule = (eps, max_steps, bound)
        step = step0
        # Two steps per trip, the arrays' roles swapped in the second, so that no array
        # variable is reassigned (which would keep them out of registers).
        while True:
            if step >= step_end:
                save(b, a0, a1, r0, loss, prev_loss, st_theta, st_prev, st_resid, st_loss,
                     st_prev_loss)  # fmt: skip
                return
            status, new = visit(Xs, y, b, eta, a0, a1, r0, r1, step, loss, prev_loss, stop_rule,
                                ring, avg_k, record_every, rec_theta, grad_hist, out_theta,
                                out_loss, out_steps, out_status, out_avg)  # fmt: skip
            if status >= 0:
                return
            prev_loss, loss, step = loss, new, step + 1
            if step >= step_end:
                save(b, a1, a0, r1, loss, prev_loss, st_theta, st_prev, st_resid, st_loss,
                     st_prev_loss)  # fmt: skip
                return
            status, new = visit(Xs, y, b, eta, a1, a0, r1, r0, step, loss, prev_loss, stop_rule,
                                ring, avg_k, record_every, rec_theta, grad_hist, out_theta,
                                out_loss, out_steps, out_status, out_avg)  # fmt: skip
            if status >= 0:
                return
            prev_loss, loss, step = loss, new, step + 1

    return kernel


def start_state(K: int, d: int, B: int, n: int, avg_k: int) -> RunState:
    """Device state of B runs, allocated only: ``layout.start`` fills theta and prev_loss
    before step 0 (from θ0, on the device)."""
    ring = (avg_k, K, d, B) if avg_k else (1, 1, 1, 1)
    # prev is read only after a step wrote it (a run stopping at step 0 reports theta_0), so
    # it is left uninitialised: no host array, no copy.
    return RunState(
        cuda.device_array((K, d, B)), cuda.device_array((K, d, B)), cuda.device_array(B),
        cuda.device_array((n, B)), cuda.device_array(B), cuda.device_array(B),
        cuda.device_array(ring),
    )  # fmt: skip
