"""Extreme eigenvalues of many symmetric operators at once: Lanczos in lockstep.

B independent Krylov spaces advance together, so each iteration applies the operators of all
runs still iterating in one call (``matvec``: row r of V → H_{rows[r]} V[r]) — for the exact
Hessians of a batch of runs, a handful of matrix–matrix products across runs instead of one
matrix–vector product per run. Runs leave the batch as they converge. Full
reorthogonalisation (classical Gram–Schmidt, repeated when it removed most of the vector:
Kahan's "twice is enough") keeps the basis orthonormal, so no Ritz value is spurious.

Convergence (ARPACK's rule): a run is done when both extreme Ritz pairs (θ, s) of its
tridiagonal T_m satisfy |β_m s_m| <= tol · max|θ|, where |β_m s_m| is the norm of the Ritz
residual H u − θ u; for a symmetric H that bounds the eigenvalue error |θ − λ|. A Krylov
space that becomes invariant (β_m <= INVARIANT · |H q_m|) gives exact eigenvalues: the run
stops. Runs not converged after ``max_iter`` iterations are reported as such (``converged``
False) for the caller to redo.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import eigh_tridiagonal

#: β_m below this fraction of |H q_m| marks the Krylov space invariant (breakdown)
INVARIANT = 1e-10
#: iterations between convergence checks (the first after FIRST_CHECK)
CHECK_EVERY = 8
FIRST_CHECK = 16


def extreme_eigenvalues(
    matvec: Callable[[np.ndarray, np.ndarray], np.ndarray],
    v0: np.ndarray,
    *,
    tol: float = 1e-12,
    max_iter: int = 300,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(λ_min (B,), λ_max (B,), converged (B,) bool) of the B operators ``matvec`` applies.

    Args:
        matvec: ``matvec(V, rows)`` maps V (R, P) to the rows H_{rows[r]} V[r] (each H_b
            symmetric); ``rows`` are the operators still iterating (converged ones drop out).
        v0: (B, P) start vectors (any nonzero rows; normalised here).
        tol: relative residual tolerance (see the module docstring).
        max_iter: at most this many Lanczos steps (and at most P).
    """
    B, P = v0.shape
    m_max = int(min(P, max_iter))
    Q = np.empty((B, m_max + 1, P))
    alpha = np.zeros((B, m_max))
    beta = np.zeros((B, m_max))
    Q[:, 0] = v0 / np.linalg.norm(v0, axis=1, keepdims=True)
    lo, hi = np.full(B, np.nan), np.full(B, np.nan)
    done = np.zeros(B, dtype=bool)
    rows = np.arange(B)  # the runs still iterating; Q, alpha, beta hold only them
    for i in range(m_max):
        w = matvec(Q[:, i], rows)
        alpha[:, i] = np.einsum("bp,bp->b", Q[:, i], w)
        basis = Q[:, : i + 1]
        before = hq = np.linalg.norm(w, axis=1)
        for _ in range(2):  # classical Gram–Schmidt against the whole basis
            w -= np.matmul(np.matmul(basis, w[:, :, None]).transpose(0, 2, 1), basis)[:, 0]
            beta[:, i] = np.linalg.norm(w, axis=1)
            if np.all(beta[:, i] > 0.5 * before):  # little cancellation: once is enough
                break
            before = beta[:, i].copy()
        # An invariant Krylov space (β ≈ 0 next to |H q|): its Ritz values are eigenvalues, and
        # a next vector made of rounding errors would spoil T, so the run stops there.
        invariant = beta[:, i] <= INVARIANT * hq
        last = i + 1 == m_max
        check = i + 1 >= FIRST_CHECK and (i + 1 - FIRST_CHECK) % CHECK_EVERY == 0
        if last or check or invariant.any():
            ok = np.zeros(rows.size, dtype=bool)
            for r, b in enumerate(rows):
                lo[b], hi[b], ok[r] = _ritz_extremes(alpha[r, : i + 1], beta[r, : i + 1], tol)
            ok |= invariant
            done[rows[ok]] = True
            if ok.all() or last:
                break
            if ok.any():  # drop the converged runs (copying only the basis built so far)
                keep = ~ok
                basis = np.empty((int(keep.sum()), m_max + 1, P))
                basis[:, : i + 1] = Q[keep, : i + 1]
                rows, Q, alpha, beta, w = rows[keep], basis, alpha[keep], beta[keep], w[keep]
        safe = np.where(beta[:, i] > 0, beta[:, i], 1.0)
        Q[:, i + 1] = w / safe[:, None]
    return lo, hi, done


def _ritz_extremes(a: np.ndarray, b: np.ndarray, tol: float) -> tuple[float, float, bool]:
    """Smallest and largest Ritz values of T = tridiag(b[:-1], a, b[:-1]) and whether both
    residuals |b[-1] s_last| are within tol · max|θ| (or the space is invariant)."""
    m = a.size
    if m == 1:
        return float(a[0]), float(a[0]), bool(b[0] <= tol * abs(a[0]))
    vals, vecs = eigh_tridiagonal(a, b[:-1], select="i", select_range=(0, 0))
    lo, s_lo = float(vals[0]), vecs[-1, 0]
    vals, vecs = eigh_tridiagonal(a, b[:-1], select="i", select_range=(m - 1, m - 1))
    hi, s_hi = float(vals[0]), vecs[-1, 0]
    scale = max(abs(lo), abs(hi), np.finfo(float).tiny)
    ok = max(abs(b[-1] * s_lo), abs(b[-1] * s_hi)) <= tol * scale
    return lo, hi, bool(ok)
