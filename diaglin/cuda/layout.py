"""The batch's layout on the GPU: the start state built from θ0 on the device, and the final
iterates (with their β) put back into the caller's run order there, so that no B·P array is
permuted, transposed or broadcast on the host and β is not recomputed there (for the models
whose β is a product; ``driver.run_batch_cuda`` says which).

The kernels run the B runs in ``order`` (runs sorted by η: in a warp, or among the GEMM shape's
columns, runs with similar η stop at similar times); run b of the kernels is the caller's run
``order[b]``.
"""

from __future__ import annotations

import functools
import math

from numba import float64

from diaglin._names import MODEL_NAMES
from diaglin.cuda import runtime
from diaglin.cuda.runtime import device_function
from diaglin.kernels.specialise import jit_specialised
from diaglin.kernels.stop import RUNNING
from diaglin.models._ops import beta_jt, n_blocks

#: ``numba.cuda``, checked to have a GPU (or the simulator); a module global, as the simulator
#: swaps it inside kernels
cuda = runtime.cuda()
runtime.simulator_safe(globals())

#: threads per block of the layout kernels
THREADS = 128


@cuda.jit
def _start_kernel(src, order, theta, prev_loss, status):
    """theta[k, j, b] = src[r, k·d + j] with r = order[b] (per-run starts, src (B, P)) or
    r = 0 (one shared start, src (1, P)); prev_loss[b] = NaN, status[b] = RUNNING. One thread
    per entry of theta, b fastest (coalesced writes)."""
    q = cuda.grid(1)
    K, d, B = theta.shape
    if q >= K * d * B:
        return
    b, kj = q % B, q // B
    r = order[b] if src.shape[0] > 1 else 0
    theta[kj // d, kj % d, b] = src[r, kj]
    if kj == 0:
        prev_loss[b] = math.nan
        status[b] = RUNNING


def start(theta0_dev, order_dev, theta, prev_loss, status) -> None:
    """Fill the state ``theta`` (K, d, B), ``prev_loss`` and ``status`` (B,) of the kernels'
    runs from θ0 on the device: theta0_dev (1, P) shared or (B, P) by caller's run."""
    total = theta.size
    if total:
        T = min(THREADS, total)
        _start_kernel[-(-total // T), T](theta0_dev, order_dev, theta, prev_loss, status)


@functools.cache
def final_kernel(kind: int, depth: int):
    """kernel(out_theta, order, theta, beta): for kernel run b (out_theta (B, K, d), the tile
    kernels' output) theta[order[b], k·d + j] = out_theta[b, k, j] and beta[order[b], j] =
    β_j of it (``models._ops.beta_jt``, the host's formula). One thread per (b, j)."""
    K = n_blocks.py_func(kind, depth)
    beta = device_function(beta_jt)

    @jit_specialised(cuda.jit, f"{MODEL_NAMES[kind]}_D{depth}")
    def kernel(out_theta, order, theta, beta_out):
        q = cuda.grid(1)
        B, _, d = out_theta.shape
        if q >= B * d:
            return
        b, j = q // d, q % d
        dst = order[b]
        th = cuda.local.array((K, 1, 1), float64)
        for k in range(K):
            v = out_theta[b, k, j]
            th[k, 0, 0] = v
            theta[dst, k * d + j] = v
        beta_out[dst, j] = beta(kind, depth, th, 0, 0)

    return kernel


def final(kind: int, depth: int, out_theta, order_dev, theta, beta) -> None:
    """Launch ``final_kernel``: θ (B, P) and β (B, d) of the final iterates by caller's run."""
    B, _, d = out_theta.shape
    if B * d:
        T = min(THREADS, B * d)
        final_kernel(kind, depth)[-(-B * d // T), T](out_theta, order_dev, theta, beta)
