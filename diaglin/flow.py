"""Gradient flow dθ/dt = −∇L(θ), integrated accurately, with the sharpness along its path.

Integrator: scipy's DOP853 (explicit Runge–Kutta of order 8 with adaptive steps) at
rtol = 1e-11, atol = 1e-14 by default, stopped by an event when L(θ(t)) = eps. Sharpness is
evaluated exactly at every accepted step and its maximum refined on the dense output, giving
s_GF = max_t S(θ(t)) and the critical step size η_c = 2 / s_GF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import minimize_scalar

from diaglin import _validate as V
from diaglin.models import _numerics as nm
from diaglin.models import get_model
from diaglin.sharpness import sharpness


@dataclass(frozen=True)
class GFResult:
    """The gradient-flow path: t (T,), theta (T, P), loss (T,), sharpness (T,) at solver steps.

    s_gf: max sharpness along the path (refined between steps), t_s_gf its time,
    eta_c = 2 / s_gf. converged: the loss reached eps before t_max.
    """

    t: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    theta_final: np.ndarray
    beta_final: np.ndarray
    converged: bool
    s_gf: float
    t_s_gf: float
    eta_c: float


def gradient_flow(
    model,
    X,
    y,
    theta0,
    *,
    eps: float = 1e-12,
    t_max: float = 1e7,
    rtol: float = 1e-11,
    atol: float = 1e-14,
) -> GFResult:
    """Integrate dθ/dt = −∇L(θ), L = 1/(2n)||Xβ(θ) − y||², from θ0 until L = eps (or t_max)."""
    model = get_model(model)
    X, y = V.check_data(X, y)
    th0 = V.check_theta(theta0, model.n_params(X.shape[1]))
    if th0.ndim != 1:
        raise ValueError(f"theta0 must be 1-D for gradient_flow, got shape {th0.shape}")
    eps = V.check_positive("eps", eps)
    t_max = V.check_positive("t_max", t_max)
    K, d = model.n_blocks, X.shape[1]
    r = np.empty(X.shape[0])
    g = np.empty((K, d))

    def rhs(_t, th):
        nm.grad_run(model.kind, model.depth, th.reshape(K, d, 1), 0, X, y, g)
        return -g.reshape(-1)

    def reached(_t, th):
        return nm.residual_run(model.kind, model.depth, th.reshape(K, d, 1), 0, X, y, r) - eps

    reached.terminal = True
    reached.direction = -1
    sol = solve_ivp(
        rhs, (0.0, t_max), th0, method="DOP853", rtol=rtol, atol=atol,
        events=reached, dense_output=True,
    )  # fmt: skip
    if sol.status < 0:
        raise RuntimeError(f"gradient_flow integration failed: {sol.message}")
    theta = np.ascontiguousarray(sol.y.T)
    sharp = np.atleast_1d(sharpness(model, theta, X, y).top_abs)
    i = int(np.argmax(sharp))
    s_gf, t_s = float(sharp[i]), float(sol.t[i])
    if 0 < i < len(sol.t) - 1:
        opt = minimize_scalar(
            lambda t: -sharpness(model, sol.sol(t), X, y).top_abs,
            bounds=(sol.t[i - 1], sol.t[i + 1]),
            method="bounded",
            options={"xatol": 1e-10 * max(1.0, sol.t[i])},
        )
        if -opt.fun > s_gf:
            s_gf, t_s = float(-opt.fun), float(opt.x)
    return GFResult(
        t=sol.t,
        theta=theta,
        loss=np.atleast_1d(model.loss(theta, X, y)),
        sharpness=sharp,
        theta_final=theta[-1],
        beta_final=model.beta(theta[-1]),
        converged=sol.status == 1,
        s_gf=s_gf,
        t_s_gf=t_s,
        eta_c=2.0 / s_gf,
    )
