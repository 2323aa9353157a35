"""Classify each GD run of a sweep by what it did (observation only, no theory):

- DIVERGED: diaglin status DIVERGED;  NOT_CONVERGED: hit max_steps (e.g. a stable 2-cycle);
- EOS: converged with final sharpness S >= (1 - tol) * 2/eta (hugging the stability edge);
- FLOW: converged below that (flow-aligned: sharpness set by the GF path, not by eta).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from diaglin import Status

#: S * eta / 2 >= 1 - EOS_TOL counts as "at the edge of stability".
EOS_TOL = 0.05


class Regime(IntEnum):
    """Per-run regime label (also the colour index of the phase maps)."""

    FLOW = 0
    EOS = 1
    NOT_CONVERGED = 2
    DIVERGED = 3

    @property
    def title(self) -> str:
        """Legend text."""
        return {0: "flow-aligned", 1: "edge of stability", 2: "no convergence",
                3: "diverged"}[int(self)]  # fmt: skip


def classify(
    status: np.ndarray, sharpness: np.ndarray, etas: np.ndarray, tol: float = EOS_TOL
) -> np.ndarray:
    """Regime codes (int array, same shape as ``status``) from status and S * eta / 2."""
    status = np.asarray(status)
    edge = np.asarray(sharpness) * np.asarray(etas) / 2.0 >= 1.0 - tol
    out = np.where(edge, Regime.EOS, Regime.FLOW).astype(np.int8)
    out[status == Status.MAX_STEPS] = Regime.NOT_CONVERGED
    out[status == Status.DIVERGED] = Regime.DIVERGED
    return out
