"""The DLN's critical step size against the initialisation scale and the stopping loss,
declared as data (light: no numerics here).

A grid point is one (model, axis) curve: eta_c = 2/s_GF of the one-point DLN
(``diaglin.data.one_point(d, seed=data_seed)``, the phase diagram's default data) at ``n_values``
log-spaced values of alpha (eps fixed at ``eps``) or of eps (alpha fixed at ``alpha``), all
computed by ONE ``diaglin.gradient_flow_batch`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.core.experiment import Experiment
from sims.core.validate import nonneg_int, positive_float

#: models whose gradient flow ``gradient_flow_batch`` integrates (the dual form).
CURVE_MODELS = ("ww", "uv", "pm")
AXES = ("alpha", "eps")


@dataclass(frozen=True)
class CurvePoint:
    """One curve: ``model`` and the ``axis`` it varies; ``index`` is its position."""

    index: int
    model: str
    axis: str

    @property
    def label(self) -> str:
        """Short name, e.g. ``ww eta_c(alpha)``."""
        return f"{self.model} eta_c({self.axis})"


def _range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected (low, high), got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"{name}: need 0 < low < high, got ({lo!r}, {hi!r})")
    return lo, hi


@dataclass(frozen=True)
class CurveConfig(Experiment):
    """Everything that determines the curves' numbers (and their cache keys).

    Data: one point of dimension ``d`` (``one_point(d, seed=data_seed)``). Curves: for every
    model of ``models``, eta_c at ``n_values`` alphas log-spaced over ``alpha_range`` (at
    eps = ``eps``) and at ``n_values`` eps over ``eps_range`` (at alpha = ``alpha``); the
    defaults span the phase maps' axes (``--map alpha`` / ``--map eps``).
    """

    models: tuple[str, ...] = CURVE_MODELS
    d: int = 5
    alpha: float = 0.01
    eps: float = 1e-12
    alpha_range: tuple[float, float] = (1e-3, 0.3)
    eps_range: tuple[float, float] = (1e-14, 1e-2)
    n_values: int = 40
    data_seed: int = 0

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        models = tuple(str(m) for m in np.atleast_1d(self.models).tolist())
        bad = [m for m in models if m not in CURVE_MODELS]
        if not models or bad:
            raise ValueError(f"models: one or more of {CURVE_MODELS}, got {list(models)}")
        put("models", tuple(dict.fromkeys(models)))
        for name in ("alpha", "eps"):
            put(name, positive_float(name, getattr(self, name)))
        put("alpha_range", _range("alpha_range", self.alpha_range))
        put("eps_range", _range("eps_range", self.eps_range))
        for name in ("d", "n_values", "data_seed"):
            put(name, nonneg_int(name, getattr(self, name)))
        if self.d < 1:
            raise ValueError(f"d: must be >= 1, got {self.d}")
        if self.n_values < 2:
            raise ValueError(f"n_values: need at least 2 values per curve, got {self.n_values}")

    def values(self, axis: str) -> np.ndarray:
        """The ``n_values`` log-spaced values of ``axis`` ("alpha" or "eps")."""
        lo, hi = self.alpha_range if axis == "alpha" else self.eps_range
        return np.geomspace(lo, hi, self.n_values)

    def points(self) -> tuple[CurvePoint, ...]:
        """One curve per (axis, model): the alpha curves first."""
        combos = [(m, a) for a in AXES for m in self.models]
        return tuple(CurvePoint(i, m, a) for i, (m, a) in enumerate(combos))

    def point_spec(self, point: CurvePoint) -> dict:
        """What one curve's numbers depend on: its model, its axis values and the fixed other
        axis, the data."""
        spec = {"model": point.model, "axis": point.axis, "d": self.d, "data": "one_point",
                "data_seed": self.data_seed, "n_values": self.n_values}  # fmt: skip
        if point.axis == "alpha":
            spec.update(eps=self.eps, alpha_range=list(self.alpha_range))
        else:
            spec.update(alpha=self.alpha, eps_range=list(self.eps_range))
        return spec
