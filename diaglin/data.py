"""Data sets for the experiments, generated from an explicit seed (no downloads)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diaglin import _validate as V


@dataclass(frozen=True)
class Dataset:
    """Training data X (n, d), y (n,), the ground truth beta_star (d,), and how it was made."""

    X: np.ndarray
    y: np.ndarray
    beta_star: np.ndarray
    name: str
    seed: int


def one_point(d: int = 5, *, seed: int = 0, beta_star=None) -> Dataset:
    """The paper's one-sample setting: x with distinct entries in [0.5, 1.5], sorted
    descending; beta_star ≥ 0 (uniform in [0, 1] unless given); y = ⟨x, beta_star⟩."""
    d = V.check_int("d", d, 1)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0.5, 1.5, d))[::-1]
    if beta_star is None:
        bs = rng.uniform(0.0, 1.0, d)
    else:
        bs = V.as_finite_array("beta_star", beta_star, 1)
        if bs.shape != (d,):
            raise ValueError(f"beta_star must have shape ({d},), got {bs.shape}")
    X = x[None, :].copy()
    return Dataset(X, X @ bs, bs, "one_point", seed)


def sparse_regression(
    n: int, d: int, s: int, *, seed: int = 0, normalise: bool = True, nonneg: bool = False
) -> Dataset:
    """Gaussian X (n, d), columns scaled to (1/n) Σ_i x_ij² = 1 when ``normalise``;
    s-sparse beta_star with N(0,1) entries (absolute values if ``nonneg``); y = X beta_star."""
    n, d = V.check_int("n", n, 1), V.check_int("d", d, 1)
    s = V.check_int("s", s, 0)
    if s > d:
        raise ValueError(f"s must be <= d={d}, got {s}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if normalise:
        X /= np.sqrt((X * X).mean(axis=0))
    bs = np.zeros(d)
    support = rng.choice(d, size=s, replace=False)
    bs[support] = rng.standard_normal(s)
    if nonneg:
        bs = np.abs(bs)
    return Dataset(X, X @ bs, bs, "sparse_regression", seed)
