"""Compute one eta_c curve: ``diaglin.gradient_flow_batch`` from w(0) = alpha·1 (diaglin's
init of the model) at every value of the curve's axis, in one call; and theory's prediction
for the curve where theory has one.

Theory (``theory.one_point_gf_path``, spec 01 §3) gives eta_c = 2/s_GF exactly for the one-point
w⊙w DLN with x > 0, y > 0 (the path is λ-parametrised in closed form); its limits: as eps → 0,
eta_c → 2/S(β_GF) with β_GF the GF limit (``theory.gf_limit``) where the path's sharpness peaks
at its end (``GFPath.endpoint_certified``), and as alpha → 0 also, eta_c → 1/(2 y x_max), the
min-norm interpolator's stability limit (``theory.min_norm_eta_max``). Theory has no eta_c for
u⊙v or u⊙u − v⊙v: their curves are gradient flow only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from diaglin import data, get_model, gradient_flow_batch
from sims.core.experiment import ExperimentRuns
from sims.eta_c_curves.config import CurveConfig, CurvePoint

#: the model whose eta_c theory predicts (one point, x > 0, y > 0).
THEORY_MODEL = "ww"


@dataclass(frozen=True)
class CurveResult:
    """One curve: the axis ``values`` (m,), the other axis' fixed value, per value the GF
    status, s_gf and eta_c = 2/s_gf (NaN where the flow did not reach eps), and the data point
    (x (d,), y)."""

    point: CurvePoint
    values: np.ndarray
    fixed: float
    status: np.ndarray
    s_gf: np.ndarray
    eta_c: np.ndarray
    x: np.ndarray
    y: float

    def alphas_eps(self) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, eps) per value of the curve."""
        fixed = np.full(self.values.shape, self.fixed)
        return (self.values, fixed) if self.point.axis == "alpha" else (fixed, self.values)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field but ``point`` as a flat ``{name: ndarray}``."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)
                if f.name != "point"}  # fmt: skip

    @classmethod
    def from_arrays(cls, point: CurvePoint, arrays: dict[str, np.ndarray]) -> CurveResult:
        """Inverse of :meth:`to_arrays`."""
        kw = {f.name: arrays[f.name] for f in fields(cls) if f.name != "point"}
        kw.update(fixed=float(arrays["fixed"]), y=float(arrays["y"]))
        return cls(point=point, **kw)


def compute_curve(config: CurveConfig, point: CurvePoint, *,
                  progress: Callable[[str], None] | None = None) -> CurveResult:  # fmt: skip
    """GF from ``model.init(d, alpha)`` until L = eps for every (alpha, eps) of the curve, in
    one ``gradient_flow_batch`` call; eta_c = 2/s_GF."""
    (progress or (lambda _t: None))(f"gradient flow ({point.label})")
    model = get_model(point.model)
    ds = data.one_point(config.d, seed=config.data_seed)
    values = config.values(point.axis)
    fixed = config.eps if point.axis == "alpha" else config.alpha
    alphas = values if point.axis == "alpha" else np.full(values.shape, fixed)
    eps = values if point.axis == "eps" else np.full(values.shape, fixed)
    theta0 = np.stack([model.init(config.d, a) for a in alphas])
    gf = gradient_flow_batch(model, ds.X, ds.y, theta0, eps=eps)
    return CurveResult(point=point, values=values, fixed=float(fixed), status=gf.status,
                       s_gf=gf.s_gf, eta_c=gf.eta_c, x=ds.X[0].copy(),
                       y=float(ds.y[0]))  # fmt: skip


def _decode(config: CurveConfig, point: CurvePoint, arrays: dict) -> CurveResult:
    return CurveResult.from_arrays(point, arrays)


def _memory_bytes(config: CurveConfig, point: CurvePoint) -> tuple[int, int]:
    """A few arrays of n_values numbers and the flows' states (kilobytes)."""
    size = 8 * config.n_values * (8 + 4 * config.d)
    return 4 * size, size


#: what ``CurveConfig.compute`` / ``decode`` / ``memory_bytes`` run (see sims.eta_c_curves).
RUNS = ExperimentRuns(compute=compute_curve, decode=_decode, memory_bytes=_memory_bytes)


@dataclass(frozen=True)
class TheoryCurve:
    """Theory's eta_c along a curve (None where theory has none): ``exact`` at a dense set of
    axis values ``grid`` and at the curve's own values (``at_values``), the eps → 0 limit
    2/S(β_GF) at the curve's values (NaN where the endpoint is not certified to carry the
    peak), and the alpha, eps → 0 limit 1/(2 y x_max)."""

    grid: np.ndarray
    exact: np.ndarray
    at_values: np.ndarray
    eps_to_zero: np.ndarray
    min_norm: float


def theory_curve(result: CurveResult, dense: int = 60) -> TheoryCurve | None:
    """Theory's prediction for ``result`` (None unless its model is w⊙w and x, y > 0); the
    exact curve also at ``dense`` log-spaced values spanning the curve's."""
    from theory import gf_limit, interpolator_eta_max, min_norm_eta_max, one_point_gf_path

    x, y = result.x, result.y
    if result.point.model != THEORY_MODEL or not (np.all(x > 0) and y > 0):
        return None
    grid = np.geomspace(result.values.min(), result.values.max(), dense)
    alphas, eps = result.alphas_eps()
    paths = [one_point_gf_path(x, y, a, eps=e) for a, e in zip(alphas, eps)]
    at_values = np.array([float(path.eta_c) for path in paths])
    if result.point.axis == "alpha":
        on_grid = [one_point_gf_path(x, y, a, eps=result.fixed).eta_c for a in grid]
    else:
        on_grid = [one_point_gf_path(x, y, result.fixed, eps=e).eta_c for e in grid]
    limit = np.full(result.values.shape, np.nan)
    for i, (a, path) in enumerate(zip(alphas, paths)):
        if path.endpoint_certified:
            beta = gf_limit(x[None, :], np.array([y]), "ww", a).beta
            limit[i] = float(interpolator_eta_max(x, beta))
    return TheoryCurve(grid, np.array(on_grid, float), at_values, limit,
                       float(min_norm_eta_max(x, y)))  # fmt: skip
