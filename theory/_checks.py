"""Input validation shared by the theory modules: bad input -> ValueError naming the argument."""

from __future__ import annotations

import numpy as np

MODELS = ("ww", "uv", "pm")


def finite_array(value: object, name: str, *, ndim: int | None = None) -> np.ndarray:
    """``value`` as a float64 array, finite, with ``ndim`` dimensions if given."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: not convertible to a float64 array ({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains non-finite values")
    return arr


def positive_scalar(value: object, name: str) -> float:
    """``value`` as a finite float > 0."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def data_matrix(X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``X`` (n, d) and ``y`` (n,)."""
    Xa = finite_array(X, "X", ndim=2)
    ya = finite_array(y, "y", ndim=1)
    if Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"y: length {ya.shape[0]} does not match X rows {Xa.shape[0]}")
    if Xa.shape[0] == 0 or Xa.shape[1] == 0:
        raise ValueError(f"X: empty shape {Xa.shape}")
    return Xa, ya


def one_point(x: object, y: object, *, positive: bool = False) -> tuple[np.ndarray, float]:
    """Validate one data point ``x`` (d,) and label ``y`` (scalar); optionally x > 0, y > 0."""
    xa = finite_array(x, "x", ndim=1)
    if xa.size == 0:
        raise ValueError("x: empty")
    try:
        yv = float(y)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"y: expected a scalar, got {y!r}") from None
    if not np.isfinite(yv):
        raise ValueError("y: not finite")
    if positive:
        if np.any(xa <= 0):
            raise ValueError("x: this result assumes x_i > 0 for all i")
        if yv <= 0:
            raise ValueError("y: this result assumes y > 0")
    return xa, yv


def model_name(model: str) -> str:
    """One of ``MODELS``."""
    if model not in MODELS:
        raise ValueError(f"model: expected one of {MODELS}, got {model!r}")
    return model
