"""The spectrum of the exact Hessian of a model's training loss (the diagonal models'
L = 1/(2n)||Xβ(θ)−y||², a network's mean per-sample loss): sharpness (extreme eigenvalues) and
trace.

Dense (``np.linalg.eigvalsh`` on the closed-form Hessian, batched, called outside any Numba
parallel region) for small P; for large P, Lanczos on the exact Hessian-vector product, never
forming the P×P matrix, for all runs in lockstep (``diaglin.lanczos``: each step one batched HVP,
i.e. matrix–matrix products across runs). Both are exact up to solver tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from diaglin import _validate as V
from diaglin._threads import blas_threads
from diaglin.lanczos import extreme_eigenvalues
from diaglin.models import get_model

#: Largest P for which ``method="auto"`` uses the dense solver (see benchmarks/bench_sharpness.py
#: and benchmarks/README.md: since Lanczos runs in lockstep the crossover is P ≈ 90–125 on the
#: AMD VM; 150 leaves room for machines with faster dense eigensolvers).
DENSE_MAX_P = 150
#: Hessians per dense chunk (and Krylov bases per Lanczos chunk) are limited to this many float64
#: entries (memory bound).
_CHUNK_ENTRIES = 2**23
#: Lanczos steps before a run falls back to ARPACK.
LANCZOS_MAX_ITER = 300


@dataclass(frozen=True)
class SharpnessResult:
    """Extreme eigenvalues of the Hessian. Scalars for one θ, arrays (B,) for a batch.

    top_abs: max |λ| (the sharpness S compared with 2/η); top: max λ; bottom: min λ; trace: Σ λ.
    """

    top_abs: np.ndarray | float
    top: np.ndarray | float
    bottom: np.ndarray | float
    trace: np.ndarray | float

    @classmethod
    def of(cls, lo: np.ndarray, hi: np.ndarray, trace: np.ndarray) -> SharpnessResult:
        """From λ_min, λ_max and the trace (arrays (B,)): top_abs = max(|λ_min|, |λ_max|), or
        |λ_max| where λ_min is NaN (not computed: Lanczos showed |λ_min| ≤ λ_max)."""
        top_abs = np.where(np.isnan(lo), np.abs(hi), np.maximum(np.abs(lo), np.abs(hi)))
        return cls(top_abs, hi, lo, trace)


def hessian(model, theta, X, y) -> np.ndarray:
    """The exact Hessian ∇²L(θ): (P, P) for θ (P,), (B, P, P) for θ (B, P)."""
    return get_model(model).hessian(theta, X, y)


def _chunk_runs(entries_per_run: int) -> int:
    """Runs per chunk of a solver that holds ``entries_per_run`` floats per run."""
    return max(1, _CHUNK_ENTRIES // entries_per_run)


def krylov_basis_entries(P: int) -> int:
    """float64 entries of one run's Krylov basis (LANCZOS_MAX_ITER + 1 vectors at most)."""
    return (min(P, LANCZOS_MAX_ITER) + 1) * P


def _chunk_entries(n_runs: int, entries_per_run: int) -> int:
    """float64 entries of the largest chunk of n_runs runs such a solver holds at once."""
    return min(n_runs, _chunk_runs(entries_per_run)) * entries_per_run


def dense_chunk_entries(n_runs: int, P: int) -> int:
    """float64 entries of the largest batch of Hessians the dense solver holds at once."""
    return _chunk_entries(n_runs, P * P)


def lanczos_chunk_entries(n_runs: int, P: int) -> int:
    """float64 entries of the largest batch of Krylov bases the Lanczos solver holds at once."""
    return _chunk_entries(n_runs, krylov_basis_entries(P))


def _dense(model, theta: np.ndarray, X, y) -> tuple[np.ndarray, np.ndarray]:
    """(λ_min, λ_max) per row of θ (B, P) by ``eigvalsh`` of the closed-form Hessians, in
    chunks of at most _CHUNK_ENTRIES entries."""
    B, P = theta.shape
    lo, hi = np.empty(B), np.empty(B)
    step = _chunk_runs(P * P)
    for start in range(0, B, step):
        H = np.atleast_3d(model.hessian(theta[start : start + step], X, y))
        # Many small eigenproblems gain nothing from BLAS threads, and multi-threaded OpenBLAS
        # right after a Numba parallel region ran 4-12x slower here (03_performance.md, lesson 4).
        with blas_threads(1):
            ev = np.linalg.eigvalsh(H)
        lo[start : start + step], hi[start : start + step] = ev[:, 0], ev[:, -1]
    return lo, hi


def _lanczos(
    model, theta: np.ndarray, X, y, tol: float, floor: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Extreme eigenvalues of every run's Hessian by Lanczos in lockstep (``diaglin.lanczos``) on
    the model's exact batched HVP (``model.batched_hvp``), in chunks that bound the Krylov
    bases' memory; runs that do not converge in LANCZOS_MAX_ITER steps are redone by ARPACK
    (``arpack_fallback``). ``floor``: lower bounds on λ_min that let runs skip it
    (``extreme_eigenvalues``' lo_floor; NaN there)."""
    B, P = theta.shape
    lo, hi = np.empty(B), np.empty(B)
    m = min(P, LANCZOS_MAX_ITER)
    step = _chunk_runs(krylov_basis_entries(P))
    v0 = start_vector(P)
    for start in range(0, B, step):
        sub = theta[start : start + step]
        W = sub.shape[0]
        matvec = model.batched_hvp(sub, X, y)
        sub_floor = None if floor is None else floor[start : start + W]
        a, b, ok = extreme_eigenvalues(matvec, np.tile(v0, (W, 1)), tol=tol, max_iter=m,
                                       lo_floor=sub_floor)  # fmt: skip
        arpack_fallback(model, sub, X, y, a, b, ok, tol=tol)
        lo[start : start + W], hi[start : start + W] = a, b
    return lo, hi


def start_vector(P: int) -> np.ndarray:
    """The Lanczos start vector of every run (fixed, so that results are reproducible)."""
    return np.random.default_rng(0).standard_normal(P)


def arpack_fallback(
    model, theta: np.ndarray, X, y, lo: np.ndarray, hi: np.ndarray, converged: np.ndarray, *,
    tol: float,
) -> None:  # fmt: skip
    """Redo by ARPACK (``eigsh`` on the exact HVP, one run at a time) the rows of θ (B, P) on
    which Lanczos did not converge: their (λ_min, λ_max) are written into ``lo``, ``hi``."""
    v0 = start_vector(theta.shape[1])
    for t in np.flatnonzero(~converged):
        lo[t], hi[t] = _arpack(model.batched_hvp(theta[t : t + 1], X, y), tol, v0)


def _arpack(matvec, tol: float, v0: np.ndarray) -> tuple[float, float]:
    """(λ_min, λ_max) of one run's Hessian by ARPACK on its exact HVP (the fallback)."""
    P = v0.size
    op = LinearOperator((P, P), matvec=lambda v: matvec(v[None, :])[0], dtype=np.float64)
    hi = eigsh(op, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0]
    lo = eigsh(op, k=1, which="SA", tol=tol, v0=v0, return_eigenvectors=False)[0]
    return float(lo), float(hi)


def sharpness(
    model, theta, X, y, *, method: str = "auto", tol: float = 1e-12, bottom: bool = True
) -> SharpnessResult:
    """Largest |eigenvalue| S = max(|λ_max|, |λ_min|) of ∇²L(θ), with λ_max, λ_min and tr ∇²L.

    method: "dense" (eigvalsh of the closed-form Hessian), "lanczos" (Lanczos on the exact HVP,
    all runs at once, relative residual tolerance ``tol``), or "auto" (dense iff P <=
    DENSE_MAX_P). The trace is exact in closed form (``model.hessian_trace``; for the diagonal
    models Σ_kj (∂β_j/∂θ_kj)² (XᵀX/n)_jj + Σ_j g_j Σ_k ∂²β_j/∂θ_kj²).

    ``bottom=False``: only S and λ_max are wanted. Lanczos then skips λ_min wherever the
    model's lower bound (``hessian_floor``: λ_min ≥ floor) shows |λ_min| ≤ λ_max once a Ritz
    value reaches −floor — near a minimum almost always — and reports λ_min there as NaN (the
    smallest eigenvalue, in a cluster near 0, is what Lanczos converges on last).
    """
    model = get_model(model)
    X, y = V.check_data(X, y)
    th = V.check_theta(theta, model.n_params(X.shape[1]))
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be 'auto', 'dense' or 'lanczos', got {method!r}")
    rows = np.atleast_2d(th)
    P = th.shape[-1]
    if method == "dense" or (method == "auto" and P <= DENSE_MAX_P) or P < 3:
        lo, hi = _dense(model, rows, X, y)
    else:
        floor = None
        if not bottom and hasattr(model, "hessian_floor"):
            floor = model.hessian_floor(rows, X, y)
        lo, hi = _lanczos(model, rows, X, y, tol, floor)
    tr = np.atleast_1d(model.hessian_trace(rows, X, y))
    result = SharpnessResult.of(lo, hi, tr)
    if th.ndim == 1:
        return SharpnessResult(float(result.top_abs[0]), float(hi[0]), float(lo[0]), float(tr[0]))
    return result
