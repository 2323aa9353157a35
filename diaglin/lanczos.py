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
from typing import Protocol

import numba as nb
import numpy as np

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
    return lockstep(HostKrylov(matvec, v0, int(min(P, max_iter))), tol=tol, lo_floor=lo_floor)


class Krylov(Protocol):
    """The Krylov bases of a batch of runs, held where their operators are (host or GPU).

    ``lockstep`` drives it; between its calls the object holds, for the rows still reported,
    the basis q_0..q_i and the vector w of the step."""

    size: int  #: B, the runs at the start
    max_steps: int  #: the most Lanczos steps (columns of the tridiagonal T)

    def expand(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """w = H q_i made orthogonal to q_0..q_i (full reorthogonalisation): (α_i = q_iᵀ H q_i,
        |H q_i|, β_i = |w|), host arrays over the rows still reported."""
        ...

    def keep(self, rows: np.ndarray) -> None:
        """From now on report only the rows where ``rows`` (bool, over those reported) is True."""
        ...

    def next_vector(self, i: int, beta: np.ndarray) -> None:
        """q_{i+1} = w / β_i (w itself where β_i = 0)."""
        ...


class HostKrylov:
    """``Krylov`` in NumPy: the bases (B, m+1, P) on the host; ``keep`` moves the rows kept.
    Gram–Schmidt is repeated only when it removed most of the vector (Kahan's rule)."""

    def __init__(self, matvec, v0: np.ndarray, max_steps: int):
        B, P = v0.shape
        self.size, self.max_steps, self.matvec = B, max_steps, matvec
        self.Q = np.empty((B, max_steps + 1, P))
        self.Q[:, 0] = v0 / np.linalg.norm(v0, axis=1, keepdims=True)
        self.rows, self.i, self.w = np.arange(B), 0, None

    def expand(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.i = i
        w = self.matvec(self.Q[:, i], self.rows)
        alpha = np.einsum("bp,bp->b", self.Q[:, i], w)
        basis = self.Q[:, : i + 1]
        before = hq = _norms(w)
        for _ in range(2):  # classical Gram–Schmidt against the whole basis
            w -= np.matmul(np.matmul(basis, w[:, :, None]).transpose(0, 2, 1), basis)[:, 0]
            beta = _norms(w)
            if (beta > 0.5 * before).all():  # little cancellation: once is enough
                break
            before = beta
        self.w = w
        return alpha, hq, beta

    def keep(self, rows: np.ndarray) -> None:
        # in place, row by row (a kept row only moves down) and only the basis built so far:
        # a new array would cost its page faults; the matvec then gathers the runs' data
        kept = np.flatnonzero(rows)
        for dst, src in enumerate(kept):
            if dst != src:
                self.Q[dst, : self.i + 1] = self.Q[src, : self.i + 1]
        self.Q, self.rows, self.w = self.Q[: kept.size], self.rows[kept], self.w[kept]

    def next_vector(self, i: int, beta: np.ndarray) -> None:
        safe = np.where(beta > 0, beta, 1.0)
        self.Q[:, i + 1] = self.w / safe[:, None]


def lockstep(
    krylov: Krylov, *, tol: float = 1e-12, lo_floor: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lanczos on the runs of ``krylov`` in lockstep: (λ_min, λ_max, converged), each (B,);
    ``tol`` and ``lo_floor`` as in ``extreme_eigenvalues``. The convergence checks, the Ritz
    values and the choice of when to drop converged runs are made here, on the host, from the
    tridiagonal coefficients that ``krylov.expand`` returns, wherever the bases are held."""
    B, m_max = krylov.size, krylov.max_steps
    alpha = np.zeros((B, m_max))
    beta = np.zeros((B, m_max))
    lo, hi = np.full(B, np.nan), np.full(B, np.nan)
    done = np.zeros(B, dtype=bool)
    rows = np.arange(B)  # the runs still iterating; alpha, beta (and krylov) hold only them
    # per run: the step of its next convergence check, of its last one and the ratio there
    next_check, last_check = np.full(B, FIRST_CHECK), np.zeros(B, dtype=np.int64)
    last_ratio = np.full(B, np.nan)
    ceiling = np.full(B, np.inf) if lo_floor is None else -np.asarray(lo_floor, dtype=float)
    need_lo = np.ones(B, dtype=bool)
    finished = np.zeros(B, dtype=bool)  # per row of the batch: converged, not dropped yet
    last_drop = 0
    for i in range(m_max):
        alpha[:, i], hq, beta[:, i] = krylov.expand(i)
        # An invariant Krylov space (β ≈ 0 next to |H q|): its Ritz values are eigenvalues, and
        # a next vector made of rounding errors would spoil T, so the run stops there.
        invariant = beta[:, i] <= INVARIANT * hq
        last = i + 1 == m_max
        due = ~finished & (invariant | (next_check[rows] <= i + 1) | last)
        if due.any():
            r = np.flatnonzero(due)
            b = rows[r]
            skip_lo = np.where(need_lo[b], ceiling[b], -np.inf)
            out = ritz_extremes(alpha[r, : i + 1], beta[r, : i + 1], tol, skip_lo)
            lo[b], hi[b], r_lo, ratio = out.T
            need_lo[b] &= ~(hi[b] >= ceiling[b])
            ratio = np.where(need_lo[b], np.fmax(ratio, r_lo), ratio)
            finished[r] = (ratio <= 1.0) | invariant[r]
            next_check[b] = i + 1 + _steps_to_converge(ratio, last_ratio[b], i + 1 - last_check[b])
            last_check[b], last_ratio[b] = i + 1, ratio
            done[rows[finished]] = True
            if finished.all() or last:
                break
        # Drop the converged runs: once a quarter of the batch has converged, or CHECK_EVERY
        # steps after the last drop; until then they iterate on, unread.
        if finished.sum() >= max(1, rows.size // 4) or (
            finished.any() and i + 1 - last_drop >= CHECK_EVERY
        ):
            keep = ~finished
            krylov.keep(keep)
            rows, alpha, beta = rows[keep], alpha[keep], beta[keep]
            finished, last_drop = finished[keep], i + 1
        krylov.next_vector(i, beta[:, i])
    lo[~need_lo] = np.nan
    return lo, hi, done


def _norms(w: np.ndarray) -> np.ndarray:
    """Euclidean norms of the rows of w."""
    return np.sqrt(np.einsum("bp,bp->b", w, w))


def _steps_to_converge(ratio: np.ndarray, before: np.ndarray, since: np.ndarray) -> np.ndarray:
    """Steps until each run's next check: until its residual ratio ``ratio`` (residual over
    tolerance), shrinking at the geometric rate seen since its last check (ratio ``before``
    there, ``since`` steps ago; NaN: none), is predicted to reach 1; from 1 to CHECK_EVERY
    (SECOND_CHECK when no rate is known yet)."""
    shrinking = (0.0 < ratio) & (ratio < before)
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.log(ratio) / (np.log(before / ratio) / since)
    predicted = np.clip(np.ceil(np.where(shrinking, need, 1.0)), 1, CHECK_EVERY)
    steady = np.where(ratio > 1.0, CHECK_EVERY, 1)  # not shrinking (or already converged)
    out = np.where(shrinking, predicted, steady)
    return np.where(np.isfinite(before), out, SECOND_CHECK).astype(np.int64)


#: inverse-iteration sweeps for the last component of a Ritz vector (from an eigenvalue found
#: by bisection to rounding accuracy, one sweep already gives the vector to rounding)
_INVERSE_SWEEPS = 2
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)


@nb.njit(cache=True)
def ritz_extremes(a: np.ndarray, b: np.ndarray, tol: float, ceiling: np.ndarray) -> np.ndarray:
    """For each row r: the smallest and largest Ritz values θ of T = tridiag(b[r, :-1], a[r],
    b[r, :-1]) (m = a.shape[1]) and their residuals |b[r, -1] s_m| over tol · max|θ|, where s_m
    is the last component of the unit eigenvector of T (converged: <= 1). Returns (R, 4):
    (lo, hi, ratio_lo, ratio_hi); lo and ratio_lo are NaN (not computed) where
    hi >= ceiling[r] (the caller knows that then |λ_min| <= λ_max; -inf: never wanted).

    Eigenvalues by bisection on Sturm counts (LAPACK's dstebz, to eps·‖T‖), s_m by inverse
    iteration with a partially pivoted tridiagonal LU (dgttrf/dgttrs, as dstein): per row
    O(m) per bisection step, no Python per row."""
    R, m = a.shape
    out = np.full((R, 4), np.nan)
    for r in range(R):
        if m == 1:
            ratio = abs(b[r, 0]) / max(tol * abs(a[r, 0]), _TINY)
            out[r, 1], out[r, 3] = a[r, 0], ratio
            if not a[r, 0] >= ceiling[r]:
                out[r, 0], out[r, 2] = a[r, 0], ratio
            continue
        e = b[r, : m - 1]
        lo = hi = a[r, 0]
        emax = 0.0
        for k in range(m):
            radius = (abs(e[k - 1]) if k > 0 else 0.0) + (abs(e[k]) if k < m - 1 else 0.0)
            lo = min(lo, a[r, k] - radius)
            hi = max(hi, a[r, k] + radius)
            if k < m - 1:
                emax = max(emax, e[k] * e[k])
        scale = max(abs(lo), abs(hi))
        pivmin = _TINY * max(1.0, emax)
        top = _bisect(a[r], e, lo, hi, m - 1, scale, pivmin)
        bottom = np.nan
        if not top >= ceiling[r]:
            bottom = _bisect(a[r], e, lo, hi, 0, scale, pivmin)
        size = max(abs(top), abs(bottom)) if bottom == bottom else abs(top)
        for q, val in ((0, bottom), (1, top)):
            if val == val:
                s_m = _last_component(a[r], e, val, scale)
                out[r, q] = val
                out[r, 2 + q] = abs(b[r, m - 1] * s_m) / max(tol * size, _TINY)
    return out


@nb.njit(cache=True)
def _sturm_count(a, e, x, pivmin):
    """Eigenvalues of tridiag(e, a, e) below x: the negative pivots of its LDLᵀ − x I."""
    count = 0
    piv = a[0] - x
    for k in range(a.size):
        if k > 0:
            piv = (a[k] - x) - e[k - 1] * e[k - 1] / piv
        if abs(piv) < pivmin:
            piv = -pivmin
        if piv < 0.0:
            count += 1
    return count


@nb.njit(cache=True)
def _bisect(a, e, lo, hi, index, scale, pivmin):
    """The eigenvalue number ``index`` (ascending) of tridiag(e, a, e), in [lo, hi], to
    2 eps · scale (scale ≥ ‖T‖)."""
    for _ in range(200):
        if hi - lo <= 2.0 * _EPS * scale + pivmin:
            break
        mid = 0.5 * (lo + hi)
        if _sturm_count(a, e, mid, pivmin) > index:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


@nb.njit(cache=True)
def _last_component(a, e, lam, scale):
    """|s_m|: the last component of the unit eigenvector of tridiag(e, a, e) for the eigenvalue
    lam, by inverse iteration on T − lam I (LU with partial pivoting; zero pivots replaced by
    eps · scale)."""
    m = a.size
    d, dl, du = a - lam, e.copy(), e.copy()
    du2 = np.zeros(max(m - 2, 0))
    swap = np.zeros(m - 1, np.bool_)
    for k in range(m - 1):  # dgttrf
        if abs(d[k]) >= abs(dl[k]):
            if d[k] != 0.0:
                fact = dl[k] / d[k]
                dl[k] = fact
                d[k + 1] -= fact * du[k]
        else:
            fact = d[k] / dl[k]
            d[k] = dl[k]
            dl[k] = fact
            temp = du[k]
            du[k] = d[k + 1]
            d[k + 1] = temp - fact * d[k + 1]
            if k < m - 2:
                du2[k] = du[k + 1]
                du[k + 1] = -fact * du[k + 1]
            swap[k] = True
    small = _EPS * max(scale, _TINY)
    for k in range(m):
        if abs(d[k]) < small:
            d[k] = small if d[k] >= 0.0 else -small
    x = np.empty(m)
    for k in range(m):  # a start with no special structure
        x[k] = 1.0 + 0.5 * np.sin(k + 1.0)
    for _ in range(_INVERSE_SWEEPS):
        for k in range(m - 1):  # dgttrs: L, then U
            if swap[k]:
                temp = x[k]
                x[k] = x[k + 1]
                x[k + 1] = temp - dl[k] * x[k]
            else:
                x[k + 1] -= dl[k] * x[k]
        x[m - 1] /= d[m - 1]
        if m > 1:
            x[m - 2] = (x[m - 2] - du[m - 2] * x[m - 1]) / d[m - 2]
        for k in range(m - 3, -1, -1):
            x[k] = (x[k] - du[k] * x[k + 1] - du2[k] * x[k + 2]) / d[k]
        big = 0.0
        for k in range(m):
            big = max(big, abs(x[k]))
        norm = 0.0
        for k in range(m):
            x[k] /= big
            norm += x[k] * x[k]
        norm = np.sqrt(norm)
        for k in range(m):
            x[k] /= norm
    return abs(x[m - 1])
