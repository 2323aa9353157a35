"""Linear stability of GD at a minimum and the critical learning rate eta_c = 2 / s_GF.

GD with step eta can converge to a minimum only if its sharpness S (top Hessian eigenvalue)
satisfies S <= 2/eta (linear stability of theta -> theta - eta grad L)  [paper]. So each
interpolator has eta_max = 2/S; the min-norm one-point interpolator, S = 4 y x_max, is unstable for
eta > 1/(2 y x_max) [paper].

Critical learning rate [paper definition]: eta_c = 2/s_GF with s_GF the maximum of S(theta(t))
(largest |eigenvalue|) over the gradient-flow path until the loss first drops below eps.
One point, beta = w⊙w, w(0) = alpha 1 [derived]: the GF path is beta_i(lambda) = alpha^2
exp(lambda x_i), lambda moving monotonically from 0 to lambda_eps (the root of
<x, beta(lambda)> = y -/+ sqrt(2 eps)), with Hessian g g^T + 2 r diag(x), g = 2 x⊙w.
If x > 0 and r(0) < 0 (y > alpha^2 sum x_i) then along the path
    lambda_top <= ||g||^2 = 4 sum x_i^2 beta_i(lambda)   (increasing in lambda; 2 r diag(x) <= 0),
    lambda_bottom >= 2 r(lambda) x_max >= 2 r(0) x_max,
so whenever 2 |r(0)| x_max <= lambda_top(end), s_GF is attained at the end of the path and
    s_GF -> 4 sum_i x_i^2 alpha^2 exp(lambda_inf x_i)   (eps -> 0),   eta_c = 2 / s_GF.
Otherwise s_GF is found numerically along the exact lambda-parametrised path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from theory import _checks
from theory.dual_solver import solve_dual
from theory.gf_potentials import get_potential
from theory.one_point import min_norm_interpolator, sharpness_at_interpolation

__all__ = [
    "GFPath",
    "eta_max",
    "interpolator_eta_max",
    "is_linearly_stable",
    "min_norm_eta_max",
    "one_point_gf_path",
]


def eta_max(sharpness: float | np.ndarray) -> float | np.ndarray:
    """Largest step at which a minimum of sharpness S is linearly stable: 2/S [paper]."""
    s = _checks.finite_array(sharpness, "sharpness")
    if np.any(s <= 0):
        raise ValueError("sharpness: must be > 0")
    return 2.0 / s


def is_linearly_stable(sharpness: float | np.ndarray, eta: float | np.ndarray) -> np.ndarray:
    """S < 2/eta (strict: at S = 2/eta the linearisation oscillates without decay)."""
    s = _checks.finite_array(sharpness, "sharpness")
    e = _checks.finite_array(eta, "eta")
    if np.any(e <= 0):
        raise ValueError("eta: must be > 0")
    return s < 2.0 / e


def interpolator_eta_max(x: np.ndarray, beta: np.ndarray, model: str = "ww") -> np.ndarray:
    """2 / (c sum x_i^2 |beta_i|) for a one-point interpolator beta (c = 4 ww/pm, 2 uv)."""
    return eta_max(sharpness_at_interpolation(x, beta, model))


def min_norm_eta_max(x: np.ndarray, y: float, model: str = "ww") -> float:
    """Critical step of the min-norm interpolator: 2/(c |y| |x|_max); ww: 1/(2 y x_max) [paper]."""
    return float(2.0 / min_norm_interpolator(x, y, model).sharpness)


@dataclass(frozen=True)
class GFPath:
    """The exact one-point w⊙w gradient-flow path, lambda-parametrised, with its sharpness.

    lam (T,), beta (T, d), loss (T,), top / bottom (T,) algebraic extreme eigenvalues, sharpness
    (T,) = max(|top|, |bottom|); s_gf and lam_at_max (refined by a bounded scalar search),
    eta_c = 2/s_gf, beta_end = beta(lam_end) where the loss first reaches eps, and
    endpoint_certified: the analytic bound proves s_gf is attained at the end of the path.
    """

    lam: np.ndarray
    beta: np.ndarray
    loss: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    sharpness: np.ndarray
    s_gf: float
    lam_at_max: float
    eta_c: float
    lam_end: float
    beta_end: np.ndarray
    endpoint_certified: bool


def _eigs(x: np.ndarray, y: float, alpha: float, lam: np.ndarray) -> tuple[np.ndarray, ...]:
    w = alpha * np.exp(0.5 * lam[:, None] * x[None, :])
    g = 2.0 * x * w
    r = w**2 @ x - y
    H = g[:, :, None] * g[:, None, :] + 2.0 * r[:, None, None] * np.diag(x)
    ev = np.linalg.eigvalsh(H)
    return ev[:, -1], ev[:, 0], w**2, 0.5 * r**2


def one_point_gf_path(
    x: np.ndarray, y: float, alpha: float, *, eps: float = 1e-12, num: int = 2001
) -> GFPath:
    """Sharpness along the exact GF path of beta = w⊙w, one point, from w(0) = alpha 1.

    Assumes y is reachable with beta > 0 (e.g. x > 0, y > 0). s_GF = max over lambda in
    [0, lam_end] of the largest |eigenvalue| of g g^T + 2 r diag(x); eta_c = 2/s_GF [derived].
    """
    x, y = _checks.one_point(x, y)
    a = _checks.positive_scalar(alpha, "alpha")
    e = _checks.positive_scalar(eps, "eps")
    if num < 2:
        raise ValueError(f"num: need at least 2 grid points, got {num}")
    r0 = a**2 * x.sum() - y
    tol = np.sqrt(2.0 * e)
    if abs(r0) <= tol:
        lam_end = 0.0
    else:
        target = y + np.sign(r0) * tol
        sol = solve_dual(x[None, :], np.array([target]), get_potential("ww"), a)
        lam_end = float(sol.nu[0])
    lam = np.linspace(0.0, lam_end, num)
    top, bottom, beta, loss = _eigs(x, y, a, lam)
    sharp = np.maximum(np.abs(top), np.abs(bottom))
    k = int(np.argmax(sharp))
    s_gf, lam_max = float(sharp[k]), float(lam[k])
    if num > 1:  # between the neighbours (one side when the maximum is at an end of the path)
        lo, hi = sorted((lam[max(k - 1, 0)], lam[min(k + 1, num - 1)]))

        def neg(t: float) -> float:
            tp, bt, _, _ = _eigs(x, y, a, np.array([t]))
            return -max(abs(tp[0]), abs(bt[0]))

        res = minimize_scalar(neg, bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-14 * max(1.0, abs(lam_end))})  # fmt: skip
        if -res.fun > s_gf:
            s_gf, lam_max = float(-res.fun), float(res.x)
    certified = bool(np.all(x > 0) and r0 < 0 and 2.0 * abs(r0) * x.max() <= top[-1])
    return GFPath(lam, beta, loss, top, bottom, sharp, s_gf, lam_max, 2.0 / s_gf, lam_end,
                  beta[-1], certified)  # fmt: skip
