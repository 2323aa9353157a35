"""Result dataclasses of a sweep, and their flat-array form for the on-disk cache.

A :class:`PointResult` holds one grid point: the data, the gradient-flow reference
(s_GF, eta_c = 2/s_GF, its final beta), and per step size eta the GD status, steps and
exact statistics at the final iterate (and, optionally, at the mean of the last K iterates).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from diaglin import IterateStats
from sims.config import GridPoint, SweepConfig


@dataclass(frozen=True)
class FlowSummary:
    """Gradient flow from the same start: s_gf = max_t S(theta(t)), eta_c = 2 / s_gf, the final
    beta (where the loss first reached eps), and whether it got there."""

    s_gf: float
    eta_c: float
    beta: np.ndarray
    converged: bool


@dataclass(frozen=True)
class ReferenceRun:
    """One extra GD run at a tiny step eta (a check of the gradient-flow limit)."""

    eta: float
    beta: np.ndarray
    status: int
    steps: int


@dataclass(frozen=True)
class PointResult:
    """One grid point of a sweep. X (n, d), y (n,), beta_star (d,) are its data."""

    point: GridPoint
    X: np.ndarray
    y: np.ndarray
    beta_star: np.ndarray
    etas: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    final: IterateStats
    flow: FlowSummary
    averaged: IterateStats | None = None
    reference: ReferenceRun | None = None

    @property
    def eta_c(self) -> float:
        """The critical step size 2 / s_GF of this point (from gradient flow)."""
        return self.flow.eta_c

    def gen_error(self, averaged: bool = False) -> np.ndarray:
        """||beta - beta*||_2^2 per run (at the final iterate, or the averaged one)."""
        stats = self.averaged if averaged and self.averaged is not None else self.final
        return np.sum((stats.beta - self.beta_star) ** 2, axis=1)

    # --- flat array form (cache) ---------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """All numbers as a flat ``{name: ndarray}`` (nested dataclasses become ``a.b`` keys)."""
        out = {k: np.asarray(getattr(self, k)) for k in ("X", "y", "beta_star", "etas")}
        out.update(status=self.status, steps=self.steps)
        for name in ("final", "flow", "averaged", "reference"):
            part = getattr(self, name)
            if part is not None:
                for f in fields(part):
                    out[f"{name}.{f.name}"] = np.asarray(getattr(part, f.name))
        return out

    @classmethod
    def from_arrays(cls, point: GridPoint, arrays: dict[str, np.ndarray]) -> PointResult:
        """Inverse of :meth:`to_arrays`."""

        def part(kind, name):
            keys = [f.name for f in fields(kind)]
            if f"{name}.{keys[0]}" not in arrays:
                return None
            vals = {k: arrays[f"{name}.{k}"] for k in keys}
            if kind is not IterateStats:
                vals = {k: v.item() if v.ndim == 0 else v for k, v in vals.items()}
            return kind(**vals)

        return cls(
            point=point,
            X=arrays["X"],
            y=arrays["y"],
            beta_star=arrays["beta_star"],
            etas=arrays["etas"],
            status=arrays["status"],
            steps=arrays["steps"],
            final=part(IterateStats, "final"),
            flow=part(FlowSummary, "flow"),
            averaged=part(IterateStats, "averaged"),
            reference=part(ReferenceRun, "reference"),
        )


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its config and one result per grid point (grid order):
    :class:`PointResult` s for a ``SweepConfig``, ``DecayResult`` s for a ``DecayConfig``."""

    config: SweepConfig
    points: tuple

    def __len__(self) -> int:
        return len(self.points)

    def first(self) -> PointResult:
        """The first grid point (the only one for a default, single-point sweep)."""
        return self.points[0]
