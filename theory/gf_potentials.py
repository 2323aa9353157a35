"""Gradient-flow implicit-bias potentials of the three two-layer diagonal parametrisations.

Loss L = 1/(2n) ||X beta - y||^2. Gradient flow from the standard initialisation converges to the
minimiser of a separable potential psi_alpha over {X beta = y} (Woodworth et al. 2020, restated
by Lyu et al.; spec 01 §5):

    model  beta         init             psi_alpha(beta) per coordinate          link beta(z)
    "pm"   w+^2 - w-^2  w+ = w- = alpha   alpha^2 q(beta/alpha^2)                2 alpha^2 sinh(z)
    "uv"   u v          u = sqrt2 alpha   1/2[b asinh(b/a^2) - sqrt(b^2+a^4)+a^2] alpha^2 sinh(2z)
    "ww"   w^2 (b >= 0) w = alpha         b log(b/alpha^2) - b                   alpha^2 exp(z)

with q(z) = 2 - sqrt(4 + z^2) + z asinh(z/2) (the hyperbolic entropy). KKT: psi'(beta) = X^T nu,
i.e. beta = link(X^T nu) = (psi*)'(X^T nu); nu is found by :func:`theory.dual_solver.solve_dual`.
Limits: alpha -> 0 gives the l1 norm (rich regime), alpha -> inf the squared l2 distance from the
initial beta (kernel regime); see :func:`potential_limits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import sympy as sp

from theory import _checks
from theory.dual_solver import DualSolution, solve_dual
from theory.formula import Formula

__all__ = [
    "Potential",
    "PotentialLimits",
    "get_potential",
    "gf_limit",
    "hyperbolic_entropy",
    "potential_limits",
    "woodworth_q",
    "Q_EXPR",
]

_b = sp.Symbol("beta", real=True)
_a = sp.Symbol("alpha", positive=True)
_z = sp.Symbol("z", real=True)
_t = sp.Symbol("t", real=True)

#: q(t) = 2 - sqrt(4 + t^2) + t asinh(t/2), the hyperbolic entropy kernel [paper: Woodworth et al.]
Q_EXPR: sp.Expr = 2 - sp.sqrt(4 + _t**2) + _t * sp.asinh(_t / 2)


@dataclass(frozen=True)
class Potential:
    """A separable GF potential psi_alpha and its mirror map, symbolic and numeric.

    kind/amp/rate describe the link: beta = amp * alpha^2 * f(rate * z), f = exp or sinh;
    its conjugate is psi*(z) = amp/rate * alpha^2 * F(rate z) with F = exp or cosh.
    Numeric methods take z and alpha (scalar or per coordinate) and work in log space.
    """

    model: str
    init: str
    kind: str
    amp: float
    rate: float
    psi_expr: sp.Expr
    tag: str = "[paper]"
    psi: Formula = field(init=False, repr=False)
    link_formula: Formula = field(init=False, repr=False)

    def __post_init__(self) -> None:
        f = sp.exp if self.kind == "exp" else sp.sinh
        link = sp.nsimplify(self.amp) * _a**2 * f(sp.nsimplify(self.rate) * _z)
        object.__setattr__(
            self, "psi", Formula(f"psi_{self.model}", self.psi_expr, (_b, _a), tag=self.tag)
        )
        object.__setattr__(self, "link_formula", Formula(f"link_{self.model}", link, (_z, _a)))

    @property
    def link_expr(self) -> sp.Expr:
        """beta(z) = (psi*)'(z) as a sympy expression."""
        return self.link_formula.expr

    @property
    def conjugate_expr(self) -> sp.Expr:
        """psi*(z) as a sympy expression."""
        F = sp.exp if self.kind == "exp" else sp.cosh
        r = sp.nsimplify(self.rate)
        return sp.nsimplify(self.amp) / r * _a**2 * F(r * _z)

    def value(self, beta: np.ndarray, alpha: float | np.ndarray) -> float:
        """psi_alpha(beta) = sum_i psi(beta_i; alpha)  (sum over the last axis)."""
        return np.sum(self.psi(beta, alpha), axis=-1)

    def _log_scale(self, z: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kz = self.rate * np.asarray(z, dtype=np.float64)
        la2 = 2.0 * np.log(np.asarray(alpha, dtype=np.float64))
        if self.kind == "exp":
            return kz, kz + la2
        return kz, np.abs(kz) + la2 - np.log(2.0)

    def link(self, z: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
        """beta = amp alpha^2 f(rate z), overflow-safe."""
        kz, e = self._log_scale(z, alpha)
        if self.kind == "exp":
            return self.amp * np.exp(e)
        return self.amp * np.sign(kz) * np.exp(e) * -np.expm1(-2.0 * np.abs(kz))

    def link_deriv(self, z: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
        """d beta / d z."""
        kz, e = self._log_scale(z, alpha)
        if self.kind == "exp":
            return self.amp * self.rate * np.exp(e)
        return self.amp * self.rate * np.exp(e) * (1.0 + np.exp(-2.0 * np.abs(kz)))

    def conjugate(self, z: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
        """psi*(z) (the dual objective's summand)."""
        kz, e = self._log_scale(z, alpha)
        if self.kind == "exp":
            return self.amp / self.rate * np.exp(e)
        return self.amp / self.rate * np.exp(e) * (1.0 + np.exp(-2.0 * np.abs(kz)))

    def gradient(self, beta: np.ndarray, alpha: float | np.ndarray) -> np.ndarray:
        """psi'(beta) coordinate-wise (the inverse link), from the sympy derivative."""
        return _gradient_formula(self.model)(beta, alpha)


_POTENTIALS: dict[str, Potential] = {
    "pm": Potential("pm", "w+ = w- = alpha (u = v = alpha)", "sinh", 2.0, 1.0,
                    _a**2 * Q_EXPR.subs(_t, _b / _a**2)),
    "uv": Potential("uv", "u = sqrt(2) alpha, v = 0", "sinh", 1.0, 2.0,
                    sp.Rational(1, 2) * (_b * sp.asinh(_b / _a**2) - sp.sqrt(_b**2 + _a**4)
                                         + _a**2)),
    "ww": Potential("ww", "w = alpha (beta >= 0)", "exp", 1.0, 1.0,
                    _b * sp.log(_b / _a**2) - _b),
}  # fmt: skip


@cache
def _gradient_formula(model: str) -> Formula:
    return Formula(f"dpsi_{model}", sp.diff(_POTENTIALS[model].psi_expr, _b), (_b, _a))


def get_potential(model: str) -> Potential:
    """The GF potential of ``model`` in {"ww", "uv", "pm"} (init as in diaglin's ``init``)."""
    return _POTENTIALS[_checks.model_name(model)]


_Q = Formula("q", Q_EXPR, (_t,), tag="[paper]")


def woodworth_q(t: np.ndarray | float) -> np.ndarray:
    """q(t) = 2 - sqrt(4 + t^2) + t asinh(t/2), elementwise (lambdified from :data:`Q_EXPR`)."""
    return _Q(_checks.finite_array(t, "t"))


def hyperbolic_entropy(beta: np.ndarray, alpha: float) -> np.ndarray:
    """Woodworth et al.'s Q_alpha(beta) = alpha^2 sum_i q(beta_i / alpha^2) (last axis summed).

    The GF potential of beta = u⊙u - v⊙v from u = v = alpha [paper: Woodworth et al. 2020].
    """
    a = _checks.positive_scalar(alpha, "alpha")
    return get_potential("pm").value(_checks.finite_array(beta, "beta"), a)


@dataclass(frozen=True)
class PotentialLimits:
    """Per-coordinate limits of psi_alpha, derived with sympy.

    rich: lim_{alpha->0} psi_alpha(beta) / (c log(1/alpha^2)) for beta > 0 (= beta; by symmetry
    |beta| for the odd-link models), with the normaliser c given in ``rich_scale``.
    kernel: lim_{alpha->inf} alpha^2 psi-Bregman(beta0 + b) in the displacement b from the initial
    beta0 (beta0 = 0 for uv/pm, alpha^2 for ww), with ``kernel_variable`` naming b.
    """

    rich: sp.Expr
    rich_scale: sp.Expr
    kernel: sp.Expr
    kernel_variable: sp.Symbol


@cache
def potential_limits(model: str) -> PotentialLimits:
    """Rich (alpha -> 0) and kernel (alpha -> inf) limits of the GF potential [paper/derived].

    rich:   psi_alpha(beta) / (c log(1/alpha^2)) -> |beta|, c = 1 (ww, pm), 1/2 (uv)  => min l1.
    kernel: alpha^2 [psi(beta0 + b) - psi(beta0) - psi'(beta0) b] -> k b^2 with k = 1/4 (uv, pm),
            1/2 (ww)  => min ||beta - beta0||_2.
    """
    pot = get_potential(model)
    bpos = sp.Symbol("b_pos", positive=True)
    psi = pot.psi_expr.subs(_b, bpos)
    c = sp.Rational(1, 2) if model == "uv" else sp.Integer(1)
    rich = sp.limit(psi / (c * sp.log(1 / _a**2)), _a, 0)
    disp = sp.Symbol("b", real=True)
    b0 = _a**2 if model == "ww" else sp.Integer(0)
    dpsi = sp.diff(pot.psi_expr, _b)
    bregman = (
        pot.psi_expr.subs(_b, b0 + disp) - pot.psi_expr.subs(_b, b0) - dpsi.subs(_b, b0) * disp
    )
    # Series in 1/alpha: substitute alpha = 1/e and expand around e = 0.
    e = sp.Symbol("e", positive=True)
    kernel = sp.limit(sp.series((bregman * _a**2).subs(_a, 1 / e), e, 0, 1).removeO(), e, 0)
    return PotentialLimits(rich=sp.simplify(rich.subs(bpos, _b)), rich_scale=c,
                           kernel=sp.simplify(kernel), kernel_variable=disp)  # fmt: skip


def gf_limit(X: np.ndarray, y: np.ndarray, model: str, alpha: float) -> DualSolution:
    """Gradient-flow limit beta_GF = argmin_{X beta = y} psi_alpha(beta) = link(X^T nu).

    Assumptions: loss 1/(2n)||X beta - y||^2, init as in the table of this module (diaglin's
    ``init(d, alpha)``), X with linearly independent rows, and (for "ww") y reachable with
    beta > 0. For one point (n = 1, model "ww") this is beta_i = alpha^2 exp(lambda x_i) with
    sum_i x_i alpha^2 exp(lambda x_i) = y, lambda = nu[0] [paper].
    """
    a = _checks.positive_scalar(alpha, "alpha")
    return solve_dual(X, y, get_potential(model), a)
