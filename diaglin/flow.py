"""Gradient flow dθ/dt = −∇L(θ), integrated accurately, with the sharpness along its path:
s_GF = max_t S(θ(t)) up to L = eps, and the critical step size η_c = 2 / s_GF.

Two integrators (``method``):

- ``"dual"`` (the diagonal models; ``prod`` from equal blocks): the flow in its dual form, the
  n-dimensional integrated residual ρ(t) = ∫ r, with θ(ρ) in closed form
  (:mod:`diaglin.kernels.gf_dual`), by an implicit Radau IIA scheme (order 5, L-stable) with
  the exact Jacobian −NTK/n, compiled with Numba: stiff flows (near the interpolating set the
  kernel's eigenvalues spread over decades) cost hundreds of steps, not millions. Sharpness is
  evaluated exactly at every step until a certificate proves it cannot exceed the largest
  value seen on the rest of the path; the maximum is refined by golden-section search on
  re-integrated states. The limit t → ∞ comes with it (``GFResult.beta_limit``).
- ``"dop853"`` (networks, unequal ``prod`` blocks): scipy's explicit Runge–Kutta of order 8,
  stepped here so that the number of steps is capped, stopped where L(θ(t)) = eps (root of
  the dense output), sharpness at every step, maximum refined on the dense output.

``"auto"`` (default) picks ``"dual"`` wherever it applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import DOP853, OdeSolution
from scipy.optimize import brentq, minimize_scalar

from diaglin import _validate as V
from diaglin.kernels import gf_dual
from diaglin.models import _numerics as nm
from diaglin.models import _ops, get_model
from diaglin.nets import Network
from diaglin.nets import numerics as nn
from diaglin.spectrum import sharpness
from diaglin.status import FlowStatus


@dataclass(frozen=True)
class GFResult:
    """The gradient-flow path: t (T,), theta (T, P), loss (T,), sharpness (T,) at solver steps
    (NaN where not evaluated, see ``gradient_flow``'s ``sharpness_points``).

    status: CONVERGED (the loss reached eps; the last point is where it did), T_MAX,
    MAX_STEPS, DIVERGED or STALLED. s_gf: max sharpness along the path (refined between steps),
    t_s_gf its time, eta_c = 2 / s_gf — all three NaN unless converged, since s_GF is defined on
    the path up to L = eps (the path's own ``sharpness`` is kept either way).

    ``method``: the integrator used. With ``"dual"`` also: ``s_gf_certified`` — True when no
    point of the path after the sampled ones can exceed s_gf beyond the refinement: either the
    sharpness was evaluated at every step to the end, or a certificate bounded it on the rest
    of the path by ``s_gf_bound`` <= the largest value seen (the ``sharpness`` entries after
    that are NaN); ``beta_limit``: β(θ(t → ∞)) from Newton's method on the dual, exact to
    rounding where the kernel is nonsingular at the limit; NaN where it is singular (a limit on
    a face of the interpolating set, reached only algebraically) or the flow did not converge.
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
    method: str = "dop853"
    s_gf_bound: float = float("nan")
    beta_limit: np.ndarray | None = None

    @property
    def converged(self) -> bool:
        """True when the loss reached eps (``status == FlowStatus.CONVERGED``)."""
        return self.status == FlowStatus.CONVERGED

    @property
    def s_gf_certified(self) -> bool:
        """True for a converged ``"dual"`` flow (see the class docstring)."""
        return self.method == "dual" and self.converged


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
    method: str = "auto",
) -> GFResult:
    """Integrate dθ/dt = −∇L(θ) (L: the model's training loss, 1/(2n)||Xβ(θ) − y||² for the diagonal
    models, the mean per-sample loss for networks) from θ0 until L = eps, t = t_max or
    ``max_steps`` accepted solver steps, whichever comes first (see ``GFResult.status``).
    The sharpness is evaluated at every solver step, or, with ``sharpness_points`` = m, at m
    steps evenly spread over the path (NaN at the others; for large models whose flow takes
    thousands of steps; ``"dop853"`` only); s_GF is refined between the neighbours of the
    largest value (between it and its one neighbour when it is the first or the last point).
    ``method``: ``"auto"``, ``"dual"`` or ``"dop853"`` (module docstring); rtol and atol bound
    the local error of θ (``"dop853"``) or of the integrated residual ρ (``"dual"``)."""
    model = get_model(model)
    X, y = V.check_data(X, y)
    th0 = V.check_theta(theta0, model.n_params(X.shape[1]))
    if th0.ndim != 1:
        raise ValueError(f"theta0 must be 1-D for gradient_flow, got shape {th0.shape}")
    eps = V.check_positive("eps", eps)
    t_max, rtol, atol, max_steps = _check_options(t_max, rtol, atol, max_steps)
    if sharpness_points is not None:
        sharpness_points = V.check_int("sharpness_points", sharpness_points, 3)
    method = _choose_method(method, model, th0, X.shape[1])
    if method == "dual":
        return _dual_flow(model, X, y, th0, eps, t_max, rtol, atol, max_steps)
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


METHODS = ("auto", "dual", "dop853")


def _check_options(t_max, rtol, atol, max_steps) -> tuple[float, float, float, int]:
    """The integration options of both calls, checked (ValueError naming the argument)."""
    return (V.check_positive("t_max", t_max), V.check_positive("rtol", rtol),
            V.check_positive("atol", atol), V.check_int("max_steps", max_steps, 1))  # fmt: skip


def dual_applies(model, theta0: np.ndarray, d: int) -> bool:
    """True when θ(ρ) has a closed form (``diaglin.kernels.gf_dual``): every diagonal model,
    ``prod`` only where each coordinate's blocks are equal."""
    if isinstance(model, Network):
        return False
    if model.kind != _ops.PROD or model.n_blocks == 1:
        return True
    blocks = np.atleast_2d(theta0).reshape(-1, model.n_blocks, d)
    return bool(np.all(blocks == blocks[:, :1, :]))


def _choose_method(method: str, model, th0: np.ndarray, d: int) -> str:
    V.check_choice("method", method, METHODS)
    if method == "dop853":
        return method
    if dual_applies(model, th0, d):
        return "dual"
    if method == "dual":
        raise ValueError("method: 'dual' needs a diagonal model (for prod: equal blocks in "
                         "every coordinate of theta0); use 'dop853' or 'auto'")  # fmt: skip
    return "dop853"


def _dual_flow(model, X, y, th0, eps, t_max, rtol, atol, max_steps) -> GFResult:
    n, d = X.shape
    K = model.n_blocks
    tile0 = model.to_tile(th0)
    ts = np.empty(max_steps + 2)
    rhos = np.empty((max_steps + 2, n))
    sharp = np.empty(max_steps + 2)
    info = np.empty(8 + n)
    gf_dual.integrate(model.kind, model.depth, tile0, X, y, eps, t_max, rtol, atol, max_steps,
                      ts, rhos, sharp, info, True)  # fmt: skip
    status = FlowStatus(int(info[0]))
    T = int(info[2])
    theta = np.empty((T, K * d))
    gf_dual.theta_path(model.kind, model.depth, tile0, X, rhos[:T], theta)
    limit_rho = np.full(n, np.nan)
    found = status == FlowStatus.CONVERGED and gf_dual.newton_limit(
        model.kind, model.depth, tile0, X, y, info[8:], limit_rho
    )
    beta_limit = np.full(d, np.nan)
    if found:
        theta_inf = np.empty((1, K * d))
        gf_dual.theta_path(model.kind, model.depth, tile0, X, limit_rho[None], theta_inf)
        beta_limit = model.beta(theta_inf[0])
    converged = status == FlowStatus.CONVERGED
    s_gf = float(info[4]) if converged else float("nan")
    return GFResult(
        t=ts[:T].copy(),
        theta=theta,
        loss=np.atleast_1d(model.loss(theta, X, y)),
        sharpness=sharp[:T].copy(),
        theta_final=theta[-1],
        beta_final=model.beta(theta[-1]),
        status=status,
        s_gf=s_gf,
        t_s_gf=float(info[5]) if converged else float("nan"),
        eta_c=2.0 / s_gf if converged else float("nan"),
        method="dual",
        s_gf_bound=float(info[6]) if info[7] else float("nan"),
        beta_limit=beta_limit,
    )


@dataclass(frozen=True)
class GFBatch:
    """Gradient flows of one model and data from B initialisations (``gradient_flow_batch``),
    each a ``gradient_flow(..., method="dual")`` without its path: status (B,) FlowStatus
    codes, steps (B,), t_end (B,), s_gf, t_s_gf, eta_c (B,; NaN unless converged), beta_final
    (B, d) at L = eps, beta_limit (B, d) at t → ∞ (NaN where not found, see ``GFResult``)."""

    status: np.ndarray
    steps: np.ndarray
    t_end: np.ndarray
    s_gf: np.ndarray
    t_s_gf: np.ndarray
    eta_c: np.ndarray
    beta_final: np.ndarray
    beta_limit: np.ndarray


def gradient_flow_batch(
    model,
    X,
    y,
    theta0,
    *,
    eps=1e-12,
    t_max: float = 1e7,
    rtol: float = 1e-11,
    atol: float = 1e-14,
    max_steps: int = 50_000,
) -> GFBatch:
    """``gradient_flow(..., method="dual")`` for every row of theta0 (B, P) in one call, in
    parallel over the rows (an α or ε axis of a phase map); ``eps``: a float or (B,)."""
    model = get_model(model)
    X, y = V.check_data(X, y)
    n, d = X.shape
    th0 = np.atleast_2d(V.check_theta(theta0, model.n_params(d)))
    B = th0.shape[0]
    eps_b = np.asarray(eps, dtype=float)
    if eps_b.ndim > 1 or (eps_b.ndim == 1 and eps_b.size != B):
        raise ValueError(f"eps: a float or one per run ({B}), got shape {eps_b.shape}")
    eps_b = np.broadcast_to(eps_b, (B,)).copy()
    if not (np.all(np.isfinite(eps_b)) and np.all(eps_b > 0)):
        raise ValueError(f"eps: must be finite and > 0, got {eps!r}")
    t_max, rtol, atol, max_steps = _check_options(t_max, rtol, atol, max_steps)
    if not dual_applies(model, th0, d):
        raise ValueError("theta0: prod needs equal blocks in every coordinate for the batched "
                         "flow; call gradient_flow (method 'dop853') per run")  # fmt: skip
    tile = model.to_tile(th0)
    info = np.empty((B, 8 + n))
    limits = np.full((B, n), np.nan)
    found = np.zeros(B, np.bool_)
    gf_dual.integrate_batch(model.kind, model.depth, tile, X, y, eps_b, t_max, rtol, atol,
                            max_steps, info, limits, found)  # fmt: skip
    theta_end = _theta_rows(model, tile, X, info[:, 8:])
    beta_limit = np.full((B, d), np.nan)
    if found.any():
        beta_limit[found] = model.beta(_theta_rows(model, tile[:, :, found], X, limits[found]))
    status = info[:, 0].astype(np.int8)
    conv = status == FlowStatus.CONVERGED
    s_gf = np.where(conv, info[:, 4], np.nan)
    return GFBatch(
        status=status,
        steps=info[:, 1].astype(np.int64),
        t_end=info[:, 3].copy(),
        s_gf=s_gf,
        t_s_gf=np.where(conv, info[:, 5], np.nan),
        eta_c=2.0 / s_gf,
        beta_final=model.beta(theta_end),
        beta_limit=beta_limit,
    )


def _theta_rows(model, tile0: np.ndarray, X: np.ndarray, rhos: np.ndarray) -> np.ndarray:
    """θ(ρ_b) (B, P) of run b's initialisation (tile (K, d, B)) at its ρ_b (rows of rhos)."""
    out = np.empty((rhos.shape[0], tile0.shape[0] * tile0.shape[1]))
    for b in range(rhos.shape[0]):
        gf_dual.theta_path(model.kind, model.depth, np.ascontiguousarray(tile0[:, :, b : b + 1]),
                           X, rhos[b : b + 1], out[b : b + 1])  # fmt: skip
    return out
