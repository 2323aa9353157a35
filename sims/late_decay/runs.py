"""Compute one point of a late-decay experiment — every run in ONE ``diaglin.run_sgd`` call — and
its result: per run and per recorded step, the clean training loss, the test loss
½||beta − beta*||² (isotropic Gaussian test inputs), ||theta||², ||beta||_1, the distance
||beta − beta_mn||_2 to the min-norm interpolator and tr ∇²L; at the end, the sharpness too.

A second, short call resolves phase I (which lasts ~(1/eta) log(1/eps) steps, less than one
record of the main call): for every seed, the first ``early_steps`` steps at eta with the label
noise (bitwise the prefix of that seed's no-decay run and of its late runs up to K: the random
streams are counter-based) and without it (the fit time T_I), recorded densely.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from diaglin import Schedule, data, get_model, run_sgd, sharpness
from sims.core.experiment import ExperimentRuns
from sims.late_decay.config import LATE, NO_DECAY, DecayConfig, DecayPoint
from theory import min_norm_point

#: the per-run, per-record curves of a DecayResult
CURVES = ("train_loss", "test_loss", "norm_sq", "l1_beta", "dist_min_norm", "trace")
#: the densely recorded phase-I curves of the noisy prefix runs
EARLY_CURVES = ("train_loss", "test_loss", "norm_sq", "dist_min_norm")
#: records of the phase-I call
EARLY_RECORDS = 1000


def early_steps(config: DecayConfig, point: DecayPoint) -> int:
    """Length of the phase-I call: 100/eta steps (~20x the fit time for a 1e-2 loss drop),
    at most the budget."""
    return min(config.total_steps, math.ceil(100 / point.eta))


@dataclass(frozen=True)
class DecayResult:
    """One (eta, sigma) point: its data, the min-norm interpolator, the runs (variant, decay
    step K (-1: none), seed, status) and their curves (B, T) at ``steps`` (T,), the final
    statistics (B,) (``final_theta`` (B, P)), and the phase-I prefix per seed (S, T1) at
    ``early_steps`` (T1,): ``early_*`` with label noise, ``fit_train_loss`` without."""

    point: DecayPoint
    X: np.ndarray
    y: np.ndarray
    beta_star: np.ndarray
    beta_min_norm: np.ndarray
    norm_sq_min: float
    variant: np.ndarray
    decay_step: np.ndarray
    seed: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    norm_sq: np.ndarray
    l1_beta: np.ndarray
    dist_min_norm: np.ndarray
    trace: np.ndarray
    final_theta: np.ndarray
    final_train_loss: np.ndarray
    final_test_loss: np.ndarray
    final_norm_sq: np.ndarray
    final_trace: np.ndarray
    final_sharpness: np.ndarray
    seeds: np.ndarray
    early_steps: np.ndarray
    early_train_loss: np.ndarray
    early_test_loss: np.ndarray
    early_norm_sq: np.ndarray
    early_dist_min_norm: np.ndarray
    fit_train_loss: np.ndarray

    def runs_of(self, variant: int, decay_step: int | None = None) -> np.ndarray:
        """Indices of the runs of ``variant`` (and decay step K, if given)."""
        m = self.variant == variant
        if decay_step is not None:
            m &= self.decay_step == decay_step
        return np.flatnonzero(m)

    def curve(self, name: str, run: int) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of curve ``name`` of run ``run``, with the dense phase-I prefix
        spliced in where it is that run's own history (its seed had noise up to then)."""
        steps, vals = self.steps, getattr(self, name)[run]
        k = self.decay_step[run]
        noisy = self.variant[run] == NO_DECAY or (self.variant[run] == LATE and
                                                 k >= self.early_steps[-1])  # fmt: skip
        if not noisy or name not in EARLY_CURVES:
            return steps, vals
        s = int(np.flatnonzero(self.seeds == self.seed[run])[0])
        later = steps > self.early_steps[-1]
        return (np.concatenate([self.early_steps, steps[later]]),
                np.concatenate([getattr(self, f"early_{name}")[s], vals[later]]))  # fmt: skip

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as an array (the point is the cache key's business)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)
                if f.name != "point"}  # fmt: skip

    @classmethod
    def from_arrays(cls, point: DecayPoint, arrays: dict[str, np.ndarray]) -> DecayResult:
        """Inverse of :meth:`to_arrays`."""
        vals = {f.name: arrays[f.name] for f in fields(cls) if f.name != "point"}
        vals["norm_sq_min"] = float(vals["norm_sq_min"])
        return cls(point=point, **vals)


def schedules(config: DecayConfig, point: DecayPoint) -> list[Schedule]:
    """The schedule of every run of ``config.runs()``."""
    out = []
    for v, k, _s in zip(*config.runs()):
        if v == NO_DECAY:
            out.append(Schedule.constant(point.eta, noise=point.sigma))
        else:
            noise = point.sigma if v == LATE else 0.0
            after = config.sigma_after if v == LATE else 0.0
            out.append(Schedule.step_decay(point.eta, at=int(k), factor=config.factor,
                                           noise=noise, noise_after=after))  # fmt: skip
    return out


def _curves(tr, beta_star: np.ndarray, beta_mn: np.ndarray) -> dict[str, np.ndarray]:
    """The CURVES of a trajectory (or of final statistics), from its exact statistics."""
    beta = tr.beta
    return dict(
        train_loss=tr.loss, test_loss=0.5 * np.sum((beta - beta_star) ** 2, axis=-1),
        norm_sq=tr.l2_theta**2, l1_beta=tr.l1_beta,
        dist_min_norm=np.linalg.norm(beta - beta_mn, axis=-1), trace=tr.hessian_trace,
    )  # fmt: skip


def compute_decay_point(
    config: DecayConfig, point: DecayPoint, *, progress: Callable[[str], None] | None = None
) -> DecayResult:
    """All runs of the point in one ``run_sgd`` call, from theta0 = model.init(d, alpha), and
    the phase-I prefix call."""
    say = progress or (lambda _text: None)
    model = get_model(config.model)
    ds = data.sparse_regression(config.n, config.d, config.sparsity, seed=config.data_seed,
                                nonneg=config.model == "ww")  # fmt: skip
    mn = min_norm_point(ds.X, ds.y, config.model)
    variant, decay_step, seed = config.runs()
    theta0 = model.init(config.d, config.alpha)
    common = dict(batch_size=config.batch_size, label_noise=config.label_noise, stats="norms")
    res = run_sgd(
        model, ds.X, ds.y, schedules(config, point), theta0, seeds=seed,
        max_steps=config.total_steps, record_every=config.record_every, **common,
        progress=lambda k: say(f"SGD step {k:,} of {config.total_steps:,}"),
    )  # fmt: skip
    say("phase I")
    seeds = np.array(config.seeds, dtype=np.int64)
    t1 = early_steps(config, point)
    prefix = [Schedule.constant(point.eta, noise=point.sigma)] * seeds.size
    prefix += [Schedule.constant(point.eta)] * seeds.size
    early = run_sgd(model, ds.X, ds.y, prefix, theta0, seeds=np.tile(seeds, 2), max_steps=t1,
                    record_every=max(1, t1 // EARLY_RECORDS), **common).trajectory  # fmt: skip
    say("statistics")
    ok = res.status != 1  # not diverged: the final sharpness is defined
    sharp = np.full(seed.size, np.nan)
    if ok.any():
        sharp[ok] = sharpness(model, res.theta[ok], ds.X, ds.y, bottom=False).top_abs
    main = _curves(res.trajectory, ds.beta_star, mn.beta)
    final = _curves(res.final, ds.beta_star, mn.beta)
    pre = _curves(early, ds.beta_star, mn.beta)
    S = seeds.size
    return DecayResult(
        point=point, X=ds.X, y=ds.y, beta_star=ds.beta_star, beta_min_norm=mn.beta,
        norm_sq_min=mn.norm_sq, variant=variant, decay_step=decay_step, seed=seed,
        status=res.status, steps=res.trajectory.steps, **main,
        final_theta=res.theta, final_train_loss=final["train_loss"],
        final_test_loss=final["test_loss"], final_norm_sq=final["norm_sq"],
        final_trace=final["trace"], final_sharpness=sharp, seeds=seeds,
        early_steps=early.steps, **{f"early_{c}": pre[c][:S] for c in EARLY_CURVES},
        fit_train_loss=pre["train_loss"][S:],
    )  # fmt: skip


__all__ = ["CURVES", "EARLY_CURVES", "DecayResult", "compute_decay_point", "early_steps",
           "schedules"]  # fmt: skip


def decay_memory_bytes(config: DecayConfig, point: DecayPoint) -> tuple[int, int]:
    """(bytes while computing, bytes of the result): the recorded trajectories dominate."""
    B = config.runs()[0].size
    T = config.total_steps // config.record_every + 1
    K = 1 if config.model == "ww" else 2
    curves = 8 * B * T * 8
    return 8 * B * T * K * config.d * 4 + curves, curves


def _decode(config: DecayConfig, point: DecayPoint, arrays: dict) -> DecayResult:
    return DecayResult.from_arrays(point, arrays)


#: what ``DecayConfig.compute`` / ``decode`` / ``memory_bytes`` run (see sims.late_decay).
RUNS = ExperimentRuns(compute=compute_decay_point, decode=_decode,
                      memory_bytes=decay_memory_bytes)  # fmt: skip
