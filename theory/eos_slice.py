"""The edge-of-stability slice {interpolating, S = 2/eta} of the one-point w⊙w problem, and
candidate predictions of which point of it GD ends at (spec 01 §3).

Interpolating set (x > 0, y > 0): {beta >= 0, <x, beta> = y}; at interpolation S = 4 sum x_i^2
beta_i is linear in beta, so the slice S = 2/eta is a polytope of dimension d - 2, nonempty iff
4 y x_min <= 2/eta <= 4 y x_max.

Two coordinates, x1 > x2 > 0 [derived]: the slice is the single point
    beta1 = (1/(2 eta) - x2 y) / (x1 (x1 - x2)),   beta2 = (y - x1 beta1) / x2,
    ||beta||_1 = y/x1 + y/x2 - 1/(2 eta x1 x2)     (increasing in eta),
feasible iff 4 y x2 <= 2/eta <= 4 y x1.

d > 2 candidates, each computed exactly by a convex program:
  (a) "entropy": argmin GF entropy sum beta log(beta/alpha^2) - beta s.t. <x,beta> = y,
      S <= 2/eta. Equal to the GF limit when S(beta_GF) <= 2/eta; otherwise S = 2/eta is active
      and beta = alpha^2 exp(nu1 x + nu2 4 x^2), solved by the shared dual Newton solver with the
      two constraint rows [x; 4 x^2]. (This project's conjecture [derived], not the paper's.)
  (b) "min_l1": argmin ||beta||_1 on the slice (a linear program).
  (c) "max_l1": argmax ||beta||_1 on the slice (a linear program).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.optimize import linprog

from theory import _checks
from theory.dual_solver import solve_dual
from theory.formula import Formula
from theory.gf_potentials import get_potential, gf_limit

__all__ = [
    "SliceCandidates",
    "SlicePoint",
    "slice_candidates",
    "slice_point_formulas",
    "two_coordinate_slice_point",
]

_x1, _x2 = sp.symbols("x_1 x_2", positive=True)
_y, _eta = sp.symbols("y eta", positive=True)


def slice_point_formulas() -> dict[str, Formula]:
    """sympy-derived two-coordinate slice point: solves x1 b1 + x2 b2 = y,
    4(x1^2 b1 + x2^2 b2) = 2/eta. Keys "beta1", "beta2", "l1"; each called as f(x1, x2, y, eta)."""
    b1, b2 = sp.symbols("beta_1 beta_2", real=True)
    sol = sp.solve([_x1 * b1 + _x2 * b2 - _y, 4 * (_x1**2 * b1 + _x2**2 * b2) - 2 / _eta],
                   [b1, b2], dict=True)[0]  # fmt: skip
    args = (_x1, _x2, _y, _eta)
    assume = "one point, beta = w⊙w, x1 > x2 > 0, y > 0, 4 y x2 <= 2/eta <= 4 y x1"
    return {
        "beta1": Formula("slice_beta1", sp.simplify(sol[b1]), args, assume),
        "beta2": Formula("slice_beta2", sp.simplify(sol[b2]), args, assume),
        "l1": Formula("slice_l1", sp.simplify(sol[b1] + sol[b2]), args, assume),
    }


@dataclass(frozen=True)
class SlicePoint:
    """Two-coordinate slice points for a grid of eta: beta (m, 2) (NaN where infeasible),
    l1 (m,), feasible (m,) bool."""

    etas: np.ndarray
    beta: np.ndarray
    l1: np.ndarray
    feasible: np.ndarray


def two_coordinate_slice_point(x: np.ndarray, y: float, etas: np.ndarray) -> SlicePoint:
    """The unique interpolator with S = 2/eta for d = 2, x1 > x2 > 0, y > 0 [derived]."""
    xa, yv = _checks.one_point(x, y, positive=True)
    if xa.size != 2 or not xa[0] > xa[1]:
        raise ValueError("x: expected two coordinates with x1 > x2 > 0")
    e = np.atleast_1d(_checks.finite_array(etas, "etas"))
    if np.any(e <= 0):
        raise ValueError("etas: must be > 0")
    x1, x2 = xa
    b1 = (1.0 / (2.0 * e) - x2 * yv) / (x1 * (x1 - x2))
    b2 = (yv - x1 * b1) / x2
    feasible = (4 * yv * x2 <= 2.0 / e * (1 + 1e-12)) & (2.0 / e <= 4 * yv * x1 * (1 + 1e-12))
    beta = np.where(feasible[:, None], np.stack([b1, b2], axis=1), np.nan)
    l1 = np.where(feasible, yv / x1 + yv / x2 - 1.0 / (2.0 * e * x1 * x2), np.nan)
    return SlicePoint(e, beta, l1, feasible)


@dataclass(frozen=True)
class SliceCandidates:
    """Candidate GD endpoints for each eta: arrays of shape (m, d) (NaN rows where infeasible).

    entropy: (a) GF-entropy minimiser with S <= 2/eta; min_l1 / max_l1: (b)/(c) on the slice
    S = 2/eta. on_slice (m,): whether (a) is on the slice (True) or is the GF limit (False).
    """

    etas: np.ndarray
    entropy: np.ndarray
    min_l1: np.ndarray
    max_l1: np.ndarray
    on_slice: np.ndarray

    def l1(self, name: str) -> np.ndarray:
        """||beta||_1 of candidate ``name`` per eta."""
        return np.sum(np.abs(getattr(self, name)), axis=1)


def _lp(c: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    res = linprog(c, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
    return res.x if res.status == 0 else np.full(c.size, np.nan)


def slice_candidates(x: np.ndarray, y: float, etas: np.ndarray, alpha: float) -> SliceCandidates:
    """Candidates (a), (b), (c) of the module doc for each eta (x > 0, y > 0, w(0) = alpha 1)."""
    xa, yv = _checks.one_point(x, y, positive=True)
    a = _checks.positive_scalar(alpha, "alpha")
    e = np.atleast_1d(_checks.finite_array(etas, "etas"))
    if np.any(e <= 0):
        raise ValueError("etas: must be > 0")
    d = xa.size
    A = np.stack([xa, 4.0 * xa**2])
    gf = gf_limit(xa[None, :], np.array([yv]), "ww", a).beta
    s_gf = 4.0 * gf @ xa**2
    out = {k: np.full((e.size, d), np.nan) for k in ("entropy", "min_l1", "max_l1")}
    on_slice = np.zeros(e.size, dtype=bool)
    for i, eta in enumerate(e):
        s = 2.0 / eta
        b = np.array([yv, s])
        out["min_l1"][i] = _lp(np.ones(d), A, b)
        out["max_l1"][i] = _lp(-np.ones(d), A, b)
        if s_gf <= s:
            out["entropy"][i] = gf
            continue
        on_slice[i] = True
        if np.any(np.isnan(out["min_l1"][i])):
            continue  # slice empty: no stable interpolator
        try:
            out["entropy"][i] = solve_dual(A, b, get_potential("ww"), a).beta
        except ValueError:  # slice is a single vertex (boundary): entropy point = that vertex
            out["entropy"][i] = out["min_l1"][i]
    return SliceCandidates(e, out["entropy"], out["min_l1"], out["max_l1"], on_slice)
