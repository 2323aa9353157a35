"""What a batch of runs returns: the statistics of iterates (``IterateStats``), recorded
trajectories (``Trajectory``) and the per-run outcome (``GDResult``), shared by ``run_gd`` and
``run_sgd``. Loss convention: L(θ) = 1/(2n) ||X β(θ) − y||² on the (clean) training data.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from diaglin import _validate as V
from diaglin.models import DiagonalModel
from diaglin.spectrum import SharpnessResult, sharpness
from diaglin.status import Status

#: which statistics to compute: "all"; "norms" (all but the Hessian's extreme eigenvalues,
#: whose cost dominates at large P); "none" (theta, beta and the loss only). What is not
#: computed is NaN.
STATS = ("all", "norms", "none")


@dataclass(frozen=True)
class IterateStats:
    """Exact statistics of a set of iterates θ (B, P): β, loss, sharpness, norms."""

    theta: np.ndarray
    beta: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray  #: max |λ| of ∇²L
    sharpness_max: np.ndarray  #: max λ of ∇²L
    hessian_trace: np.ndarray
    l1_theta: np.ndarray
    l2_theta: np.ndarray
    l1_beta: np.ndarray
    l2_beta: np.ndarray

    @classmethod
    def at(cls, model: DiagonalModel, theta: np.ndarray, X, y, stats: str = "all", *,
           loss: np.ndarray | None = None, beta: np.ndarray | None = None,
           hessian: SharpnessResult | None = None):  # fmt: skip
        """The statistics ``stats`` (see ``STATS``) at the rows of ``theta``; the others NaN.

        ``loss``: L at the rows of ``theta`` where the caller has it already (a GD kernel
        computes the loss of the iterate it reports); otherwise it is computed here, which costs
        a pass over B·n·d (at d = 1000 more than a GPU's whole batch of steps). ``beta``
        likewise: β(θ) (B, d) of the rows (the GPU backend computes it on the device), and
        ``hessian``: the Hessian's sharpness, λ_max and trace at the rows (the trace only for
        stats="norms"), as ``sharpness(..., bottom=False)`` gives them."""
        V.check_choice("stats", stats, STATS)
        nan = np.full(theta.shape[0], np.nan)
        if beta is None:
            beta = model.beta(theta)
        else:
            beta = np.asarray(beta, float)
            shape = (theta.shape[0], model.n_features(theta.shape[1]))
            if beta.shape != shape:
                raise ValueError(f"beta must have shape {shape}, got {beta.shape}")
        if loss is None:
            loss = np.atleast_1d(model.loss(theta, X, y))
        else:
            loss = np.asarray(loss, float)
            if loss.shape != nan.shape:
                raise ValueError(f"loss must have shape {nan.shape}, got {loss.shape}")
        vals = dict.fromkeys((f.name for f in fields(cls)), nan)
        vals.update(theta=theta, beta=beta, loss=loss)
        if hessian is not None and stats != "none":
            for v in (hessian.trace, hessian.top_abs, hessian.top):
                if np.shape(v) != nan.shape:
                    raise ValueError(f"hessian must hold arrays of shape {nan.shape}")
        if stats == "all":
            s = hessian if hessian is not None else sharpness(model, theta, X, y, bottom=False)
            vals.update(sharpness=s.top_abs, sharpness_max=s.top, hessian_trace=s.trace)
        elif stats == "norms":
            trace = hessian.trace if hessian is not None else model.hessian_trace(theta, X, y)
            vals.update(hessian_trace=np.atleast_1d(trace))
        if stats != "none":
            vals.update(
                l1_theta=np.abs(theta).sum(axis=-1),
                l2_theta=np.sqrt((theta * theta).sum(axis=-1)),
                l1_beta=np.abs(beta).sum(axis=-1),
                l2_beta=np.sqrt((beta * beta).sum(axis=-1)),
            )
        return cls(**vals)

    @classmethod
    def of_rows(cls, model: DiagonalModel, theta: np.ndarray, X, y, stats: str) -> IterateStats:
        """``at`` for θ of shape (..., P) in which some rows are NaN (not computed: NaN)."""
        lead, P = theta.shape[:-1], theta.shape[-1]
        flat = theta.reshape(-1, P)
        ok = np.isfinite(flat).all(axis=1)
        done = cls.at(model, flat[ok], X, y, stats) if ok.any() else None
        vals = {}
        for f in fields(cls):
            if f.name == "theta":
                vals["theta"] = theta
                continue
            width = () if done is None else getattr(done, f.name).shape[1:]
            if f.name == "beta":
                width = (model.n_features(P),)
            out = np.full((flat.shape[0], *width), np.nan)
            if done is not None:
                out[ok] = getattr(done, f.name)
            vals[f.name] = out.reshape(*lead, *width)
        return cls(**vals)


@dataclass(frozen=True)
class Trajectory:
    """Iterates every ``record_every`` steps: ``steps`` (T,) and their statistics ``stats``
    with arrays (B, T, ...) (NaN after a run stopped); ``trajectory.loss`` is
    ``trajectory.stats.loss`` and so on."""

    steps: np.ndarray
    stats: IterateStats

    def __getattr__(self, name):
        if name != "stats" and name in IterateStats.__dataclass_fields__:
            return getattr(self.stats, name)
        raise AttributeError(name)


@dataclass(frozen=True)
class GDResult:
    """Per-run outcome of ``run_gd`` / ``run_sgd`` (arrays over the B runs).

    ``final`` holds the statistics at the final iterate (also reachable as attributes:
    ``result.sharpness`` is ``result.final.sharpness``). ``averaged`` (if requested) holds the
    same statistics at the mean of the last K iterates, which removes EoS oscillations.
    ``etas`` are the step sizes (for ``run_sgd``: at step 0).
    """

    etas: np.ndarray
    steps: np.ndarray
    status: np.ndarray
    final: IterateStats
    averaged: IterateStats | None = None
    trajectory: Trajectory | None = None
    grad_history: np.ndarray | None = None
    config: dict = field(default_factory=dict)

    def __getattr__(self, name):
        # Delegate final-iterate statistics (theta, beta, loss, sharpness, norms, ...).
        if name != "final" and name in IterateStats.__dataclass_fields__:
            return getattr(self.final, name)
        raise AttributeError(name)

    @classmethod
    def concatenate(cls, parts: list[GDResult]) -> GDResult:
        """The result of consecutive blocks of one batch's runs, in order (``config`` and the
        recorded steps are those of the first block: every block shares them)."""
        return _join(parts)

    @property
    def converged(self) -> np.ndarray:
        return self.status == Status.CONVERGED

    @property
    def diverged(self) -> np.ndarray:
        return self.status == Status.DIVERGED


def _join(parts: list):
    """Results of blocks of runs joined along the run axis (axis 0 of every array), recursing
    into nested results; values that are not per run (a config, the recorded steps) and
    absent ones (None) are taken from the first block."""
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)
    if isinstance(first, Trajectory):
        return Trajectory(first.steps, _join([p.stats for p in parts]))
    if isinstance(first, IterateStats | GDResult):
        return type(first)(**{f.name: _join([getattr(p, f.name) for p in parts])
                              for f in fields(first)})  # fmt: skip
    return first
