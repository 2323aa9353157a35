"""Generalization error of interpolators and the interpolator that minimises it (spec 01 §2-3).

Test inputs x ~ N(0, I_d), labels <x, beta*> + noise of variance sigma^2 [derived]:
    E(beta) = E 1/2 (<x, beta> - y)^2 = 1/2 ||beta - beta*||_2^2 + 1/2 sigma^2.
Other norms ||beta - beta*||_p, p in {1, 2, inf}, are reported as well.

The best interpolator over I = {beta >= 0, <x, beta> = y} (x > 0, y > 0) in l2 is the Euclidean
projection of beta* onto I. KKT: beta = max(beta* - t x, 0) with t fixed by <x, beta> = y
(piecewise linear, solved exactly over its breakpoints t_i = beta*_i / x_i).

Theorem (vertex condition) [derived]. The projection is the vertex v_j = (y/x_j) e_j iff
    beta*_i / x_i <= (x_j beta*_j - y) / x_j^2    for every i != j.
(beta* - v_j must lie in the normal cone {t x - mu : mu >= 0, mu_j = 0} of I at v_j.)
Corollary: with noise-free labels y = <x, beta*> and beta* >= 0, the right side is
-sum_{i != j} x_i beta*_i / x_j^2 <= 0, so v_j is optimal iff beta* = v_j. Hence whenever beta*
has two or more nonzero entries (or its single nonzero entry is at neither argmax x nor argmin x)
the best interpolator is at NEITHER the min-norm vertex (argmax x) NOR the min-sharpness vertex
(argmin x) [paper: claim; derived: conditions]. With d = 2 and the two-regime picture (GD ends at
beta_GF for eta < eta_c and at the S = 2/eta slice point above), the test loss is flat below
eta_c and, on the slice, a convex quadratic in 1/eta minimised at eta* = 2/S(p), p the best
interpolator; eta* lies strictly inside (eta_c, 1/(2 y x2)) iff 4 y x2 < S(p) < s_GF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from theory import _checks
from theory.one_point import (
    min_norm_interpolator,
    min_sharpness_interpolator,
    sharpness_at_interpolation,
)

__all__ = [
    "GeneralizationError",
    "best_interpolator",
    "expected_test_loss",
    "generalization_error",
    "optimal_eta_two_coordinate",
    "optimum_is_neither_vertex",
    "vertex_is_optimal",
]


@dataclass(frozen=True)
class GeneralizationError:
    """||beta - beta*||_p for p = 1, 2, inf and the isotropic-Gaussian test loss (last axis)."""

    l1: np.ndarray
    l2: np.ndarray
    linf: np.ndarray
    test_loss: np.ndarray


def _pair(beta: np.ndarray, beta_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = _checks.finite_array(beta, "beta")
    bs = _checks.finite_array(beta_star, "beta_star", ndim=1)
    if b.ndim == 0 or b.shape[-1] != bs.size:
        raise ValueError(f"beta: last axis must have length {bs.size}, got shape {b.shape}")
    return b, bs


def expected_test_loss(
    beta: np.ndarray, beta_star: np.ndarray, noise_var: float = 0.0
) -> np.ndarray:
    """E_{x ~ N(0, I)} 1/2 (<x, beta> - <x, beta*> - noise)^2 = 1/2||beta - beta*||^2 + s^2/2
    with s^2 = noise_var."""
    b, bs = _pair(beta, beta_star)
    if not (np.isfinite(noise_var) and noise_var >= 0):
        raise ValueError(f"noise_var: must be finite and >= 0, got {noise_var!r}")
    return 0.5 * np.sum((b - bs) ** 2, axis=-1) + 0.5 * noise_var


def generalization_error(
    beta: np.ndarray, beta_star: np.ndarray, noise_var: float = 0.0
) -> GeneralizationError:
    """All error measures of :class:`GeneralizationError` for beta of shape (..., d)."""
    b, bs = _pair(beta, beta_star)
    diff = b - bs
    return GeneralizationError(
        l1=np.sum(np.abs(diff), axis=-1),
        l2=np.sqrt(np.sum(diff**2, axis=-1)),
        linf=np.max(np.abs(diff), axis=-1),
        test_loss=expected_test_loss(b, bs, noise_var),
    )


def best_interpolator(x: np.ndarray, y: float, beta_star: np.ndarray, p: float = 2) -> np.ndarray:
    """argmin ||beta - beta*||_p over {beta >= 0, <x, beta> = y}, x > 0, y > 0, p in {1, 2, inf}.

    p = 2: exact Euclidean projection (breakpoint search on the KKT multiplier t); p = 1, inf:
    linear programs (HiGHS). For p = 1, inf the minimiser need not be unique; one is returned.
    """
    xa, yv = _checks.one_point(x, y, positive=True)
    bs = _checks.finite_array(beta_star, "beta_star", ndim=1)
    if bs.size != xa.size:
        raise ValueError(f"beta_star: expected length {xa.size}, got {bs.size}")
    d = xa.size
    if p == 2:
        t = _solve_t(xa, yv, bs)
        beta = np.maximum(bs - t * xa, 0.0)
        return beta * (yv / (xa @ beta))  # remove rounding drift off the hyperplane
    if p == 1:  # variables (beta, s), s >= |beta - bs|
        c = np.concatenate([np.zeros(d), np.ones(d)])
        A_ub = np.block([[np.eye(d), -np.eye(d)], [-np.eye(d), -np.eye(d)]])
        b_ub = np.concatenate([bs, -bs])
        A_eq = np.concatenate([xa, np.zeros(d)])[None, :]
    elif p == np.inf:  # variables (beta, s), s >= |beta_i - bs_i|
        c = np.concatenate([np.zeros(d), [1.0]])
        A_ub = np.block([[np.eye(d), -np.ones((d, 1))], [-np.eye(d), -np.ones((d, 1))]])
        b_ub = np.concatenate([bs, -bs])
        A_eq = np.concatenate([xa, [0.0]])[None, :]
    else:
        raise ValueError(f"p: expected 1, 2 or inf, got {p!r}")
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[yv], bounds=(0, None), method="highs")
    if res.status != 0:
        raise ValueError(f"beta_star: linear program failed ({res.message})")
    return res.x[:d]


def _solve_t(x: np.ndarray, y: float, bs: np.ndarray) -> float:
    """The t with sum_i x_i max(bs_i - t x_i, 0) = y (exact, over sorted breakpoints)."""
    order = np.argsort(-bs / x)  # breakpoints t_i = bs_i/x_i, descending
    tb = (bs / x)[order]
    xs, bss = x[order], bs[order]
    cx2 = np.cumsum(xs * xs)
    cxb = np.cumsum(xs * bss)
    # With the first k coordinates active (those with t < t_(k)), h(t) = cxb[k-1] - t cx2[k-1].
    for k in range(1, x.size + 1):
        t = (cxb[k - 1] - y) / cx2[k - 1]
        upper = tb[k - 1]
        lower = tb[k] if k < x.size else -np.inf
        if lower <= t <= upper:
            return float(t)
    return float((cxb[-1] - y) / cx2[-1])


def vertex_is_optimal(x: np.ndarray, y: float, beta_star: np.ndarray) -> np.ndarray:
    """(d,) bool: vertex (y/x_j) e_j is the l2-best interpolator, by the vertex condition
    max_{i != j} beta*_i / x_i <= (x_j beta*_j - y) / x_j^2 (x > 0, y > 0) [derived]."""
    xa, yv = _checks.one_point(x, y, positive=True)
    bs = _checks.finite_array(beta_star, "beta_star", ndim=1)
    if bs.size != xa.size:
        raise ValueError(f"beta_star: expected length {xa.size}, got {bs.size}")
    ratio = bs / xa
    out = np.empty(xa.size, dtype=bool)
    for j in range(xa.size):
        others = np.delete(ratio, j)
        rhs = (xa[j] * bs[j] - yv) / xa[j] ** 2
        out[j] = bool(others.size == 0 or np.max(others) <= rhs)
    return out


def optimum_is_neither_vertex(x: np.ndarray, y: float, beta_star: np.ndarray) -> bool:
    """True iff the l2-best interpolator is neither the min-norm nor the min-sharpness vertex."""
    ok = vertex_is_optimal(x, y, beta_star)
    return not (ok[min_norm_interpolator(x, y).index] or ok[min_sharpness_interpolator(x, y).index])


def optimal_eta_two_coordinate(x: np.ndarray, y: float, beta_star: np.ndarray) -> float:
    """eta* = 2 / S(p) = 1/(2 sum x_i^2 p_i), p the l2-best interpolator: where the d = 2 slice
    point equals p, i.e. the minimiser of the test loss along the EoS branch [derived]."""
    p = best_interpolator(x, y, beta_star, 2)
    return float(2.0 / sharpness_at_interpolation(x, p))
