"""``backend="cuda"``: the batch of ``diaglin.driver.run_batch`` run on the GPU.

The host side of both kernel shapes: copy the data and θ0 (as given: one shared vector or one
row per run) to the device once and build the start state there (``layout``), advance the runs
in chunks of steps (``diaglin.chunks.in_chunks``: Ctrl-C and the progress callback act between
chunks; only the statuses come back between them), then put the final iterates back into the
caller's order and compute their β on the device, and copy them, the losses and steps (and the
averages, trajectory and gradient history where asked for) back at the end. The kernels fill
the outputs of the CPU kernels' contract (``diaglin.kernels.tile._make_kernel``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from diaglin.chunks import in_chunks
from diaglin.cuda import gemm, layout, per_run, spectrum
from diaglin.cuda.runtime import cuda, gpu_name
from diaglin.kernels.stop import RUNNING
from diaglin.models._ops import PROD, UV, WW
from diaglin.results import GDResult, IterateStats, Trajectory
from diaglin.spectrum import SharpnessResult

#: ``path="auto"`` uses the one-thread-per-run kernel up to this n·d and the GEMMs above it
GEMM_MIN_ND = 4096
#: the GEMM path compacts its columns when at most this fraction of them still runs
COMPACT_BELOW = 0.75


def choose_path(n: int, d: int) -> str:
    """The kernel shape: "tile" (one thread per run) for n·d <= GEMM_MIN_ND, else "blas"."""
    return "tile" if n * d <= GEMM_MIN_ND else "blas"


def run_batch_cuda(
    model, X: np.ndarray, y: np.ndarray, theta0: np.ndarray, *, etas: np.ndarray, eps: float,
    max_steps: int, diverge_factor: float, record_every: int, record_grads: bool,
    average_last: int, path: str, stats: str, progress: Callable[[int], None] | None,
    config: dict, loss_floor: np.ndarray | None = None,
) -> GDResult:  # fmt: skip
    """``diaglin.driver.run_batch`` for backend="cuda" (full-batch GD, a diagonal model, the
    path "tile" or "blas"), validated arguments: theta0 (P,) or (B, P).

    θ0 goes to the device as it is (one shared (P,) vector or the (B, P) rows) and the start
    state is built there; the final iterates are put back into the caller's order and their β
    computed there (``layout``); only θ, β (one buffer), the losses and the steps come back, plus
    the averaged and recorded iterates and the gradient history where asked for.
    """
    cu = cuda()
    B, (n, d) = etas.size, X.shape
    K = model.n_blocks
    P = K * d
    avg_k = average_last
    if path == "tile" and n * d > per_run.SHARED_X_MAX:
        raise ValueError(
            f"path='tile' on backend='cuda' holds X in shared memory: n·d must be "
            f"<= {per_run.SHARED_X_MAX}, got {n * d} (use 'blas' or 'auto')"
        )
    # The kernels run the runs sorted by η, as the CPU tiles do: runs with similar η stop at
    # similar times, so the threads of a warp (the GEMM shape's columns) stop together.
    order = np.argsort(-etas, kind="stable")
    floor = np.full(B, float(eps)) if loss_floor is None else np.asarray(loss_floor, float)
    T = max_steps // record_every + 1 if record_every else 0
    rec = np.full((B, T, K, d), np.nan) if T else None
    grads = np.zeros((B, max_steps, d)) if record_grads else None
    out_status = np.full(B, RUNNING, np.int8)
    per_run_start = theta0.ndim == 2 and B > 1
    start_src = theta0 if per_run_start else theta0.reshape(1, P)[:1]
    small = cu.to_device(np.stack([etas[order], floor[order]]))  # one copy for both
    dev = SimpleNamespace(
        X=cu.to_device(np.ascontiguousarray(X)), y=cu.to_device(y), etas=small[0],
        Xt=cu.to_device(np.ascontiguousarray(X.T)) if path == "blas" else None,  # GEMM only
        floor=small[1], order=cu.to_device(order),
        a_diag=None,  # diag(XᵀX/n), made when the Hessian statistics are asked for
        rec=cu.to_device(rec) if T else cu.device_array((1, 1, 1, 1)),
        grads=cu.to_device(grads) if record_grads else cu.device_array((1, 0, 1)),
        outputs=[cu.device_array((B, K, d)), cu.device_array(B), cu.device_array(B, np.int64),
                 cu.device_array(B, np.int8),
                 cu.device_array((B, K, d) if avg_k else (1, 1, 1))],
    )  # fmt: skip
    theta0_dev = cu.to_device(np.ascontiguousarray(start_src, dtype=float))
    scalars = (float(eps), int(max_steps), float(diverge_factor))
    if path == "tile":
        state = per_run.start_state(K, d, B, n, avg_k)
        layout.start(theta0_dev, dev.order, state.theta, state.prev_loss, dev.outputs[3])
        advance = _per_run_advance(model.kind, model.depth, dev, state, scalars, record_every,
                                   avg_k)  # fmt: skip
        after_sync = None
    else:
        state = gemm.GemmState.start(K, d, B, avg_k)
        layout.start(theta0_dev, dev.order, state.theta, state.prev_loss, dev.outputs[3])
        advance, after_sync = _gemm_advance(model.kind, model.depth, dev, state, scalars,
                                            record_every, avg_k)  # fmt: skip

    def advance_and_sync(step0: int, step_end: int) -> None:
        advance(step0, step_end)
        dev.outputs[3].copy_to_host(out_status)  # the one transfer between chunks
        if after_sync is not None:
            after_sync(out_status)

    in_chunks(advance_and_sync, max_steps, out_status, B * (n + K) * d, progress)

    # θ (B, P) and β (B, d) of the final iterates in the caller's order, in one buffer
    final = cu.device_array(B * (P + d))
    theta_dev, beta_dev = final[: B * P].reshape(B, P), final[B * P :].reshape(B, d)
    layout.final(model.kind, model.depth, dev.outputs[0], dev.order, theta_dev, beta_dev)
    host = final.copy_to_host()
    theta, beta = host[: B * P].reshape(B, P), host[B * P :].reshape(B, d)
    inv = np.empty(B, np.int64)
    inv[order] = np.arange(B)
    loss, steps = dev.outputs[1].copy_to_host()[inv], dev.outputs[2].copy_to_host()[inv]
    # The kernels' loss of each reported iterate: recomputing it on the host (a pass over
    # B·n·d) cost more than the whole GPU batch at d = 1000. β from the device where its
    # formula is products only (bitwise the host's); a² − b² ("pm") and powers the GPU may
    # round differently (FMA contraction, pow), so the host computes those.
    exact = model.kind in (WW, UV, PROD)
    final_stats = IterateStats.at(model, theta, X, y, stats, loss=loss,
                                  beta=beta if exact else None,
                                  hessian=_device_hessian(model, dev.outputs[0], X, y, dev, stats,
                                                          inv))  # fmt: skip
    averaged = None
    if avg_k:
        out_avg = dev.outputs[4].copy_to_host()
        averaged = IterateStats.at(model, out_avg[inv].reshape(B, P), X, y, stats,
                                   hessian=_device_hessian(model, dev.outputs[4], X, y, dev, stats,
                                                           inv))  # fmt: skip
    trajectory = None
    if T:
        dev.rec.copy_to_host(rec)
        trajectory = Trajectory(np.arange(T) * record_every,
                                IterateStats.of_rows(model, rec[inv].reshape(B, T, P), X, y,
                                                     stats))  # fmt: skip
    if record_grads:
        dev.grads.copy_to_host(grads)
    info = {"gpu": gpu_name()}
    if path == "blas":
        info["gemm"] = gemm.engine()
    return GDResult(
        etas=etas,
        steps=steps,
        status=out_status[inv],
        final=final_stats,
        averaged=averaged,
        trajectory=trajectory,
        grad_history=grads[inv] if record_grads else None,
        config={**config, "cuda": info, "path": path, "stats": stats},
    )


def _device_hessian(model, thetas, X, y, dev, stats: str, inv: np.ndarray):
    """The Hessian statistics that ``stats`` asks for (the trace; with "all" also the
    sharpness) at the iterates ``thetas`` (device, (B, K, d), kernel order), computed on the
    GPU (``spectrum.hessian_stats``), in the caller's order; None (the host computes them)
    for stats="none" and for P < 3, where the host's dense solver is exact and instant."""
    if stats == "none" or thetas.shape[1] * thetas.shape[2] < 3:
        return None
    cu = cuda()
    if dev.Xt is None:
        dev.Xt = cu.to_device(np.ascontiguousarray(X.T))
    if dev.a_diag is None:
        dev.a_diag = cu.to_device((X * X).mean(axis=0))
    h = spectrum.hessian_stats(model, thetas, X, y, dev, sharpness=stats == "all")
    return SharpnessResult(h.top_abs[inv], h.top[inv], h.bottom[inv], h.trace[inv])


def _per_run_advance(kind, depth, dev, state, scalars, record_every, avg_k):
    """advance(step0, step_end) for the one-thread-per-run kernel from ``state``."""
    n, d = dev.X.shape
    B = state.theta.shape[2]
    kernel = per_run.per_run_kernel(kind, depth, n, d)
    T = min(per_run.THREADS, B)

    def advance(step0: int, step_end: int) -> None:
        kernel[-(-B // T), T](dev.X, dev.y, dev.etas, *scalars, dev.floor, *state[:6],
                              state.ring, avg_k, step0, step_end, record_every, dev.rec,
                              dev.grads, *dev.outputs)  # fmt: skip

    return advance


def _gemm_advance(kind, depth, dev, state, scalars, record_every, avg_k):
    """(advance(step0, step_end), after_sync(status)) for the GEMM shape: advance runs the
    steps; after_sync, given the statuses on the host (by run), compacts the columns on the
    device once at most COMPACT_BELOW of them still run."""
    cu = cuda()
    n, d = dev.X.shape
    groups = gemm.stop_groups(n)
    beta_kernel, stop_kernel, update_kernel = gemm.gemm_kernels(kind, depth, groups)
    held = {
        "state": state,
        "rows": np.arange(state.theta.shape[2]),
    }  # the run of each column, on the host

    def bind(st):
        """Buffers, the two products and the launch shapes for the columns of ``st``."""
        W = st.theta.shape[2]
        R, G = cu.device_array((n, W)), cu.device_array((d, W))
        T = min(gemm.THREADS, W)
        residual, gradient = gemm.product(dev.X, st.beta, R), gemm.product(dev.Xt, R, G)
        stop_shape = (-(-W // gemm.STOP_COLUMNS), (min(gemm.STOP_COLUMNS, W), groups))
        return R, G, residual, gradient, T, -(-W // T), stop_shape

    st = held["state"]
    held["bound"] = bind(st)
    _, _, _, _, T, blocks, _ = held["bound"]
    beta_kernel[(blocks, d), (T, 1)](st.theta, st.beta)

    def advance(step0: int, step_end: int) -> None:
        st = held["state"]
        R, G, residual, gradient, T, blocks, (stop_grid, stop_block) = held["bound"]
        for step in range(step0, step_end):
            residual()
            stop_kernel[stop_grid, stop_block](R, dev.y, st.rows, st.theta, st.prev,
                                               st.prev_loss, st.bound, st.ring, *scalars,
                                               dev.floor, step, record_every, dev.rec, avg_k,
                                               *dev.outputs)  # fmt: skip
            gradient()
            update_kernel[(blocks, d), (T, 1)](G, st.rows, st.theta, st.prev, st.beta, st.ring,
                                               dev.etas, n, step, record_every, dev.rec, avg_k,
                                               dev.grads, dev.outputs[3])  # fmt: skip
            st = st._replace(theta=st.prev, prev=st.theta)
        held["state"] = st

    def after_sync(status: np.ndarray) -> None:
        live = status[held["rows"]] < 0
        if live.any() and live.sum() <= COMPACT_BELOW * live.size:
            keep = np.flatnonzero(live)
            held["state"] = held["state"].compact(keep)
            held["rows"] = held["rows"][keep]
            held["bound"] = bind(held["state"])

    return advance, after_sync
