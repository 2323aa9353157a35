"""Activation functions with their first and second derivatives, elementwise on arrays.

| name       | σ(z)                  | σ'(z)              | σ''(z)                    |
|------------|-----------------------|--------------------|---------------------------|
| "tanh"     | tanh z                | 1 − σ²             | −2 σ σ'                   |
| "relu"     | max(z, 0)             | [z > 0]            | 0 (a.e.: piecewise-linear) |
| "softplus" | log(1 + eᶻ)           | sigmoid(z)         | σ'(1 − σ')                |
| "gelu"     | z Φ(z)                | Φ(z) + z φ(z)      | φ(z)(2 − z²)              |
| "linear"   | z                     | 1                  | 0                         |

Φ, φ: the standard normal CDF and density. ReLU's Hessian is exact away from the kinks z = 0
(a null set for real data); "softplus" and "gelu" are smooth alternatives.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from scipy.special import expit, ndtr

from diaglin._names import NET_ACTIVATIONS

ACTIVATIONS = NET_ACTIVATIONS
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def activate(name: str, z: np.ndarray, *, derivatives: int = 2) -> tuple[np.ndarray, ...]:
    """(σ(z), σ'(z), σ''(z)), or only the first 1 + ``derivatives`` of them (the others are
    not computed). ``z`` may be overwritten."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    if name == "tanh":
        a = np.tanh(z, out=z)
        d1 = np.subtract(1.0, a * a) if derivatives else None
        d2 = -2.0 * a * d1 if derivatives > 1 else None
    elif name == "relu":
        d1 = (z > 0).astype(z.dtype) if derivatives else None
        d2 = np.zeros_like(z) if derivatives > 1 else None
        a = np.maximum(z, 0.0, out=z)
    elif name == "softplus":
        d1 = expit(z) if derivatives else None
        d2 = d1 * (1.0 - d1) if derivatives > 1 else None
        a = np.logaddexp(0.0, z, out=z)
    elif name == "gelu":
        cdf, pdf = ndtr(z), np.exp(-0.5 * z * z) * _INV_SQRT_2PI
        d1 = cdf + z * pdf if derivatives else None
        d2 = pdf * (2.0 - z * z) if derivatives > 1 else None
        a = np.multiply(z, cdf, out=z)
    else:  # linear
        a = z
        d1 = np.ones_like(z) if derivatives else None
        d2 = np.zeros_like(z) if derivatives > 1 else None
    return (a, d1, d2)[: 1 + derivatives]


def activate_into(name: str, z: np.ndarray, a: np.ndarray, d1: np.ndarray | None) -> None:
    """σ(z) into ``a`` and, unless ``d1`` is None, σ'(z) into ``d1`` (preallocated arrays of z's
    shape; z is kept). The same values as ``activate``, without allocating the outputs."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    if name == "tanh":
        np.tanh(z, out=a)
        if d1 is not None:
            np.multiply(a, a, out=d1)
            np.subtract(1.0, d1, out=d1)
    elif name == "relu":
        if d1 is not None:
            np.greater(z, 0.0, out=d1)
        np.maximum(z, 0.0, out=a)
    elif name == "softplus":
        if d1 is not None:
            expit(z, out=d1)
        np.logaddexp(0.0, z, out=a)
    elif name == "gelu":
        cdf = ndtr(z)
        if d1 is not None:
            np.multiply(z, z, out=d1)
            np.multiply(d1, -0.5, out=d1)
            np.exp(d1, out=d1)
            np.multiply(d1, _INV_SQRT_2PI, out=d1)  # φ(z)
            np.multiply(z, d1, out=d1)
            np.add(cdf, d1, out=d1)
        np.multiply(z, cdf, out=a)
    else:  # linear
        np.copyto(a, z)
        if d1 is not None:
            d1.fill(1.0)


@nb.njit(cache=True, nogil=True)
def times_tanh_prime(e: np.ndarray, a: np.ndarray) -> None:
    """e *= 1 − a² elementwise (tanh's σ' from its output a = tanh z, in one pass): e (R, U, n),
    a (R, ≥ U, n) (rows past U ignored)."""
    R, U, n = e.shape
    for r in range(R):
        for u in range(U):
            er, ar = e[r, u], a[r, u]
            for i in range(n):
                er[i] *= 1.0 - ar[i] * ar[i]
