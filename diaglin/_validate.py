"""Up-front argument checks: bad input raises ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

import numpy as np


def as_finite_array(name: str, value, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array after checking its rank and finiteness."""
    try:
        arr = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real numeric array ({exc})") from None
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        want = " or ".join(f"{k}-D" for k in ndims)
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def check_data(X, y) -> tuple[np.ndarray, np.ndarray]:
    """X (n, d) and y (n,), finite."""
    X = as_finite_array("X", X, 2)
    y = as_finite_array("y", y, 1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows")
    return X, y


def check_positive(name: str, value: float) -> float:
    """A finite scalar > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def is_integer(value) -> bool:
    """Whether ``value`` is an integral number (an int, or a float equal to one; not a bool)."""
    if isinstance(value, bool):
        return False
    try:
        return int(value) == value
    except (TypeError, ValueError, OverflowError):  # None, a string, NaN, inf
        return False


def check_int(name: str, value, minimum: int) -> int:
    """An integer >= minimum."""
    if not is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_etas(etas) -> np.ndarray:
    """Learning rates: 1-D (a scalar is one run), finite, all > 0."""
    e = as_finite_array("etas", np.atleast_1d(np.asarray(etas, dtype=np.float64)), 1)
    if np.any(e <= 0):
        raise ValueError(f"etas must all be > 0, got min {e.min()!r}")
    return e


def check_theta(theta, n_params: int, n_runs: int | None = None) -> np.ndarray:
    """theta (P,) or (B, P) with P = n_params (and B = n_runs when given)."""
    name = "theta0" if n_runs is not None else "theta"
    th = as_finite_array(name, theta, (1, 2))
    if th.shape[-1] != n_params:
        raise ValueError(f"{name} must have {n_params} parameters per run, got shape {th.shape}")
    if n_runs is not None and th.ndim == 2 and th.shape[0] != n_runs:
        raise ValueError(f"{name} has {th.shape[0]} rows but etas has {n_runs} runs")
    return th


def check_choice(name: str, value, choices: Collection):
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


class BatchRun(NamedTuple):
    """The checked arguments of a batch of runs, one per step size (``run_gd``, ``eos_flow``)."""

    X: np.ndarray
    y: np.ndarray
    etas: np.ndarray
    theta0: np.ndarray
    eps: float
    diverge_factor: float
    max_steps: int
    record_every: int


def check_batch_run(model, X, y, etas, theta0, *, eps, diverge_factor, max_steps,
                    record_every) -> BatchRun:  # fmt: skip
    """Data, step sizes (B,), starts ((P,) or (B, P), P = model.n_params(d)) and the stopping
    and recording options shared by every batched runner."""
    X, y = check_data(X, y)
    etas = check_etas(etas)
    theta0 = check_theta(theta0, model.n_params(X.shape[1]), n_runs=etas.size)
    return BatchRun(
        X, y, etas, theta0, check_positive("eps", eps),
        check_positive("diverge_factor", diverge_factor), check_int("max_steps", max_steps, 0),
        check_int("record_every", record_every, 0),
    )  # fmt: skip
