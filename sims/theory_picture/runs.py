"""Compute one panel of the theory picture: gradient flow (eta_c = 2/s_GF), every step size in
ONE batched ``diaglin.run_gd`` call, and theory's points of the interpolating set.

On the one-point w⊙w DLN with x > 0, y > 0 the interpolators form the simplex
{β ≥ 0, ⟨x, β⟩ = y} with vertices (y/x_i) e_i; at an interpolator the sharpness
S = 4 Σ x_i² β_i is linear in β (``theory.sharpness_at_interpolation``), so the S = 2/η slice is
a point (d = 2) or a segment (d = 3) of it (``theory.slice_candidates``: its min- and max-ℓ1
points are the segment's two ends). Theory also gives the min-norm vertex (x_max), the
min-sharpness vertex (x_min) and the GF limit from w(0) = α·1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from diaglin import get_model, gradient_flow, run_gd
from diaglin.status import Status
from sims.core.experiment import ExperimentRuns
from sims.core.provenance import gd_path
from sims.core.table import ComparisonTable, check_row
from sims.theory_picture.config import PictureConfig, PicturePoint
from theory import (
    gf_limit,
    interpolating_vertices,
    min_norm_interpolator,
    min_sharpness_interpolator,
    sharpness_at_interpolation,
    slice_candidates,
)


@dataclass(frozen=True)
class PictureResult:
    """One panel: the data (x (d,), y), GF from w(0) = α·1 (s_gf, eta_c = 2/s_gf, ``gf_beta``
    where its loss reached eps), per step size (``etas`` (B,)) GD's status, steps, final β
    (B, d), exact final sharpness and loss; and theory: the vertices (d, d), the min-norm and
    min-sharpness interpolators, the GF limit (α fixed, t → ∞), the two ends of the S = 2/η
    slice per step size (``slice_lo`` / ``slice_hi`` (B, d): its min- and max-ℓ1 points; NaN
    rows where the slice is empty), the slice's GF-entropy point (``entropy``, the project's
    conjecture for GD's endpoint) and the ends of the slice S = s_GF (``edge_lo``/``edge_hi``,
    the slice at eta_c)."""

    point: PicturePoint
    x: np.ndarray
    y: float
    alpha: float
    etas: np.ndarray
    eta_c: float
    s_gf: float
    gf_beta: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    beta: np.ndarray
    sharpness: np.ndarray
    loss: np.ndarray
    vertices: np.ndarray
    min_norm: np.ndarray
    min_sharpness: np.ndarray
    gf_limit: np.ndarray
    slice_lo: np.ndarray
    slice_hi: np.ndarray
    entropy: np.ndarray
    edge_lo: np.ndarray
    edge_hi: np.ndarray

    @property
    def converged(self) -> np.ndarray:
        """(B,) bool: the runs that reached L < eps (the endpoints the picture draws)."""
        return self.status == Status.CONVERGED

    def interpolation_sharpness(self, beta: np.ndarray) -> np.ndarray:
        """S = 4 Σ x_i² β_i at interpolators β (..., d) (theory's formula)."""
        return sharpness_at_interpolation(self.x, beta, "ww")

    def barycentric(self, beta: np.ndarray) -> np.ndarray:
        """The simplex coordinates λ_i = x_i β_i / y of β (..., d): β = Σ λ_i (y/x_i) e_i."""
        return np.asarray(beta, float) * self.x / self.y

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field but ``point`` as a flat ``{name: ndarray}`` (the cache's form)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)
                if f.name != "point"}  # fmt: skip

    @classmethod
    def from_arrays(cls, point: PicturePoint, arrays: dict[str, np.ndarray]) -> PictureResult:
        """Inverse of :meth:`to_arrays`."""
        scalars = ("y", "alpha", "eta_c", "s_gf")
        kw = {f.name: arrays[f.name] for f in fields(cls) if f.name != "point"}
        kw.update({k: float(arrays[k]) for k in scalars})
        return cls(point=point, **kw)


def compute_picture(config: PictureConfig, point: PicturePoint, *,
                    progress: Callable[[str], None] | None = None) -> PictureResult:  # fmt: skip
    """GF from w(0) = α·1 until L = eps gives s_GF and eta_c = 2/s_GF; the step sizes are
    ``config.etas(eta_c)``, all run by one ``run_gd`` call; theory's points as in the class."""
    say = progress or (lambda _text: None)
    model = get_model("ww")
    x = np.array(point.x)
    X, y = x[None, :], np.array([config.y])
    theta0 = model.init(point.d, config.alpha)
    say(f"gradient flow ({point.label})")
    gf = gradient_flow(model, X, y, theta0, eps=config.eps)
    if not gf.converged:
        raise ValueError(
            f"gradient flow ({point.label}) did not reach eps = {config.eps:g} "
            f"(status {gf.status.name}): eta_c is undefined; try a larger eps"
        )
    etas = config.etas(gf.eta_c)
    res = run_gd(model, X, y, etas, theta0, eps=config.eps, max_steps=config.max_steps,
                 diverge_factor=config.diverge_factor, path=gd_path("cpu"),
                 progress=lambda k: say(f"GD step {k:,} ({point.label})"))  # fmt: skip
    cand = slice_candidates(x, config.y, etas, config.alpha)
    edge = slice_candidates(x, config.y, np.array([gf.eta_c]), config.alpha)
    return PictureResult(
        point=point, x=x, y=config.y, alpha=config.alpha, etas=etas, eta_c=float(gf.eta_c),
        s_gf=float(gf.s_gf), gf_beta=np.asarray(gf.beta_final, float), status=res.status,
        steps=res.steps, beta=res.final.beta, sharpness=res.final.sharpness,
        loss=res.final.loss, vertices=interpolating_vertices(x, config.y),
        min_norm=min_norm_interpolator(x, config.y).beta,
        min_sharpness=min_sharpness_interpolator(x, config.y).beta,
        gf_limit=gf_limit(X, y, "ww", config.alpha).beta, slice_lo=cand.min_l1,
        slice_hi=cand.max_l1, entropy=cand.entropy, edge_lo=edge.min_l1[0],
        edge_hi=edge.max_l1[0],
    )  # fmt: skip


def _decode(config: PictureConfig, point: PicturePoint, arrays: dict) -> PictureResult:
    return PictureResult.from_arrays(point, arrays)


def _memory_bytes(config: PictureConfig, point: PicturePoint) -> tuple[int, int]:
    """A few arrays of n_etas x d numbers (a kilobyte or so)."""
    size = 8 * config.n_etas * (6 * point.d + 6) + 8 * 8 * point.d * point.d
    return 4 * size, size


def picture_checks(results) -> ComparisonTable:
    """What the picture claims, checked on its numbers, per panel: every drawn (converged) GD
    endpoint interpolates (|⟨x, β⟩ − y| ≤ √(2 eps), what L < eps means); above eta_c every
    endpoint is stable, S·η/2 ≤ 1 + 1e-3; below eta_c every endpoint is near the GF limit:
    ½‖λ − λ_GF‖₁ ≤ 0.1 in the simplex coordinates λ_i = x_i β_i / y (a fraction of the set's
    extent: 1 between two vertices; a finite step moves the endpoint a little, spec 01 §5 —
    at eta near eta_c by about 0.05 here); GF on the
    kernel's path ends at theory's GF limit (rel err ≤ 1e-4, at eps ~ 1e-10); and, as
    information, how close to the edge the EoS endpoints are (the smallest S·η/2)."""
    rows = []
    for r in results:
        name, ok = r.point.label, r.converged
        eps = float(np.max(r.loss[ok])) if ok.any() else float("nan")
        resid = np.abs(r.beta[ok] @ r.x - r.y)
        tol = float(np.sqrt(2.0 * eps)) if ok.any() else float("nan")
        rows.append(check_row(name, "max |<x, beta> - y| (GD endpoints)",
                              resid.max() if resid.size else np.nan, 0.0, tol,
                              passed=bool(resid.size) and resid.max() <= tol * (1 + 1e-9),
                              criterion="<= sqrt(2 max loss)",
                              note=f"{int(ok.sum())} of {ok.size} runs converged"))  # fmt: skip
        eos = ok & (r.etas > r.eta_c)
        ratio = r.sharpness[eos] * r.etas[eos] / 2.0
        rows.append(check_row(name, "max S·eta/2 (endpoints above eta_c)",
                              ratio.max() if ratio.size else np.nan, 1.0, 1e-3,
                              passed=bool(ratio.size) and ratio.max() <= 1 + 1e-3,
                              criterion="<= 1.001"))  # fmt: skip
        rows.append(check_row(name, "min S·eta/2 (endpoints above eta_c)",
                              ratio.min() if ratio.size else np.nan, 1.0, 0.0,
                              note="how close to the edge"))  # fmt: skip
        flow = ok & (r.etas < r.eta_c)
        lam = r.barycentric(r.beta[flow]) - r.barycentric(r.gf_limit)
        gap = 0.5 * np.abs(lam).sum(axis=1)
        rows.append(check_row(name, "max distance to the GF limit (below eta_c)",
                              gap.max() if gap.size else np.nan, 0.0, 0.1,
                              passed=bool(gap.size) and gap.max() <= 0.1, rel=0.0,
                              criterion="<= 0.1",
                              note="in simplex coordinates: 1 = across the set"))  # fmt: skip
        gf_err = np.abs(r.gf_beta - r.gf_limit).sum() / np.abs(r.gf_limit).sum()
        rows.append(check_row(name, "GF at eps vs theory's GF limit (rel l1)", gf_err, 0.0,
                              1e-4, passed=gf_err <= 1e-4, rel=gf_err,
                              criterion="<= 1e-4"))  # fmt: skip
    return ComparisonTable(tuple(rows))


#: what ``PictureConfig.compute`` / ``decode`` / ``memory_bytes`` run.
RUNS = ExperimentRuns(compute=compute_picture, decode=_decode, memory_bytes=_memory_bytes)
