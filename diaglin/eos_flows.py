"""Continuous-time models of gradient descent at the edge of stability, batched over η, with
the exact derivatives of the diagonal models (third-derivative contractions included).

GD θ_{k+1} = θ_k − η∇L(θ_k) with η above η_c oscillates along the Hessian's top eigenvector
while its sharpness S hovers at 2/η. Each flow here models the *time-averaged* trajectory; its
time t counts GD steps (gradient flow is dθ/dt = −η∇L), so GD's step k is the flow's time k.

``"central"`` — the central flow (J. Cohen, A. Damian, A. Talwalkar, Z. Kolter, J. Lee,
"Understanding Optimization in Deep Learning with Central Flows", ICLR 2025):

    dθ/dt = −η [∇L(θ) + ½ ∇⟨Σ, ∇²L(θ)⟩],   Σ = Σ_ab M_ab v_a v_bᵀ ⪰ 0,

v_a the Hessian's eigenvectors whose η λ_a exceeds ``threshold`` (default 1.95, the authors'
code) or that the substep would carry past 2, M the solution of the semidefinite
complementarity problem that keeps every η λ_a ≤ 2: M ⪰ 0, 2I − η V̂ᵀ∇²L(θ + dt θ')V̂ ⪰ 0
(linearised over the substep), complementary. With one critical eigenvalue at 2/η,
σ² = 2⟨−∇L, ∇S⟩/‖∇S‖² and θ' is −η times the gradient projected orthogonally to ∇S: the
gradient flow constrained to the stable region {S ≤ 2/η}. Below 2/η,
Σ = 0 and the flow is gradient flow. Σ is the covariance of GD's oscillation about the centre;
the predicted time-averaged GD loss is L(θ) + tr Σ / η. Discretised as the authors do: explicit
Euler with ``substeps`` = 4 substeps per GD step, with the linearised constraint (it restores
η λ = 2 within a substep, so the constraint does not drift).

``"rod"`` — rod flow (E. Regis, S. Chewi, "Rod Flow: A Continuous-Time Model for Gradient
Descent at the Edge of Stability", arXiv 2602.01480, 2026): two consecutive GD iterates are the
ends θ̄ ∓ δ of a rod, θ̄ = (θ_k + θ_{k+1})/2, δ = (θ_{k+1} − θ_k)/2; δ flips sign with every
step at EoS, so the flow carries the rod's extent Σ = δδᵀ (±δ read off as its top eigenpair).
GD's exact one-step relations θ̄_{k+1} − θ̄_k = −(η/2)(∇L₊ + ∇L₋) and
Σ_{k+1} − Σ_k = (η²/4)(∇L₊∇L₊ᵀ − ∇L₋∇L₋ᵀ), L± = L(θ̄ ± δ), become

    dθ̄/dt = −(η/2)(∇L₊ + ∇L₋) − (η²/8)(∇²L₊ + ∇²L₋)(∇L₊ + ∇L₋),
    dΣ/dt = (η²/4)(∇L₊∇L₊ᵀ + ∇L₋∇L₋ᵀ) − 2Σ,

the centre's first-order modified-equation term included (as δ → 0 it is GD's modified flow
−η∇(L + η‖∇L‖²/4)). On a quadratic of curvature S, dΣ/dt = (η²S²/2 − 2)Σ: the rod grows iff
S > 2/η. Start: the rod through θ0 and θ1 = θ0 − η∇L(θ0). Integrated by classical Runge–Kutta
(order 4), ``substeps`` per GD step. [The paper's text was not available to us: these are its
equations as a secondary source states them, checked here against GD's one-step relations.]

Edge Flow (P. Marion, arXiv 2606.18080, 2026) is not implemented: only its abstract was
available, and a model guessed from an abstract would not be the paper's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from diaglin import _validate as V
from diaglin._threads import blas_threads
from diaglin._version import __version__
from diaglin.chunks import in_chunks
from diaglin.driver import memory_bytes, require_memory
from diaglin.kernels import eos_flows as kern
from diaglin.kernels.stop import RUNNING
from diaglin.models import DiagonalModel, get_model
from diaglin.results import STATS, GDResult, IterateStats, Trajectory

#: the flows, by name (``eos_flow``'s first argument)
FLOWS = ("central", "rod")
_KERNEL_FLOW = {"central": kern.CENTRAL, "rod": kern.ROD}


@dataclass(frozen=True)
class EoSFlowResult(GDResult):
    """``GDResult`` of a flow: ``steps`` is the time (in GD steps) at which the GD loss the
    flow models fell below eps (or ``max_steps``), ``final`` the statistics of the final centre,
    ``trajectory`` the centre every ``record_every`` steps. The oscillation the flow predicts
    about its centre: ``oscillation`` (B,) at the end and ``trajectory_oscillation`` (B, T):
    tr Σ (for the rod Σ = δδᵀ: ‖δ‖²), the mean squared distance of GD's iterates from the
    centre; ``trajectory_gd_loss`` (B, T): the loss of GD the flow models (the central flow's
    time average L(θ) + tr Σ / η, the mean (L₊ + L₋)/2 of the rod's ends' losses), the quantity
    its stopping rule tests. ``unsolved`` (B,): the central flow's substeps whose
    complementarity problem for Σ was not solved to tolerance (the velocity there is not
    exact; 0 in a sound run, always 0 for the rod)."""

    flow: str = "central"
    oscillation: np.ndarray | None = None
    trajectory_oscillation: np.ndarray | None = None
    trajectory_gd_loss: np.ndarray | None = None
    unsolved: np.ndarray | None = None


def eos_flow(
    flow: str,
    model,
    X,
    y,
    etas,
    theta0,
    *,
    eps: float = 1e-12,
    max_steps: int = 100_000,
    substeps: int = 4,
    threshold: float = 1.95,
    record_every: int = 0,
    record_until: int | None = None,
    diverge_factor: float = 1e8,
    stats: str = "all",
    progress: Callable[[int], None] | None = None,
) -> EoSFlowResult:
    """Integrate the flow ``flow`` ("central" or "rod", see the module docstring) for every
    step size of ``etas`` (B,) from ``theta0`` ((P,) shared or (B, P)): one parallel kernel,
    ``prange`` over the runs.

    Time is in GD steps; each run stops when the GD loss it models (the central flow's
    L(θ) + tr Σ / η, the rod's (L₊ + L₋)/2) falls below ``eps`` (CONVERGED, ``steps`` = that
    time), becomes non-finite or exceeds
    ``diverge_factor`` · max(L(θ0), eps) (DIVERGED), or at time ``max_steps`` (MAX_STEPS) —
    GD's stopping rule (``run_gd``), so that the two compare run for run (a run that diverges
    to a non-finite state reports its last finite one). ``substeps``: steps
    of the integrator per unit of time (≥ 1). ``record_every`` > 0: keep the centre (and the
    oscillation and modelled GD loss) at times 0, record_every, … up to ``record_until``
    (default ``max_steps``). ``threshold``: the central flow treats an
    eigenvalue as critical when η λ exceeds it (in (0, 2)). Diagonal models only.
    ``progress``: called with the time reached now and then (every ~0.25 s); the runs advance
    in short kernel calls, so KeyboardInterrupt takes effect within about a second. A batch
    whose recording would not fit in memory raises ``diaglin.driver.BatchTooLarge`` first.
    """
    V.check_choice("flow", flow, FLOWS)
    model = get_model(model)
    if not isinstance(model, DiagonalModel):
        raise ValueError(f"model: the EoS flows take a diagonal model, got {model!r}")
    X, y, etas, theta0, eps, diverge_factor, max_steps, record_every = V.check_batch_run(
        model, X, y, etas, theta0, eps=eps, diverge_factor=diverge_factor, max_steps=max_steps,
        record_every=record_every,
    )  # fmt: skip
    B, d = etas.size, X.shape[1]
    substeps = V.check_int("substeps", substeps, 1)
    record_until = (
        max_steps if record_until is None else V.check_int("record_until", record_until, 0)
    )
    threshold = V.check_positive("threshold", threshold)
    if threshold >= 2.0:
        raise ValueError(f"threshold must be in (0, 2), got {threshold}")
    V.check_choice("stats", stats, STATS)

    rows = np.ascontiguousarray(np.broadcast_to(theta0, (B, theta0.shape[-1])), dtype=float)
    K, n = model.n_blocks, X.shape[0]
    P = K * d
    T = min(max_steps, record_until) // record_every + 1 if record_every else 0
    rod = flow == "rod"
    require_memory(
        memory_bytes(B, n, d, K, max_steps=min(max_steps, record_until),
                     record_every=record_every) + (8 * B * P * P if rod else 0),
        f"{B} runs of the {flow} flow",
    )  # fmt: skip
    theta = rows.reshape(B, K, d).copy()
    state = theta.copy()
    Sigma = np.zeros((B, P, P) if rod else (B, 1, 1))
    direction = np.zeros((B, P))
    carry = np.zeros(B)
    loss_cap = diverge_factor * np.maximum(np.atleast_1d(model.loss(rows, X, y)), eps)
    rec = np.full((B, T, K, d), np.nan)
    rec_osc = np.full((B, T), np.nan)
    rec_loss = np.full((B, T), np.nan)
    status = np.full(B, RUNNING, np.int8)
    steps = np.zeros(B, np.int64)
    osc = np.zeros(B)
    unsolved = np.zeros(B, np.int64)
    kernel = kern.flow_kernel(_KERNEL_FLOW[flow])
    A = X.T @ X / n

    def advance(step0: int, step_end: int) -> None:
        kernel(model.kind, model.depth, X, y, A, etas, theta, state, Sigma, direction, carry,
               step0, step_end, max_steps, substeps, eps, loss_cap, threshold, record_every,
               rec, rec_osc, rec_loss, status, steps, osc, unsolved)  # fmt: skip

    with blas_threads(1):  # LAPACK inside the parallel loop (03_performance.md, lesson 4)
        in_chunks(advance, max_steps, status, B * substeps * (P**3 + 4 * n * P), progress)

    final = IterateStats.at(model, theta.reshape(B, K * d), X, y, stats)
    trajectory = None
    if record_every:
        stats_t = IterateStats.of_rows(model, rec.reshape(B, T, K * d), X, y, stats)
        trajectory = Trajectory(steps=np.arange(T) * record_every, stats=stats_t)
    config = dict(
        flow=flow, model=model.name, depth=model.depth, n=n, d=d, eps=eps,
        max_steps=max_steps, substeps=substeps, threshold=threshold,
        diverge_factor=diverge_factor, record_every=record_every, record_until=record_until,
        stats=stats, version=__version__,
    )  # fmt: skip
    return EoSFlowResult(
        etas=etas, steps=steps, status=status, final=final, trajectory=trajectory,
        config=config, flow=flow, oscillation=osc,
        trajectory_oscillation=rec_osc if record_every else None,
        trajectory_gd_loss=rec_loss if record_every else None, unsolved=unsolved,
    )  # fmt: skip


__all__ = ["FLOWS", "EoSFlowResult", "eos_flow"]
