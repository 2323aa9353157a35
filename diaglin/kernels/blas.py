"""Batched GD for large n·d: X beta and Xᵀ r as BLAS matrix-matrix products over all live runs.

At n·d ~ 10⁵ a step is two GEMMs (see ``03_performance.md``: per-run kernels lose 3–6× there),
so the loop runs in NumPy and only the elementwise model pieces run in Numba. The semantics —
stopping rule, divergence bound, recording, averaging, grad history — are those of the tile
kernel's driver (``tile._drive``); ``tests/test_gd_paths.py`` checks the two agree run by run.
(Calling BLAS from inside the Numba kernel was tried first: with a multi-threaded OpenBLAS it
corrupted the heap intermittently on numba 0.68 / scipy-openblas, so BLAS is called from NumPy.)
"""

from __future__ import annotations

import time

import numpy as np

from diaglin.kernels.stop import CONVERGED, DIVERGED, MAX_STEPS
from diaglin.models import _numerics as nm


def gd_blas(
    kind, depth, X, y, etas, theta0, eps, max_steps, diverge_factor,
    record_every, rec_theta, grad_hist, avg_k,
    out_theta, out_loss, out_steps, out_status, out_avg, *, progress=None,
) -> None:  # fmt: skip
    """Same contract as the tile kernel (``tile._make_kernel``), run to the end in one call
    (a Python loop, so Ctrl-C acts between steps); ``progress(step)`` every ~0.25 s if given."""
    K, d, B = theta0.shape
    n = X.shape[0]
    cur = theta0.copy()
    prev = cur
    run = np.arange(B)
    eta = etas.copy()
    prev_loss = np.full(B, np.nan)
    ring = np.empty((max(avg_k, 1), K, d, B))
    bound = None
    beta = np.empty((B, d))
    step = 0
    tick = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        while run.size:
            W = run.size
            nm.beta_batch(kind, depth, cur, beta[:W])
            r = beta[:W] @ X.T - y
            loss = np.einsum("ti,ti->t", r, r) / (2.0 * n)
            if bound is None:
                bound = diverge_factor * np.maximum(loss, eps)
            if record_every > 0 and step % record_every == 0:
                rec_theta[run, step // record_every] = cur.transpose(2, 0, 1)
            if avg_k > 0:
                ring[step % avg_k, :, :, :W] = cur
            conv = loss < eps
            div = ~conv & ~(loss <= bound)
            stop = conv | div | (step >= max_steps)
            if stop.any():
                for s in np.flatnonzero(stop):
                    b = run[s]
                    back = int(div[s] and step > 0 and not np.isfinite(loss[s]))
                    out_theta[b] = (prev if back else cur)[:, :, s]
                    out_loss[b] = prev_loss[s] if back else loss[s]
                    out_steps[b] = step - back
                    out_status[b] = CONVERGED if conv[s] else DIVERGED if div[s] else MAX_STEPS
                    if avg_k > 0:
                        last = step - back
                        cnt = min(last + 1, avg_k - back)
                        slots = np.arange(last - cnt + 1, last + 1) % avg_k
                        out_avg[b] = ring[slots, :, :, s].mean(axis=0)
                keep = ~stop
                run, eta, bound = run[keep], eta[keep], bound[keep]
                cur, r, loss = np.ascontiguousarray(cur[:, :, keep]), r[keep], loss[keep]
                if avg_k > 0:
                    ring[:, :, :, : run.size] = ring[:, :, :, :W][:, :, :, keep]
                if not run.size:
                    break
            g = r @ X / n
            if grad_hist.shape[1] > 0:
                grad_hist[run, step] = g
            prev, prev_loss = cur, loss
            cur = np.empty_like(prev)
            nm.gd_update_batch(kind, depth, prev, g, eta, cur)
            step += 1
            if progress is not None and time.perf_counter() - tick > 0.25:
                progress(step)
                tick = time.perf_counter()
