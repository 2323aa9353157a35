"""Figures of the late-decay experiment: final test loss vs decay time with both controls, the
three phases of one run over time, the budget view, and the phase-II scaling over (eta, sigma).
Matplotlib's object API (no pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib import cm, ticker
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sims.late_decay.config import LATE, NO_NOISE
from sims.late_decay.phases import (
    FIT_TOL,
    NORM_TOL,
    KCurve,
    budget_view,
    final_loss_by_k,
    no_decay_loss,
    phase_two_times,
    phases_of,
)
from sims.late_decay.runs import DecayResult

_LATE, _NO_NOISE, _NO_DECAY = "#1565c0", "#9e9e9e", "#c62828"
_CURVES = {  # curve -> (label, colour)
    "train_loss": ("train loss (clean)", "#2e7d32"),
    "test_loss": ("test loss ½‖β−β*‖²", "#c62828"),
    "dist_min_norm": ("‖β − β_min-norm‖", "#6a1b9a"),
}


def _k_axis(ax, ks: np.ndarray) -> float:
    """Symmetric-log x axis for decay steps (K = 0 included); returns the linear threshold."""
    pos = ks[ks > 0]
    lin = float(pos.min()) if pos.size else 1.0
    ax.set_xscale("symlog", linthresh=lin, linscale=0.5)
    ax.set_xlim(0, ks.max() * 1.5)
    top = int(np.floor(np.log10(max(ks.max(), 1))))
    decades = [10.0**e for e in range(int(np.ceil(np.log10(lin))), top + 1)]
    ax.xaxis.set_major_locator(ticker.FixedLocator([0.0, *decades]))
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    return lin


def _k_line(ax, c: KCurve, colour: str, label: str, marker: str) -> None:
    ax.plot(c.K, c.mean, marker=marker, color=colour, label=label)
    ax.fill_between(c.K, c.lo, c.hi, color=colour, alpha=0.2, lw=0)


def _panel_k(ax, r: DecayResult, config) -> None:
    late = final_loss_by_k(r, LATE)
    _k_axis(ax, late.K)
    seeds = f"{r.seeds.size} seeds"
    _k_line(ax, late, _LATE, f"late decay (σ = {r.point.sigma:g}; mean, min–max of {seeds})", "o")
    ctrl = final_loss_by_k(r, NO_NOISE)
    if ctrl.K.size:
        _k_line(ax, ctrl, _NO_NOISE, "control: no label noise", "s")
    nd = no_decay_loss(r)
    if nd.size:
        ax.axhline(np.mean(nd), color=_NO_DECAY, ls="--", label="control: no decay (final)")
        ax.axhspan(nd.min(), nd.max(), color=_NO_DECAY, alpha=0.12, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel(f"decay step K (η → {config.factor:g}·η at K)")
    ax.set_ylabel(f"final test loss ½‖β−β*‖² after {config.total_steps:,} steps")
    ax.set_title("(a) the later the decay, the better")
    ax.legend(fontsize=7, loc="lower left")


def _phase_run(r: DecayResult) -> int:
    """The run shown in the three-phase panel: seed 0's latest late decay."""
    late = r.runs_of(LATE)
    return int(late[np.argmax(r.decay_step[late])])


def _panel_phases(ax, r: DecayResult) -> None:
    run = _phase_run(r)
    ph = phases_of(r, run)
    for name, (label, colour) in _CURVES.items():
        s, v = r.curve(name, run)
        keep = s > 0
        ax.plot(s[keep], np.maximum(v[keep], 1e-16), color=colour, lw=1, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    twin = ax.twinx()
    s, v = r.curve("norm_sq", run)
    twin.plot(s[s > 0], v[s > 0], color="k", lw=1.2, label="‖θ‖² (right axis)")
    twin.axhline(r.norm_sq_min, color="k", ls=":", lw=1, label="min ‖θ‖² on M (theory)")
    twin.set_yscale("log")
    twin.set_ylabel("‖θ‖²")
    bounds = [(ph.t_fit, "T_I"), (ph.t_min_norm, "T_II"), (ph.decay, "K")]
    x0, x1 = s[s > 0].min(), s.max()
    ends = [ph.t_fit, ph.decay]
    spans = zip([x0, *ends], [*ends, x1], ("#fff3e0", "#e3f2fd", "#e8f5e9"), ("I", "II", "III"))
    box = dict(fc="white", ec="none", alpha=0.7, pad=1)
    for a, b, shade, name in spans:
        if np.isfinite(a) and np.isfinite(b) and b > a:
            ax.axvspan(a, b, color=shade, lw=0, zorder=0)
            # at the span's middle (log axis), kept inside the axes for a narrow last span
            mid = (np.log(a * b) / 2 - np.log(x0)) / np.log(x1 / x0)
            ax.text(min(max(mid, 0.03), 0.97), 0.97, name, transform=ax.transAxes,
                    ha="center", va="top", fontsize=9, weight="bold", color="0.35",
                    bbox=box)  # fmt: skip
    for t, name in bounds:
        if np.isfinite(t):
            ax.axvline(t, color="0.3", ls="--", lw=0.8)
            ax.text(t, 0.5, f"{name} = {t:,.0f} ", transform=ax.get_xaxis_transform(),
                    fontsize=7, rotation=90, ha="right", va="center", color="0.3",
                    bbox=box)  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_xlabel("SGD step")
    ax.set_ylabel("loss, distance (log)")
    ax.set_title(f"(b) three phases (seed {r.seed[run]}, decay at K = {r.decay_step[run]:,})")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    # on the right-hand axes, drawn after (over) the left ones: no curve crosses the legend
    twin.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="lower left",
              title=f"T_I: loss ≤ {FIT_TOL:g}·L(θ0) without noise; "
              f"T_II: ‖θ‖² ≤ {1 + NORM_TOL:g}·min", title_fontsize=6)  # fmt: skip


def _panel_budget(ax, r: DecayResult) -> None:
    bv = budget_view(r)
    ks = np.unique(r.decay_step[r.variant == LATE])
    pos = ks[ks > 0]
    norm = LogNorm(pos.min(), pos.max()) if pos.size > 1 else None
    cmap = cm.viridis
    for k in ks:
        runs = r.runs_of(LATE, int(k))
        m = r.test_loss[runs].mean(axis=0)
        after = (r.steps >= k) & (r.steps > 0)
        colour = cmap(norm(k)) if (norm and k > 0) else "0.5"
        ax.plot(r.steps[after], m[after], color=colour, lw=0.8)
    ax.plot(bv.steps[1:], bv.envelope[1:], color="k", lw=2, label="best over K ≤ budget")
    ax.axhline(bv.early, color="0.5", ls="--", lw=1, label=f"decay at K = {ks[0]:g} (final)")
    pay = bv.pays_off_at(10.0)
    if np.isfinite(pay):
        ax.axvline(pay, color="#c62828", ls=":", lw=1)
        ax.text(pay, 0.85, f" 10× better\n from {pay:,.0f} steps", color="#c62828", fontsize=7,
                transform=ax.get_xaxis_transform(), va="top",
                bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))  # fmt: skip
    if norm:
        sm = cm.ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(sm, ax=ax, label="decay step K (grey: K = 0)", pad=0.01)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training budget T (steps)")
    ax.set_ylabel("mean test loss at T")
    ax.set_title("(c) budget: test loss at T after a decay at K")
    ax.legend(fontsize=7, loc="lower left")


def late_decay_figure(r: DecayResult, config) -> Figure:
    """Three panels: final test loss vs decay step K (with the no-noise and no-decay controls),
    the three phases of one run, and the budget view."""
    fig = Figure(figsize=(17, 5.2), layout="constrained")
    axes = fig.subplots(1, 3)
    _panel_k(axes[0], r, config)
    _panel_phases(axes[1], r)
    _panel_budget(axes[2], r)
    fig.suptitle(f"Late learning-rate decay, label-noise SGD on β = {_beta(config.model)} "
                 f"(n = {config.n}, d = {config.d}, s = {config.sparsity}, α = {config.alpha:g}, "
                 f"η = {r.point.eta:g}, σ = {r.point.sigma:g}, batch {config.batch_size}) "
                 "— a model of the class paper 2 studies", fontsize=10)  # fmt: skip
    return fig


def _beta(model: str) -> str:
    return {"ww": "w⊙w", "uv": "u⊙v", "pm": "u⊙u − v⊙v"}[model]


def scaling_figure(results: list[DecayResult]) -> Figure:
    """Phase-II time T_II vs 1/(eta² sigma²) (log-log) with the fitted T_II = C/(eta² sigma²),
    and C per grid point."""
    p2 = phase_two_times(results)
    x = 1 / (p2.eta**2 * p2.sigma**2)
    ok = np.isfinite(p2.t_min_norm)
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    a, b = fig.subplots(1, 2)
    markers = dict(zip(np.unique(p2.eta), "osD^v<>ph*"))
    norm = LogNorm(p2.sigma.min(), p2.sigma.max() * 1.0001)
    handles = []
    for e, m in markers.items():
        sel = ok & (p2.eta == e)
        a.scatter(x[sel], p2.t_min_norm[sel], c=p2.sigma[sel], cmap="plasma", norm=norm,
                  marker=m, edgecolor="k", lw=0.4)  # fmt: skip
        handles.append(Line2D([], [], ls="", marker=m, color="0.6", mec="k", label=f"η = {e:g}"))
        b.scatter(1 / x[sel], p2.constant[sel], c=p2.sigma[sel], cmap="plasma", norm=norm,
                  marker=m, edgecolor="k", lw=0.4)  # fmt: skip
    if ok.any():
        xs = np.geomspace(x[ok].min(), x[ok].max(), 50)
        handles += a.plot(xs, p2.c_mean * xs, color="k", lw=1,
                          label=f"T_II = {p2.c_mean:.2f} / (η²σ²)")  # fmt: skip
        b.axhline(p2.c_mean, color="k", lw=1, label=f"C = {p2.c_mean:.2f}")
        b.axhspan(p2.c_mean * (1 - p2.c_cv), p2.c_mean * (1 + p2.c_cv), color="k", alpha=0.08,
                  lw=0, label=f"± CV = {p2.c_cv:.2f}")  # fmt: skip
    missing = int((~ok).sum())
    if missing:
        a.text(0.02, 0.98, f"{missing} point(s) did not reach min norm within the budget",
               transform=a.transAxes, fontsize=7, va="top")  # fmt: skip
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap="plasma"), ax=b, label="label noise σ")
    if ok.any():  # log axes need a point (none: the note above and empty linear axes)
        for ax in (a, b):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        a.set_yscale("log")
    a.set_xlabel("1 / (η² σ²)")
    a.set_ylabel(f"T_II: first step with ‖θ‖² ≤ {1 + NORM_TOL:g}·min (no decay, mean of seeds)")
    a.set_title("(a) phase II lasts ~ 1/(η²σ²)")
    b.set_xlabel("η² σ²")
    b.set_ylabel("C = T_II · η² σ²")
    b.set_ylim(0, max(2 * p2.c_mean, np.nanmax(p2.constant) * 1.1) if ok.any() else 1)
    b.set_title("(b) the constant across the grid")
    a.legend(handles=handles, fontsize=7, loc="lower right")
    if ok.any():
        b.legend(fontsize=7, loc="lower right")
    return fig
