"""``run_gd``: B independent full-batch gradient-descent runs on one data set, in one kernel.

Each run b has its own step size η_b (and optionally its own start θ0_b) and iterates
θ_{k+1} = θ_k − η_b ∇L(θ_k),  L(θ) = 1/(2n) ||X β(θ) − y||²,
until L(θ_k) < eps (CONVERGED, steps = k), L is non-finite or exceeds
diverge_factor · max(L(θ0), eps) (DIVERGED; the result holds the last finite iterate), or
k = max_steps (MAX_STEPS). Summary statistics are exact and computed at the final iterate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from diaglin import _validate as V
from diaglin._version import __version__
from diaglin.kernels.blas import gd_blas
from diaglin.kernels.tile import RUNNING, GDState, gd_kernel
from diaglin.models import DiagonalModel, get_model
from diaglin.spectrum import DENSE_MAX_P, dense_chunk_entries, sharpness
from diaglin.status import Status

#: ``path="auto"`` switches from the tile kernel to the BLAS path at this n·d
#: (benchmarks/bench_gd.py: tile wins at n·d = 2000, BLAS at n·d = 2·10⁵).
BLAS_MIN_ND = 20_000
#: Largest B · max_steps · d allowed for ``record_grads`` (float64 entries).
GRAD_HISTORY_MAX = 50_000_000
#: The tile kernel runs in calls of about this many seconds (Ctrl-C acts between calls).
CHUNK_SECONDS = 0.25
#: Work (run · step · (n·d + K·d) updates) of the first call, before any timing is known.
_FIRST_CHUNK_WORK = 2_000_000

BACKENDS = ("cpu",)


@dataclass(frozen=True)
class IterateStats:
    """Exact statistics of a set of iterates θ (B, P): β, loss, sharpness, norms."""

    theta: np.ndarray
    beta: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray  #: max |λ| of ∇²L
    sharpness_max: np.ndarray  #: max λ of ∇²L
    hessian_trace: np.ndarray
    l1_theta: np.ndarray
    l2_theta: np.ndarray
    l1_beta: np.ndarray
    l2_beta: np.ndarray

    @classmethod
    def at(cls, model: DiagonalModel, theta: np.ndarray, X, y) -> IterateStats:
        """Compute every statistic at the rows of ``theta``."""
        s = sharpness(model, theta, X, y)
        beta = model.beta(theta)
        return cls(
            theta=theta,
            beta=beta,
            loss=np.atleast_1d(model.loss(theta, X, y)),
            sharpness=s.top_abs,
            sharpness_max=s.top,
            hessian_trace=s.trace,
            l1_theta=np.abs(theta).sum(axis=-1),
            l2_theta=np.sqrt((theta * theta).sum(axis=-1)),
            l1_beta=np.abs(beta).sum(axis=-1),
            l2_beta=np.sqrt((beta * beta).sum(axis=-1)),
        )


@dataclass(frozen=True)
class Trajectory:
    """Iterates every ``record_every`` steps: ``steps`` (T,), arrays (B, T, ...).

    Entries after a run stopped are NaN.
    """

    steps: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    l1_theta: np.ndarray
    l1_beta: np.ndarray


@dataclass(frozen=True)
class GDResult:
    """Per-run outcome of ``run_gd`` (arrays over the B runs).

    ``final`` holds the statistics at the final iterate (also reachable as attributes:
    ``result.sharpness`` is ``result.final.sharpness``). ``averaged`` (if requested) holds the
    same statistics at the mean of the last K iterates, which removes EoS oscillations.
    """

    etas: np.ndarray
    steps: np.ndarray
    status: np.ndarray
    final: IterateStats
    averaged: IterateStats | None = None
    trajectory: Trajectory | None = None
    grad_history: np.ndarray | None = None
    config: dict = field(default_factory=dict)

    def __getattr__(self, name):
        # Delegate final-iterate statistics (theta, beta, loss, sharpness, norms, ...).
        if name != "final" and name in IterateStats.__dataclass_fields__:
            return getattr(self.final, name)
        raise AttributeError(name)

    @property
    def converged(self) -> np.ndarray:
        return self.status == Status.CONVERGED

    @property
    def diverged(self) -> np.ndarray:
        return self.status == Status.DIVERGED


def run_gd(
    model,
    X,
    y,
    etas,
    theta0,
    *,
    eps: float = 1e-12,
    max_steps: int = 100_000,
    record_every: int = 0,
    record_grads: bool = False,
    average_last: int = 0,
    diverge_factor: float = 1e8,
    backend: str = "cpu",
    path: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> GDResult:
    """Run len(etas) GD runs θ_{k+1} = θ_k − η_b ∇L(θ_k) in one batched kernel.

    Args:
        model: a ``DiagonalModel`` or its name ("ww", "uv", "pm", "prod", "power").
        X, y: data (n, d) and (n,).
        etas: step sizes (B,), all > 0 (a scalar is one run).
        theta0: start (P,) shared by every run, or (B, P) one per run.
        eps: stop when L < eps.  max_steps: at most this many steps.
        record_every: if k > 0, keep θ every k steps (``trajectory``).
        record_grads: keep g_k = Xᵀ(Xβ_k − y)/n of every step
            (``grad_history``, (B, max_steps, d)).
        average_last: if K > 0, also report statistics at the mean of the last K iterates.
        diverge_factor: a run diverged when L > diverge_factor · max(L(θ0), eps) or non-finite.
        backend: "cpu" (the seam for a future "cuda").
        path: "tile" (Numba, vectorised across runs), "blas" (GEMM over runs) or "auto" (by n·d).
        progress: if given, called with the step counter now and then (every ~0.25 s).

    Long runs are computed in short kernel calls, so KeyboardInterrupt takes effect within
    about a second; the chunking does not change any result (each run is bitwise the same).
    """
    model = get_model(model)
    X, y = V.check_data(X, y)
    etas = V.check_etas(etas)
    B, (n, d) = etas.size, X.shape
    theta0 = V.check_theta(theta0, model.n_params(d), n_runs=B)
    eps = V.check_positive("eps", eps)
    diverge_factor = V.check_positive("diverge_factor", diverge_factor)
    max_steps = V.check_int("max_steps", max_steps, 0)
    record_every = V.check_int("record_every", record_every, 0)
    average_last = V.check_int("average_last", average_last, 0)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} in this build, got {backend!r}")
    if path not in ("auto", "tile", "blas"):
        raise ValueError(f"path must be 'auto', 'tile' or 'blas', got {path!r}")
    if record_grads and B * max_steps * d > GRAD_HISTORY_MAX:
        raise ValueError(
            f"record_grads needs B*max_steps*d = {B * max_steps * d} floats "
            f"(limit {GRAD_HISTORY_MAX}); lower max_steps or the batch"
        )
    if path == "auto":
        path = "blas" if n * d >= BLAS_MIN_ND else "tile"

    K = model.n_blocks
    start = np.broadcast_to(theta0, (B, K * d))
    # Runs with similar η stop at similar times: grouping them keeps tiles full.
    order = np.argsort(-etas, kind="stable")
    tile0 = model.to_tile(start[order])
    T = max_steps // record_every + 1 if record_every else 0
    rec = np.full((B, T, K, d) if T else (1, 1, 1, 1), np.nan)
    grads = np.zeros((B, max_steps, d) if record_grads else (1, 0, 1))
    out_theta = np.empty((B, K, d))
    out_avg = np.empty((B, K, d) if average_last else (1, 1, 1))
    out_loss, out_steps = np.empty(B), np.empty(B, np.int64)
    out_status = np.full(B, RUNNING, np.int8)
    outputs = (out_theta, out_loss, out_steps, out_status, out_avg)
    if path == "tile":
        kernel, state = gd_kernel(model.kind), GDState.start(tile0, average_last)
        sorted_etas = etas[order]

        def advance(step0: int, step_end: int) -> None:
            kernel(model.depth, X, y, sorted_etas, *state, step0, step_end, eps, max_steps,
                   diverge_factor, record_every, rec, grads, average_last, *outputs)  # fmt: skip

        _in_chunks(advance, max_steps, out_status, B * (n + K) * d, progress)
    else:
        gd_blas(model.kind, model.depth, X, y, etas[order], tile0, eps, max_steps,
                diverge_factor, record_every, rec, grads, average_last, *outputs,
                progress=progress)  # fmt: skip

    inv = np.empty(B, np.int64)
    inv[order] = np.arange(B)
    theta = out_theta[inv].reshape(B, K * d)
    final = IterateStats.at(model, theta, X, y)
    averaged = None
    if average_last:
        averaged = IterateStats.at(model, out_avg[inv].reshape(B, K * d), X, y)
    trajectory = _trajectory(model, rec[inv], record_every, X, y) if T else None
    config = dict(
        model=model.name, depth=model.depth, n=n, d=d, eps=eps, max_steps=max_steps,
        diverge_factor=diverge_factor, record_every=record_every, average_last=average_last,
        backend=backend, path=path, version=__version__,
    )  # fmt: skip
    return GDResult(
        etas=etas,
        steps=out_steps[inv],
        status=out_status[inv],
        final=final,
        averaged=averaged,
        trajectory=trajectory,
        grad_history=grads[inv] if record_grads else None,
        config=config,
    )


def memory_bytes(
    n_runs: int,
    n: int,
    d: int,
    n_blocks: int,
    *,
    max_steps: int,
    record_every: int = 0,
    record_grads: bool = False,
    average_last: int = 0,
) -> int:
    """Estimated peak bytes ``run_gd`` allocates for B = n_runs runs with P = n_blocks·d
    parameters (float64; checked against ``tracemalloc`` in the tests):
    B·P·(6 + [K > 0]·(4 + K)) for the start, the kernel state and the statistics (K =
    average_last), the trajectory B·T·(P + 4)·3 (T = max_steps // record_every + 1), the
    gradient history B·max_steps·d, and the dense Hessian chunks of the final statistics
    (twice: eigvalsh copies them)."""
    B, P = int(n_runs), int(n_blocks) * int(d)
    floats = B * P * (6 + (4 + average_last if average_last else 0)) + B * (2 * d + 24)
    rows = B  # iterates whose statistics are computed at once
    if record_every:
        rows = B * (max_steps // record_every + 1)
        floats += 3 * rows * (P + 4)
    if record_grads:
        floats += B * max_steps * d
    if P <= DENSE_MAX_P:
        floats += 2 * dense_chunk_entries(rows, P)  # the Hessians and eigvalsh's copy
    return 8 * floats + n * d * 16


def _in_chunks(
    advance: Callable[[int, int], None],
    max_steps: int,
    status: np.ndarray,
    work_per_step: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Call ``advance(step0, step_end)`` on consecutive step ranges until every run has stopped
    (a run stops at step max_steps at the latest), each range sized to take about
    CHUNK_SECONDS (the first call, which may include compilation, is not used for timing)."""
    step = 0
    chunk = max(1, _FIRST_CHUNK_WORK // max(work_per_step, 1))
    timed = False
    while step <= max_steps and (status == RUNNING).any():
        end = min(step + chunk, max_steps + 1)
        t0 = time.perf_counter()
        advance(step, end)
        elapsed = time.perf_counter() - t0
        if timed:
            scale = CHUNK_SECONDS / max(elapsed, 1e-6)
            chunk = max(1, int(chunk * min(max(scale, 0.25), 8.0)))
        timed = True
        step = end
        if progress is not None:
            progress(min(step, max_steps))
    if (status == RUNNING).any():  # pragma: no cover - a kernel contract violation
        raise RuntimeError("GD kernel left runs without a status")


def _trajectory(model: DiagonalModel, rec, every: int, X, y) -> Trajectory:
    B, T, K, d = rec.shape
    flat = rec.reshape(B * T, K * d)
    ok = np.isfinite(flat).all(axis=1)
    loss, sharp, l1b = (np.full(B * T, np.nan) for _ in range(3))
    if ok.any():
        stats = IterateStats.at(model, flat[ok], X, y)
        loss[ok], sharp[ok], l1b[ok] = stats.loss, stats.sharpness, stats.l1_beta
    theta = flat.reshape(B, T, K * d)
    return Trajectory(
        steps=np.arange(T) * every,
        theta=theta,
        loss=loss.reshape(B, T),
        sharpness=sharp.reshape(B, T),
        l1_theta=np.abs(theta).sum(axis=-1),
        l1_beta=l1b.reshape(B, T),
    )
