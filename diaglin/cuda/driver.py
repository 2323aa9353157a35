"""``backend="cuda"``: the batch of ``diaglin.driver.run_batch`` run on the GPU.

The host side of both kernel shapes: copy the data, the start and the output arrays to the
device once, advance the runs in chunks of steps (``diaglin.driver.in_chunks``: Ctrl-C and the
progress callback act between chunks; only the statuses come back between them), and copy the
outputs, the trajectory and the gradient history back at the end. The outputs fill the arrays of
the CPU kernels' contract (``diaglin.kernels.tile._make_kernel``), in the same run order.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from diaglin.cuda import gemm, per_run
from diaglin.cuda.runtime import cuda, gpu_name
from diaglin.driver import in_chunks

#: ``path="auto"`` uses the one-thread-per-run kernel up to this n·d and the GEMMs above it
GEMM_MIN_ND = 4096
#: the GEMM path compacts its columns when at most this fraction of them still runs
COMPACT_BELOW = 0.75


def choose_path(n: int, d: int) -> str:
    """The kernel shape: "tile" (one thread per run) for n·d <= GEMM_MIN_ND, else "blas"."""
    return "tile" if n * d <= GEMM_MIN_ND else "blas"


def gd_cuda(
    kind: int, depth: int, X: np.ndarray, y: np.ndarray, etas: np.ndarray, theta0: np.ndarray,
    rule: tuple, record_every: int, rec_theta: np.ndarray, grad_hist: np.ndarray, avg_k: int,
    outputs: tuple, *, path: str, progress: Callable[[int], None] | None = None,
) -> dict:  # fmt: skip
    """Run the batch on the GPU; same contract as the CPU tile kernel (full-batch GD only).

    rule = (eps, max_steps, diverge_factor, loss_floor (B,)); theta0 (K, d, B) in tile layout;
    outputs = (out_theta, out_loss, out_steps, out_status, out_avg), filled in place, as are
    rec_theta and grad_hist. ``path`` is "tile" (one thread per run) or "blas" (GEMMs).
    Returns what the result's config records of the run: the GPU and, for "blas", whose GEMM.
    """
    cu = cuda()
    eps, max_steps, diverge_factor, floor = rule
    n, d = X.shape
    K, _, B = theta0.shape
    if path == "tile" and n * d > per_run.SHARED_X_MAX:
        raise ValueError(
            f"path='tile' on backend='cuda' holds X in shared memory: n·d must be "
            f"<= {per_run.SHARED_X_MAX}, got {n * d} (use 'blas' or 'auto')"
        )
    out_status = outputs[3]
    dev = SimpleNamespace(
        X=cu.to_device(np.ascontiguousarray(X)), y=cu.to_device(y), etas=cu.to_device(etas),
        Xt=cu.to_device(np.ascontiguousarray(X.T)) if path == "blas" else None,  # GEMM only
        floor=cu.to_device(np.asarray(floor, float)), rec=cu.to_device(rec_theta),
        grads=cu.to_device(grad_hist), outputs=_device_outputs(outputs),
    )  # fmt: skip
    scalars = (float(eps), int(max_steps), float(diverge_factor))
    if path == "tile":
        advance = _per_run_advance(kind, depth, dev, theta0, scalars, record_every, avg_k)
        after_sync = None
    else:
        advance, after_sync = _gemm_advance(kind, depth, dev, theta0, scalars, record_every,
                                            avg_k)  # fmt: skip

    def advance_and_sync(step0: int, step_end: int) -> None:
        advance(step0, step_end)
        dev.outputs[3].copy_to_host(out_status)  # the one transfer between chunks
        if after_sync is not None:
            after_sync(out_status)

    in_chunks(advance_and_sync, max_steps, out_status, B * (n + K) * d, progress)
    for host, device in zip(outputs, dev.outputs):
        device.copy_to_host(host)
    dev.rec.copy_to_host(rec_theta)
    dev.grads.copy_to_host(grad_hist)
    info = {"gpu": gpu_name()}
    if path == "blas":
        info["gemm"] = gemm.engine()
    return info


def _device_outputs(outputs: tuple) -> list:
    """Device arrays for the outputs: the statuses copied (RUNNING marks the runs to do), the
    others only allocated (the kernels write every entry of a run when it stops)."""
    cu = cuda()
    return [cu.to_device(a) if i == 3 else cu.device_array_like(a) for i, a in enumerate(outputs)]


def _per_run_advance(kind, depth, dev, theta0, scalars, record_every, avg_k):
    """advance(step0, step_end) for the one-thread-per-run kernel."""
    n, d = dev.X.shape
    B = theta0.shape[2]
    kernel = per_run.per_run_kernel(kind, depth, n, d)
    state = per_run.start_state(theta0, n, avg_k)
    T = min(per_run.THREADS, B)

    def advance(step0: int, step_end: int) -> None:
        kernel[-(-B // T), T](dev.X, dev.y, dev.etas, *scalars, dev.floor, *state[:6],
                              state.ring, avg_k, step0, step_end, record_every, dev.rec,
                              dev.grads, *dev.outputs)  # fmt: skip

    return advance


def _gemm_advance(kind, depth, dev, theta0, scalars, record_every, avg_k):
    """(advance(step0, step_end), after_sync(status)) for the GEMM shape: advance runs the
    steps; after_sync, given the statuses on the host (by run), compacts the columns on the
    device once at most COMPACT_BELOW of them still run."""
    cu = cuda()
    n, d = dev.X.shape
    groups = gemm.stop_groups(n)
    beta_kernel, stop_kernel, update_kernel = gemm.gemm_kernels(kind, depth, groups)
    held = {
        "state": gemm.GemmState.start(theta0, avg_k),
        "rows": np.arange(theta0.shape[2]),
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
