"""The one-point shared-weight DLN: Hessian, sharpness at interpolation, the interpolating set and
its min-norm / min-sharpness vertices (spec 01 §2-3).

Model: beta = w⊙w, L(w) = 1/2 (<x, w⊙w> - y)^2, r = <x, beta> - y, g = 2 x⊙w.
    grad L = r g,   hess L = g g^T + 2 r diag(x)                                  [derived]
At an interpolator (r = 0) the Hessian is rank one and
    S = lambda_max = tr hess L = ||hess L||_F = 4 sum_i x_i^2 beta_i.            [derived]
For mixed-sign data use beta = u⊙u - v⊙v ("pm") or u⊙v ("uv") and |x_i|, |beta_i|: the smallest
sharpness over parameters realising beta is c sum_i x_i^2 |beta_i| with c = 4 ("pm", attained iff
u_i v_i = 0) or c = 2 ("uv", attained iff |u| = |v|); see :mod:`theory.n_sample`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from theory import _checks
from theory.formula import Formula, vector_symbols

__all__ = [
    "Interpolator",
    "hessian",
    "hessian_expr",
    "hessian_formula",
    "interpolating_vertices",
    "loss_expr",
    "min_norm_interpolator",
    "min_sharpness_interpolator",
    "sharpness_at_interpolation",
    "sharpness_at_interpolation_formula",
    "SHARPNESS_CONSTANT",
]

#: c in S = c sum_i x_i^2 |beta_i| (exact for ww; the minimum over realisations for pm and uv).
SHARPNESS_CONSTANT: dict[str, float] = {"ww": 4.0, "pm": 4.0, "uv": 2.0}

_y = sp.Symbol("y", real=True)


def _symbols(d: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    return vector_symbols("x", d, real=True), vector_symbols("w", d, real=True)


@cache
def loss_expr(d: int) -> sp.Expr:
    """L(w) = 1/2 (sum_i x_i w_i^2 - y)^2 as a sympy expression in x_1..x_d, w_1..w_d, y."""
    x, w = _symbols(d)
    return sp.Rational(1, 2) * (sum(xi * wi**2 for xi, wi in zip(x, w)) - _y) ** 2


@cache
def hessian_expr(d: int) -> sp.Matrix:
    """The exact Hessian d^2 L / dw^2 (sympy, differentiated from :func:`loss_expr`)."""
    _, w = _symbols(d)
    return sp.hessian(loss_expr(d), w)


@cache
def hessian_formula(d: int) -> Formula:
    """:func:`hessian_expr` with its lambdified twin; call as f(x, w, y)."""
    x, w = _symbols(d)
    return Formula(
        "one_point_hessian", hessian_expr(d), (x, w, _y),
        assumptions="beta = w⊙w, L = 1/2(<x,beta> - y)^2, one data point",
    )  # fmt: skip


@cache
def sharpness_at_interpolation_formula(d: int) -> Formula:
    """S = tr hess L on {r = 0}, derived symbolically: substitute y = <x, w⊙w>, w_i^2 = beta_i.

    Result: 4 sum_i x_i^2 beta_i. Call as f(x, beta).
    """
    x, w = _symbols(d)
    b = vector_symbols("beta", d, nonnegative=True)
    H = hessian_expr(d).subs(_y, sum(xi * wi**2 for xi, wi in zip(x, w)))
    tr = sp.expand(H.trace()).subs({wi**2: bi for wi, bi in zip(w, b)})
    return Formula(
        "sharpness_at_interpolation", sp.factor(tr), (x, b),
        assumptions="one point, beta = w⊙w, <x, beta> = y (rank-one Hessian: S = trace)",
    )  # fmt: skip


def hessian(x: np.ndarray, w: np.ndarray, y: float) -> np.ndarray:
    """Closed form hess L = g g^T + 2 r diag(x), g = 2 x⊙w, r = <x, w⊙w> - y.

    w may be batched, shape (..., d); returns (..., d, d).
    """
    x, y = _checks.one_point(x, y)
    w = _checks.finite_array(w, "w")
    if w.ndim == 0 or w.shape[-1] != x.size:
        raise ValueError(f"w: last axis must have length {x.size}, got shape {w.shape}")
    g = 2.0 * x * w
    r = w**2 @ x - y
    return g[..., :, None] * g[..., None, :] + 2.0 * r[..., None, None] * np.diag(x)


def sharpness_at_interpolation(
    x: np.ndarray, beta: np.ndarray, model: str = "ww"
) -> np.ndarray | float:
    """S = c sum_i x_i^2 |beta_i| at an interpolator (c = 4 ww/pm, 2 uv; see module doc).

    For "ww" this is exact (beta >= 0); for "pm"/"uv" it is the minimum over all parameters
    realising beta (a lower bound for any one of them). beta may be batched (..., d).
    """
    xa = _checks.finite_array(x, "x", ndim=1)
    c = SHARPNESS_CONSTANT[_checks.model_name(model)]
    b = _checks.finite_array(beta, "beta")
    if b.ndim == 0 or b.shape[-1] != xa.size:
        raise ValueError(f"beta: last axis must have length {xa.size}, got shape {b.shape}")
    return c * (np.abs(b) @ xa**2)


@dataclass(frozen=True)
class Interpolator:
    """A point of the interpolating set: beta (d,), index of the vertex (or -1), its l1 norm
    (= ||w||_2^2 for ww) and its (minimal) sharpness."""

    beta: np.ndarray
    index: int
    l1: float
    sharpness: float


def _admissible(x: np.ndarray, y: float, model: str) -> np.ndarray:
    if model == "ww":
        ok = (x * y > 0) if y != 0 else np.ones_like(x, dtype=bool)
    else:
        ok = x != 0
    if not np.any(ok):
        raise ValueError("x: no coordinate can interpolate y (for ww need sign(x_i) = sign(y))")
    return ok


def _vertex(x: np.ndarray, y: float, j: int, model: str) -> Interpolator:
    beta = np.zeros_like(x)
    beta[j] = y / x[j]
    c = SHARPNESS_CONSTANT[model]
    return Interpolator(beta, j, float(abs(beta[j])), float(c * x[j] ** 2 * abs(beta[j])))


def interpolating_vertices(x: np.ndarray, y: float, model: str = "ww") -> np.ndarray:
    """Vertices (y/x_j) e_j of the interpolating set, as rows (d, d); NaN rows where the vertex
    is not admissible (for ww: sign(x_j) != sign(y)). For x > 0, y > 0 and ww the interpolating
    set {beta >= 0, <x, beta> = y} is the simplex with exactly these vertices [paper]."""
    xa, yv = _checks.one_point(x, y)
    ok = _admissible(xa, yv, _checks.model_name(model))
    V = np.full((xa.size, xa.size), np.nan)
    for j in np.flatnonzero(ok):
        V[j] = _vertex(xa, yv, int(j), model).beta
    return V


def min_norm_interpolator(x: np.ndarray, y: float, model: str = "ww") -> Interpolator:
    """argmin ||beta||_1 over interpolators (= min ||w||_2^2 for ww) [paper].

    The vertex (y/x_j) e_j with j = argmax |x_j| over admissible j; ||beta||_1 = |y|/|x_j|,
    S = c |y| |x_j| (c = 4 ww/pm, 2 uv). For x > 0, y > 0: norm y/x_max, sharpness 4 y x_max.
    Ties are broken by the first index.
    """
    xa, yv = _checks.one_point(x, y)
    ok = _admissible(xa, yv, _checks.model_name(model))
    j = int(np.argmax(np.where(ok, np.abs(xa), -np.inf)))
    return _vertex(xa, yv, j, model)


def min_sharpness_interpolator(x: np.ndarray, y: float, model: str = "ww") -> Interpolator:
    """argmin of S = c sum x_i^2 |beta_i| over interpolators (a weighted l1 problem) [paper].

    The vertex (y/x_j) e_j with j = argmin |x_j| over admissible j (nonzero x_j); norm |y|/|x_j|,
    sharpness c |y| |x_j|: the flattest interpolator has the LARGEST norm among vertices, so the
    two biases conflict unless all admissible |x_j| are equal. Ties: first index.
    """
    xa, yv = _checks.one_point(x, y)
    ok = _admissible(xa, yv, _checks.model_name(model))
    j = int(np.argmin(np.where(ok, np.abs(xa), np.inf)))
    return _vertex(xa, yv, j, model)
