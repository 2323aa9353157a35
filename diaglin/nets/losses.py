"""Per-sample losses ℓ(f, target) of the network outputs f ∈ R^C, with their gradient and
Hessian in f. The training loss is the mean L = (1/n) Σ_i ℓ(f(x_i), t_i).

| name  | ℓ(f)                  | ∇_f ℓ          | ∇²_f ℓ = Λ     | targets from labels y         |
|-------|-----------------------|----------------|----------------|-------------------------------|
| "mse" | ½ ‖f − t‖²            | f − t          | I              | one-hot(y) (C > 1), y (C = 1) |
| "ce"  | log Σ_c e^{f_c} − f_y | p − one-hot(y) | diag(p) − p pᵀ | class labels y ∈ {0..C−1}     |

p = softmax(f). Arrays carry any leading axes (runs, samples) before the last axis C.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from scipy.special import logsumexp, softmax

from diaglin._names import NET_LOSSES

LOSSES = NET_LOSSES


def targets(loss: str, y: np.ndarray, n_out: int) -> np.ndarray:
    """The target array T (n, C) of labels / values y (n,): one-hot rows for classification
    (cross-entropy, or MSE with C > 1 outputs), y itself as a column for scalar regression."""
    if loss == "mse" and n_out == 1:
        return y[:, None].astype(np.float64)
    labels = y.astype(np.int64)
    if not np.array_equal(labels, y) or labels.min() < 0 or labels.max() >= n_out:
        raise ValueError(f"y must hold class labels 0..{n_out - 1} for loss={loss!r} "
                         f"with {n_out} outputs")  # fmt: skip
    return np.eye(n_out)[labels]


def value(loss: str, f: np.ndarray, T: np.ndarray) -> np.ndarray:
    """ℓ per sample (the last axis of f summed out)."""
    if loss == "mse":
        r = f - T
        return 0.5 * (r * r).sum(axis=-1)
    return logsumexp(f, axis=-1) - (f * T).sum(axis=-1)


def gradient(loss: str, f: np.ndarray, T: np.ndarray) -> np.ndarray:
    """∇_f ℓ per sample."""
    return f - T if loss == "mse" else softmax(f, axis=-1) - T


def curvature(loss: str, f: np.ndarray) -> np.ndarray:
    """Λ = ∇²_f ℓ per sample: (..., C, C)."""
    C = f.shape[-1]
    if loss == "mse":
        return np.broadcast_to(np.eye(C), (*f.shape, C))
    p = softmax(f, axis=-1)
    return p[..., :, None] * (np.eye(C) - p[..., None, :])


def curvature_times(loss: str, f: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Λ v per sample, without forming Λ."""
    if loss == "mse":
        return v
    p = softmax(f, axis=-1)
    return p * (v - (p * v).sum(axis=-1, keepdims=True))


def residual_into(loss: str, f: np.ndarray, Tt: np.ndarray, e: np.ndarray, L: np.ndarray) -> None:
    """Outputs laid out (runs, C, samples): f (R, C, n) and targets Tt (C, n) → the mean loss
    L (R,) = (1/n) Σ_i ℓ(f[:, :, i], Tt[:, i]) and e (R, C, n) = ∇_f ℓ / n (e may be f: then
    overwritten), in one pass per run; the same formulas as ``value`` and ``gradient`` (sums in
    another order)."""
    (_mse_into if loss == "mse" else _ce_into)(f, Tt, e, L)


@nb.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _sum_sq(r: np.ndarray) -> float:
    """Σ r² (reassociated: a vectorised sum)."""
    s = 0.0
    for i in range(r.size):
        s += r[i] * r[i]
    return s


@nb.njit(cache=True, nogil=True)
def _mse_into(f, Tt, e, L):
    R, C, n = f.shape
    for r in range(R):
        acc = 0.0
        for c in range(C):
            fr, tr, er = f[r, c], Tt[c], e[r, c]
            for i in range(n):
                er[i] = fr[i] - tr[i]
            acc += _sum_sq(er)
            for i in range(n):
                er[i] /= n
        L[r] = 0.5 * acc / n


@nb.njit(cache=True, nogil=True)
def _ce_into(f, Tt, e, L):
    R, C, n = f.shape
    for r in range(R):
        acc = 0.0
        for i in range(n):
            m = f[r, 0, i]
            for c in range(1, C):
                m = max(m, f[r, c, i])
            s, ft = 0.0, 0.0
            for c in range(C):  # e may be f itself: each f[r, c, i] is read before written
                fc = f[r, c, i]
                ft += fc * Tt[c, i]
                p = math.exp(fc - m)
                e[r, c, i] = p
                s += p
            acc += m + math.log(s) - ft
            for c in range(C):
                e[r, c, i] = (e[r, c, i] / s - Tt[c, i]) / n
        L[r] = acc / n
