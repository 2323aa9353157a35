"""Batched full-batch GD kernels: runs laid out innermost so the compiler vectorises across runs.

The batch is cut into tiles of ``tile_width(B, threads)`` runs (32, or down to 8 when a small
batch would leave threads idle); ``prange`` spreads the tiles over threads. A tile
holds its runs' state as ``(K, d, W)`` arrays (W = live runs), so every inner loop runs over the
contiguous run index with no reduction: SIMD across runs, and each run performs exactly the same
floating-point operations whatever tile it sits in. Hence a run's result is bitwise identical
whatever else is in the batch and however many threads run it.

When a run stops (converged / diverged / max_steps) its state is written out and the last live
run of the tile is moved into its slot, so the loops only ever cover live runs.
State is double-buffered: a run whose loss turns non-finite reports the previous (finite) iterate.

A kernel call advances the runs by a range of steps and saves their state in a ``GDState``, so
the caller runs a long job as a series of short calls (Python sees Ctrl-C between them) with
results identical to one long call.

The same driver runs stochastic steps (``stochastic=True``): each run samples ``batch`` rows of X
without replacement and adds label noise to their targets, with its step size and noise level
read from its schedule table (``diaglin.schedules``) at every step; the random numbers are
counter-based (``rng``), a function of the run's key and the step only. Runs that read different
rows gain nothing from sharing a tile (each would gather its own rows), so a stochastic tile
holds one run: its coordinates are contiguous, every loop runs over them, and the kernel may
reassociate sums (``_REASSOC``: the residual ⟨x_i, beta⟩ in vector lanes of partial sums). The
order of those sums is fixed by the compiled loop and d alone, and a batch residual is computed
once (carried in ``GDState.resid`` from one call to the next), so the results stay bitwise the
same for a run alone, in any batch, with any thread count and chunking (tested).
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from diaglin._names import MODEL_NAMES
from diaglin.kernels import rng
from diaglin.kernels.specialise import jit_specialised, specialised
from diaglin.kernels.stop import RUNNING, finish_run, stop_status
from diaglin.models._ops import beta_jt, dbeta_jt, n_blocks
from diaglin.schedules import COSINE, END, ETA0, ETA1, FOREVER, LINEAR, NOISE, SHAPE, START

#: widest tile (runs per tile): 32 runs fill four AVX-512 vectors per coordinate
TILE = 32
#: narrowest tile: small batches are cut into tiles this narrow so every thread gets one
MIN_TILE = 8


def tile_width(n_runs: int, n_threads: int) -> int:
    """Runs per tile: TILE, or narrower (down to MIN_TILE) when there would be fewer tiles than
    threads. A run's arithmetic does not depend on its tile, so neither do its results."""
    return int(min(TILE, max(MIN_TILE, -(-n_runs // max(n_threads, 1)))))


#: the stochastic kernel's floating-point flags: sums may be reassociated (vectorised in lanes
#: of partial sums) — in an order fixed by the compiled code, the same for every run
_REASSOC = {"reassoc"}
#: label-noise distributions of the stochastic step
GAUSSIAN, RADEMACHER = 0, 1


class GDState(NamedTuple):
    """What a run that has not stopped carries from one kernel call to the next (run index last,
    in the kernel's run order): theta_k and theta_{k-1} (K, d, B), L(theta_{k-1}) and the
    divergence bound (B,), the ring of the last ``avg_k`` iterates (avg_k, K, d, B), and for
    stochastic runs the residuals of step k's noisy batch (batch, B)."""

    theta: np.ndarray
    prev: np.ndarray
    prev_loss: np.ndarray
    bound: np.ndarray
    ring: np.ndarray
    resid: np.ndarray

    @classmethod
    def start(cls, theta0: np.ndarray, avg_k: int, batch: int = 1) -> GDState:
        """The state before step 0 (theta0 in tile layout (K, d, B); the kernel writes into it)."""
        K, d, B = theta0.shape
        ring = np.empty((avg_k, K, d, B) if avg_k else (1, 1, 1, 1))
        return cls(theta0, np.empty_like(theta0), np.empty(B), np.empty(B), ring,
                   np.empty((batch, B)))  # fmt: skip


@nb.njit(cache=True, inline="always")
def _copy_run(dst, dst_col, src, src_col):
    """dst[:, :, dst_col] = src[:, :, src_col] for (K, d, ·) arrays (tile layout: the run
    index last), e.g. a run moved within a tile or between the tile and the saved state."""
    for k in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[k, j, dst_col] = src[k, j, src_col]


@nb.njit(cache=True, inline="always")
def _copy_iterates(theta, prev, ring, col, src_theta, src_prev, src_ring, src_col, n_ring):
    """A run's iterates — θ_k, θ_{k−1} and the first ``n_ring`` slices of its averaging ring —
    from column src_col of (src_theta, src_prev, src_ring) to column col of (theta, prev,
    ring) (``_copy_run``): between a tile and the saved state, or between two tile slots."""
    _copy_run(theta, col, src_theta, src_col)
    _copy_run(prev, col, src_prev, src_col)
    for q in range(n_ring):
        _copy_run(ring[q], col, src_ring[q], src_col)


@nb.njit(cache=True, inline="always")
def copy_runs(dst, src, live):
    """dst[k, j, s] = src[k, j, s] for the first ``live`` runs of (K, d, W) arrays (e.g. an
    iterate into its slot of the averaging ring)."""
    for k in range(src.shape[0]):
        for j in range(src.shape[1]):
            for s in range(live):
                dst[k, j, s] = src[k, j, s]


@nb.njit(cache=True)
def _residual_tile(kind, depth, X, y, cur, beta, r, loss, live):
    """beta = beta(theta), r = X beta - y, loss = |r|²/(2n) for the live runs of a tile."""
    n, d = X.shape
    for j in range(d):
        for s in range(live):
            beta[j, s] = beta_jt(kind, depth, cur, j, s)
    for i in range(n):
        for s in range(live):
            r[i, s] = -y[i]
        for j in range(d):
            xij = X[i, j]
            for s in range(live):
                r[i, s] += xij * beta[j, s]
    _loss_of(r, loss, n, live)


@nb.njit(cache=True, inline="always")
def _advance(kind, depth, cur, nxt, eta, gs, j, s):
    """nxt[:, j, s] = cur[:, j, s] − eta · J ⊙ gs (J = d beta_j / d theta at cur); returns
    beta_j(nxt) of run s."""
    for k in range(n_blocks(kind, depth)):
        nxt[k, j, s] = cur[k, j, s] - eta * dbeta_jt(kind, depth, cur, k, j, s) * gs
    return beta_jt(kind, depth, nxt, j, s)


@nb.njit(cache=True, inline="always")
def _step_tile(kind, depth, X, y, cur, nxt, r, g, eta, live, r2, loss2):
    """g = Xᵀ r / n; nxt = cur - eta * J ⊙ g (J = d beta / d theta at cur); and, in the same pass
    over the coordinates, the residual r2 = X beta(nxt) - y and loss2 = |r2|²/(2n) of the new
    iterate. Every sum runs in the order ``_residual_tile`` and ``_grad_tile`` use, so r2 is
    bitwise what it would compute from nxt; one pass over the state per step instead of two.

    At small n·d a step costs what its loops over the runs cost to set up, so the update's loop
    also sums g's last row and the residual's first (per coordinate 2n − 1 loops, was 2n + 3);
    it writes two arrays, nxt and r2 (each array a loop writes adds run-time aliasing checks
    to it: a version whose update loop wrote four arrays ran 2× slower than the old code).
    g (W,) holds coordinate j's partial sum (``_grad_tile`` forms the whole gradient when it
    is recorded)."""
    n, d = X.shape
    inv_n = 1.0 / n
    for i in range(n):
        yi = y[i]
        for s in range(live):
            r2[i, s] = -yi
    if n == 1:  # no partial sum: g stays 0 (0 + p = p)
        for s in range(live):
            g[s] = 0.0
    for j in range(d):
        for i in range(n - 1):
            xij = X[i, j]
            if i == 0:
                for s in range(live):
                    g[s] = xij * r[0, s]
            else:
                for s in range(live):
                    g[s] += xij * r[i, s]
        xl, x0 = X[n - 1, j], X[0, j]
        for s in range(live):
            gs = (g[s] + xl * r[n - 1, s]) * inv_n
            r2[0, s] += x0 * _advance(kind, depth, cur, nxt, eta[s], gs, j, s)
        for i in range(1, n):
            xij = X[i, j]
            for s in range(live):
                r2[i, s] += xij * beta_jt(kind, depth, nxt, j, s)
    _loss_of(r2, loss2, n, live)


@nb.njit(cache=True, inline="always")
def _grad_tile(X, r, g, live):
    """g = Xᵀ r / n for the live runs, summed in ``_step_tile``'s order (what a step uses)."""
    n, d = X.shape
    inv_n = 1.0 / n
    for j in range(d):
        for s in range(live):
            g[j, s] = X[0, j] * r[0, s]
        for i in range(1, n):
            xij = X[i, j]
            for s in range(live):
                g[j, s] += xij * r[i, s]
        for s in range(live):
            g[j, s] *= inv_n


@nb.njit(cache=True, inline="always")
def _loss_of(r, loss, m, live):
    """loss = Σ_{t<m} r[t]² / (2m) per live run."""
    for s in range(live):
        loss[s] = r[0, s] * r[0, s]
    for t in range(1, m):
        for s in range(live):
            loss[s] += r[t, s] * r[t, s]
    for s in range(live):
        loss[s] /= 2.0 * m


@nb.njit(cache=True, inline="always")
def _schedule_at(sched, b, k):
    """(step size, label-noise level) of run b at step k from its table (diaglin.schedules)."""
    i = 0
    while i < sched.shape[1] - 1 and k >= sched[b, i, END]:
        i += 1
    e0 = sched[b, i, ETA0]
    shape = sched[b, i, SHAPE]
    end = sched[b, i, END]
    eta = e0
    if shape != 0 and end < FOREVER:
        start = sched[b, i, START]
        frac = (k - start) / max(end - start, 1.0)
        e1 = sched[b, i, ETA1]
        if shape == LINEAR:
            eta = e0 + (e1 - e0) * frac
        elif shape == COSINE:
            eta = e1 + (e0 - e1) * 0.5 * (1.0 + np.cos(np.pi * frac))
    return eta, sched[b, i, NOISE]


@nb.njit(cache=True, inline="always")
def _sample_rows(key, step, n, m, idx, s):
    """idx[:, s] = m distinct rows of 0..n-1, uniformly (Floyd's algorithm; m = n: all rows)."""
    if m == n:
        for t in range(m):
            idx[t, s] = t
        return
    for t in range(m):
        top = n - m + t
        cand = min(int(rng.uniform(key, step, t) * (top + 1)), top)
        for q in range(t):
            if idx[q, s] == cand:
                cand = top
                break
        idx[t, s] = cand


@nb.njit(cache=True, inline="always")
def _draw(sched, keys, noise_kind, run, live, step, n, m, C, idx, noise, eta):
    """Step ``step`` of each live run: its step size eta[s] (schedule), its m distinct rows
    idx[:, s] (draws 0..m−1) and the label noise noise[t·C + c, s] (draw m + t·C + c) added to
    target c of row t (C targets a row: 1 for the diagonal models, a network's outputs for MSE
    on vector targets)."""
    for s in range(live):
        b = run[s]
        eta[s], sigma = _schedule_at(sched, b, step)
        _sample_rows(keys[b], step, n, m, idx, s)
        for q in range(m * C):
            if sigma == 0.0:
                noise[q, s] = 0.0
            elif noise_kind == GAUSSIAN:
                noise[q, s] = sigma * rng.normal(keys[b], step, m + q)
            else:
                noise[q, s] = sigma * rng.rademacher(keys[b], step, m + q)


@nb.njit(cache=True)
def draw_step(sched, keys, noise_kind, run, step, n, m, C):
    """(eta (W,), rows (m, W), noise (m·C, W)) of step ``step`` for the runs ``run`` (W,):
    the draws of the stochastic kernel (``_draw``), for a stepper outside it (networks)."""
    W = run.size
    eta, idx, noise = np.empty(W), np.empty((m, W), dtype=np.int64), np.empty((m * C, W))
    _draw(sched, keys, noise_kind, run, W, step, n, m, C, idx, noise, eta)
    return eta, idx, noise


@nb.njit(cache=True, inline="always")
def _dot(X, i, b):
    """⟨X[i], b⟩ (no row view is made: a view costs reference counting at every step)."""
    acc = 0.0
    for j in range(b.shape[0]):
        acc += X[i, j] * b[j]
    return acc


@nb.njit(cache=True, inline="always")
def _run_residual(kind, depth, X, y, th, bvec, r, loss, m, idx, noise):
    """One run (a tile of width 1): bvec = beta(th), and for its sampled rows
    r[t] = ⟨X[idx[t]], beta⟩ − (y[idx[t]] + noise[t]) and loss = |r|²/(2m)."""
    for j in range(X.shape[1]):
        bvec[j] = beta_jt(kind, depth, th, j, 0)
    for t in range(m):
        i = idx[t, 0]
        r[t, 0] = _dot(X, i, bvec) - (y[i] + noise[t, 0])
    _loss_of(r, loss, m, 1)


@nb.njit(cache=True, inline="always")
def _run_step(kind, depth, X, cur, prev, r, g, eta, m, idx):
    """One run (width 1), in place: g = X_Bᵀ r / m over its sampled rows idx, prev = cur,
    cur = prev − eta J ⊙ g (J at prev)."""
    K, d = n_blocks(kind, depth), cur.shape[1]
    i = idx[0, 0]
    for j in range(d):
        g[j, 0] = X[i, j] * r[0, 0]
    for t in range(1, m):
        i = idx[t, 0]
        for j in range(d):
            g[j, 0] += X[i, j] * r[t, 0]
    if m > 1:
        for j in range(d):
            g[j, 0] /= m
    for k in range(K):
        for j in range(d):
            prev[k, j, 0] = cur[k, j, 0]
    for k in range(K):
        for j in range(d):
            cur[k, j, 0] = prev[k, j, 0] - eta * dbeta_jt(kind, depth, prev, k, j, 0) * g[j, 0]


@nb.njit(cache=True, inline="always")
def _run_step1(kind, depth, X, cur, prev, r, eta, i, i2):
    """Single-sample step of one run (width 1), in place and in one pass over its coordinates:
    prev = cur, cur = prev − eta J ⊙ g with g = r X[i]; returns ⟨X[i2], beta(cur)⟩ for the
    next sample i2. In place, so that no buffers are swapped (a swap costs reference counting);
    g is not stored (one more array written in the loop costs the compiler's aliasing checks
    its vectorisation: 109 vs 70 ns at d = 100)."""
    K, d = n_blocks(kind, depth), cur.shape[1]  # K a constant: the k loops unroll
    acc = 0.0
    for j in range(d):
        gj = X[i, j] * r
        for k in range(K):
            prev[k, j, 0] = cur[k, j, 0]
        for k in range(K):
            cur[k, j, 0] = prev[k, j, 0] - eta * dbeta_jt(kind, depth, prev, k, j, 0) * gj
        acc += X[i2, j] * beta_jt(kind, depth, cur, j, 0)
    return acc


# The driver's once-per-call and once-per-stop pieces: functions of their own, not inlined
# (compile time, see ``_make_drive``).


@nb.njit(cache=True)
def _load_runs(w0, width, etas, out_status, st_theta, st_prev, st_prev_loss, st_bound, st_ring,
               avg_k, run, eta, prev_loss, bound, cur, nxt, ring):  # fmt: skip
    """Lay the runs w0 .. w0+width-1 that have not stopped (out_status < 0) into a tile's first
    slots, from a ``GDState`` (the ``st_*`` arrays); returns how many there are (live)."""
    live = 0
    for b in range(w0, min(w0 + width, st_theta.shape[2])):
        if out_status[b] >= 0:
            continue
        run[live] = b
        eta[live] = etas[b]
        prev_loss[live] = st_prev_loss[b]
        bound[live] = st_bound[b]
        _copy_iterates(cur, nxt, ring, live, st_theta, st_prev, st_ring, b, avg_k)
        live += 1
    return live


@nb.njit(cache=True)
def _save_runs(live, run, prev_loss, bound, cur, nxt, ring, avg_k, st_theta, st_prev,
               st_prev_loss, st_bound, st_ring):  # fmt: skip
    """Write the tile's live runs back into the ``GDState`` arrays (``_load_runs`` reversed)."""
    for s in range(live):
        b = run[s]
        st_prev_loss[b] = prev_loss[s]
        st_bound[b] = bound[s]
        _copy_iterates(st_theta, st_prev, st_ring, b, cur, nxt, ring, s, avg_k)


@nb.njit(cache=True)
def _move_run(src, dst, cur, nxt, ring, r, idx, loss, prev_loss, bound, eta, run):
    """Move a tile's run from slot src to slot dst (the slot of a run that stopped)."""
    _copy_iterates(cur, nxt, ring, dst, cur, nxt, ring, src, ring.shape[0])
    for i in range(r.shape[0]):
        r[i, dst] = r[i, src]
    for i in range(idx.shape[0]):
        idx[i, dst] = idx[i, src]
    loss[dst] = loss[src]
    prev_loss[dst] = prev_loss[src]
    bound[dst] = bound[src]
    eta[dst] = eta[src]
    run[dst] = run[src]


@nb.njit(cache=True, fastmath=_REASSOC)
def _start_run(kind, depth, X, y, sgd, run, step, cur, bvec, st_resid, r, loss, idx, noise, eta):
    """A stochastic run (a tile of one, run[0]) at the start of a kernel call: its step size
    eta[0], rows idx[:, 0] and label noise noise[:, 0] of step ``step``, and the residuals
    r[:, 0] and loss[0] of that batch, computed at step 0 and read from the saved state
    ``st_resid`` (what the previous call's last step computed) after."""
    sched, keys, batch, noise_kind = sgd
    _draw(sched, keys, noise_kind, run, 1, step, X.shape[0], batch, 1, idx, noise, eta)
    if step == 0:
        _run_residual(kind, depth, X, y, cur, bvec, r, loss, batch, idx, noise)
    else:
        for t in range(batch):
            r[t, 0] = st_resid[t, run[0]]
        _loss_of(r, loss, batch, 1)


def _step_tag(kind: int, stochastic: bool) -> str:
    """The name part of a (model, step type) specialisation, e.g. "gd_uv" (``specialise``)."""
    return f"{'sgd' if stochastic else 'gd'}_{MODEL_NAMES[kind]}"


def _make_drive(kind: int, stochastic: bool):
    """The one driver loop, ``drive`` (below), built for model ``kind`` and the step type, and
    named for both (``drive__gd_uv``: see ``specialise`` for why the name must say them).

    ``kind`` and ``stochastic`` are constants of the closure, so numba drops the other step's
    code before it inlines the helpers. (As arguments of an inlined driver they were resolved
    only after the helpers of both steps had been inlined: two thirds of the first call's
    compilation, 69 → 22 s for the GD kernel.) The GD driver stays a function of its own,
    called per tile by the parallel kernel; that leaves numba's parallel passes a small loop
    body. The stochastic driver is inlined into that loop: numba compiles a parallel loop's body
    with its array arguments marked free of aliasing, which the single-sample step needs to
    vectorise (called, it ran ~40 % slower). The GD steps run the same, bitwise, either way.

    What a driver does once per call or once per stopped run is compiled out of line
    (``_load_runs``, ``_start_run``, ``_move_run``, ``finish_run``, ``_save_runs``, and
    ``_residual_tile``, the full-data residual of the first and every restarting step). Numba's
    passes over a parallel loop's body cost more than linearly in its size: inlined, those
    pieces doubled the stochastic kernel's first compilation (about 100 s against 50 s), and
    outside it the runs are bitwise the same and as fast.
    """

    @jit_specialised(nb.njit, _step_tag(kind, stochastic), cache=True,
                     inline="always" if stochastic else "never",
                     fastmath=_REASSOC if stochastic else False)  # fmt: skip
    def drive(
        depth, X, y, etas, sgd, rule,
        st_theta, st_prev, st_prev_loss, st_bound, st_ring, st_resid, step0, step_end,
        record_every, rec_theta, grad_hist, avg_k,
        out_theta, out_loss, out_steps, out_status, out_avg, w0, width,
    ):  # fmt: skip
        """Runs w0 .. w0+width-1 of the batch: steps, stopping, recording, statuses.

        It advances the runs still going (out_status < 0) from step ``step0`` until they stop
        or the step counter reaches ``step_end``, then saves their state (the ``st_*`` arrays
        of a ``GDState``) so a later call with step0 = step_end continues them exactly: a run
        does the same floating-point operations whatever the chunking.

        Full-batch GD (``stochastic`` False): step size etas[b]; the loss is the full training
        loss. Stochastic (width 1: a tile is one run): step size and noise from the run's
        schedule table, ``batch`` sampled rows, and the loss tested for divergence is that of
        the noisy batch. Either way the divergence bound is diverge_factor · max(L(theta_0),
        loss_floor[b]) with L(theta_0) the full training loss.

        Read-only inputs come in tuples (CPython passes a call of more than 30 arguments as
        *args, which numba cannot inline): sgd = (sched, keys, batch, noise_kind) and the
        stopping rule rule = (eps, max_steps, diverge_factor, loss_floor (B,), per run in
        kernel order).
        """
        sched, keys, batch, noise_kind = sgd
        eps, max_steps, diverge_factor, loss_floor = rule
        K, d = st_theta.shape[0], st_theta.shape[1]
        n = X.shape[0]
        record_grads = grad_hist.shape[1] > 0
        w = 1 if stochastic else width  # a literal 1: the compiler sees contiguous coordinates
        cur = np.empty((K, d, w))
        nxt = np.empty((K, d, w))  # after a step: the previous iterate (swapped, or in place)
        beta = np.empty((d, width))
        r = np.empty((n, width))  # residuals: all rows (GD) or the first ``batch`` (stochastic)
        r2 = np.empty((n, width))  # those of the next iterate, computed during the step
        g = np.empty((d, w))  # a step's gradient, when it is recorded
        gj = np.empty(width)  # coordinate j's partial gradient during a GD step
        m = batch if stochastic else 1
        idx = np.empty((m, width), dtype=np.int64)  # the step's rows; idx2: the next step's
        idx2 = np.empty((m, width), dtype=np.int64)
        noise = np.empty((m, width))
        bvec = np.empty(d)  # beta of a stochastic run's iterate
        loss = np.empty(width)
        loss2 = np.empty(width)
        prev_loss = np.empty(width)
        bound = np.empty(width)
        eta = np.empty(width)
        eta2 = np.empty(width)
        run = np.empty(width, dtype=np.int64)
        ring = np.empty((max(avg_k, 1), K, d, width))
        live = _load_runs(w0, width, etas, out_status, st_theta, st_prev, st_prev_loss, st_bound,
                          st_ring, avg_k, run, eta, prev_loss, bound, cur, nxt, ring)  # fmt: skip
        step = step0
        if live > 0:  # the residual and loss of theta_step0; later steps compute them as they go
            if step == 0:  # the bound is set by the full training loss at theta_0
                _residual_tile(kind, depth, X, y, cur, beta, r, loss, live)
                for s in range(live):
                    bound[s] = diverge_factor * max(loss[s], loss_floor[run[s]])
            if stochastic:  # (a tile of one run)
                _start_run(kind, depth, X, y, sgd, run, step, cur, bvec, st_resid, r, loss, idx,
                           noise, eta)  # fmt: skip
            elif step > 0:
                _residual_tile(kind, depth, X, y, cur, beta, r, loss, live)
        while live > 0 and step < step_end:
            if record_every > 0 and step % record_every == 0:
                slot = step // record_every
                for s in range(live):
                    for k in range(K):
                        for j in range(d):
                            rec_theta[run[s], slot, k, j] = cur[k, j, s]
            if avg_k > 0:
                copy_runs(ring[step % avg_k], cur, live)
            any_stop = step >= max_steps
            for s in range(live):
                any_stop |= (loss[s] < eps) | (not loss[s] <= bound[s])
            s = 0
            while any_stop and s < live:
                L = loss[s]
                status = stop_status(L, eps, bound[s], step, max_steps)
                if status == RUNNING:
                    s += 1
                    continue
                finish_run(status, L, prev_loss[s], step, cur, nxt, s, ring, s, avg_k, run[s],
                           out_theta, out_loss, out_steps, out_status, out_avg)  # fmt: skip
                # Fill the freed slot with the tile's last live run (then test slot s again).
                live -= 1
                if s != live:
                    _move_run(live, s, cur, nxt, ring, r, idx, loss, prev_loss, bound, eta, run)
            if live == 0:
                break
            if stochastic:  # step `step` with eta; draw step + 1 and compute its batch residual
                _draw(sched, keys, noise_kind, run, live, step + 1, n, batch, 1, idx2, noise, eta2)
                if batch == 1:
                    i, i2 = idx[0, 0], idx2[0, 0]
                    if record_grads:  # g = r x_i, which the fused pass does not keep
                        for j in range(d):
                            g[j, 0] = X[i, j] * r[0, 0]
                    r2[0, 0] = _run_step1(kind, depth, X, cur, nxt, r[0, 0], eta[0], i, i2) - (
                        y[i2] + noise[0, 0]
                    )
                    _loss_of(r2, loss2, 1, 1)
                else:
                    _run_step(kind, depth, X, cur, nxt, r, g, eta[0], batch, idx)
                    _run_residual(kind, depth, X, y, cur, bvec, r2, loss2, batch, idx2, noise)
            else:
                if record_grads:
                    _grad_tile(X, r, g, live)
                _step_tile(kind, depth, X, y, cur, nxt, r, gj, eta, live, r2, loss2)
            if record_grads:
                for s in range(live):
                    for j in range(d):
                        grad_hist[run[s], step, j] = g[j, s]
            for s in range(live):
                prev_loss[s] = loss[s]
            if stochastic:  # stepped in place (cur new, nxt previous): copy the few scalars
                for t in range(batch):
                    r[t, 0] = r2[t, 0]
                    idx[t, 0] = idx2[t, 0]
                loss[0] = loss2[0]
                eta[0] = eta2[0]
            else:
                cur, nxt = nxt, cur
                r, r2 = r2, r
                loss, loss2 = loss2, loss
            step += 1
        # the chunk ended: save what the next call needs
        _save_runs(live, run, prev_loss, bound, cur, nxt, ring, avg_k, st_theta, st_prev,
                   st_prev_loss, st_bound, st_ring)  # fmt: skip
        if stochastic:
            for s in range(live):  # (none when the tile's run has stopped)
                for t in range(batch):
                    st_resid[t, run[s]] = r[t, s]

    return drive


def _make_kernel(kind: int, stochastic: bool):
    """The GD (or, if ``stochastic``, the mini-batch / label-noise) kernel specialised to one
    model. ``kind`` and ``stochastic`` are compile-time constants here, so the model's formulas
    inline into the loops and vectorise (a run-time switch costs ~20%) and the other step's
    code is dropped (``_make_drive``; only its once-per-call pieces switch on ``kind`` at run
    time). Numba caches each kernel under its own name.

    Contract: ``st_*`` are the arrays of a ``GDState`` (tile layout; passed one by one: numba's
    parallel lowering loses writes made through a tuple's arrays); runs with out_status ==
    RUNNING advance from step ``step0`` until they stop or reach step ``step_end`` (call again
    with step0 = step_end to continue; a run stops at the latest at step max_steps). GD reads
    etas (B,); the stochastic step reads sgd = (sched (B, S, 6) (``diaglin.schedules``), keys
    (B,) uint64 (``rng.keys``), batch, noise_kind (GAUSSIAN / RADEMACHER)); the other's inputs
    are ignored; the stochastic kernel is called with width 1. rule = (eps, max_steps,
    diverge_factor, loss_floor): see ``_make_drive``. Outputs
    are indexed by run: out_theta (B, K, d), out_loss, out_steps, out_status (B,), out_avg
    (B, K, d) when avg_k > 0. rec_theta (B, T, K, d) gets theta_k for
    k % record_every == 0 when record_every > 0; grad_hist (B, S, d) gets the gradient in beta
    space of step k (full: Xᵀ(X beta_k - y)/n; stochastic: that of the noisy batch) for k < steps
    when S > 0.
    """

    # The kernel finds its driver as a global of its own namespace, not in a closure: a
    # dispatcher in a closure enters numba's cache key with a new random id in every process
    # (the kernel would never load from the cache). Its name (``_tiles__gd_uv``) keeps each
    # (model, step type) in a cache entry and a symbol of its own.
    drive = _make_drive(kind, stochastic)
    return nb.njit(parallel=True, cache=True, fastmath=_REASSOC if stochastic else False)(
        specialised(_tiles, _step_tag(kind, stochastic), drive=drive)
    )


def _tiles(
    depth, X, y, etas, sgd, rule,
    st_theta, st_prev, st_prev_loss, st_bound, st_ring, st_resid, step0, step_end,
    record_every, rec_theta, grad_hist, avg_k,
    out_theta, out_loss, out_steps, out_status, out_avg, width,
):  # fmt: skip
    """Tiles of ``width`` runs spread over threads; every loop vectorised across runs. (The
    body of every kernel of ``_make_kernel``, which supplies ``drive``.)"""
    B = st_theta.shape[2]
    for tile in nb.prange((B + width - 1) // width):
        drive(  # noqa: F821 (a global of the kernel's namespace)
            depth, X, y, etas, sgd, rule,
            st_theta, st_prev, st_prev_loss, st_bound, st_ring, st_resid, step0, step_end,
            record_every, rec_theta, grad_hist, avg_k,
            out_theta, out_loss, out_steps, out_status, out_avg, tile * width, width,
        )  # fmt: skip


_KERNELS: dict[tuple[int, bool], object] = {}


def gd_kernel(kind: int, stochastic: bool = False):
    """The (lazily built) kernel specialised to model ``kind`` and the step type."""
    if (kind, stochastic) not in _KERNELS:
        _KERNELS[kind, stochastic] = _make_kernel(kind, stochastic)
    return _KERNELS[kind, stochastic]
