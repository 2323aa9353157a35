"""Compute one grid point with diaglin: data, gradient flow (eta_c = 2/s_GF), then every step
size of the point in ONE batched ``diaglin.run_gd`` call."""

from __future__ import annotations

import numpy as np

from diaglin import IterateStats, data, get_model, gradient_flow, run_gd
from sims.config import GridPoint, SweepConfig
from sims.results import FlowSummary, PointResult, ReferenceRun


def make_dataset(config: SweepConfig, point: GridPoint) -> data.Dataset:
    """n = 1: ``one_point(d, seed)``; n > 1: ``sparse_regression(n, d, s, seed, nonneg)``."""
    if point.n == 1:
        return data.one_point(point.d, seed=config.data_seed)
    return data.sparse_regression(
        point.n, point.d, min(config.sparsity, point.d), seed=config.data_seed,
        nonneg=config.nonneg,
    )  # fmt: skip


def _rows(s: IterateStats, idx: slice) -> IterateStats:
    return IterateStats(**{k: v[idx] for k, v in vars(s).items()})


def compute_point(config: SweepConfig, point: GridPoint) -> PointResult:
    """Run gradient flow and the batched GD sweep over the point's step sizes.

    GF from theta0 = model.init(d, alpha) until L = eps gives s_GF and eta_c = 2/s_GF; the eta
    grid is ``config.etas(eta_c)``; one ``run_gd`` call runs all of them (plus, if
    ``config.reference_eta`` > 0, one tiny-step run at reference_eta * eta_c).
    """
    model = get_model(config.model, **config.model_options())
    ds = make_dataset(config, point)
    theta0 = model.init(point.d, point.alpha)
    gf = gradient_flow(model, ds.X, ds.y, theta0, eps=point.eps)
    etas = config.etas(gf.eta_c)
    batch = etas
    if config.reference_eta > 0:
        batch = np.append(etas, config.reference_eta * gf.eta_c)
    res = run_gd(
        model, ds.X, ds.y, batch, theta0, eps=point.eps, max_steps=config.max_steps,
        average_last=config.average_last, diverge_factor=config.diverge_factor,
        backend=config.backend,
    )  # fmt: skip
    main = slice(0, etas.size)
    final, averaged = res.final, res.averaged
    reference = None
    if config.reference_eta > 0:
        reference = ReferenceRun(
            eta=float(batch[-1]), beta=final.beta[-1], status=int(res.status[-1]),
            steps=int(res.steps[-1]),
        )  # fmt: skip
    return PointResult(
        point=point,
        X=ds.X,
        y=ds.y,
        beta_star=ds.beta_star,
        etas=etas,
        status=res.status[main],
        steps=res.steps[main],
        final=_rows(final, main),
        flow=FlowSummary(gf.s_gf, gf.eta_c, gf.beta_final, bool(gf.converged)),
        averaged=_rows(averaged, main) if averaged is not None else None,
        reference=reference,
    )
