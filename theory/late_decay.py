"""Late learning-rate decay (spec 02, "a model of the class the paper studies" [ours]).

Model: beta = u⊙u − v⊙v (also w⊙w and u⊙v), L = 1/(2n)||X beta − y||², data y = X beta*.
The minima manifold is M = {theta : X beta(theta) = y}.

- Min-norm point of M [ours]: ||theta||² = Σ(u_j² + v_j²) >= Σ|beta_j| for pm (equality iff
  u_j v_j = 0), = Σ beta_j for ww, >= 2Σ|beta_j| for uv (equality iff |u_j| = |v_j|). So
  argmin_{theta in M} ||theta||² is read off the basis-pursuit interpolator
  argmin{||beta||_1 : X beta = y} (with beta >= 0 for ww): a linear programme.
- Label-noise implicit regulariser [ours, after Blanc et al. / HaoChen et al.]: label-noise SGD
  drifts along M to decrease tr ∇²L. With c_j = (1/n) Σ_i x_ij²:
  pm: tr ∇²L = 4 Σ_j c_j (u_j² + v_j²) everywhere (the residual term cancels, since
  ∂²beta/∂u² + ∂²beta/∂v² = 0), so with normalised columns (c_j = 1) it is 4||theta||²: on M the
  flattest point (in trace) IS the min-norm point — the opposite of paper 1's conflict.
  ww: tr ∇²L = 4 Σ_j c_j w_j² + 2 Σ_j g_j (g = Xᵀr/n), = 4||w||² on M for normalised columns.
- Time scales [ours, heuristic]: phase I (fit the data) ~ (1/eta) log(L0/eps) steps; phase II
  (drift along M to the min-norm point, driven by the noise) ~ C/(eta² sigma²) steps, C measured
  by the comparison layer (spec 02 reports C ≈ 1.3-1.7 for reaching ||theta||² < 1.1·min).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp
from scipy.optimize import linprog

from theory import _checks
from theory.formula import Formula, vector_symbols

__all__ = [
    "MinNormPoint",
    "min_norm_point",
    "hessian_trace_formula",
    "label_noise_regularizer",
    "phase_one_steps",
    "phase_two_steps",
]


@dataclass(frozen=True)
class MinNormPoint:
    """The min-norm point of M: beta (d,), theta (P,) in diaglin's block layout
    ([w] or [u, v]), and its squared norm ||theta||²."""

    beta: np.ndarray
    theta: np.ndarray
    norm_sq: float


def min_norm_point(X, y, model: str = "pm") -> MinNormPoint:
    """argmin ||theta||² over {X beta(theta) = y}: the basis-pursuit LP
    min Σ(b⁺ + b⁻) s.t. X(b⁺ − b⁻) = y, b± >= 0 (b⁻ = 0 for ww), solved by HiGHS; theta read
    back as u = sqrt(beta⁺), v = sqrt(beta⁻) (pm), w = sqrt(beta) (ww), u = sqrt|beta|,
    v = sign(beta) sqrt|beta| (uv). Raises ValueError if no interpolator exists."""
    X, y = _checks.data_matrix(X, y)
    model = _checks.model_name(model)
    n, d = X.shape
    signed = model != "ww"
    A = np.hstack([X, -X]) if signed else X
    res = linprog(np.ones(A.shape[1]), A_eq=A, b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise ValueError(f"X, y: no interpolator{' with beta >= 0' if not signed else ''} "
                         f"({res.message})")  # fmt: skip
    beta = res.x[:d] - res.x[d:] if signed else res.x.copy()
    beta[np.abs(beta) < 1e-14 * max(1.0, np.abs(beta).max())] = 0.0
    root = np.sqrt(np.abs(beta))
    if model == "ww":
        theta = root
    elif model == "pm":
        theta = np.concatenate([np.where(beta > 0, root, 0.0), np.where(beta < 0, root, 0.0)])
    else:
        theta = np.concatenate([root, np.sign(beta) * root])
    return MinNormPoint(beta, theta, float(theta @ theta))


@cache
def hessian_trace_formula(model: str, n: int, d: int) -> Formula:
    """tr ∇²L of L = 1/(2n)||X beta(theta) − y||² as sympy derives it (second derivatives of
    the loss summed), for symbolic X (n × d), y and theta; args (X entries, y, theta)."""
    model = _checks.model_name(model)
    xs = sp.symbols(f"x_0:{n}_0:{d}", real=True)
    Xm = sp.Matrix(n, d, xs)
    ys = vector_symbols("y", n)
    k = 1 if model == "ww" else 2
    th = vector_symbols("theta", k * d)
    if model == "ww":
        beta = [th[j] ** 2 for j in range(d)]
    elif model == "pm":
        beta = [th[j] ** 2 - th[d + j] ** 2 for j in range(d)]
    else:
        beta = [th[j] * th[d + j] for j in range(d)]
    r = Xm * sp.Matrix(beta) - sp.Matrix(ys)
    L = (r.T * r)[0] / (2 * n)
    tr = sum(sp.diff(L, t, 2) for t in th)
    return Formula(f"hessian_trace_{model}", sp.expand(tr), (xs, ys, th), tag="[derived]",
                   assumptions="any theta; no interpolation assumed")  # fmt: skip


def label_noise_regularizer(theta, X, model: str = "pm") -> np.ndarray:
    """tr ∇²L on M (where X beta = y, so the residual term vanishes): 4 Σ_j c_j (u_j² + v_j²)
    (pm; ww: 4 Σ c_j w_j²; uv: Σ c_j (u_j² + v_j²)), c_j = (1/n) Σ_i x_ij². theta (P,) or
    (B, P); returns () or (B,)."""
    X = _checks.finite_array(X, "X", ndim=2)
    model = _checks.model_name(model)
    t = _checks.finite_array(theta, "theta")
    d = X.shape[1]
    k = 1 if model == "ww" else 2
    if t.ndim == 0 or t.shape[-1] != k * d:
        raise ValueError(f"theta: last axis must have length {k * d}, got {t.shape}")
    c = (X * X).mean(axis=0)
    sq = t[..., :d] ** 2 + (t[..., d:] ** 2 if k == 2 else 0.0)
    return (1.0 if model == "uv" else 4.0) * np.sum(c * sq, axis=-1)


def phase_one_steps(eta: float, loss0: float, eps: float, curvature: float = 1.0) -> float:
    """Steps to fit the data, ~ log(loss0/eps) / (eta · curvature) [ours, heuristic]: GD-like
    linear convergence at rate eta · curvature per step."""
    eta = _checks.positive_scalar(eta, "eta")
    ratio = _checks.positive_scalar(loss0, "loss0") / _checks.positive_scalar(eps, "eps")
    return float(np.log(ratio) / (eta * _checks.positive_scalar(curvature, "curvature")))


def phase_two_steps(eta, sigma, constant: float = 1.0):
    """Steps of noise-driven drift along M to the min-norm point, constant / (eta² sigma²)
    [ours, heuristic]; ``constant`` is measured (sims.compare). Arrays broadcast."""
    eta = np.asarray(eta, float)
    sigma = np.asarray(sigma, float)
    if np.any(eta <= 0) or np.any(sigma <= 0) or not np.all(np.isfinite(eta * sigma)):
        raise ValueError("eta, sigma: must be finite and > 0")
    return constant / (eta**2 * sigma**2)
