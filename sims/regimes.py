"""Classify each GD run of a sweep by what it did (observation, plus the GF critical step):

- DIVERGED: diaglin status DIVERGED;  NOT_CONVERGED: hit max_steps (e.g. a stable 2-cycle);
- EOS: converged with final sharpness S >= (1 - tol) * 2/eta (hugging the stability edge);
- FLOW: converged below that edge at eta <= eta_c (flow-aligned: sharpness set by the GF path);
- BELOW_EDGE: converged below that edge at eta > eta_c (e.g. a catapult that landed on a
  flatter point): neither flow-aligned nor at the edge.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from diaglin.status import Status

#: S * eta / 2 >= 1 - EOS_TOL counts as "at the edge of stability".
EOS_TOL = 0.05


class Regime(IntEnum):
    """Per-run regime label (also the colour index of the phase maps)."""

    FLOW = 0
    EOS = 1
    BELOW_EDGE = 2
    NOT_CONVERGED = 3
    DIVERGED = 4

    @property
    def title(self) -> str:
        """Legend text."""
        return {0: "flow-aligned", 1: "edge of stability", 2: "below the edge, η > η_c",
                3: "no convergence (max_steps)", 4: "diverged"}[int(self)]  # fmt: skip


def classify(
    status: np.ndarray,
    sharpness: np.ndarray,
    etas: np.ndarray,
    eta_c: float,
    tol: float = EOS_TOL,
) -> np.ndarray:
    """Regime codes (int array, same shape as ``status``) from status, S * eta / 2 and whether
    eta exceeds the GF critical step ``eta_c`` (NaN: unknown, no run counts as beyond it)."""
    status, etas = np.asarray(status), np.asarray(etas)
    edge = np.asarray(sharpness) * etas / 2.0 >= 1.0 - tol
    beyond = etas > eta_c
    out = np.where(edge, Regime.EOS, np.where(beyond, Regime.BELOW_EDGE, Regime.FLOW))
    out = out.astype(np.int8)
    out[status == Status.MAX_STEPS] = Regime.NOT_CONVERGED
    out[status == Status.DIVERGED] = Regime.DIVERGED
    return out
