"""Results built by hand for the sims tests: a deterministic stand-in for a phase-diagram point
and a late-decay result with chosen runs and curves."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from diaglin import IterateStats
from sims.late_decay.config import DecayPoint
from sims.late_decay.runs import EARLY_CURVES, DecayResult
from sims.phase_diagram.config import GridPoint, SweepConfig
from sims.phase_diagram.results import FlowSummary, PointResult, ReferenceRun


def fake_point(config: SweepConfig, point: GridPoint, **_) -> PointResult:
    """Deterministic stand-in for diaglin: numbers depend only on (config, point)."""
    rng = np.random.default_rng(point.index)
    etas = config.etas(0.1)
    B, d = etas.size, point.d
    stats = IterateStats(
        **{
            f.name: rng.random((B, d) if f.name in ("theta", "beta") else B)
            for f in fields(IterateStats)
        }
    )
    return PointResult(
        point=point, X=rng.random((point.n, d)), y=rng.random(point.n),
        beta_star=rng.random(d), etas=etas, status=np.zeros(B, np.int8),
        steps=np.arange(B), final=stats, flow=FlowSummary(20.0, 0.1, rng.random(d), True),
        averaged=None, reference=ReferenceRun(1e-4, rng.random(d), 0, 10),
    )  # fmt: skip


def constructed(point: DecayPoint, variant, decay_step, seed, *, steps, early, **arrays):
    """A DecayResult of the given runs with every curve 1 (unless given in ``arrays``)."""
    variant, decay_step, seed = (np.asarray(a, dtype=np.int64) for a in
                                 (variant, decay_step, seed))  # fmt: skip
    seeds = np.unique(seed)
    B, T, S, T1, d = variant.size, steps.size, seeds.size, early.size, 3
    fields = dict(
        X=np.eye(d), y=np.ones(d), beta_star=np.array([1.0, 0.0, 0.0]),
        beta_min_norm=np.array([1.0, 0.0, 0.0]), norm_sq_min=1.0, variant=variant,
        decay_step=decay_step, seed=seed, status=np.zeros(B, np.int8), steps=steps,
        final_theta=np.ones((B, 2 * d)), final_train_loss=np.ones(B),
        final_test_loss=np.ones(B), final_norm_sq=np.ones(B), final_trace=np.ones(B),
        final_sharpness=np.ones(B), seeds=seeds, early_steps=early, fit_train_loss=np.ones((S, T1)),
    )  # fmt: skip
    for name in ("train_loss", "test_loss", "norm_sq", "l1_beta", "dist_min_norm", "trace"):
        fields[name] = np.ones((B, T))
    for name in EARLY_CURVES:
        fields[f"early_{name}"] = np.ones((S, T1))
    fields.update(arrays)
    return DecayResult(point=point, **fields)
