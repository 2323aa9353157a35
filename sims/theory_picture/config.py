"""The theory picture declared as data: the one-point w⊙w DLN in d = 2 and d = 3 coordinates,
gradient flow and GD at several step sizes from the same start (light: no numerics here).

A grid point is one dimension d with its data point x (entries distinct and > 0, numbered by
decreasing x_i) and the label y > 0; all step sizes of a point run in ONE batched
``diaglin.run_gd`` call. Step sizes are given in units of the point's critical step
eta_c = 2/s_GF: ``n_etas`` values from ``eta_min`` to ``eta_max``, linearly spaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.core.experiment import Experiment
from sims.core.validate import nonneg_int, positive_float


@dataclass(frozen=True)
class PicturePoint:
    """One panel of the picture: dimension ``d`` with data point ``x`` (d entries, decreasing);
    ``index`` is its position."""

    index: int
    d: int
    x: tuple[float, ...]

    @property
    def label(self) -> str:
        """Short name, e.g. ``d=2 x=(1.5, 0.6)``."""
        return f"d={self.d} x=({', '.join(f'{v:g}' for v in self.x)})"


def data_point(name: str, values, d: int) -> tuple[float, ...]:
    """``values`` as d distinct finite entries > 0, sorted decreasing (ValueError naming
    ``name`` otherwise): distinct entries make the min-norm and the min-sharpness vertices
    differ, which is what the picture is about."""
    try:
        out = tuple(float(v) for v in np.atleast_1d(values).tolist())
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected {d} numbers, got {values!r}") from None
    if len(out) != d:
        raise ValueError(f"{name}: expected {d} entries, got {len(out)}")
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name}: every entry must be finite and > 0, got {out}")
    if len(set(out)) != d:
        raise ValueError(f"{name}: entries must be distinct (equal entries make the min-norm and "
                         f"min-sharpness interpolators tie), got {out}")  # fmt: skip
    return tuple(sorted(out, reverse=True))


@dataclass(frozen=True)
class PictureConfig(Experiment):
    """Everything that determines the picture's numbers (and its cache keys).

    Data: one point (x, y), x = ``x2`` (d = 2) or ``x3`` (d = 3), y = ``y``; model β = w⊙w from
    w(0) = ``alpha``·1. GF and GD stop at L < ``eps`` (GD also at ``max_steps`` or divergence:
    L > ``diverge_factor``·L(θ0)). Step sizes: ``n_etas`` values eta_c·linspace(``eta_min``,
    ``eta_max``). ``data_seed`` is recorded with every result; the data are fixed (no random
    draw), so it changes nothing.
    """

    x2: tuple[float, ...] = (1.5, 0.6)
    x3: tuple[float, ...] = (1.5, 1.0, 0.6)
    y: float = 1.0
    alpha: float = 0.1
    eps: float = 1e-10
    eta_min: float = 0.3
    eta_max: float = 1.9
    n_etas: int = 9
    max_steps: int = 200_000
    diverge_factor: float = 1e8
    data_seed: int = 0

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        put("x2", data_point("x2", self.x2, 2))
        put("x3", data_point("x3", self.x3, 3))
        for name in ("y", "alpha", "eps", "eta_min", "eta_max", "diverge_factor"):
            put(name, positive_float(name, getattr(self, name)))
        if not self.eta_min < self.eta_max:
            raise ValueError(f"eta_min ({self.eta_min}) must be < eta_max ({self.eta_max})")
        put("n_etas", nonneg_int("n_etas", self.n_etas))
        if self.n_etas < 2:
            raise ValueError(f"n_etas: need at least 2 step sizes, got {self.n_etas}")
        put("max_steps", nonneg_int("max_steps", self.max_steps))
        if self.max_steps < 1:
            raise ValueError(f"max_steps: must be >= 1, got {self.max_steps}")
        put("data_seed", nonneg_int("data_seed", self.data_seed))

    def points(self) -> tuple[PicturePoint, ...]:
        """The two panels: d = 2, then d = 3."""
        return (PicturePoint(0, 2, self.x2), PicturePoint(1, 3, self.x3))

    def etas(self, eta_c: float) -> np.ndarray:
        """The point's step sizes: eta_c · linspace(eta_min, eta_max, n_etas)."""
        return float(eta_c) * np.linspace(self.eta_min, self.eta_max, self.n_etas)

    def point_spec(self, point: PicturePoint) -> dict:
        """Every field, with the two data points replaced by this point's d and x."""
        spec = self.to_dict()
        spec.pop("x2")
        spec.pop("x3")
        spec.update(d=point.d, x=list(point.x), model="ww", data="one_point")
        return spec
