"""Per-run outcome codes of a gradient-descent run (stored as int8 in results)."""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """How a run ended. Divergence is an outcome, never an exception."""

    CONVERGED = 0  #: training loss dropped below ``eps``
    DIVERGED = 1  #: loss became non-finite or exceeded ``diverge_factor * max(L(theta0), eps)``
    MAX_STEPS = 2  #: ``max_steps`` reached first
