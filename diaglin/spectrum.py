"""The spectrum of the exact Hessian of L = 1/(2n)||Xβ(θ)−y||²: sharpness (extreme
eigenvalues) and trace.

Dense (``np.linalg.eigvalsh`` on the closed-form Hessian, batched, called outside any Numba
parallel region) for small P; Lanczos (``scipy.sparse.linalg.eigsh`` on the exact Hessian-vector
product, never forming the P×P matrix) for large P. Both are exact up to solver tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh
from threadpoolctl import threadpool_limits

from diaglin import _validate as V
from diaglin.models import DiagonalModel, get_model
from diaglin.models import _numerics as nm

#: Largest P for which ``method="auto"`` uses the dense solver (see benchmarks/bench_sharpness.py).
DENSE_MAX_P = 300
#: Hessians per dense chunk are limited to this many float64 entries (memory bound).
_CHUNK_ENTRIES = 2**23


@dataclass(frozen=True)
class SharpnessResult:
    """Extreme eigenvalues of the Hessian. Scalars for one θ, arrays (B,) for a batch.

    top_abs: max |λ| (the sharpness S compared with 2/η); top: max λ; bottom: min λ; trace: Σ λ.
    """

    top_abs: np.ndarray | float
    top: np.ndarray | float
    bottom: np.ndarray | float
    trace: np.ndarray | float


def hessian(model, theta, X, y) -> np.ndarray:
    """The exact Hessian ∇²L(θ): (P, P) for θ (P,), (B, P, P) for θ (B, P)."""
    return get_model(model).hessian(theta, X, y)


def dense_chunk_entries(n_runs: int, P: int) -> int:
    """float64 entries of the largest batch of Hessians the dense solver holds at once."""
    return min(n_runs, max(1, _CHUNK_ENTRIES // (P * P))) * P * P


def _dense(model: DiagonalModel, tile, X, y, A):
    K, d, B = tile.shape
    P = K * d
    lo, hi = np.empty(B), np.empty(B)
    step = max(1, _CHUNK_ENTRIES // (P * P))
    for start in range(0, B, step):
        sub = np.ascontiguousarray(tile[:, :, start : start + step])
        H = np.empty((sub.shape[2], P, P))
        nm.hessian_batch(model.kind, model.depth, sub, X, y, A, H)
        # Many small eigenproblems gain nothing from BLAS threads, and multi-threaded OpenBLAS
        # right after a Numba parallel region ran 4-12x slower here (03_performance.md, lesson 4).
        with threadpool_limits(limits=1, user_api="blas"):
            ev = np.linalg.eigvalsh(H)
        lo[start : start + step], hi[start : start + step] = ev[:, 0], ev[:, -1]
    return lo, hi


def _lanczos(model: DiagonalModel, tile, X, y, tol: float):
    K, d, B = tile.shape
    P = K * d
    lo, hi = np.empty(B), np.empty(B)
    out = np.empty((K, d))
    g = np.empty(d)
    v0 = np.ones(P) / np.sqrt(P)
    for t in range(B):
        th = np.ascontiguousarray(tile[:, :, t : t + 1])
        nm.gbeta_at(model.kind, model.depth, th, 0, X, y, g)

        def matvec(v, th=th):
            nm.hvp_run(model.kind, model.depth, th, 0, X, g, np.reshape(v, (K, d)), out)
            return out.reshape(-1).copy()

        op = LinearOperator((P, P), matvec=matvec, dtype=np.float64)
        # Two one-sided runs need about half the products of one two-ended ("BE") run.
        hi[t] = eigsh(op, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0]
        lo[t] = eigsh(op, k=1, which="SA", tol=tol, v0=v0, return_eigenvectors=False)[0]
    return lo, hi


def sharpness(model, theta, X, y, *, method: str = "auto", tol: float = 1e-12) -> SharpnessResult:
    """Largest |eigenvalue| S = max(|λ_max|, |λ_min|) of ∇²L(θ), with λ_max, λ_min and tr ∇²L.

    method: "dense" (eigvalsh of the closed-form Hessian), "lanczos" (eigsh on the exact HVP,
    relative tolerance ``tol``), or "auto" (dense iff P <= DENSE_MAX_P). The trace is exact in
    closed form: Σ_kj (∂β_j/∂θ_kj)² (XᵀX/n)_jj + Σ_j g_j Σ_k ∂²β_j/∂θ_kj².
    """
    model = get_model(model)
    X, y = V.check_data(X, y)
    th = V.check_theta(theta, model.n_params(X.shape[1]))
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be 'auto', 'dense' or 'lanczos', got {method!r}")
    tile = model.to_tile(th)
    P = th.shape[-1]
    A = X.T @ X / X.shape[0]
    if method == "dense" or (method == "auto" and P <= DENSE_MAX_P) or P < 3:
        lo, hi = _dense(model, tile, X, y, A)
    else:
        lo, hi = _lanczos(model, tile, X, y, tol)
    tr = np.empty(tile.shape[2])
    nm.trace_batch(model.kind, model.depth, tile, X, y, np.ascontiguousarray(np.diagonal(A)), tr)
    top_abs = np.maximum(np.abs(lo), np.abs(hi))
    if th.ndim == 1:
        return SharpnessResult(float(top_abs[0]), float(hi[0]), float(lo[0]), float(tr[0]))
    return SharpnessResult(top_abs, hi, lo, tr)
