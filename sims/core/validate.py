"""Checks of an experiment config's fields: each returns the clean value or raises a
``ValueError`` that names the field."""

from __future__ import annotations

import numpy as np

from diaglin._validate import is_integer


def positive_tuple(name: str, values, kind=float) -> tuple:
    """``values`` (a number or a sequence) as a non-empty tuple of ``kind``, each finite and > 0;
    ValueError naming ``name`` otherwise."""
    try:
        out = tuple(kind(v) for v in np.atleast_1d(values).tolist())
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {values!r}") from None
    if not out:
        raise ValueError(f"{name}: needs at least one value")
    if not all(np.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"{name}: every value must be finite and > 0, got {out}")
    return out


def positive_float(name: str, value) -> float:
    """``value`` as a float, which must be finite and > 0."""
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name}: must be finite and > 0, got {v!r}")
    return v


def nonneg_float(name: str, value) -> float:
    """``value`` as a float, which must be finite and >= 0."""
    v = float(value)
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{name}: must be finite and >= 0, got {v!r}")
    return v


def nonneg_int(name: str, value) -> int:
    """``value`` as an int, which must be an integer >= 0 (not a bool)."""
    if not is_integer(value) or value < 0:
        raise ValueError(f"{name}: must be an integer >= 0, got {value!r}")
    return int(value)
