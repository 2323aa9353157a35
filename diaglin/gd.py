"""``run_gd``: B independent full-batch gradient-descent runs on one data set, in one kernel.

Each run b has its own step size η_b (and optionally its own start θ0_b) and iterates
θ_{k+1} = θ_k − η_b ∇L(θ_k),  L(θ) = 1/(2n) ||X β(θ) − y||²,
until L(θ_k) < eps (CONVERGED, steps = k), L is non-finite or exceeds
diverge_factor · max(L(θ0), eps) (DIVERGED; the result holds the last finite iterate), or
k = max_steps (MAX_STEPS). Summary statistics are exact and computed at the final iterate.
"""

from __future__ import annotations

from collections.abc import Callable

from diaglin import _validate as V
from diaglin._names import BACKENDS
from diaglin._version import __version__
from diaglin.driver import run_batch
from diaglin.models import get_model
from diaglin.nets import Network
from diaglin.results import STATS, GDResult


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
    stats: str = "all",
    progress: Callable[[int], None] | None = None,
) -> GDResult:
    """Run len(etas) GD runs θ_{k+1} = θ_k − η_b ∇L(θ_k) in one batched kernel.

    Args:
        model: a ``DiagonalModel`` or its name ("ww", "uv", "pm", "prod", "power"), or a
            ``diaglin.nets.Network`` (loss: its mean per-sample loss; y: labels or targets;
            backend "cpu", path "auto": each step matrix products across the runs).
        X, y: data (n, d) and (n,).
        etas: step sizes (B,), all > 0 (a scalar is one run).
        theta0: start (P,) shared by every run, or (B, P) one per run.
        eps: stop when L < eps.  max_steps: at most this many steps.
        record_every: if k > 0, keep θ every k steps (``trajectory``).
        record_grads: keep g_k = Xᵀ(Xβ_k − y)/n of every step
            (``grad_history``, (B, max_steps, d)).
        average_last: if K > 0, also report statistics at the mean of the last K iterates.
        diverge_factor: a run diverged when L > diverge_factor · max(L(θ0), eps) or non-finite.
        backend: "cpu" (Numba kernels on this machine's cores) or "cuda" (``numba.cuda``
            kernels on an NVIDIA GPU: needs the ``[cuda]`` extra; ``diaglin.CudaUnavailable``
            says what is missing otherwise).
        path: "tile" (runs vectorised across a tile; on "cuda": one GPU thread per run),
            "blas" (each step two matrix–matrix products over the runs; on "cuda": cuBLAS
            through CuPy if installed, else a numba.cuda GEMM) or "auto" (chosen by n·d).
        stats: which statistics of the final (averaged, recorded) iterates to compute: "all",
            "norms" (no Hessian eigenvalues) or "none" (θ, β, loss); the others are NaN.
        progress: if given, called with the step counter now and then (every ~0.25 s).

    Long runs are computed in short kernel calls, so KeyboardInterrupt takes effect within
    about a second; the chunking does not change any result (each run is bitwise the same).
    A batch whose estimated peak memory exceeds what the machine has available runs in blocks
    of runs (on path "tile" bitwise the same result; the progress callback then counts the
    steps of each block in turn); one whose results alone would not fit raises
    ``diaglin.driver.BatchTooLarge`` (a ValueError) before any work (``driver.run_batch``).
    """
    model = get_model(model)
    X, y, etas, theta0, eps, diverge_factor, max_steps, record_every = V.check_batch_run(
        model, X, y, etas, theta0, eps=eps, diverge_factor=diverge_factor, max_steps=max_steps,
        record_every=record_every,
    )  # fmt: skip
    d = X.shape[1]
    average_last = V.check_int("average_last", average_last, 0)
    V.check_choice("backend", backend, BACKENDS)
    V.check_choice("path", path, ("auto", "tile", "blas"))
    V.check_choice("stats", stats, STATS)
    network = isinstance(model, Network)
    if network:
        model.targets(y)  # labels in range for a classifier: checked before any work
        if record_grads:
            raise ValueError("record_grads records gradients in β space: diagonal models only")
        if backend != "cpu":
            raise ValueError(f"networks run on backend='cpu', got backend={backend!r}")
        if path != "auto":
            raise ValueError(f"networks take path='auto', got path={path!r}")
    config = dict(
        model=model.name, depth=model.depth, n=X.shape[0], d=d, eps=eps, max_steps=max_steps,
        diverge_factor=diverge_factor, record_every=record_every, average_last=average_last,
        backend=backend, version=__version__,
    )  # fmt: skip
    if network:
        config["network"] = model.options()
    return run_batch(
        model, X, y, theta0, etas=etas, eps=eps, max_steps=max_steps,
        diverge_factor=diverge_factor, record_every=record_every, record_grads=record_grads,
        average_last=average_last, path=path, stats=stats, progress=progress, config=config,
        backend=backend,
    )  # fmt: skip
