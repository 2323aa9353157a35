"""Gradient flow dθ/dt = −∇L(θ), integrated accurately, with the sharpness along its path.

Integrator: scipy's DOP853 (explicit Runge–Kutta of order 8 with adaptive steps) at
rtol = 1e-11, atol = 1e-14 by default, stepped here so that the number of steps is capped, and
stopped at the time where L(θ(t)) = eps (root of the dense output). Sharpness is evaluated
exactly at every accepted step and its maximum refined on the dense output, giving
s_GF = max_t S(θ(t)) and the critical step size η_c = 2 / s_GF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import DOP853, OdeSolution
from scipy.optimize import brentq, minimize_scalar

from diaglin import _validate as V
from diaglin.models import _numerics as nm
from diaglin.models import get_model
from diaglin.nets import Network
from diaglin.nets import numerics as nn
from diaglin.spectrum import sharpness
from diaglin.status import FlowStatus


@dataclass(frozen=True)
class GFResult:
    """The gradient-flow path: t (T,), theta (T, P), loss (T,), sharpness (T,) at solver steps
    (NaN where not evaluated, see ``gradient_flow``'s ``sharpness_points``).

    status: CONVERGED (the loss reached eps; the last point is where it did), T_MAX or
    MAX_STEPS. s_gf: max sharpness along the path (refined between steps), t_s_gf its time,
    eta_c = 2 / s_gf — all three NaN unless converged, since s_GF is defined on the path up to
    L = eps (the path's own ``sharpness`` is kept either way).
    """

    t: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    theta_final: np.ndarray
    beta_final: np.ndarray
    status: FlowStatus
    s_gf: float
    t_s_gf: float
    eta_c: float

    @property
    def converged(self) -> bool:
        """True when the loss reached eps (``status == FlowStatus.CONVERGED``)."""
        return self.status == FlowStatus.CONVERGED


def _flow_functions(model, X, y, eps):
    """(rhs(t, θ) = −∇L(θ), L(θ) − eps) for θ of shape (P,)."""
    if isinstance(model, Network):
        T = model.targets(y)

        def rhs(_t, th):
            return -nn.loss_grad(model, th[None], X, T)[1][0]

        def above_eps(th) -> float:
            return float(nn.loss(model, th[None], X, T)[0]) - eps

        return rhs, above_eps
    K, d = model.n_blocks, X.shape[1]
    r = np.empty(X.shape[0])
    g = np.empty((K, d))

    def rhs(_t, th):
        nm.grad_run(model.kind, model.depth, th.reshape(K, d, 1), 0, X, y, g)
        return -g.reshape(-1)

    def above_eps(th) -> float:
        return nm.residual_run(model.kind, model.depth, th.reshape(K, d, 1), 0, X, y, r) - eps

    return rhs, above_eps


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
    max_steps: int = 50_000,
    sharpness_points: int | None = None,
) -> GFResult:
    """Integrate dθ/dt = −∇L(θ) (L: the model's training loss, 1/(2n)||Xβ(θ) − y||² for the diagonal
    models, the mean per-sample loss for networks) from θ0 until L = eps, t = t_max or
    ``max_steps`` accepted solver steps, whichever comes first (see ``GFResult.status``).
    The sharpness is evaluated at every solver step, or, with ``sharpness_points`` = m, at m
    steps evenly spread over the path (NaN at the others; for large models whose flow takes
    thousands of steps); s_GF is refined between the neighbours of the largest value (between
    it and its one neighbour when it is the first or the last point)."""
    model = get_model(model)
    X, y = V.check_data(X, y)
    th0 = V.check_theta(theta0, model.n_params(X.shape[1]))
    if th0.ndim != 1:
        raise ValueError(f"theta0 must be 1-D for gradient_flow, got shape {th0.shape}")
    eps = V.check_positive("eps", eps)
    t_max = V.check_positive("t_max", t_max)
    rtol = V.check_positive("rtol", rtol)
    atol = V.check_positive("atol", atol)
    max_steps = V.check_int("max_steps", max_steps, 1)
    if sharpness_points is not None:
        sharpness_points = V.check_int("sharpness_points", sharpness_points, 3)
    rhs, above_eps = _flow_functions(model, X, y, eps)
    ts, ys, pieces = [0.0], [th0], []
    status = FlowStatus.MAX_STEPS
    if above_eps(th0) <= 0:
        status = FlowStatus.CONVERGED
    else:
        solver = DOP853(rhs, 0.0, th0, t_max, rtol=rtol, atol=atol)
        for _ in range(max_steps):
            message = solver.step()
            if solver.status == "failed":
                raise RuntimeError(f"gradient_flow integration failed: {message}")
            piece = solver.dense_output()
            pieces.append(piece)
            if above_eps(solver.y) <= 0:  # L = eps is crossed inside this step
                t_hit = brentq(lambda t, p=piece: above_eps(p(t)), solver.t_old, solver.t,
                               xtol=4 * np.finfo(float).eps * max(1.0, solver.t))  # fmt: skip
                ts.append(t_hit)
                ys.append(piece(t_hit))
                status = FlowStatus.CONVERGED
                break
            ts.append(solver.t)
            ys.append(solver.y.copy())
            if solver.status == "finished":
                status = FlowStatus.T_MAX
                break
    t = np.array(ts)
    theta = np.ascontiguousarray(np.array(ys))
    at = np.arange(t.size)
    if sharpness_points is not None and t.size > sharpness_points:
        at = np.unique(np.linspace(0, t.size - 1, sharpness_points).round().astype(np.int64))
    sharp = np.full(t.size, np.nan)
    sharp[at] = np.atleast_1d(sharpness(model, theta[at], X, y, bottom=False).top_abs)
    s_gf = t_s = eta_c = float("nan")
    if status == FlowStatus.CONVERGED:
        k = int(np.nanargmax(sharp[at]))
        i = at[k]
        s_gf, t_s = float(sharp[i]), float(t[i])
        if at.size > 1:  # the peak lies between the neighbours (one side at an end point)
            path = OdeSolution(t, pieces)
            opt = minimize_scalar(
                lambda tt: -sharpness(model, path(tt), X, y, bottom=False).top_abs,
                bounds=(t[at[max(k - 1, 0)]], t[at[min(k + 1, at.size - 1)]]),
                method="bounded",
                options={"xatol": 1e-10 * max(1.0, t[i])},
            )
            if -opt.fun > s_gf:
                s_gf, t_s = float(-opt.fun), float(opt.x)
        eta_c = 2.0 / s_gf
    return GFResult(
        t=t,
        theta=theta,
        loss=np.atleast_1d(model.loss(theta, X, y)),
        sharpness=sharp,
        theta_final=theta[-1],
        beta_final=model.beta(theta[-1]),
        status=status,
        s_gf=s_gf,
        t_s_gf=t_s,
        eta_c=eta_c,
    )
