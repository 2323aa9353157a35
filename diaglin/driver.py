"""The Python side of the one driver loop shared by ``run_gd`` and ``run_sgd``: lay the batch
out for the kernels, run them in short calls (Ctrl-C acts between calls), and gather the final
statistics, averages, trajectories and gradient history into a ``GDResult``.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from diaglin._memory import available_memory
from diaglin.chunks import in_chunks
from diaglin.kernels.blas import gd_blas
from diaglin.kernels.stop import RUNNING
from diaglin.kernels.tile import GDState, gd_kernel, tile_width
from diaglin.models import DiagonalModel
from diaglin.nets import Network
from diaglin.nets.gd import stepper as net_stepper
from diaglin.results import GDResult, IterateStats, Trajectory
from diaglin.spectrum import DENSE_MAX_P, dense_chunk_entries, lanczos_chunk_entries

#: ``path="auto"`` takes the BLAS path when each thread's block of runs holds at least this
#: much work per step, (B / threads) · n · d: below it the per-step call overhead of the BLAS
#: path (~40 µs a block) outweighs its faster products. Where the two meet depends on the
#: machine (benchmarks/README.md, 2 cores): on an AMD EPYC (Zen 3) the tile kernel is 1.7–2×
#: faster at (1024, 10, 20), (1024, 5, 50), (128, 20, 100) and (4096, 5, 20), level at
#: (1024, 10, 50), and BLAS 1.9–2× faster at (256, 20, 100) and (512, 20, 100); on an Intel
#: Sapphire Rapids (AVX-512 GEMMs, the tile kernel before its loops were fused) level at 1e5.
BLAS_MIN_WORK = 200_000


def choose_cpu_path(n_runs: int, n: int, d: int, threads: int) -> str:
    """The CPU path ``path="auto"`` takes for full-batch GD: "blas" iff
    ceil(n_runs / threads) · n · d ≥ BLAS_MIN_WORK, else "tile"."""
    per_thread = -(-n_runs // max(threads, 1))
    return "blas" if per_thread * n * d >= BLAS_MIN_WORK else "tile"


#: Largest B · max_steps · d allowed for ``record_grads`` (float64 entries).
GRAD_HISTORY_MAX = 50_000_000


#: share of the available memory a batch may plan to use (the rest: the interpreter, NumPy's
#: temporaries, the statistics' scratch space)
MEMORY_SHARE = 0.8
#: fewest runs in a block when a batch is run in blocks
MIN_BLOCK_RUNS = 64


class BatchTooLarge(ValueError):
    """Even the results of the batch would not fit in the available memory."""


def run_batch(
    model: DiagonalModel | Network,
    X: np.ndarray,
    y: np.ndarray,
    theta0: np.ndarray,
    *,
    etas: np.ndarray,
    path: str,
    config: dict,
    loss_floor: np.ndarray | None = None,
    sgd: tuple | None = None,
    backend: str = "cpu",
    **options,
) -> GDResult:
    """``_run_all`` (below), in blocks of runs when the whole batch would not fit in memory.

    A diagonal model's batch on the CPU whose estimated peak (``memory_bytes``) exceeds
    MEMORY_SHARE of the available memory runs as consecutive blocks of runs, each as large as
    fits beside the results of the whole batch (``result_bytes``), and the blocks' results are
    joined: runs are independent, so on the tile path (and for stochastic runs) the result is
    bitwise that of one call; the path is chosen once, for the whole batch. Raises
    ``BatchTooLarge`` (naming the estimate and the memory available) when not even the results
    fit with a block of MIN_BLOCK_RUNS runs beside them."""
    B, (n, d) = etas.size, X.shape
    block = B
    if backend == "cpu" and not isinstance(model, Network):
        sizes = dict(max_steps=options["max_steps"], record_every=options["record_every"],
                     record_grads=options["record_grads"],
                     average_last=options["average_last"])  # fmt: skip
        block = runs_per_block(B, n, d, model.n_blocks, **sizes)
    if block >= B:
        return _run_all(model, X, y, theta0, etas=etas, path=path, config=config,
                        loss_floor=loss_floor, sgd=sgd, backend=backend, **options)  # fmt: skip
    if path == "auto":
        path = "tile" if sgd is not None else choose_cpu_path(B, n, d, numba.get_num_threads())
    parts = []
    for lo in range(0, B, block):
        runs = slice(lo, lo + block)
        parts.append(_run_all(
            model, X, y, theta0[runs] if theta0.ndim == 2 else theta0, etas=etas[runs],
            path=path, config=config, backend=backend,
            loss_floor=None if loss_floor is None else loss_floor[runs],
            sgd=None if sgd is None else (sgd[0][runs], sgd[1][runs], *sgd[2:]), **options,
        ))  # fmt: skip
    return GDResult.concatenate(parts)


def runs_per_block(n_runs: int, n: int, d: int, n_blocks: int, **sizes) -> int:
    """The most runs of a batch to run at once: n_runs when ``memory_bytes`` of the batch is
    within MEMORY_SHARE of ``available_memory()`` (or that is unknown); else the largest block
    whose ``memory_bytes`` fits there beside ``result_bytes`` of the whole batch. Raises
    ``BatchTooLarge`` if a block of MIN_BLOCK_RUNS does not fit."""
    have = available_memory()
    if have is None:
        return n_runs
    budget = MEMORY_SHARE * have
    need = memory_bytes(n_runs, n, d, n_blocks, **sizes)
    if need <= budget:
        return n_runs
    kept = result_bytes(n_runs, d, n_blocks, **sizes)
    lo, hi = 0, n_runs  # the largest block that fits: bisection (memory_bytes grows with it)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kept + memory_bytes(mid, n, d, n_blocks, **sizes) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo < min(MIN_BLOCK_RUNS, n_runs):
        raise BatchTooLarge(
            f"{n_runs} runs need an estimated {need / 2**30:.1f} GiB of memory, and their "
            f"results alone {kept / 2**30:.1f} GiB, but only {have / 2**30:.1f} GiB is "
            "available: run fewer runs per call (e.g. a loop over parts of the batch, each "
            "result saved), record less (record_every, record_grads, average_last) or use a "
            "machine with more memory"
        )
    return lo


def require_memory(need: int, what: str) -> None:
    """``BatchTooLarge`` (before any work) when ``need`` bytes exceed MEMORY_SHARE of the
    available memory (nothing when that is unknown)."""
    have = available_memory()
    if have is not None and need > MEMORY_SHARE * have:
        raise BatchTooLarge(
            f"{what} need an estimated {need / 2**30:.1f} GiB of memory, but only "
            f"{have / 2**30:.1f} GiB is available: run fewer runs per call, record less "
            "(record_every, record_until) or use a machine with more memory"
        )


def result_bytes(
    n_runs: int,
    d: int,
    n_blocks: int,
    *,
    max_steps: int,
    record_every: int = 0,
    record_grads: bool = False,
    average_last: int = 0,
) -> int:
    """Bytes of the ``GDResult`` of B = n_runs runs (float64) with P = n_blocks·d parameters:
    B·(P + d + 11) for the final statistics (θ, β, eight scalars) plus step size, steps and
    status; as much again for the averaged iterates; B·T·(P + d + 8) for the trajectory
    (T = max_steps // record_every + 1) and B·max_steps·d for the gradient history."""
    B, P = int(n_runs), int(n_blocks) * int(d)
    floats = B * (P + d + 11) + (B * (P + d + 8) if average_last else 0)
    if record_every:
        floats += B * (max_steps // record_every + 1) * (P + d + 8)
    if record_grads:
        floats += B * max_steps * d
    return 8 * floats


def _run_all(
    model: DiagonalModel | Network,
    X: np.ndarray,
    y: np.ndarray,
    theta0: np.ndarray,
    *,
    etas: np.ndarray,
    eps: float,
    max_steps: int,
    diverge_factor: float,
    record_every: int,
    record_grads: bool,
    average_last: int,
    path: str,
    stats: str,
    progress: Callable[[int], None] | None,
    config: dict,
    loss_floor: np.ndarray | None = None,
    sgd: tuple | None = None,
    backend: str = "cpu",
) -> GDResult:
    """Run B = len(etas) runs from theta0 ((P,) or (B, P), validated) and collect the result.

    Full-batch GD with step sizes ``etas`` unless ``sgd = (sched (B, S, 6), keys (B,) uint64,
    batch, noise_kind)`` (then ``etas`` are only reported). The divergence bound is
    diverge_factor · max(L(theta0), loss_floor[b]) for run b (loss_floor (B,); default: eps):
    each run's own, so that a run's result does not depend on its batch. ``backend="cuda"``
    runs the same contract on the GPU (``diaglin.cuda``; full-batch GD only). A ``Network``
    runs in ``diaglin.nets.gd.stepper`` (full-batch or stochastic).
    """
    B, (n, d) = etas.size, X.shape
    P = model.n_params(d)
    network = isinstance(model, Network)
    if record_grads and B * max_steps * d > GRAD_HISTORY_MAX:
        raise ValueError(
            f"record_grads needs B*max_steps*d = {B * max_steps * d} floats "
            f"(limit {GRAD_HISTORY_MAX}); lower max_steps or the batch"
        )
    if sgd is not None and backend != "cpu":
        raise ValueError(f"backend={backend!r} runs full-batch GD only; stochastic steps run "
                         "on backend='cpu'")  # fmt: skip
    if sgd is not None and path == "blas":
        raise ValueError("path must be 'tile' or 'auto' for stochastic steps")
    if network:
        if backend != "cpu" or record_grads or path not in ("auto", "gemm"):
            raise ValueError("networks run on backend='cpu' with path='auto' "
                             "(no record_grads)")  # fmt: skip
        path = "gemm"
    elif backend == "cuda":
        from diaglin.cuda.driver import choose_path, run_batch_cuda  # numba.cuda: GPU only

        if path == "auto":
            path = choose_path(n, d)
        # the layout, the run order and the final β are done on the device
        return run_batch_cuda(model, X, y, theta0, etas=etas, eps=eps, max_steps=max_steps,
                              diverge_factor=diverge_factor, record_every=record_every,
                              record_grads=record_grads, average_last=average_last, path=path,
                              stats=stats, progress=progress, config=config,
                              loss_floor=loss_floor)  # fmt: skip
    elif path == "auto":
        path = "tile" if sgd is not None else choose_cpu_path(B, n, d, numba.get_num_threads())
    start = np.broadcast_to(theta0, (B, P))
    # Runs with similar η stop at similar times: grouping them keeps tiles full.
    order = np.argsort(-etas, kind="stable") if sgd is None else np.arange(B)
    tile0 = model.to_tile(start[order])  # (K, d, B) for the diagonal models, (1, P, B) networks
    layout = tile0.shape[:2]
    T = max_steps // record_every + 1 if record_every else 0
    rec = np.full((B, T, *layout) if T else (1, 1, 1, 1), np.nan)
    grads = np.zeros((B, max_steps, d) if record_grads else (1, 0, 1))
    out_theta = np.empty((B, *layout))
    out_avg = np.empty((B, *layout) if average_last else (1, 1, 1))
    out_loss, out_steps = np.empty(B), np.empty(B, np.int64)
    out_status = np.full(B, RUNNING, np.int8)
    outputs = (out_theta, out_loss, out_steps, out_status, out_avg)
    floor = np.full(B, float(eps)) if loss_floor is None else np.asarray(loss_floor, float)
    rule = (float(eps), int(max_steps), float(diverge_factor), floor[order])
    rows = sgd[2] if sgd is not None else n  # data rows read per step
    if network:
        state = GDState.start(tile0, average_last)
        advance = net_stepper(model, X, y, etas[order], rule, state, record_every, rec,
                              average_last, outputs, sgd)  # fmt: skip
        in_chunks(advance, max_steps, out_status, B * rows * P, progress)
    elif path == "tile":
        kernel = gd_kernel(model.kind, sgd is not None)
        state = GDState.start(tile0, average_last, sgd[2] if sgd is not None else 1)
        stochastic = sgd if sgd is not None else _NO_SGD
        sorted_etas = etas[order]
        # a stochastic run is a tile of its own (its rows differ from its neighbours')
        width = 1 if sgd is not None else tile_width(B, numba.get_num_threads())

        def advance(step0: int, step_end: int) -> None:
            kernel(model.depth, X, y, sorted_etas, stochastic, rule, *state, step0, step_end,
                   record_every, rec, grads, average_last, *outputs, width)  # fmt: skip

        in_chunks(advance, max_steps, out_status, B * (rows + model.n_blocks) * d, progress)
    else:
        gd_blas(model.kind, model.depth, X, y, etas[order], rule, tile0, record_every, rec,
                grads, average_last, *outputs, progress=progress)  # fmt: skip

    inv = np.empty(B, np.int64)
    inv[order] = np.arange(B)
    # Full-batch GD on a diagonal model reports the training loss of the iterate it returns
    # (a pass over B·n·d saved); a stochastic run's is that of its last noisy batch, and a
    # network's comes from the batched pass (model.loss is its reference), so those are
    # computed here.
    known_loss = out_loss[inv] if sgd is None and not network else None
    final = IterateStats.at(model, out_theta[inv].reshape(B, P), X, y, stats, loss=known_loss)
    averaged = None
    if average_last:
        averaged = IterateStats.at(model, out_avg[inv].reshape(B, P), X, y, stats)
    trajectory = None
    if T:
        theta_rec = rec[inv].reshape(B, T, P)
        trajectory = Trajectory(np.arange(T) * record_every,
                                IterateStats.of_rows(model, theta_rec, X, y, stats))  # fmt: skip
    return GDResult(
        etas=etas,
        steps=out_steps[inv],
        status=out_status[inv],
        final=final,
        averaged=averaged,
        trajectory=trajectory,
        grad_history=grads[inv] if record_grads else None,
        config={**config, "path": path, "stats": stats},
    )


#: the stochastic kernel inputs that full-batch GD passes (and ignores)
_NO_SGD = (np.zeros((1, 1, 6)), np.zeros(1, np.uint64), 1, 0)


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
    """Estimated peak bytes ``run_gd`` / ``run_sgd`` allocate for B = n_runs runs with
    P = n_blocks·d parameters (float64; checked against ``tracemalloc`` in the tests):
    B·P·(6 + [K > 0]·(4 + K)) for the start, the kernel state and the statistics (K =
    average_last), the trajectory B·T·(P + 4)·3 (T = max_steps // record_every + 1), the
    gradient history B·max_steps·d, and the dense Hessian chunks of the final statistics
    (twice: eigvalsh copies them) or, above DENSE_MAX_P, the Lanczos chunk's Krylov bases."""
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
    else:
        floats += lanczos_chunk_entries(rows, P)  # the Krylov bases
    return 8 * floats + n * d * 16
