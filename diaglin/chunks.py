"""Run a batch's kernels in short calls: Ctrl-C and the progress callback act between calls,
each call sized to take about ``CHUNK_SECONDS`` (shared by the CPU and the CUDA drivers)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from diaglin.kernels.stop import RUNNING

#: A batch runs in calls of about this many seconds (Ctrl-C acts between calls).
CHUNK_SECONDS = 0.25
#: Work (run · step · (n·d + K·d) updates) of the first call, before any timing is known.
_FIRST_CHUNK_WORK = 2_000_000


def in_chunks(
    advance: Callable[[int, int], None],
    max_steps: int,
    status: np.ndarray,
    work_per_step: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Call ``advance(step0, step_end)`` on consecutive step ranges until every run has stopped
    (a run stops at step max_steps at the latest), each range sized to take about
    CHUNK_SECONDS (the first call, which may include compilation, is not used for timing)."""
    step = 0
    chunk = max(1, _FIRST_CHUNK_WORK // max(work_per_step, 1))
    timed = False
    while step <= max_steps and (status == RUNNING).any():
        end = min(step + chunk, max_steps + 1)
        t0 = time.perf_counter()
        advance(step, end)
        elapsed = time.perf_counter() - t0
        if timed:
            scale = CHUNK_SECONDS / max(elapsed, 1e-6)
            chunk = max(1, int(chunk * min(max(scale, 0.25), 8.0)))
        timed = True
        step = end
        if progress is not None:
            progress(min(step, max_steps))
    if (status == RUNNING).any():  # pragma: no cover - a kernel contract violation
        raise RuntimeError("GD kernel left runs without a status")
