"""A reviewer's check of the phase diagram: is the norm growth above eta_c an oscillation
artefact? Per eta, the sharpness and the ℓ1 norm of three iterates side by side: the raw final
iterate, the mean of the last K iterates (``--averaged K``), and the end of a short
learning-rate decay tail (``--decay-tail FACTOR STEPS``: GD from the final iterate at
FACTOR·eta). If the growth were an artefact of iterates caught mid-oscillation, averaging and
the decay would remove it; the decay tail cannot end sharper than 2/(FACTOR·eta) (a stable
minimum of the smaller step) and, from a point near a minimum, typically ends below 2/eta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from diaglin.status import Status
from sims.phase_diagram.plotting import (
    _geo_edges,
    _regime_handles,
    legend_of_visible,
    set_eta_axis,
    shade_regimes,
)
from sims.phase_diagram.regimes import Regime, classify
from sims.phase_diagram.results import PointResult

#: (label, marker, size, colour, filled) of each series; Okabe–Ito colours (colour-blind safe)
SERIES = {
    "final": ("raw final iterate", "o", 4.0, "#000000", True),
    "averaged": ("mean of the last K iterates", "x", 6.0, "#d55e00", True),
    "decayed": ("after the decay tail", "s", 7.0, "#0072b2", False),
}


def _ok(p: PointResult) -> dict[str, np.ndarray]:
    """Per series, the runs to draw: the main run converged or stopped at max_steps (a
    diverged run has no meaningful final iterate), and the tail (if any) did not diverge."""
    main = (p.status == Status.CONVERGED) | (p.status == Status.MAX_STEPS)
    out = {"final": main}
    if p.averaged is not None:
        out["averaged"] = main
    if p.decay is not None:
        tail = (p.decay.status == Status.CONVERGED) | (p.decay.status == Status.MAX_STEPS)
        out["decayed"] = main & tail
    return out


@dataclass(frozen=True)
class TailCheck:
    """The check's numbers for one point, over the ``n_above`` runs above eta_c whose main run
    converged and whose tail did not diverge: how many raw final iterates sit beyond the edge
    (S > 2/η); the median and largest relative change of the ℓ1 norm from the raw final iterate
    to the averaged one and to the tail's end; the norm's ``excess`` above eta_c for each
    series (raw, averaged, decayed): its largest value there minus its value at the largest
    converged eta <= eta_c; and how many tails end with S <= 2/(factor·η) (+1e-9 relative) and
    how many with S < 2/η."""

    factor: float
    steps: int
    n_above: int
    raw_beyond: int
    avg_change: tuple[float, float]
    tail_change: tuple[float, float]
    excess: tuple[float, float, float]
    tail_stable: int
    tail_below_edge: int

    def describe(self) -> str:
        """One line for the user."""
        head = f"decay tail {self.factor:g}*eta x {self.steps} steps"
        if not self.n_above:
            return f"{head}: no converged run above eta_c"
        n = self.n_above
        (am, ax), (tm, tx) = self.avg_change, self.tail_change
        e = ", ".join(f"{x:+.3g}" for x in self.excess)
        return (
            f"{head}, {n} converged runs above eta_c ({self.raw_beyond} raw iterates beyond "
            f"2/eta): |l1| moves from the raw iterate by {am:.2%} median, {ax:.2%} at most "
            f"(averaged) and {tm:.2%}, {tx:.2%} (tail); its excess over the last run below "
            f"eta_c (raw, averaged, tail): {e}; tails with S <= 2/(factor*eta): "
            f"{self.tail_stable}/{n}, with S < 2/eta: {self.tail_below_edge}/{n}"
        )


def tail_check(p: PointResult) -> TailCheck:
    """The :class:`TailCheck` of a point computed with a decay tail (ValueError without)."""
    if p.decay is None or p.decayed is None:
        raise ValueError("tail_check: the point has no decay tail (run with --decay-tail)")
    norm = p.NORM[0]
    conv = _ok(p)["decayed"] & (p.status == Status.CONVERGED)
    above = conv & (p.etas > p.eta_c)
    below = np.flatnonzero(conv & (p.etas <= p.eta_c))
    nan = np.full(p.etas.shape, np.nan)
    series = [getattr(s, norm) if s is not None else nan
              for s in (p.final, p.averaged, p.decayed)]  # fmt: skip
    raw = series[0][above]
    n = int(above.sum())

    def change(x):
        rel = np.abs(x[above] - raw) / raw
        return (float(np.median(rel)), float(np.max(rel))) if n else (np.nan, np.nan)

    def excess(x):
        if not n or not below.size:
            return np.nan
        return float(np.max(x[above]) - x[below[np.argmax(p.etas[below])]])

    factor, etas = p.decay.factor, p.etas[above]
    s_dec = p.decayed.sharpness[above]
    return TailCheck(
        factor=factor, steps=p.decay.steps, n_above=n,
        raw_beyond=int(np.sum(p.final.sharpness[above] > 2 / etas)),
        avg_change=change(series[1]), tail_change=change(series[2]),
        excess=tuple(excess(x) for x in series),
        tail_stable=int(np.sum(s_dec <= (1 + 1e-9) * 2 / (factor * etas))),
        tail_below_edge=int(np.sum(s_dec < 2 / etas)),
    )  # fmt: skip


def _series(ax, p: PointResult, values: dict[str, np.ndarray]) -> None:
    for key, ok in _ok(p).items():
        label, marker, size, colour, filled = SERIES[key]
        if key == "decayed":
            label = f"after {p.decay.steps} steps at {p.decay.factor:g}·η"
        ax.plot(p.etas[ok], values[key][ok], marker, ms=size, color=colour, ls="",
                mfc=colour if filled else "none", mew=1.2, label=label,
                zorder={"final": 5, "averaged": 6, "decayed": 4}[key])  # fmt: skip


def _stats(p: PointResult) -> dict:
    return {k: getattr(p, k) for k in ("final", "averaged", "decayed") if getattr(p, k) is not None}


def reviewer_check_figure(points: Sequence[PointResult], model: str) -> Figure:
    """One row per grid point, four panels over eta (log axis): the sharpness S with 2/η (and
    2/(factor·η), the decayed step's edge), S·η/2 (1 = at the edge 2/η), the ℓ1 norm
    (``p.NORM``) and the error ``||β − β*||²`` — each for the raw final iterate, the mean of the
    last K iterates and the end of the decay tail; regime shading (of the raw runs) and the GF
    critical step eta_c as in the phase diagram."""
    rows = len(points)
    fig = Figure(figsize=(20, 4.6 * rows + 1.4), layout="constrained")
    grid = fig.subplots(rows, 4, squeeze=False)
    present: set[int] = set()
    for p, axes in zip(points, grid):
        regimes = classify(p.status, p.final.sharpness, p.etas, p.eta_c)
        present.update(np.unique(regimes).tolist())
        stats = _stats(p)
        factor = p.decay.factor if p.decay is not None else None

        ax = axes[0]
        _series(ax, p, {k: s.sharpness for k, s in stats.items()})
        ax.set_yscale("log")
        vals = np.concatenate([s.sharpness[_ok(p)[k]] for k, s in stats.items()])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        lo_eta = p.etas.min()
        if vals.size:
            ax.set_ylim(vals.min() / 1.6, vals.max() * 1.6)
            lo_eta = max(lo_eta, 2.0 / (10 * vals.max()))
        eta_line = np.geomspace(lo_eta, max(lo_eta, p.etas.max()), 400)
        ax.plot(eta_line, 2.0 / eta_line, "-", color="#f57c00", lw=2,
                label="2/η (stability edge)", zorder=3)  # fmt: skip
        if factor is not None and factor < 1:
            ax.plot(eta_line, 2.0 / (factor * eta_line), ":", color="#f57c00", lw=1.6,
                    label=f"2/({factor:g}·η) (edge of the decayed step)", zorder=3)  # fmt: skip
        ax.set_ylabel("sharpness S = λ_max(∇²L)")
        ax.set_title("sharpness vs the stability edge 2/η")

        ax = axes[1]
        _series(ax, p, {k: s.sharpness * p.etas / 2 for k, s in stats.items()})
        ax.axhline(1.0, color="#f57c00", lw=2, label="S = 2/η (stability edge)", zorder=3)
        vals = np.concatenate([(s.sharpness * p.etas / 2)[_ok(p)[k]] for k, s in stats.items()])
        vals = vals[np.isfinite(vals)]
        top = min(max(1.1, vals.max() * 1.05), 5.0) if vals.size else 1.1  # off-scale: noted
        ax.set_ylim(0.0, top)
        ax.set_ylabel("S·η/2 (1 = at the edge 2/η)")
        ax.set_title("S·η/2: which iterates sit beyond the edge")

        ax = axes[2]
        norm, norm_label = p.NORM
        _series(ax, p, {k: getattr(s, norm) for k, s in stats.items()})
        ax.set_ylabel(norm_label + (" = ‖w‖₂²" if model == "ww" else ""))
        ax.set_title(f"ℓ1 norm of {'θ' if norm == 'l1_theta' else 'β'}: does its growth survive?")
        _clip_to_main(ax, p, lambda s, norm=norm: getattr(s, norm))

        ax = axes[3]
        _series(ax, p, {k: p.error_of(s) for k, s in stats.items()})
        ax.set_ylabel(p.ERROR_LABEL)
        ax.set_title("generalization error")
        _clip_to_main(ax, p, p.error_of)

        lo, hi = _geo_edges(p.etas)[[0, -1]]
        for ax in axes:
            shade_regimes(ax, p.etas, regimes)
            if np.isfinite(p.eta_c):
                ax.axvline(p.eta_c, color="k", ls="--", lw=1.3,
                           label="η_c = 2/s_GF (gradient flow)")  # fmt: skip
            set_eta_axis(ax, lo, hi)
            ax.set_xlabel("learning rate η")
            ax.grid(True, which="major", alpha=0.3)
            legend_of_visible(ax, fontsize=7.5, loc="best", framealpha=0.85)
        if rows > 1:
            axes[0].annotate(p.point.label, (0, 0.5), xytext=(-62, 0), xycoords="axes fraction",
                             textcoords="offset points", rotation=90, va="center", ha="right",
                             fontsize=10, fontweight="bold")  # fmt: skip
    first = points[0]
    tail = (f"decay tail: {first.decay.steps} steps at {first.decay.factor:g}·η"
            if first.decay is not None else "no decay tail")  # fmt: skip
    pt = first.point
    where = (f"d = {pt.d}, n = {pt.n}, α = {pt.alpha:g}, ε = {pt.eps:g}, η_c = {first.eta_c:.4g}"
             if rows == 1 else "one row per grid point")  # fmt: skip
    fig.suptitle(f"Is the norm growth above η_c an oscillation artefact? GD on a diagonal linear "
                 f"network ({model}), {where}; {tail}")  # fmt: skip
    fig.legend(handles=_regime_handles(sorted(present)), loc="outside lower center",
               ncols=len(Regime), fontsize=9,
               title="regime of the raw runs (S·η/2 ≥ 0.95 counts as edge of stability); "
               "background: ranges of ≥ 2 runs, top strip: every run")  # fmt: skip
    return fig


def _clip_to_main(ax, p: PointResult, value) -> None:
    """y limits around the drawn values of every series, with room above for the legend."""
    vals = np.concatenate([value(s)[_ok(p)[k]] for k, s in _stats(p).items()])
    vals = vals[np.isfinite(vals)]
    if vals.size:
        span = np.ptp(vals) or max(abs(vals.max()), 1e-3)
        ax.set_ylim(vals.min() - 0.08 * span, vals.max() + 0.25 * span)
