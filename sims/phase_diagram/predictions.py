"""Theory's predictions for one grid point, gathered from :mod:`theory` (never computed here).

Only the data (X, y, beta*), alpha, eps and the eta grid are taken from the point; nothing that
GD or GF produced is used. A prediction is None where theory does not cover the setting (the
closed forms are for the one-point problem; the GF limit also covers n > 1 for ww/uv/pm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory import (
    best_interpolator,
    gf_limit,
    min_norm_interpolator,
    min_sharpness_interpolator,
    one_point_gf_path,
    sharpness_at_interpolation,
    slice_candidates,
)

#: models whose GF potential theory provides (diaglin's init convention).
GF_MODELS = ("ww", "uv", "pm")


@dataclass(frozen=True)
class Vertex:
    """An interpolator with its l1 norm, sharpness and ||beta - beta*||^2."""

    beta: np.ndarray
    l1: float
    sharpness: float
    gen_error: float


@dataclass(frozen=True)
class SlicePrediction:
    """Candidate GD endpoints on {interpolating, S = 2/eta} for each eta (NaN rows where the
    candidate does not exist): entropy / min_l1 / max_l1, each (m, d); see theory.eos_slice."""

    etas: np.ndarray
    entropy: np.ndarray
    min_l1: np.ndarray
    max_l1: np.ndarray

    CANDIDATES = ("entropy", "min_l1", "max_l1")

    def candidate(self, name: str) -> np.ndarray:
        """The (m, d) array of candidate ``name``."""
        if name not in self.CANDIDATES:
            raise ValueError(f"candidate: must be one of {self.CANDIDATES}, got {name!r}")
        return getattr(self, name)


@dataclass(frozen=True)
class Predictions:
    """What theory says about one grid point (None = not covered by theory).

    gf: GF limit interpolator (closed form / dual solve). eta_c: 2/s_GF from the exact GF path.
    min_norm / min_sharpness: the interpolating vertices. best: the interpolator closest to
    beta* (l2). eta_star = 2 / S(best): the step whose stability edge passes through it.
    slice: endpoint candidates on the S = 2/eta slice for the point's etas.
    """

    gf: Vertex | None
    eta_c: float | None
    min_norm: Vertex | None
    min_sharpness: Vertex | None
    best: Vertex | None
    eta_star: float | None
    slice: SlicePrediction | None


def _vertex(x: np.ndarray, beta: np.ndarray, beta_star: np.ndarray, model: str) -> Vertex:
    return Vertex(
        beta=np.asarray(beta, float),
        l1=float(np.abs(beta).sum()),
        sharpness=float(sharpness_at_interpolation(x, beta, model)),
        gen_error=float(np.sum((beta - beta_star) ** 2)),
    )


def predict(
    model: str,
    X: np.ndarray,
    y: np.ndarray,
    beta_star: np.ndarray,
    alpha: float,
    eps: float,
    etas: np.ndarray,
) -> Predictions:
    """Gather every applicable theory prediction for data (X, y), init scale alpha, loss
    threshold eps and step sizes ``etas`` of the ``model`` parameterisation."""
    X = np.atleast_2d(np.asarray(X, float))
    y = np.atleast_1d(np.asarray(y, float))
    one_point = X.shape[0] == 1 and model in GF_MODELS
    positive = one_point and bool(np.all(X > 0) and y[0] > 0)
    x = X[0]
    gf = None
    if model in GF_MODELS and X.shape[0] <= X.shape[1]:
        try:
            beta = gf_limit(X, y, model, alpha).beta
            if one_point:
                gf = _vertex(x, beta, beta_star, model)
            else:
                err = float(np.sum((beta - beta_star) ** 2))
                gf = Vertex(beta, float(np.abs(beta).sum()), float("nan"), err)
        except ValueError:
            gf = None
    eta_c = mn = ms = best = eta_star = sl = None
    if one_point:
        mn = _vertex(x, min_norm_interpolator(x, y[0], model).beta, beta_star, model)
        ms = _vertex(x, min_sharpness_interpolator(x, y[0], model).beta, beta_star, model)
    if positive and model == "ww":
        eta_c = float(one_point_gf_path(x, y[0], alpha, eps=eps).eta_c)
        best = _vertex(x, best_interpolator(x, y[0], beta_star, 2), beta_star, model)
        eta_star = 2.0 / best.sharpness
        c = slice_candidates(x, y[0], np.asarray(etas, float), alpha)
        sl = SlicePrediction(c.etas, c.entropy, c.min_l1, c.max_l1)
    return Predictions(gf, eta_c, mn, ms, best, eta_star, sl)
