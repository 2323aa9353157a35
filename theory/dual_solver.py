"""Dual Newton solver for mirror-descent style limits: find nu with X link(X^T nu + shift) = y.

Gradient flow (and, with a shift and a per-coordinate alpha, finite-step GD on u⊙v) on a diagonal
linear network converges to beta = link(X^T nu + shift), the minimiser of a separable potential
psi over {X beta = y}, where link = (psi*)' is the mirror map's inverse. nu solves the n-dimensional
convex dual problem

    min_nu  D(nu) = sum_i psi*((X^T nu + shift)_i) - <y, nu>,     grad D = X link(.) - y,
                                                                  hess D = X diag(link'(.)) X^T.

The solver is damped Newton (Armijo on D, trust region on ||X^T dnu||_inf, the change of the
exponent) inside a continuation in alpha: small alpha makes the dual a stiff, LP-like barrier
problem, so alpha is first inflated to a data-scaled value and shrunk by e^4 per stage with warm
starts (O(log(1/alpha)) stages of a few Newton steps). All exponentials are formed in log space
(alpha enters only through log alpha^2), so neither small alpha nor large |z| overflows as long as
beta itself is representable. Assumes X has linearly independent rows (n <= d).
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

    # Continuation in alpha (as in a barrier method): small alpha is a stiff, LP-like problem for
    # Newton from a far start, so solve first with every alpha inflated by a common factor and
    # shrink it geometrically, warm-starting nu. log_alpha_ref: a data-scaled "easy" alpha.
    log_ref = 0.5 * np.log(max(float(np.max(np.abs(y))), 1e-300) / float(np.max(np.abs(X))))
    inflate = max(0.0, log_ref - float(np.min(np.log(a))))
    stages = np.append(np.arange(inflate, 0.0, -_STAGE)[:_MAX_STAGES], 0.0)
    nu = np.zeros(n)
    total = 0
    for lift in stages:
        tol = 1e-14 if lift == 0.0 else 1e-3
        nu, beta, F, it = _newton(X, y, mirror, a * np.exp(lift), s, nu, max_iter, tol)
        total += it
    scale = float(np.max(np.abs(X) @ np.abs(beta)) + np.max(np.abs(y)) + 1e-300)
    res = float(np.max(np.abs(F))) if np.all(np.isfinite(F)) else np.inf
    if not res <= 1e-9 * scale:
        raise ValueError(
            "y: no interpolator of the form link(X^T nu + shift) was found "
            f"(residual {res:.3g} after {total} Newton steps); for w⊙w y must be reachable "
            "with beta > 0"
        )
    return DualSolution(beta=beta, nu=nu, z=X.T @ nu + s, residual=res, iterations=total)


_STAGE = 4.0  # continuation step in log alpha (alpha shrinks by e^4 per stage)
_MAX_STAGES = 400


def _newton(
    X: np.ndarray,
    y: np.ndarray,
    mirror: MirrorMap,
    a: np.ndarray,
    s: np.ndarray,
    nu: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Damped Newton on the dual from nu, trust region on ||X^T dnu||_inf, Armijo or residual
    decrease for acceptance. Stops at max|F| <= tol * scale, or when full Newton steps stop
    halving the residual three times running (the rounding floor). Returns nu, beta, F, its."""

    def dual(nu: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(mirror.conjugate(X.T @ nu + s, a)) - y @ nu)

    def residual(nu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):
            beta = mirror.link(X.T @ nu + s, a)
            return beta, X @ beta - y

    radius = 2.0 * _STAGE
    beta, F = residual(nu)
    it, stalls = 0, 0
    for it in range(1, max_iter + 1):  # noqa: B007
        scale = float(np.max(np.abs(X) @ np.abs(beta)) + np.max(np.abs(y)))
        if np.all(np.isfinite(F)) and np.max(np.abs(F)) <= tol * scale:
            break
        z = X.T @ nu + s
        H = (X * mirror.link_deriv(z, a)) @ X.T
        with np.errstate(all="ignore"):
            try:
                step = np.linalg.solve(H, -F)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(H, -F, rcond=None)[0]
        if not np.all(np.isfinite(step)):
            step = -F
        dz = float(np.max(np.abs(X.T @ step)))
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
        full = not capped and t == 1.0
        stalls = stalls + 1 if (full and np.linalg.norm(F1) > 0.5 * r0) else 0
        nu, beta, F = trial, b1, F1
        radius = radius * 2.0 if (capped and t == 1.0) else max(radius * t, 1e-3)
        if stalls >= 3 or (full and dz <= 1e-15 * max(1.0, float(np.max(np.abs(z))))):
            break
    return nu, beta, F, it
