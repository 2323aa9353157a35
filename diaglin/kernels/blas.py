"""Batched GD for large n·d: each step is two BLAS matrix–matrix products over the live runs.

With the state in tile layout (K, d, W) (run index last) a step of W runs is

    R = X · beta(theta)          (n × W, GEMM),    r = R − y,  L = Σ_i r_i² / (2n),
    g = (X / n)ᵀ · r             (d × W, GEMM),    theta ← theta − eta · J ⊙ g,

and the rest is one pass over the state between the products, in two Numba kernels: ``check``
(residual, loss, the stopping rule, recording; over the n × W residuals and only the stopped
runs' state) and ``update`` (the GD update fused with beta of the new iterate for the next
product: one pass over theta). The batch is dealt out, run b to block b mod N, into N blocks:
T = ``numba.get_num_threads()``, or a multiple of T when a block's state would outgrow the
cache (``MAX_BLOCK_BYTES``); T worker threads run them side by side, each its blocks one after
the other, each with a one-thread BLAS — runs are independent, so the blocks never wait for
each other (a multi-threaded BLAS call per product instead was 40× slower on 2 cores: its
spinning threads and Numba's OpenMP threads took turns). A run that stops is not copied out
of its block at once: its columns are zeroed (eta = 0, r = 0: they stay finite and do nothing)
and the block is compacted only when a quarter of its columns are idle, so the per-step copies
of a shrinking batch are gone and the wasted products stay below a third.

(Calling BLAS from inside a Numba kernel was tried first: with a multi-threaded OpenBLAS it
corrupted the heap intermittently on numba 0.68 / scipy-openblas, so BLAS is called from NumPy.)

The semantics — stopping rule, divergence bound, recording, averaging, gradient history — are
those of the tile kernel's driver (``tile._make_drive``); ``tests/core/test_core_gd.py`` checks the
two agree run by run. Unlike the tile kernel, a run's last bits may depend on its batch (BLAS
chooses its blocking by matrix size).
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, wait

import numba as nb
import numpy as np

from diaglin._names import MODEL_NAMES
from diaglin._threads import blas_threads, thread_pool
from diaglin.kernels.specialise import jit_specialised
from diaglin.kernels.stop import RUNNING, finish_run, stop_status
from diaglin.kernels.tile import copy_runs
from diaglin.models import _numerics as nm
from diaglin.models._ops import beta_jt, dbeta_jt, n_blocks

#: compact a block when at most this fraction of its columns still runs
COMPACT_BELOW = 0.75
#: fewest runs per block (a block per thread, fewer blocks for small batches)
MIN_BLOCK = 16
#: largest state per block (bytes of one (K, d, W) array): a bigger batch is cut into more blocks
#: than threads, run one after the other, so the update's pass over the state stays in cache
#: (W = 2048 runs at d = 1000: 16 MB per array, and the update cost 8–14 % of the step)
MAX_BLOCK_BYTES = 2 << 20


@nb.njit(nogil=True, cache=True)
def check(depth, y, R, loss, step, rule, bound, prev_loss, eta, alive, run, cur, prev,
          record_every, rec_theta, ring, avg_k, out_theta, out_loss, out_steps, out_status,
          out_avg):  # fmt: skip
    """R ← R − y and L = |r|²/(2n) per column; then, per live column s: the divergence
    bound (step 0), recording, the ring of the last avg_k iterates, and the stopping rule
    (a stopped run is written out, its column zeroed and marked idle). Returns the number
    of live columns."""
    eps, max_steps, diverge_factor, loss_floor = rule
    n, W = R.shape
    K, d = cur.shape[0], cur.shape[1]
    for s in range(W):
        loss[s] = 0.0
    for i in range(n):
        for s in range(W):
            r = R[i, s] - y[i]
            R[i, s] = r
            loss[s] += r * r
    for s in range(W):
        loss[s] /= 2.0 * n
    if avg_k > 0:
        copy_runs(ring[step % avg_k], cur, W)
    record = record_every > 0 and step % record_every == 0
    live = 0
    for s in range(W):
        if not alive[s]:
            continue
        L = loss[s]
        if step == 0:
            bound[s] = diverge_factor * max(L, loss_floor[run[s]])
        if record:
            for k in range(K):
                for j in range(d):
                    rec_theta[run[s], step // record_every, k, j] = cur[k, j, s]
        status = stop_status(L, eps, bound[s], step, max_steps)
        if status == RUNNING:
            prev_loss[s] = L
            live += 1
            continue
        finish_run(status, L, prev_loss[s], step, cur, prev, s, ring, s, avg_k, run[s],
                   out_theta, out_loss, out_steps, out_status, out_avg)  # fmt: skip
        alive[s] = False
        eta[s] = 0.0
        for i in range(n):
            R[i, s] = 0.0
        for k in range(K):
            for j in range(d):
                cur[k, j, s] = 0.0
    return live


def _update_kernel(kind: int):
    """``update`` specialised to model ``kind`` (a compile-time constant, so the model's
    formulas inline and vectorise across runs, as in ``tile._make_kernel``), named for it
    (``update__uv``: ``specialise``)."""

    @jit_specialised(nb.njit, MODEL_NAMES[kind], nogil=True, cache=True)
    def update(depth, cur, nxt, g, eta, beta):
        """nxt = cur − eta · (d beta/dθ)(cur) ⊙ g and beta = beta(nxt), in one pass."""
        K = n_blocks(kind, depth)
        d, W = g.shape
        for j in range(d):
            for k in range(K):
                for s in range(W):
                    J = dbeta_jt(kind, depth, cur, k, j, s)
                    nxt[k, j, s] = cur[k, j, s] - eta[s] * J * g[j, s]
            for s in range(W):
                beta[j, s] = beta_jt(kind, depth, nxt, j, s)

    return update


_KERNELS: dict[int, tuple] = {}


def _kernels(kind: int) -> tuple:
    """``(check, update)`` for model ``kind`` (``check`` is the same code for every model)."""
    if kind not in _KERNELS:
        _KERNELS[kind] = check, _update_kernel(kind)
    return _KERNELS[kind]


def gd_blas(
    kind, depth, X, y, etas, rule, theta0, record_every, rec_theta, grad_hist, avg_k,
    out_theta, out_loss, out_steps, out_status, out_avg, *, progress=None,
) -> None:  # fmt: skip
    """Same contract as the tile kernel (``tile._make_kernel``; ``rule`` = (eps, max_steps,
    diverge_factor, loss_floor)), run to the end in one call; ``progress(step)`` every ~0.25 s
    if given (the blocks' mean step, a finished block counting as max_steps). Ctrl-C stops
    every block at its next step."""
    B = theta0.shape[2]
    K, d = theta0.shape[0], theta0.shape[1]
    workers = max(1, min(nb.get_num_threads(), B // MIN_BLOCK))
    widest = max(MIN_BLOCK, MAX_BLOCK_BYTES // (8 * K * d))
    n_blocks_ = workers * -(-B // (workers * widest))  # a multiple of the workers
    steps = [0] * n_blocks_
    cancel = threading.Event()
    XnT = (X / X.shape[0]).T  # g = Xᵀ r / n as one product
    args = (kind, depth, X, XnT, y, etas, rule, theta0, record_every, rec_theta, grad_hist, avg_k,
            out_theta, out_loss, out_steps, out_status, out_avg, steps, cancel)  # fmt: skip
    with blas_threads(1):
        pool = thread_pool(workers)
        futures = [pool.submit(_run_blocks, range(t, n_blocks_, workers), n_blocks_, *args)
                   for t in range(workers)]  # fmt: skip
        try:
            while wait(futures, timeout=0.25, return_when=FIRST_EXCEPTION).not_done:
                if any(f.done() and f.exception() is not None for f in futures):
                    break
                if progress is not None:
                    progress(sum(steps) // n_blocks_)
            for f in futures:
                f.result()
        finally:  # on an error or Ctrl-C: stop the other blocks at their next step
            cancel.set()
            wait(futures)
    if (out_status == RUNNING).any():  # pragma: no cover - a contract violation
        raise RuntimeError("BLAS path left runs without a status")


def _run_blocks(blocks, n_blocks_, *args) -> None:
    """The blocks ``blocks`` one after the other (a worker thread's share)."""
    for t in blocks:
        _run_block(t, n_blocks_, *args)


def _run_block(
    t, n_blocks_, kind, depth, X, XnT, y, etas, rule, theta0, record_every, rec_theta, grad_hist,
    avg_k, out_theta, out_loss, out_steps, out_status, out_avg, steps, cancel,
) -> None:  # fmt: skip
    """Runs t, t + n_blocks_, t + 2·n_blocks_, … of the batch to the end (``steps[t]``: the
    step reached; returns early when ``cancel`` is set)."""
    check, update = _kernels(kind)
    run = np.arange(t, theta0.shape[2], n_blocks_)
    K, d, W = theta0.shape[0], theta0.shape[1], run.size
    n = X.shape[0]
    cur, prev = np.ascontiguousarray(theta0[:, :, run]), np.empty((K, d, W))
    eta = etas[run].astype(float)
    alive = np.ones(W, dtype=np.bool_)
    bound, prev_loss, loss = np.empty(W), np.full(W, np.nan), np.empty(W)
    ring = np.empty((avg_k, K, d, W) if avg_k else (1, 1, 1, 1))
    beta, R, G = np.empty((d, W)), np.empty((n, W)), np.empty((d, W))
    nm.beta_batch(kind, depth, cur, beta.T)  # (once per block: its strided writes are cheap)
    record_grads = grad_hist.shape[1] > 0
    step = 0
    while not cancel.is_set():
        np.matmul(X, beta, out=R)
        live = check(depth, y, R, loss, step, rule, bound, prev_loss, eta, alive, run, cur,
                     prev, record_every, rec_theta, ring, avg_k, out_theta, out_loss,
                     out_steps, out_status, out_avg)  # fmt: skip
        if live == 0:
            steps[t] = rule[1]  # finished: counts as max_steps in the progress
            break
        if live <= COMPACT_BELOW * W:
            keep = np.flatnonzero(alive)
            W = keep.size
            cur, R = cur[:, :, keep], R[:, keep]
            prev = np.empty_like(cur)  # overwritten by the update before it is read
            ring = ring[..., keep] if avg_k else ring
            run, eta, alive = run[keep], eta[keep], alive[keep]
            bound, prev_loss, loss = bound[keep], prev_loss[keep], np.empty(W)
            beta, G = np.empty((d, W)), np.empty((d, W))
        np.matmul(XnT, R, out=G)
        update(depth, cur, prev, G, eta, beta)
        if record_grads:
            grad_hist[run[alive], step] = G[:, alive].T
        cur, prev = prev, cur
        step += 1
        steps[t] = step
