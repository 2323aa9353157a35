"""The stopping rule of one run, as scalar functions shared by every GD kernel (the CPU tile
kernel and, compiled for the GPU from the same source, the ``diaglin.cuda`` kernels).

At step k with training loss L_k a run stops as

    CONVERGED  if L_k < eps,
    DIVERGED   if not L_k <= bound (L_k above the bound, or NaN),
    MAX_STEPS  if k >= max_steps,

in that order of precedence; otherwise it goes on (RUNNING). A run that diverged to a
non-finite loss after step 0 reports the previous, finite iterate (``steps_back`` = 1).
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


@nb.njit(**_JIT)
def steps_back(status, loss, step):
    """1 if the run reports iterate step - 1 (it diverged to a non-finite loss after step 0),
    else 0 (it reports iterate ``step``)."""
    if status == DIVERGED and step > 0 and not math.isfinite(loss):
        return 1
    return 0


@nb.njit(**_JIT)
def average_window(last, back, avg_k):
    """(first, count): the averaged statistics of a run that reports iterate ``last`` use the
    iterates first .. last, count = min(last + 1, avg_k - back) of them (a ring of avg_k slots
    that, when back = 1, already holds the non-finite iterate last + 1 in one slot)."""
    count = min(last + 1, avg_k - back)
    return last - count + 1, count
