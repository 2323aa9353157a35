"""Compute one grid point with diaglin: data, gradient flow (eta_c = 2/s_GF), then every step
size of the point in ONE batched ``diaglin.run_gd`` call (and, with a decay tail, a second one
going on from the final iterates at the decayed step sizes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np

from diaglin import IterateStats, Status, data, get_model, gradient_flow, run_gd
from diaglin.driver import memory_bytes
from sims.core.experiment import ExperimentRuns
from sims.core.provenance import gd_path
from sims.phase_diagram.config import GridPoint, SweepConfig
from sims.phase_diagram.results import DecayTail, FlowSummary, PointResult, ReferenceRun


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


def _n_runs(config: SweepConfig) -> int:
    return config.n_etas + (1 if config.reference_eta > 0 else 0)


def point_memory_bytes(config: SweepConfig, point: GridPoint) -> tuple[int, int]:
    """(bytes while computing the point, bytes of its result): ``diaglin.driver.memory_bytes`` of
    its ``run_gd`` call, and the kept final (and averaged) statistics."""
    K = get_model(config.model, **config.model_options()).n_blocks
    B, P = _n_runs(config), K * point.d
    work = memory_bytes(B, point.n, point.d, K, max_steps=config.max_steps,
                        average_last=config.average_last)  # fmt: skip
    kept = 8 * B * (P + point.d + 10) * (1 + bool(config.average_last) + bool(config.decay_tail))
    return work, kept


def compute_point(
    config: SweepConfig, point: GridPoint, *, progress: Callable[[str], None] | None = None
) -> PointResult:
    """Run gradient flow and the batched GD sweep over the point's step sizes.

    GF from theta0 = model.init(d, alpha) until L = eps gives s_GF and eta_c = 2/s_GF; the eta
    grid is ``config.etas(eta_c)``; one ``run_gd`` call runs all of them (plus, if
    ``config.reference_eta`` > 0, one tiny-step run at reference_eta * eta_c); with
    ``config.decay_tail`` a second call runs the tails (:func:`decay_tail`). ``progress``
    (if given) is told what is being done, now and then.
    """
    say = progress or (lambda _text: None)
    model = get_model(config.model, **config.model_options())
    ds = make_dataset(config, point)
    theta0 = model.init(point.d, point.alpha)
    say("gradient flow")
    gf = gradient_flow(model, ds.X, ds.y, theta0, eps=point.eps)
    if not gf.converged and (config.eta_units == "eta_c" or config.reference_eta > 0):
        raise ValueError(
            f"gradient flow from this init ({point.label}) did not reach eps (status "
            f"{gf.status.name}), so eta_c = 2/s_GF is undefined: use --eta-units absolute "
            "and --reference-eta 0, or a larger eps"
        )
    etas = config.etas(gf.eta_c)
    batch = etas
    if config.reference_eta > 0:
        batch = np.append(etas, config.reference_eta * gf.eta_c)
    res = run_gd(
        model, ds.X, ds.y, batch, theta0, eps=point.eps, max_steps=config.max_steps,
        average_last=config.average_last, diverge_factor=config.diverge_factor,
        backend=config.backend, path=gd_path(config.backend),
        progress=lambda k: say(f"GD step {k:,} (at most {config.max_steps:,})"),
    )  # fmt: skip
    main = slice(0, etas.size)
    final, averaged = res.final, res.averaged
    reference = None
    if config.reference_eta > 0:
        reference = ReferenceRun(
            eta=float(batch[-1]), beta=final.beta[-1], status=int(res.status[-1]),
            steps=int(res.steps[-1]),
        )  # fmt: skip
    decay = decayed = None
    if config.decay_tail is not None:
        say("decay tail")
        decay, decayed = decay_tail(
            model, ds.X, ds.y, etas, res.final.theta[main], res.status[main], config
        )
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
        decay=decay,
        decayed=decayed,
    )


def decay_tail(
    model,
    X: np.ndarray,
    y: np.ndarray,
    etas: np.ndarray,
    theta: np.ndarray,
    status: np.ndarray,
    config: SweepConfig,
) -> tuple[DecayTail, IterateStats]:
    """A short learning-rate decay at the end: with (factor, steps) = ``config.decay_tail``,
    every run b whose main run did not diverge goes on from its final iterate theta[b] with
    θ_{k+1} = θ_k − factor·η_b ∇L(θ_k) for ``steps`` steps, all in one ``run_gd`` call through
    the same driver. Its stopping threshold is the smallest normal float, so a tail stops early
    only at an exact fixed point (L = 0, hence ∇L = 0), where going on would change nothing.
    Runs that diverged get no tail: status ``DecayTail.NO_TAIL``, statistics NaN."""
    factor, steps = config.decay_tail
    B = etas.size
    tail_status = np.full(B, DecayTail.NO_TAIL, np.int8)
    taken = np.zeros(B, np.int64)
    shapes = {"theta": theta.shape, "beta": (B, X.shape[1])}
    rows = {f.name: np.full(shapes.get(f.name, B), np.nan) for f in fields(IterateStats)}
    ok = np.flatnonzero(status != Status.DIVERGED)
    if ok.size:
        res = run_gd(
            model, X, y, factor * etas[ok], theta[ok], eps=np.finfo(float).tiny,
            max_steps=steps, diverge_factor=config.diverge_factor, backend=config.backend,
            path=gd_path(config.backend),
        )  # fmt: skip
        tail_status[ok], taken[ok] = res.status, res.steps
        for name, value in vars(res.final).items():
            rows[name][ok] = value
    return (DecayTail(factor=factor, steps=steps, status=tail_status, taken=taken),
            IterateStats(**rows))  # fmt: skip


def _decode(config: SweepConfig, point: GridPoint, arrays: dict) -> PointResult:
    return PointResult.from_arrays(point, arrays)


#: what ``SweepConfig.compute`` / ``decode`` / ``memory_bytes`` run (see sims.phase_diagram).
RUNS = ExperimentRuns(compute=compute_point, decode=_decode, memory_bytes=point_memory_bytes)
