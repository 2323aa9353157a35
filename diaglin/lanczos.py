"""Extreme eigenvalues of many symmetric operators at once: Lanczos in lockstep.

B independent Krylov spaces advance together, so each iteration applies the operators of all
runs still iterating in one call (``matvec``: row r of V → H_{rows[r]} V[r]) — for the exact
Hessians of a batch of runs, a handful of matrix–matrix products across runs instead of one
matrix–vector product per run. Runs leave the batch as they converge. Full
reorthogonalisation (classical Gram–Schmidt, repeated when it removed most of the vector:
Kahan's "twice is enough") keeps the basis orthonormal, so no Ritz value is spurious.

Convergence (ARPACK's rule): a run is done when both extreme Ritz pairs (θ, s) of its
tridiagonal T_m satisfy |β_m s_m| <= tol · max|θ|, where |β_m s_m| is the norm of the Ritz
residual H u − θ u; for a symmetric H that bounds the eigenvalue error |θ − λ|. (The sharper
Kato–Temple bound r² / gap, with the gap estimated from the next Ritz value, would stop a
third earlier on a network's Hessian, but it is wrong when a second eigenvalue close to the
extreme one is not resolved yet: errors of 1e-7 for extremes split by 1e-7.) The rule is
checked, run by run, at step FIRST_CHECK and then at the step where the residuals, shrinking
geometrically at the rate seen between the run's last two checks, are predicted to reach the
tolerance (at most CHECK_EVERY steps later), so a run stops within a step or two of
converging. A Krylov
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
#: most iterations between convergence checks (the first after FIRST_CHECK)
CHECK_EVERY = 8
FIRST_CHECK = 16
#: iterations from the first check to the second (the first measured residual decay rate)
SECOND_CHECK = 4


def extreme_eigenvalues(
    matvec: Callable[[np.ndarray, np.ndarray], np.ndarray],
    v0: np.ndarray,
    *,
    tol: float = 1e-12,
    max_iter: int = 300,
    lo_floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(λ_min (B,), λ_max (B,), converged (B,) bool) of the B operators ``matvec`` applies.

    Args:
        matvec: ``matvec(V, rows)`` maps V (R, P) to the rows H_{rows[r]} V[r] (each H_b
            symmetric); ``rows`` are the operators still iterating (converged ones drop out).
        v0: (B, P) start vectors (any nonzero rows; normalised here).
        tol: relative residual tolerance (see the module docstring).
        max_iter: at most this many Lanczos steps (and at most P).
        lo_floor: (B,) known lower bounds on λ_min (default −∞), for callers that want
            max|λ| and λ_max only. A run whose largest Ritz value reaches −lo_floor has
            |λ_min| ≤ λ_max (Ritz values never exceed λ_max), so it converges on λ_max alone
            and reports λ_min as NaN (the smallest eigenvalue, often in a cluster near 0, is
            the one Lanczos converges on last).
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
    # per run: the step of its next convergence check, of its last one and the ratio there
    next_check, last_check = np.full(B, FIRST_CHECK), np.zeros(B, dtype=np.int64)
    last_ratio = np.full(B, np.nan)
    ceiling = np.full(B, np.inf) if lo_floor is None else -np.asarray(lo_floor, dtype=float)
    need_lo = np.ones(B, dtype=bool)
    finished = np.zeros(B, dtype=bool)  # per row of the batch: converged, not dropped yet
    last_drop = 0
    for i in range(m_max):
        w = matvec(Q[:, i], rows)
        alpha[:, i] = np.einsum("bp,bp->b", Q[:, i], w)
        basis = Q[:, : i + 1]
        before = hq = _norms(w)
        for _ in range(2):  # classical Gram–Schmidt against the whole basis
            w -= np.matmul(np.matmul(basis, w[:, :, None]).transpose(0, 2, 1), basis)[:, 0]
            beta[:, i] = _norms(w)
            if (beta[:, i] > 0.5 * before).all():  # little cancellation: once is enough
                break
            before = beta[:, i].copy()
        # An invariant Krylov space (β ≈ 0 next to |H q|): its Ritz values are eigenvalues, and
        # a next vector made of rounding errors would spoil T, so the run stops there.
        invariant = beta[:, i] <= INVARIANT * hq
        last = i + 1 == m_max
        due = ~finished & (invariant | (next_check[rows] <= i + 1) | last)
        if due.any():
            for r in np.flatnonzero(due):
                b = rows[r]
                lo[b], hi[b], r_lo, ratio = _ritz_extremes(alpha[r, : i + 1], beta[r, : i + 1],
                                                           tol)  # fmt: skip
                need_lo[b] = need_lo[b] and not hi[b] >= ceiling[b]
                ratio = max(ratio, r_lo) if need_lo[b] else ratio
                finished[r] = ratio <= 1.0 or invariant[r]
                next_check[b] = i + 1 + _steps_to_converge(ratio, last_ratio[b],
                                                           i + 1 - last_check[b])  # fmt: skip
                last_check[b], last_ratio[b] = i + 1, ratio
            done[rows[finished]] = True
            if finished.all() or last:
                break
        # Drop the converged runs (copying only the basis built so far; the matvec then gathers
        # the remaining runs' data): once a quarter of the batch has converged, or CHECK_EVERY
        # steps after the last drop; until then they iterate on, unread.
        if finished.sum() >= max(1, rows.size // 4) or (
            finished.any() and i + 1 - last_drop >= CHECK_EVERY
        ):
            keep = ~finished
            basis = np.empty((int(keep.sum()), m_max + 1, P))
            basis[:, : i + 1] = Q[keep, : i + 1]
            rows, Q, alpha, beta, w = rows[keep], basis, alpha[keep], beta[keep], w[keep]
            finished, last_drop = finished[keep], i + 1
        safe = np.where(beta[:, i] > 0, beta[:, i], 1.0)
        Q[:, i + 1] = w / safe[:, None]
    lo[~need_lo] = np.nan
    return lo, hi, done


def _norms(w: np.ndarray) -> np.ndarray:
    """Euclidean norms of the rows of w."""
    return np.sqrt(np.einsum("bp,bp->b", w, w))


def _steps_to_converge(ratio: float, before: float, since: int) -> int:
    """Steps until a run's next check: until its residual ratio ``ratio`` (residual over
    tolerance), shrinking at the geometric rate seen since its last check (ratio ``before``
    there, ``since`` steps ago; NaN: none), is predicted to reach 1; from 1 to CHECK_EVERY
    (SECOND_CHECK when no rate is known yet)."""
    if not np.isfinite(before):
        return SECOND_CHECK
    if not (0.0 < ratio < before):  # not shrinking (or already converged)
        return CHECK_EVERY if ratio > 1.0 else 1
    need = np.log(ratio) / (np.log(before / ratio) / since)
    return int(min(max(np.ceil(need), 1), CHECK_EVERY))


def _ritz_extremes(a: np.ndarray, b: np.ndarray, tol: float) -> tuple[float, float, float, float]:
    """Smallest and largest Ritz values of T = tridiag(b[:-1], a, b[:-1]) and their residuals
    |b[-1] s_last| over tol · max|θ| (converged: <= 1): (lo, hi, ratio_lo, ratio_hi)."""
    m = a.size
    if m == 1:
        ratio = float(b[0] / max(tol * abs(a[0]), np.finfo(float).tiny))
        return float(a[0]), float(a[0]), ratio, ratio
    vals, vecs = eigh_tridiagonal(a, b[:-1], select="i", select_range=(0, 0))
    lo, s_lo = float(vals[0]), vecs[-1, 0]
    vals, vecs = eigh_tridiagonal(a, b[:-1], select="i", select_range=(m - 1, m - 1))
    hi, s_hi = float(vals[0]), vecs[-1, 0]
    scale = max(tol * max(abs(lo), abs(hi)), np.finfo(float).tiny)
    return lo, hi, float(abs(b[-1] * s_lo) / scale), float(abs(b[-1] * s_hi) / scale)
