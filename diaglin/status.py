"""Outcome codes: of a gradient-descent run (stored as int8 in results), and of gradient flow."""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """How a run ended. Divergence is an outcome, never an exception."""

    CONVERGED = 0  #: training loss dropped below ``eps``
    DIVERGED = 1  #: loss became non-finite or exceeded ``diverge_factor * max(L(theta0), eps)``
    MAX_STEPS = 2  #: ``max_steps`` reached first


class FlowStatus(IntEnum):
    """How a gradient-flow integration ended."""

    CONVERGED = 0  #: the loss reached ``eps``
    T_MAX = 1  #: the time limit ``t_max`` came first
    MAX_STEPS = 2  #: the cap on solver steps came first (e.g. a tolerance too tight to progress)
    DIVERGED = 3  #: the flow blew up in finite time (deep models from a large initialisation)
    STALLED = 4  #: the step size fell below the time's rounding before the loss reached eps
