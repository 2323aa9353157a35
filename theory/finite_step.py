"""The exact finite-step-size identity for GD on two-layer diagonal networks (spec 01 §5).

Even, Pesme, Gunasekar, Flammarion (2023), re-derived here [derived]. GD with step gamma on
L = 1/(2n)||X beta - y||^2 with g_k = X^T(X beta_k - y)/n multiplies each "half" of the weights
coordinate-wise by (1 -/+ c gamma g_k):

    "uv":  w+- = (u +- v)/sqrt2 from u = sqrt2 alpha, v = 0:  c = 1,  beta = (w+^2 - w-^2)/2
    "pm":  w+ = u, w- = v from u = v = alpha:                  c = 2,  beta = w+^2 - w-^2
    "ww":  w from w = alpha:                                   c = 2,  beta = w^2

Writing 1 -+ c gamma g = sqrt(1 - c^2 gamma^2 g^2) exp(-+ artanh(c gamma g)) gives, exactly,

    alpha_T^2 = alpha^2 prod_{k<T} (1 - c^2 gamma^2 g_k^2)                     (effective init)
    beta_T    = link(z_T; alpha_T),   z_T = -(2/rate) sum_{k<T} artanh(c gamma g_k)

with the model's GF link (ww: alpha^2 e^z, uv: alpha^2 sinh(2z), pm: 2 alpha^2 sinh(z); rate = 1,
2, 1). Splitting z_T = X^T nu_T + phi_T with phi = -(2/rate) sum_k (artanh(c gamma g_k) - c gamma
g_k), and X^T nu_T the part in the row space of X, the limit is

    beta_inf = link(X^T nu + phi; alpha_inf)   with nu fixed by X beta_inf = y.

For uv this is beta_inf = alpha_inf^2 sinh(2(X^T nu + phi)), phi = -sum_k(artanh(gamma g_k) -
gamma g_k). Assumes c gamma |g_k| < 1 for every k and coordinate (no sign flip of a weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory import _checks
from theory.dual_solver import solve_dual
from theory.gf_potentials import get_potential

__all__ = ["FiniteStepPrediction", "effective_init", "finite_step_iterate", "finite_step_limit"]

#: c: each step multiplies the weight halves by (1 -/+ c gamma g_k).
STEP_FACTOR: dict[str, float] = {"uv": 1.0, "pm": 2.0, "ww": 2.0}


@dataclass(frozen=True)
class FiniteStepPrediction:
    """Prediction of :func:`finite_step_limit`.

    beta: predicted limit (d,).  alpha_eff_sq: alpha_inf^2 per coordinate (d,).  phi: the shift
    (d,).  nu: dual variable (n,).  residual: max |X beta - y|.
    """

    beta: np.ndarray
    alpha_eff_sq: np.ndarray
    phi: np.ndarray
    nu: np.ndarray
    residual: float


def _history(grad_history: np.ndarray, gamma: float, model: str) -> tuple[np.ndarray, float]:
    G = _checks.finite_array(grad_history, "grad_history", ndim=2)
    c = STEP_FACTOR[_checks.model_name(model)]
    cg = c * _checks.positive_scalar(gamma, "gamma") * G
    if np.any(np.abs(cg) >= 1.0):
        raise ValueError(
            "grad_history: c*gamma*|g_k| >= 1 somewhere (a weight changed sign); the identity "
            "assumes every step factor 1 -/+ c gamma g_k is positive"
        )
    return cg, c


def effective_init(
    alpha: float, gamma: float, grad_history: np.ndarray, model: str = "uv"
) -> np.ndarray:
    """alpha_T^2 = alpha^2 prod_k (1 - c^2 gamma^2 g_k^2), coordinate-wise (d,) [derived].

    grad_history: (T, d) array of g_k = X^T(X beta_k - y)/n (diaglin's record_grads, one run).
    """
    a = _checks.positive_scalar(alpha, "alpha")
    cg, _ = _history(grad_history, gamma, model)
    return a**2 * np.exp(np.sum(np.log1p(-(cg**2)), axis=0))


def finite_step_iterate(
    alpha: float, gamma: float, grad_history: np.ndarray, model: str = "uv"
) -> np.ndarray:
    """beta_T reconstructed exactly from the gradient history: link(z_T; alpha_T) [derived].

    z_T = -(2/rate) sum_k artanh(c gamma g_k). Equal to GD's iterate after T = len(history) steps
    up to rounding; a direct test of a GD kernel.
    """
    cg, _ = _history(grad_history, gamma, model)
    pot = get_potential(model)
    a_T = np.sqrt(effective_init(alpha, gamma, grad_history, model))
    z = -(2.0 / pot.rate) * np.sum(np.arctanh(cg), axis=0)
    return pot.link(z, a_T)


def finite_step_limit(
    X: np.ndarray,
    y: np.ndarray,
    alpha: float,
    gamma: float,
    grad_history: np.ndarray,
    model: str = "uv",
) -> FiniteStepPrediction:
    """Limit of GD with step gamma: beta_inf = link(X^T nu + phi; alpha_inf), X beta_inf = y.

    Uses the recorded history only through alpha_inf (:func:`effective_init`) and
    phi = -(2/rate) sum_k (artanh(c gamma g_k) - c gamma g_k); nu from the dual Newton solver.
    A history truncated when the loss first fell below eps predicts the limit up to O(gamma^2
    g_T^2) relative changes of alpha (negligible) -- compare with a GD endpoint at a tiny eps.
    Dropping phi (phi = 0) leaves O(gamma^2) errors; dropping both gives the GF limit.
    """
    X, y = _checks.data_matrix(X, y)
    cg, _ = _history(grad_history, gamma, model)
    if cg.shape[1] != X.shape[1]:
        raise ValueError(f"grad_history: expected {X.shape[1]} columns, got {cg.shape[1]}")
    pot = get_potential(model)
    a_sq = effective_init(alpha, gamma, grad_history, model)
    phi = -(2.0 / pot.rate) * np.sum(np.arctanh(cg) - cg, axis=0)
    sol = solve_dual(X, y, pot, np.sqrt(a_sq), shift=phi)
    return FiniteStepPrediction(sol.beta, a_sq, phi, sol.nu, sol.residual)
