"""Compute one instance of the flows comparison: gradient flow (eta_c = 2/s_GF), every step
size in ONE batched ``diaglin.run_gd`` call, each EoS flow in ONE ``diaglin.eos_flows.eos_flow``
call, and theory's EoS-slice prediction where theory has one (the one-point w⊙w DLN:
``theory.slice_candidates``); then the comparison's table.

Series: ``gd`` (GD's final iterate), ``gd_averaged`` (the mean of its last K iterates), and the
flows ``central`` and ``rod`` (their final centres). Time courses are kept every
``record_every`` steps up to ``path_steps``: with an odd ``record_every`` consecutive samples of
GD fall on opposite sides of a period-2 oscillation, so the recorded GD curve shows its
envelope while a flow's curve is its model of the time average.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from diaglin import data, get_model, gradient_flow, run_gd
from diaglin.eos_flows import FLOWS, eos_flow
from diaglin.results import IterateStats
from diaglin.status import Status
from sims.core.experiment import ExperimentRuns
from sims.core.provenance import gd_path
from sims.core.table import ComparisonTable, check_row
from sims.flows.config import NONNEG_MODELS, FlowsConfig, FlowsPoint
from theory import slice_candidates

#: the endpoint series, in drawing order
SERIES = ("gd", "gd_averaged", *FLOWS)
#: the series with a time course
PATHS = ("gd", *FLOWS)
#: time courses are kept up to this many steps
PATH_STEPS = 3000


@dataclass(frozen=True)
class Endpoint:
    """Per step size (B,): how the run ended (``status``, ``steps``: GD's step count or the
    flow's time, both in GD steps) and the statistics of its final iterate (centre): β (B, d),
    ‖β‖₁, sharpness, training loss and ‖β − β*‖² (``test_error``)."""

    status: np.ndarray
    steps: np.ndarray
    beta: np.ndarray
    l1_beta: np.ndarray
    sharpness: np.ndarray
    loss: np.ndarray
    test_error: np.ndarray


@dataclass(frozen=True)
class Path:
    """Per step size and recorded time (B, T): the loss (GD: of its iterate; a flow: the GD
    loss it models), the sharpness (of GD's iterate or the flow's centre) and the flow's
    oscillation size tr Σ (NaN for GD)."""

    loss: np.ndarray
    sharpness: np.ndarray
    oscillation: np.ndarray


@dataclass(frozen=True)
class FlowsResult:
    """One instance: its step sizes ``etas`` (B,), eta_c = 2/s_gf, the teacher β* (d,), the
    endpoints of every series of ``SERIES`` (``ends[name]``), the time courses of ``PATHS``
    (``paths[name]``) at times ``path_times`` (T,), and theory's EoS-slice points per step size
    (B, d): ``slice_entropy`` (the GF-entropy point of the slice S = 2/η, this project's
    conjecture for GD's endpoint), ``slice_lo`` / ``slice_hi`` (its min- and max-ℓ1 points);
    NaN where theory has no prediction (an instance other than the one-point w⊙w DLN, or a step
    size whose slice is empty or whose GF limit is stable). ``central_unsolved`` (B,): the
    central flow's substeps whose complementarity problem was not solved (``eos_flow``)."""

    point: FlowsPoint
    etas: np.ndarray
    eta_c: float
    s_gf: float
    beta_star: np.ndarray
    ends: dict[str, Endpoint]
    paths: dict[str, Path]
    path_times: np.ndarray
    slice_entropy: np.ndarray
    slice_lo: np.ndarray
    slice_hi: np.ndarray
    central_unsolved: np.ndarray

    @property
    def has_slice(self) -> bool:
        """True where theory predicts the slice (the one-point w⊙w DLN)."""
        return bool(np.isfinite(self.slice_lo).any())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """A flat ``{name: ndarray}`` (the cache's form): ``ends.<series>.<field>``,
        ``paths.<series>.<field>`` and the other fields by name."""
        out = {f"ends.{s}.{f.name}": getattr(e, f.name) for s, e in self.ends.items()
               for f in fields(Endpoint)}  # fmt: skip
        out.update({f"paths.{s}.{f.name}": getattr(p, f.name) for s, p in self.paths.items()
                    for f in fields(Path)})  # fmt: skip
        for f in fields(self):
            if f.name not in ("point", "ends", "paths"):
                out[f.name] = np.asarray(getattr(self, f.name))
        return out

    @classmethod
    def from_arrays(cls, point: FlowsPoint, arrays: dict[str, np.ndarray]) -> FlowsResult:
        """Inverse of :meth:`to_arrays`."""
        ends = {s: Endpoint(**{f.name: arrays[f"ends.{s}.{f.name}"] for f in fields(Endpoint)})
                for s in SERIES}  # fmt: skip
        paths = {s: Path(**{f.name: arrays[f"paths.{s}.{f.name}"] for f in fields(Path)})
                 for s in PATHS}  # fmt: skip
        kw = {f.name: arrays[f.name] for f in fields(cls)
              if f.name not in ("point", "ends", "paths")}  # fmt: skip
        kw.update(eta_c=float(kw["eta_c"]), s_gf=float(kw["s_gf"]))
        return cls(point=point, ends=ends, paths=paths, **kw)


def make_dataset(config: FlowsConfig, point: FlowsPoint) -> data.Dataset:
    """n = 1: ``one_point(d, seed)``; n > 1: ``sparse_regression(n, d, sparsity, seed)``,
    nonnegative for the models whose β is ≥ 0."""
    if point.n == 1:
        return data.one_point(point.d, seed=config.data_seed)
    return data.sparse_regression(point.n, point.d, config.sparsity, seed=config.data_seed,
                                  nonneg=point.model in NONNEG_MODELS)  # fmt: skip


def _endpoint(status, steps, stats: IterateStats, beta_star: np.ndarray) -> Endpoint:
    err = ((stats.beta - beta_star) ** 2).sum(axis=-1)
    return Endpoint(status=np.asarray(status), steps=np.asarray(steps), beta=stats.beta,
                    l1_beta=stats.l1_beta, sharpness=stats.sharpness, loss=stats.loss,
                    test_error=err)  # fmt: skip


def compute_flows(config: FlowsConfig, point: FlowsPoint, *,
                  progress: Callable[[str], None] | None = None) -> FlowsResult:  # fmt: skip
    """GF from θ0 = model.init(d, alpha) until L = eps gives eta_c; the step sizes are
    ``config.etas(eta_c)``; GD (one ``run_gd`` call, with the mean of the last K iterates) and
    each flow (one ``eos_flow`` call each) from θ0 with GD's stopping rule; theory's slice."""
    say = progress or (lambda _text: None)
    model = get_model(point.model)
    ds = make_dataset(config, point)
    X, y = ds.X, ds.y
    theta0 = model.init(point.d, point.alpha)
    say(f"gradient flow ({point.label})")
    gf = gradient_flow(model, X, y, theta0, eps=config.eps)
    if not gf.converged:
        raise ValueError(f"gradient flow ({point.label}) did not reach eps = {config.eps:g} "
                         f"(status {gf.status.name}): eta_c is undefined")  # fmt: skip
    etas = config.etas(gf.eta_c)
    T = min(PATH_STEPS, config.max_steps) // config.record_every + 1
    rule = dict(eps=config.eps, max_steps=config.max_steps, record_every=config.record_every,
                diverge_factor=config.diverge_factor)  # fmt: skip
    say(f"GD ({point.label})")
    gd = run_gd(model, X, y, etas, theta0, average_last=config.average_last,
                path=gd_path("cpu"), progress=lambda k: say(f"GD step {k:,} ({point.label})"),
                **rule)  # fmt: skip
    ends = {"gd": _endpoint(gd.status, gd.steps, gd.final, ds.beta_star),
            "gd_averaged": _endpoint(gd.status, gd.steps, gd.averaged, ds.beta_star)}  # fmt: skip
    nan = np.full((etas.size, T), np.nan)
    paths = {"gd": Path(loss=gd.trajectory.loss[:, :T],
                        sharpness=gd.trajectory.sharpness[:, :T], oscillation=nan)}  # fmt: skip
    runs = {}
    for flow in FLOWS:
        say(f"{flow} flow ({point.label})")
        runs[flow] = res = eos_flow(
            flow, model, X, y, etas, theta0, substeps=config.substeps,
            threshold=config.threshold, record_until=PATH_STEPS,
            progress=lambda k, flow=flow: say(f"{flow} flow, time {k:,} ({point.label})"),
            **rule,
        )  # fmt: skip
        ends[flow] = _endpoint(res.status, res.steps, res.final, ds.beta_star)
        paths[flow] = Path(loss=res.trajectory_gd_loss, sharpness=res.trajectory.sharpness,
                           oscillation=res.trajectory_oscillation)  # fmt: skip
    lo = hi = ent = np.full((etas.size, point.d), np.nan)
    if point.model == "ww" and point.n == 1:
        cand = slice_candidates(X[0], float(y[0]), etas, point.alpha)
        lo, hi, ent = cand.min_l1, cand.max_l1, cand.entropy
    return FlowsResult(
        point=point, etas=etas, eta_c=float(gf.eta_c), s_gf=float(gf.s_gf),
        beta_star=ds.beta_star, ends=ends, paths=paths,
        path_times=np.arange(T) * config.record_every, slice_entropy=ent, slice_lo=lo,
        slice_hi=hi, central_unsolved=runs["central"].unsolved,
    )  # fmt: skip


def _decode(config: FlowsConfig, point: FlowsPoint, arrays: dict) -> FlowsResult:
    return FlowsResult.from_arrays(point, arrays)


def _memory_bytes(config: FlowsConfig, point: FlowsPoint) -> tuple[int, int]:
    """While computing: the recorded trajectories (B, T, P) of GD over all its steps and of the
    flows up to PATH_STEPS, and the flows' P × P matrices per run; kept: the endpoints and the
    time courses up to PATH_STEPS."""
    B, K = config.n_etas, get_model(point.model).n_blocks
    P = K * point.d
    T_all = config.max_steps // config.record_every + 1
    T = min(PATH_STEPS, config.max_steps) // config.record_every + 1
    work = 8 * B * (T_all * (P + point.d + 12) + 3 * T * P + 8 * P * P)
    kept = 8 * B * (len(SERIES) * (point.d + 8) + 3 * len(PATHS) * T + 3 * point.d)
    return work, kept


# --- the comparison ------------------------------------------------------------------------


def regime(result: FlowsResult) -> np.ndarray:
    """Per step size: "flow" (η < eta_c), "eos" (η ≥ eta_c and GD did not diverge: it converged
    or still oscillated at ``max_steps``), "gd diverged"."""
    gd_ok = result.ends["gd"].status != Status.DIVERGED
    return np.where(result.etas < result.eta_c, "flow", np.where(gd_ok, "eos", "gd diverged"))


def endpoint_error(result: FlowsResult, flow: str, against: str = "gd_reference") -> np.ndarray:
    """‖β_flow − β_ref‖₂ / ‖β_ref‖₂ per step size, at the end of each run (where the (modelled)
    loss fell below eps, or at time ``max_steps``); NaN where either diverged. ``against``: a
    series of ``SERIES``, or "gd_reference" — GD's final iterate where GD converged (its limit),
    the mean of its last K iterates where it still oscillated at ``max_steps`` (the time average
    a flow models)."""
    gd = result.ends["gd"]
    if against == "gd_reference":
        conv = (gd.status == Status.CONVERGED)[:, None]
        ref = np.where(conv, gd.beta, result.ends["gd_averaged"].beta)
    else:
        ref = result.ends[against].beta
    a = result.ends[flow]
    ok = (a.status != Status.DIVERGED) & (gd.status != Status.DIVERGED)
    err = np.linalg.norm(a.beta - ref, axis=1) / np.linalg.norm(ref, axis=1)
    return np.where(ok, err, np.nan)


def starts_inside(result: FlowsResult) -> np.ndarray:
    """Per step size: the start's sharpness is at most 2/η (S(θ0)·η/2 ≤ 1; the central flow
    holds the edge from inside, it cannot move a start that is beyond it)."""
    return result.paths["central"].sharpness[:, 0] * result.etas / 2.0 <= 1.0


def sharpness_path_error(result: FlowsResult, flow: str) -> np.ndarray:
    """Per step size, the median over the recorded times before GD stopped of
    |S_flow(t) − S_GD(t)| · η/2 (sharpness in units of the edge 2/η)."""
    gd, fl = result.paths["gd"].sharpness, result.paths[flow].sharpness
    diff = np.abs(fl - gd) * result.etas[:, None] / 2.0
    out = np.full(result.etas.size, np.nan)
    for b in range(out.size):
        ok = np.isfinite(diff[b])
        if ok.any():
            out[b] = np.median(diff[b, ok])
    return out


def _median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def flows_checks(results, *, tol: float = 3e-3) -> ComparisonTable:
    """The comparison's table, per instance.

    Check (pass/fail): the central flow keeps S·η/2 ≤ 1 + tol along every recorded path that
    starts inside the edge (its defining constraint, up to its Euler substeps' overshoot where
    an eigenvalue reaches the edge, O(dt²) ~ 1e-3). Information: on the one-point w⊙w DLN, each
    series' distance at the edge of stability to theory's slice (|S·η/2 − 1| at the end) and
    to the slice's entropy point; per regime (``regime``) and flow, the median relative
    endpoint error against GD (``endpoint_error``'s "gd_reference"; against GD's final
    iterate in the note), the median sharpness-path error, the median ratio of stopping
    times, and which flow is closest to GD there."""
    rows = []
    for r in results:
        name = r.point.label
        inside = starts_inside(r)
        cf = r.paths["central"].sharpness[inside] * r.etas[inside, None] / 2.0
        peak = float(np.nanmax(cf)) if np.isfinite(cf).any() else float("nan")
        rows.append(check_row(name, "central flow: max S·eta/2 along its paths", peak, 1.0,
                              tol, passed=bool(peak <= 1 + tol), criterion=f"<= {1 + tol:g}",
                              note=f"{int(inside.sum())} runs start inside the edge"))  # fmt: skip
        unsolved = int(r.central_unsolved.sum())
        rows.append(check_row(name, "central flow: substeps with Sigma's problem unsolved",
                              unsolved, 0.0, 0.0, passed=unsolved == 0,
                              criterion="== 0"))  # fmt: skip
        reg = regime(r)
        if r.has_slice:
            sel = (reg == "eos") & np.isfinite(r.slice_entropy).all(axis=1)
            for name_s in SERIES:
                e = r.ends[name_s]
                gap = np.abs(e.sharpness[sel] * r.etas[sel] / 2.0 - 1.0)
                dist = (np.linalg.norm(e.beta[sel] - r.slice_entropy[sel], axis=1)
                        / np.linalg.norm(r.slice_entropy[sel], axis=1))  # fmt: skip
                note = f"median |S·eta/2 - 1| at the end {_median(gap):.3g}; n = {int(sel.sum())}"
                rows.append(check_row(name, f"{name_s}: median distance to the slice's entropy "
                                      "point (EoS, rel)", _median(dist), 0.0, 0.0,
                                      note=note))  # fmt: skip
        for where in ("flow", "eos", "gd diverged"):
            sel = reg == where
            if not sel.any():
                continue
            best, best_err = "", np.inf
            for flow in FLOWS:
                err = _median(endpoint_error(r, flow)[sel])
                err_final = _median(endpoint_error(r, flow, "gd")[sel])
                path = _median(sharpness_path_error(r, flow)[sel])
                t_gd = r.ends["gd"].steps[sel].astype(float)
                ratio = _median(r.ends[flow].steps[sel] / np.where(t_gd > 0, t_gd, np.nan))
                conv = int((r.ends[flow].status[sel] == Status.CONVERGED).sum())
                gd_conv = int((r.ends["gd"].status[sel] == Status.CONVERGED).sum())
                note = (f"{conv}/{int(sel.sum())} converged (GD {gd_conv}); "
                        f"vs GD's final iterate {err_final:.3g}; "
                        f"S path err {path:.3g}; time / GD's {ratio:.3g}")  # fmt: skip
                rows.append(check_row(name, f"{flow}: median |beta - beta_GD|/|beta_GD| "
                                      f"({where})", err, 0.0, 0.0, note=note))  # fmt: skip
                if err < best_err:
                    best, best_err = flow, err
            if best:
                rows.append(check_row(name, f"closest to GD ({where}): {best}", best_err, 0.0,
                                      0.0))  # fmt: skip
    return ComparisonTable(tuple(rows))


#: what ``FlowsConfig.compute`` / ``decode`` / ``memory_bytes`` run.
RUNS = ExperimentRuns(compute=compute_flows, decode=_decode, memory_bytes=_memory_bytes)
