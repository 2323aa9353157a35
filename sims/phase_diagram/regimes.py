"""Classify each GD run of a sweep by what it did (observation, plus the GF critical step):

- DIVERGED: diaglin status DIVERGED;  NOT_CONVERGED: hit max_steps (e.g. a stable 2-cycle);
- EOS: converged with final sharpness S >= (1 - tol) * 2/eta (hugging the stability edge);
- FLOW: converged below that edge at eta <= eta_c (flow-aligned: sharpness set by the GF path);
- BELOW_EDGE: converged below that edge at eta > eta_c (e.g. a catapult that landed on a
  flatter point): neither flow-aligned nor at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
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


#: a test-loss minimum counts as a U when both ends of the converged range lie this much
#: (relative) above it.
U_MARGIN = 0.02


@dataclass(frozen=True)
class UShape:
    """Where the test loss of the converged runs is smallest: eta_best, its ratio to eta_c,
    the loss there and at the smallest / largest converged eta, and whether it is a U (an
    interior minimum with both ends at least ``U_MARGIN`` higher, relatively)."""

    eta_best: float
    ratio: float
    loss_best: float
    loss_low_end: float
    loss_high_end: float
    is_u: bool

    def describe(self) -> str:
        """One line for the user."""
        shape = "U-shaped" if self.is_u else "not U-shaped"
        return (f"test loss {shape}: minimum {self.loss_best:.4g} at eta = {self.eta_best:.4g} "
                f"= {self.ratio:.3g} eta_c (ends: {self.loss_low_end:.4g} at the smallest, "
                f"{self.loss_high_end:.4g} at the largest converged eta)")  # fmt: skip


def u_shape(etas, test_loss, status, eta_c: float, margin: float = U_MARGIN) -> UShape | None:
    """The :class:`UShape` of the test loss over the converged runs (None if fewer than 3)."""
    conv = np.asarray(status) == Status.CONVERGED
    if conv.sum() < 3:
        return None
    e, loss = np.asarray(etas)[conv], np.asarray(test_loss)[conv]
    order = np.argsort(e)
    e, loss = e[order], loss[order]
    i = int(np.argmin(loss))
    best = float(loss[i])
    is_u = 0 < i < e.size - 1 and min(loss[0], loss[-1]) >= (1 + margin) * best
    return UShape(float(e[i]), float(e[i] / eta_c), best, float(loss[0]), float(loss[-1]),
                  bool(is_u))  # fmt: skip
