"""Dual Newton solver for mirror-descent style limits: find nu with X link(X^T nu + shift) = y.

Gradient flow (and, with a shift and a per-coordinate alpha, finite-step GD on u⊙v) on a diagonal
linear network converges to beta = link(X^T nu + shift), the minimiser of a separable potential
psi over {X beta = y}, where link = (psi*)' is the mirror map's inverse. nu solves the n-dimensional
convex dual problem

    min_nu  D(nu) = sum_i psi*((X^T nu + shift)_i) - <y, nu>,     grad D = X link(.) - y,
                                                                  hess D = X diag(link'(.)) X^T.

The solver is damped Newton with a trust region on ||X^T dnu||_inf (the change of the exponent):
the radius doubles while full capped steps succeed, so a far-away solution (alpha -> 0, where
|z| ~ log(1/alpha^2)) is reached in O(log) iterations, and all exponentials are formed in log
space (alpha enters only through log alpha^2), so neither small alpha nor large |z| overflows as
long as beta itself is representable. Assumes X has linearly independent rows (n <= d).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from theory import _checks

__all__ = ["DualSolution", "MirrorMap", "solve_dual"]


class MirrorMap(Protocol):
    """The three numeric pieces of a separable potential the solver needs (coordinate-wise)."""

    def link(self, z: np.ndarray, alpha: np.ndarray) -> np.ndarray: ...

    def link_deriv(self, z: np.ndarray, alpha: np.ndarray) -> np.ndarray: ...

    def conjugate(self, z: np.ndarray, alpha: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class DualSolution:
    """Result of :func:`solve_dual`.

    beta: the interpolator link(X^T nu + shift), shape (d,).  nu: the dual variable (n,).
    z: X^T nu + shift (d,).  residual: max_j |(X beta - y)_j|.  iterations: Newton steps taken.
    """

    beta: np.ndarray
    nu: np.ndarray
    z: np.ndarray
    residual: float
    iterations: int


def solve_dual(
    X: np.ndarray,
    y: np.ndarray,
    mirror: MirrorMap,
    alpha: float | np.ndarray,
    shift: np.ndarray | None = None,
    *,
    max_iter: int = 400,
) -> DualSolution:
    """Solve X link(X^T nu + shift; alpha) = y for nu by damped Newton on the convex dual.

    Assumptions: rows of X linearly independent; link strictly increasing (true for the GF
    potentials); a solution exists (for w⊙w: y must lie in the interior of the cone X R^d_+).
    alpha: scalar or per-coordinate (d,) array, > 0.  Raises ValueError when no interpolator of
    the form link(X^T nu + shift) exists (the dual is then unbounded and Newton fails to settle).
    """
    X, y = _checks.data_matrix(X, y)
    n, d = X.shape
    a = np.broadcast_to(_checks.finite_array(alpha, "alpha"), (d,)).astype(np.float64)
    if np.any(a <= 0):
        raise ValueError("alpha: must be > 0")
    s = np.zeros(d) if shift is None else _checks.finite_array(shift, "shift", ndim=1)
    if s.shape != (d,):
        raise ValueError(f"shift: expected shape ({d},), got {s.shape}")
    if n > d or np.linalg.matrix_rank(X) < n:
        raise ValueError("X: rows must be linearly independent (n <= d, full row rank)")

    def dual(nu: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(mirror.conjugate(X.T @ nu + s, a)) - y @ nu)

    def residual(nu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            beta = mirror.link(X.T @ nu + s, a)
            return beta, X @ beta - y

    nu = np.zeros(n)
    radius = 1.0
    beta, F = residual(nu)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        z = X.T @ nu + s
        H = (X * mirror.link_deriv(z, a)) @ X.T
        with np.errstate(all="ignore"):
            try:
                step = np.linalg.solve(H, -F)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(H, -F, rcond=None)[0]
        if not np.all(np.isfinite(step)):
            step = -F
        dz = np.max(np.abs(X.T @ step))
        capped = dz > radius
        if capped:
            step = step * (radius / dz)
            dz = radius
        d0, r0 = dual(nu), np.linalg.norm(F)
        slope = float(F @ step)
        t, accepted = 1.0, False
        while t > 1e-10:
            trial = nu + t * step
            b1, F1 = residual(trial)
            d1 = dual(trial)
            if np.all(np.isfinite(F1)) and np.isfinite(d1):
                if d1 <= d0 + 1e-4 * t * slope or np.linalg.norm(F1) < r0:
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            break
        nu, beta, F = trial, b1, F1
        radius = radius * 2.0 if (capped and t == 1.0) else max(radius * t, 1e-3)
        if not capped and t == 1.0 and dz <= 1e-15 * max(1.0, float(np.max(np.abs(z)))):
            break
    scale = float(np.max(np.abs(X) @ np.abs(beta)) + np.max(np.abs(y)) + 1e-300)
    res = float(np.max(np.abs(F))) if np.all(np.isfinite(F)) else np.inf
    if not res <= 1e-9 * scale:
        raise ValueError(
            "y: no interpolator of the form link(X^T nu + shift) was found "
            f"(residual {res:.3g} after {it} Newton steps); for w⊙w y must be reachable "
            "with beta > 0"
        )
    return DualSolution(beta=beta, nu=nu, z=X.T @ nu + s, residual=res, iterations=it)
