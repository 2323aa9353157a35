"""Data sets for the experiments, generated from an explicit seed or bundled with an installed
package (scikit-learn's ``digits``); nothing is downloaded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diaglin import _validate as V


@dataclass(frozen=True)
class Dataset:
    """Training data X (n, d), y (n,), the ground truth beta_star (d,) of a linear teacher (None
    for data with no linear truth), how it was made, and a held-out test split X_test (m, d),
    y_test (m,) where the data set has one."""

    X: np.ndarray
    y: np.ndarray
    beta_star: np.ndarray | None
    name: str
    seed: int
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


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


#: samples per class in scikit-learn's ``digits`` (1 797 in all, 174 to 183 per class).
DIGITS_TOTAL = 1797


def _standardise(X: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X − μ)/σ per feature with the training split's mean μ and standard deviation σ (applied
    to both splits); a feature constant on the training split (σ = 0) is only centred."""
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (X - mu) / sd, (X_test - mu) / sd


def digits(n: int = 1000, *, n_test: int = 500, seed: int = 0, standardise: bool = True) -> Dataset:
    """scikit-learn's bundled ``digits`` (8×8 grey-level images, pixel values 0..16, flattened
    row-major to d = 64 features; labels 0..9), split into a class-balanced training subset of
    n samples and a disjoint class-balanced test subset of n_test: each class contributes
    ⌊n/10⌋ samples (the first n mod 10 classes one more), drawn without replacement by
    ``np.random.default_rng(seed)``. ``standardise``: every feature is shifted and scaled by
    the training split's mean and standard deviation (pixels that are constant on the training
    split are only centred), test split with the same statistics. As an image, a row reshapes
    to (8, 8, 1) (channels-last, for ``diaglin.nets.cnn``)."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    n = V.check_int("n", n, 10)
    n_test = V.check_int("n_test", n_test, 0)
    if n + n_test > DIGITS_TOTAL:
        raise ValueError(f"n + n_test must be <= {DIGITS_TOTAL} (the size of digits), "
                         f"got {n} + {n_test}")  # fmt: skip
    images, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)) for c in range(10)]

    def take(count: int, start: np.ndarray) -> np.ndarray:
        per = np.full(10, count // 10) + (np.arange(10) < count % 10)
        if np.any(start + per > [p.size for p in pools]):
            raise ValueError(f"n, n_test: not enough digits of some class for {count} samples")
        idx = np.concatenate([p[a : a + k] for p, a, k in zip(pools, start, per)])
        start += per
        return rng.permutation(idx)

    start = np.zeros(10, np.int64)
    train, test = take(n, start), take(n_test, start)
    X, X_test = images[train].astype(np.float64), images[test].astype(np.float64)
    if standardise:
        X, X_test = _standardise(X, X_test)
    return Dataset(X, labels[train].astype(np.float64), None, "digits", int(seed), X_test,
                   labels[test].astype(np.float64))  # fmt: skip


def teacher_student(n: int = 500, d: int = 16, *, width: int = 8, n_test: int = 500,
                    activation: str = "tanh", n_classes: int = 1, noise: float = 0.0,
                    seed: int = 0) -> Dataset:  # fmt: skip
    """Synthetic data from a random teacher network: x ~ N(0, I_d), the teacher
    ``diaglin.nets.mlp(d, (width,), n_out, activation=...)`` at its standard (NTK) init with
    unit scale, drawn from the same seed. ``n_classes`` = 1: regression, y = f*(x) + σ ξ
    (ξ ~ N(0, 1), σ = ``noise``); ``n_classes`` ≥ 2: labels y = argmax_c f*(x)_c (``noise``
    must be 0). n training and n_test test samples."""
    from diaglin.nets import mlp

    n, d = V.check_int("n", n, 1), V.check_int("d", d, 1)
    n_test = V.check_int("n_test", n_test, 0)
    n_classes = V.check_int("n_classes", n_classes, 1)
    noise = float(noise)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be finite and >= 0, got {noise!r}")
    if n_classes > 1 and noise > 0:
        raise ValueError("noise must be 0 for classification labels (n_classes >= 2)")
    rng = np.random.default_rng(seed)
    teacher = mlp(d, (V.check_int("width", width, 1),), n_classes, activation=activation)
    theta = teacher.init(1.0, seed=int(rng.integers(2**63)))
    X_all = rng.standard_normal((n + n_test, d))
    f = teacher.outputs(theta, X_all)
    if n_classes == 1:
        y_all = f[:, 0] + noise * rng.standard_normal(n + n_test)
    else:
        y_all = f.argmax(axis=1).astype(np.float64)
    return Dataset(X_all[:n], y_all[:n], None, "teacher_student", int(seed), X_all[n:],
                   y_all[n:])  # fmt: skip
