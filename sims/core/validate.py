"""Checks of an experiment config's fields: each returns the clean value or raises a
``ValueError`` that names the field."""

from __future__ import annotations

import numpy as np

from diaglin._validate import is_integer


def number_tuple(
    name: str, values, kind=float, *, minimum: float = 0.0, strict: bool = True, empty: bool = False
) -> tuple:
    """``values`` (a number or a sequence) as a tuple of ``kind`` (float or int: an int field
    takes integral values only, never truncated), each finite and > ``minimum`` (≥ where not
    ``strict``), non-empty unless ``empty``; ValueError naming ``name`` otherwise."""
    try:
        raw = np.atleast_1d(values).tolist()
        out = tuple(kind(v) for v in raw)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: expected finite numbers, got {values!r}") from None
    if kind is int and not all(is_integer(v) for v in raw if isinstance(v, float)):
        raise ValueError(f"{name}: expected integers, got {values!r}")
    if not out and not empty:
        raise ValueError(f"{name}: needs at least one value")
    bad = [v for v in out if not np.isfinite(v) or v < minimum or (strict and v == minimum)]
    if bad:
        raise ValueError(f"{name}: every value must be finite and {'>' if strict else '>='} "
                         f"{minimum:g}, got {bad}")  # fmt: skip
    return out


def positive_tuple(name: str, values, kind=float) -> tuple:
    """``number_tuple``: non-empty, every value finite and > 0."""
    return number_tuple(name, values, kind)


def positive_float(name: str, value) -> float:
    """``value`` as a float, which must be finite and > 0."""
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name}: must be finite and > 0, got {v!r}")
    return v


def nonneg_float(name: str, value) -> float:
    """``value`` as a float, which must be finite and >= 0 (-0 read as 0)."""
    v = float(value)
    if not (np.isfinite(v) and v >= 0):
        raise ValueError(f"{name}: must be finite and >= 0, got {v!r}")
    return v + 0.0


def nonneg_int(name: str, value) -> int:
    """``value`` as an int, which must be an integer >= 0 (not a bool)."""
    if not is_integer(value) or value < 0:
        raise ValueError(f"{name}: must be an integer >= 0, got {value!r}")
    return int(value)
