"""Sharpness at an interpolator with n samples (spec 01 §3) [derived].

L = 1/(2n)||X beta(theta) - y||^2. At an interpolator (X beta = y) the Hessian is the Gauss-Newton
matrix (1/n) J^T J with J = X diag(d beta / d theta) (per block), so its top eigenvalue is
(1/n) lambda_max(J J^T) = (1/n) lambda_max(X diag(m) X^T), m_i = sum_blocks (d beta_i/d theta)^2:

    model  beta         m_i              consequence
    "ww"   w⊙w          4 w_i^2 = 4 beta_i    S = (4/n) lambda_max(X diag(beta) X^T)
    "uv"   u⊙v          u_i^2 + v_i^2 >= 2|beta_i|    S >= (2/n) lambda_max(X diag|beta| X^T),
                                                      equality iff |u| = |v|
    "pm"   u⊙u - v⊙v    4(u_i^2 + v_i^2) >= 4|beta_i| S >= (4/n) lambda_max(X diag|beta| X^T),
                                                      equality iff u_i v_i = 0
(u^2 + v^2 - 2|uv| = (|u| - |v|)^2 and u^2 + v^2 - |u^2 - v^2| = 2 min(u^2, v^2).) Equality in the
bound needs equality of the weights only where it matters for the top eigenvector; "iff" holds
coordinate-wise for the weights, and for S whenever the top eigenvector of X diag|beta| X^T is
not orthogonal to any X e_i with unequal weight.
Parameters use diaglin's block layout: theta = [w] (ww) or [u, v] (uv, pm), each block length d.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from theory import _checks
from theory.formula import Formula

__all__ = [
    "gauss_newton_weights",
    "interpolation_sharpness",
    "jacobian_weight_formula",
    "sharpness_lower_bound",
    "BOUND_CONSTANT",
]

#: c in S >= (c/n) lambda_max(X diag(|beta|) X^T) (equality always for ww).
BOUND_CONSTANT: dict[str, float] = {"ww": 4.0, "uv": 2.0, "pm": 4.0}

_u, _v = sp.symbols("u v", real=True)
_BETA = {"ww": _u**2, "uv": _u * _v, "pm": _u**2 - _v**2}


@cache
def jacobian_weight_formula(model: str) -> Formula:
    """m = sum over blocks of (d beta / d theta_block)^2 per coordinate, differentiated by sympy
    from beta(u) = u^2 (ww) or beta(u, v) = u v (uv), u^2 - v^2 (pm); called as f(u, v)."""
    b = _BETA[_checks.model_name(model)]
    m = sp.diff(b, _u) ** 2 + sp.diff(b, _v) ** 2
    return Formula(f"gn_weight_{model}", sp.expand(m), (_u, _v))


def _blocks(theta: np.ndarray, d: int, model: str) -> tuple[np.ndarray, np.ndarray]:
    t = _checks.finite_array(theta, "theta")
    k = 1 if model == "ww" else 2
    if t.ndim == 0 or t.shape[-1] != k * d:
        raise ValueError(f"theta: last axis must have length {k * d} for {model}, got {t.shape}")
    u = t[..., :d]
    v = t[..., d:] if k == 2 else np.zeros_like(u)
    return u, v


def gauss_newton_weights(theta: np.ndarray, d: int, model: str) -> np.ndarray:
    """m(theta) of the module table, shape (..., d)."""
    u, v = _blocks(theta, d, _checks.model_name(model))
    return jacobian_weight_formula(model)(u, v)


def _top_eig(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    M = np.einsum("id,...d,jd->...ij", X, weights, X)
    return np.linalg.eigvalsh(M)[..., -1] / X.shape[0]


def interpolation_sharpness(X: np.ndarray, theta: np.ndarray, model: str) -> np.ndarray:
    """Exact S = (1/n) lambda_max(X diag(m(theta)) X^T) at an interpolating theta (X beta = y).

    Not checked here that theta interpolates: away from interpolation the Hessian has an extra
    residual term and this is only its Gauss-Newton part. theta may be batched (..., P)."""
    Xa = _checks.finite_array(X, "X", ndim=2)
    return _top_eig(Xa, gauss_newton_weights(theta, Xa.shape[1], model))


def sharpness_lower_bound(X: np.ndarray, beta: np.ndarray, model: str) -> np.ndarray:
    """(c/n) lambda_max(X diag(|beta|) X^T), c = 4 (ww, pm), 2 (uv): the smallest sharpness of any
    interpolating theta realising beta (exact for ww). beta may be batched (..., d)."""
    Xa = _checks.finite_array(X, "X", ndim=2)
    b = _checks.finite_array(beta, "beta")
    if b.ndim == 0 or b.shape[-1] != Xa.shape[1]:
        raise ValueError(f"beta: last axis must have length {Xa.shape[1]}, got shape {b.shape}")
    return BOUND_CONSTANT[_checks.model_name(model)] * _top_eig(Xa, np.abs(b))
