"""The stopping rule of one run, as scalar functions shared by every GD kernel (the CPU tile
kernel and, compiled for the GPU from the same source, the ``diaglin.cuda`` kernels).

At step k with training loss L_k a run stops as

    CONVERGED  if L_k < eps,
    DIVERGED   if not L_k <= bound (L_k above the bound, or NaN),
    MAX_STEPS  if k >= max_steps,

in that order of precedence; otherwise it goes on (RUNNING). A run that diverged to a
non-finite loss after step 0 reports the previous, finite iterate (``finish_run``).
"""

from __future__ import annotations

import math

import numba as nb

CONVERGED, DIVERGED, MAX_STEPS = 0, 1, 2  # the values of ``diaglin.Status``
#: ``out_status`` of a run that has not stopped yet.
RUNNING = -1

_JIT = dict(cache=True, inline="always")


@nb.njit(**_JIT)
def stop_status(loss, eps, bound, step, max_steps):
    """The status of a run whose loss at step ``step`` is ``loss`` (RUNNING: not stopped)."""
    if loss < eps:
        return CONVERGED
    if not loss <= bound:
        return DIVERGED
    if step >= max_steps:
        return MAX_STEPS
    return RUNNING


@nb.njit(cache=True)
def finish_run(status, loss, prev_loss, step, cur, prev, col, ring, ring_col, avg_k, b,
               out_theta, out_loss, out_steps, out_status, out_avg):  # fmt: skip
    """Write the outputs of run b, stopped at step ``step`` with ``status`` and loss ``loss``.

    It reports iterate ``step`` (cur[:, :, col]) or, having diverged to a non-finite loss after
    step 0, the previous one (prev[:, :, col], loss ``prev_loss``, step - 1). With avg_k > 0 it
    also writes the mean of its last min(reported step + 1, avg_k − back) iterates from the ring
    ring[step % avg_k, :, :, ring_col] (which, when back = 1, already holds the non-finite one).
    The arrays are in tile layout (block, coordinate, run), outputs indexed by run b. Called
    once per run, so compiled on its own rather than inlined into every kernel's loop.
    """
    K, d = cur.shape[0], cur.shape[1]
    back = 1 if status == DIVERGED and step > 0 and not math.isfinite(loss) else 0
    last = step - back
    for k in range(K):
        for j in range(d):
            out_theta[b, k, j] = prev[k, j, col] if back else cur[k, j, col]
    out_loss[b] = prev_loss if back else loss
    out_steps[b] = last
    out_status[b] = status
    if avg_k > 0:
        count = min(last + 1, avg_k - back)
        for k in range(K):
            for j in range(d):
                acc = 0.0
                for m in range(last - count + 1, last + 1):
                    acc += ring[m % avg_k, k, j, ring_col]
                out_avg[b, k, j] = acc / count
