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

import numpy as np
from scipy.special import expit, ndtr

ACTIVATIONS = ("tanh", "relu", "softplus", "gelu", "linear")
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
