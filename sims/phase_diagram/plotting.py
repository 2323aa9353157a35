"""Figures of a sweep: the 1-D phase diagram (sharpness, l1 norm, test error vs eta) and the 2-D
phase maps over (eta, alpha) or (eta, eps). Uses matplotlib's object API (no pyplot state).

Every legend lists only what is visible: a theory level or a group of points outside an axis's
range is named in an "off-scale" note heading the panel's legend instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import ticker
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from diaglin.status import Status
from sims.phase_diagram.predictions import Predictions
from sims.phase_diagram.regimes import Regime, classify
from sims.phase_diagram.results import NetPointResult, PointResult

REGIME_COLOURS = {
    Regime.FLOW: "#4c9be8",
    Regime.EOS: "#f5a142",
    Regime.BELOW_EDGE: "#9c6ade",
    Regime.NOT_CONVERGED: "#9e9e9e",
    Regime.DIVERGED: "#e8504c",
}
FORMATS = ("png", "pdf")
_LEVELS = {  # prediction attribute -> (label, colour, line style)
    "gf": ("GF limit (theory)", "#2e7d32", "-"),
    "min_norm": ("min-norm interpolator", "#6a1b9a", "--"),
    "min_sharpness": ("min-sharpness interpolator", "#c62828", "--"),
    "best": ("best interpolator (min error)", "#00838f", ":"),
}


def _geo_edges(x: np.ndarray) -> np.ndarray:
    """Cell edges around sorted positive centres x (geometric midpoints, log-symmetric ends),
    computed in log space and kept within the normal float range (any positive grid works)."""
    lx = np.log(np.asarray(x, float))
    if lx.size == 1:
        edges = np.array([lx[0] - np.log(1.5), lx[0] + np.log(1.5)])
    else:
        mid = 0.5 * (lx[1:] + lx[:-1])
        edges = np.concatenate([[2 * lx[0] - mid[0]], mid, [2 * lx[-1] - mid[-1]]])
    info = np.finfo(float)
    return np.exp(np.clip(edges, np.log(info.tiny), np.log(info.max) - 1))


def _segments(regimes: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, stop, regime) of the maximal runs of equal regime."""
    out, start = [], 0
    for i in range(1, regimes.size + 1):
        if i == regimes.size or regimes[i] != regimes[start]:
            out.append((start, i, int(regimes[start])))
            start = i
    return out


def smoothed_regimes(regimes: np.ndarray) -> np.ndarray:
    """The regimes with every single-point segment given the regime of the segment before it
    (or after it, at the start): what the background shading shows, so that one odd run does
    not draw a sliver that reads as noise (the per-run regimes are in the strip on top)."""
    out = np.array(regimes, copy=True)
    segs = _segments(out)
    if len(segs) < 2:
        return out
    for k, (a, b, _r) in enumerate(segs):
        if b - a == 1:
            out[a] = out[a - 1] if a > 0 else segs[k + 1][2]
    return out


def shade_regimes(ax, etas: np.ndarray, regimes: np.ndarray) -> None:
    """Shade ranges of at least two consecutive runs of equal regime behind the data, and draw
    every run's own regime as a thin strip along the top of the panel."""
    edges = _geo_edges(etas)
    for a, b, r in _segments(smoothed_regimes(regimes)):
        ax.axvspan(edges[a], edges[b], color=REGIME_COLOURS[Regime(r)], alpha=0.18, lw=0,
                   zorder=0)  # fmt: skip
    # the strip is an axes of its own, so the panel's legend placement does not weigh its cells
    strip = ax.inset_axes((0.0, 0.975, 1.0, 0.025), sharex=ax, zorder=5)
    cmap = ListedColormap([REGIME_COLOURS[r] for r in Regime])
    norm = BoundaryNorm(np.arange(len(Regime) + 1) - 0.5, len(Regime))
    strip.pcolormesh(edges, [0.0, 1.0], np.asarray(regimes)[None, :], cmap=cmap, norm=norm)
    strip.set_ylim(0.0, 1.0)
    strip.set_axis_off()


def _regime_handles(present: Sequence[int]) -> list:
    return [Patch(color=REGIME_COLOURS[r], alpha=0.35, label=r.title)
            for r in Regime if r in present]  # fmt: skip


def _levels(ax, pred: Predictions, attr: str) -> None:
    for key, (label, colour, ls) in _LEVELS.items():
        v = getattr(pred, key)
        if v is not None and np.isfinite(getattr(v, attr)):
            ax.axhline(getattr(v, attr), color=colour, ls=ls, lw=1.2, label=label, zorder=2)


def _scatter(ax, p: PointResult, values: np.ndarray, averaged: np.ndarray | None, name: str):
    conv = p.status == Status.CONVERGED
    stuck = p.status == Status.MAX_STEPS
    ax.plot(p.etas[conv], values[conv], "o", ms=3.5, color="k", label=f"GD final {name}",
            zorder=4)  # fmt: skip
    if stuck.any():
        ax.plot(p.etas[stuck], values[stuck], "o", ms=4, mfc="none", color="0.3",
                label="GD stopped at max_steps\n(not converged: not a minimum, S may exceed 2/η)",
                zorder=4)  # fmt: skip
    if averaged is not None:
        ok = conv | stuck
        ax.plot(p.etas[ok], averaged[ok], "x", ms=4, color="#d84315",
                label="mean of last K iterates", zorder=4)  # fmt: skip


def _slice_curves(ax, p: PointResult, pred: Predictions, fn, label: str, band: bool) -> None:
    sl = pred.slice
    if sl is None:
        return
    m = np.isfinite(sl.entropy).all(axis=1) & (sl.etas > p.eta_c)
    if m.any():
        ax.plot(sl.etas[m], fn(sl.entropy[m]), "-", color="#1565c0", lw=1.6, zorder=3,
                label=f"S = 2/η slice: entropy candidate {label}")  # fmt: skip
    lo, hi = fn(sl.min_l1), fn(sl.max_l1)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if band and ok.any():
        ax.fill_between(sl.etas[ok], np.minimum(lo, hi)[ok], np.maximum(lo, hi)[ok],
                        color="#1565c0", alpha=0.12, lw=0, zorder=1,
                        label="S = 2/η slice: min to max ‖β‖₁")  # fmt: skip


def set_eta_axis(ax, lo: float, hi: float) -> None:
    """Log eta axis on [lo, hi]; below one decade, plainly numbered ticks (the default log
    formatter labels minor ticks there, and their labels run into each other); below two,
    ticks at 1, 2 and 5 times the powers of ten, plainly numbered, minor ticks unlabelled."""
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    decades = np.log10(hi) - np.log10(lo)
    plain = ticker.FuncFormatter(lambda v, _pos: f"{v:.3g}")
    if decades < 1:
        ax.xaxis.set_major_locator(ticker.MaxNLocator(nbins=5))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    elif decades < 2:
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _visible(ax, artist) -> tuple[bool, str]:
    """Whether any finite point of a labelled line/collection lies inside the axes, and if not,
    on which side ("above", "below", "left", "right") its points are."""
    if isinstance(artist, Line2D):
        pts = artist.get_transform().transform(artist.get_xydata())
    else:
        verts = [path.vertices for path in artist.get_paths() if len(path.vertices)]
        if not verts:
            return False, "empty"
        pts = artist.get_transform().transform(np.concatenate(verts))
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not pts.size:
        return False, "empty"
    box = ax.bbox
    inside = ((pts[:, 0] >= box.x0 - 0.5) & (pts[:, 0] <= box.x1 + 0.5)
              & (pts[:, 1] >= box.y0 - 0.5) & (pts[:, 1] <= box.y1 + 0.5))  # fmt: skip
    if inside.any():
        return True, ""
    for side, test in (("above", pts[:, 1] > box.y1), ("below", pts[:, 1] < box.y0),
                       ("right", pts[:, 0] > box.x1), ("left", pts[:, 0] < box.x0)):  # fmt: skip
        if test.all():
            return False, side
    return False, "outside the limits"


def legend_of_visible(ax, **kw) -> list[str]:
    """Draw the legend of the artists that show inside the axes' current limits; name the
    others in a small "off-scale" note, the legend's title. Returns the off-scale labels."""
    ax.get_xlim(), ax.get_ylim()  # settle autoscaling before testing positions
    hidden = []
    for artist in [*ax.get_lines(), *ax.collections]:
        label = artist.get_label()
        if not label or label.startswith("_"):
            continue
        shown, side = _visible(ax, artist)
        if not shown:
            artist.set_label(f"_{label}")
            if side != "empty":  # an artist with no data just has no legend entry
                hidden.append(f"{label.splitlines()[0]} ({side})")
    if hidden:  # the note heads the legend, so the two never overlap
        kw = {"title": "off-scale: " + "; ".join(hidden), "title_fontsize": 6.5,
              "alignment": "left", **kw}  # fmt: skip
    legend = ax.legend(**kw)
    if hidden:
        legend.get_title().set_color("0.3")
    return hidden


def phase_diagram_figure(p: PointResult | NetPointResult, pred: Predictions, model: str) -> Figure:
    """Three panels over eta (log axis): final sharpness with 2/eta, the ℓ1 norm (``p.NORM``:
    of β for the diagonal models, of θ for networks), and the error (``p.gen_error()``:
    ||beta - beta*||^2, or the held-out test loss), with regime shading, the GF critical step
    eta_c and theory levels (where theory has them)."""
    fig = Figure(figsize=(16, 5.6), layout="constrained")
    axes = fig.subplots(1, 3, sharex=True)
    regimes = classify(p.status, p.final.sharpness, p.etas, p.eta_c)
    avg = p.averaged
    conv = p.status == Status.CONVERGED

    ax = axes[0]
    _scatter(ax, p, p.final.sharpness, None if avg is None else avg.sharpness, "sharpness")
    _levels(ax, pred, "sharpness")
    ax.set_yscale("log")
    ok = conv | (p.status == Status.MAX_STEPS)
    vals = np.concatenate([p.final.sharpness[ok],
                           [v.sharpness for v in (pred.min_norm, pred.min_sharpness)
                            if v is not None]])  # fmt: skip
    vals = vals[np.isfinite(vals) & (vals > 0)]
    eta_lo = p.etas.min()
    if vals.size:
        ax.set_ylim(vals.min() / 1.6, vals.max() * 1.6)
        eta_lo = max(eta_lo, 2.0 / (10 * vals.max()))  # 2/eta beyond the panel is not drawn
    eta_line = np.geomspace(eta_lo, max(eta_lo, p.etas.max()), 400)
    ax.plot(eta_line, 2.0 / eta_line, "-", color="#f57c00", lw=2, label="2/η (stability edge)",
            zorder=3)  # fmt: skip
    ax.set_ylabel("sharpness S = λ_max(∇²L) at the final iterate")
    ax.set_title("final sharpness vs the stability edge 2/η")

    ax = axes[1]
    norm, norm_label = p.NORM
    _scatter(ax, p, getattr(p.final, norm), None if avg is None else getattr(avg, norm),
             norm_label.split(" ")[0])  # fmt: skip
    _levels(ax, pred, "l1")
    _slice_curves(ax, p, pred, lambda b: np.abs(b).sum(axis=-1), "‖β‖₁", True)
    ax.set_ylabel(norm_label + (" = ‖w‖₂²" if model == "ww" else ""))
    ax.set_title(f"ℓ1 norm of {'θ' if norm == 'l1_theta' else 'β'}")

    ax = axes[2]
    name = p.ERROR_LABEL.split(" (")[0].split(" ‖")[0]  # "generalization error", "test loss"
    _scatter(ax, p, p.gen_error(), None if avg is None else p.gen_error(True), name)
    _levels(ax, pred, "gen_error")
    _slice_curves(ax, p, pred, lambda b: np.sum((b - p.beta_star) ** 2, axis=-1), "error", False)
    if pred.eta_star is not None:
        ax.axvline(pred.eta_star, color="#00838f", ls="-.", lw=1.2,
                   label="η* = 2/S(best interpolator)")  # fmt: skip
    err = p.gen_error()[conv]
    if err.size:
        top = err.max() + 0.3 * np.ptp(err) + 1e-3
        bottom = err.min() - 0.5 * np.ptp(err) - 0.1 * min(1.0, err.max())
        ax.set_ylim(bottom if bottom > 0 else -0.03 * top, top)  # an error of 0 stays in view
    ax.set_ylabel(p.ERROR_LABEL)
    ax.set_title(name)

    lo, hi = _geo_edges(p.etas)[[0, -1]]
    for ax in axes:
        shade_regimes(ax, p.etas, regimes)
        if np.isfinite(p.eta_c):
            ax.axvline(p.eta_c, color="k", ls="--", lw=1.3, label="η_c = 2/s_GF (gradient flow)")
        set_eta_axis(ax, lo, hi)
        ax.set_xlabel("learning rate η")
        ax.grid(True, which="major", alpha=0.3)
        legend_of_visible(ax, fontsize=7.5, loc="best", framealpha=0.85)
    fig.suptitle(p.title(model))
    fig.legend(handles=_regime_handles(np.unique(regimes)), loc="outside lower center",
               ncols=len(Regime), fontsize=9,
               title="regime (S·η/2 ≥ 0.95 counts as edge of stability); background: ranges of "
               "≥ 2 runs, top strip: every run")  # fmt: skip
    return fig


def phase_map_figure(
    points: Sequence[PointResult], axis: str, model: str, eta_c_theory: Sequence[float | None]
) -> Figure:
    """Two maps over (eta, ``axis`` in {"alpha", "eps"}): the observed regime, and the final
    S * eta / 2 of converged runs; the GF critical step eta_c(axis) overlaid on both."""
    ys = np.array([getattr(q.point, axis) for q in points])
    order = np.argsort(ys)
    points = [points[i] for i in order]
    ys = ys[order]
    theory_c = [eta_c_theory[i] for i in order]
    y_edges = _geo_edges(ys)
    fig = Figure(figsize=(13, 5.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    cmap = ListedColormap([REGIME_COLOURS[r] for r in Regime])
    norm = BoundaryNorm(np.arange(len(Regime) + 1) - 0.5, len(Regime))
    present = set()
    for i, q in enumerate(points):
        xe = _geo_edges(q.etas)
        ye = y_edges[i : i + 2]
        reg = classify(q.status, q.final.sharpness, q.etas, q.eta_c)
        present.update(np.unique(reg).tolist())
        axes[0].pcolormesh(xe, ye, reg[None, :], cmap=cmap, norm=norm)
        ratio = np.where(q.status == Status.CONVERGED, q.final.sharpness * q.etas / 2, np.nan)
        mesh = axes[1].pcolormesh(xe, ye, ratio[None, :], cmap="viridis", vmin=0, vmax=1)
    eta_c = np.array([q.eta_c for q in points])
    ylabel = {"alpha": "initialisation scale α", "eps": "stopping threshold ε"}[axis]
    symbol = {"alpha": "α", "eps": "ε"}[axis]
    # every row has its own eta grid (in units of its eta_c): show where all rows have data
    lo = max(_geo_edges(q.etas)[0] for q in points)
    hi = min(_geo_edges(q.etas)[-1] for q in points)
    for ax in axes:
        ax.plot(eta_c, ys, "w-", lw=3.2)
        ax.plot(eta_c, ys, "k--o", lw=1.4, ms=3.5)
        if all(t is not None for t in theory_c):
            ax.plot(theory_c, ys, "+", color="#c62828", ms=9, mew=1.6)
        set_eta_axis(ax, lo, hi)
        ax.set_yscale("log")
        ax.set_ylim(y_edges[0], y_edges[-1])
        ax.set_xlabel("learning rate η")
    axes[0].set_ylabel(ylabel)
    axes[0].set_title("regime")
    axes[1].set_title("final S·η/2 (converged runs; 1 = at the edge)")
    fig.colorbar(mesh, ax=axes[1], label="S·η/2")
    handles = [Patch(color=REGIME_COLOURS[r], label=r.title) for r in Regime if r in present]
    handles.append(Patch(facecolor="white", edgecolor="0.5", label="right: not converged "
                         "(no final S·η/2)"))  # fmt: skip
    handles.append(Line2D([], [], color="k", ls="--", marker="o", ms=3.5,
                          label=f"η_c({symbol}) = 2/s_GF (gradient flow)"))  # fmt: skip
    if all(t is not None for t in theory_c):
        handles.append(Line2D([], [], color="#c62828", ls="", marker="+", ms=9, mew=1.6,
                              label="η_c (theory: exact GF path)"))  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
               fontsize=9)  # fmt: skip
    fig.suptitle(f"Phase map of GD ({model}) over (η, {symbol})")
    return fig


#: Okabe–Ito colours (colour-blind safe) of the ablation figure.
_ABLATION_COLOURS = {"eos": "#E69F00", "edge": "#8C5A00", "best": "#0072B2",
                     "flow": "#009E73", "diverged": "#D55E00"}  # fmt: skip
#: panel titles of the ablation axes (NetPoint fields).
_AXIS_TITLES = {"width": "width (units per hidden layer)", "depth": "depth (hidden layers)",
                "activation": "activation", "loss": "loss", "param": "parameterisation",
                "n": "training-set size n", "alpha": "init scale α",
                "eps": "stopping loss ε"}  # fmt: skip
_NUMERIC_AXES = ("width", "depth", "n", "alpha", "eps")


def ablation_figure(panels, model: str, base, n_params: int) -> Figure:
    """One column per ablation axis (``panels``: (NetPoint field, its ``AblationRow`` s in
    order of the axis's values, the base among them); ``base``: the base network's NetPoint,
    with ``n_params`` parameters). Top: against the axis value, eta_c =
    2/s_GF (black, dashed as everywhere), the EoS range from eta_c to the largest swept eta
    that did not diverge (band; a triangle where the grid ended before any divergence), the runs
    that ended at the edge (thin line), the smallest diverged eta (cross) and the eta of the
    lowest test loss (star, labelled with its ratio to eta_c). Bottom: the lowest test loss
    over all converged runs and over the flow-aligned ones (eta <= eta_c)."""
    c = _ABLATION_COLOURS
    k = len(panels)
    fig = Figure(figsize=(max(3.1 * k + 1.2, 11.0), 7.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(2, k, sharey="row", squeeze=False))
    for j, (name, rows) in enumerate(panels):
        top, bottom = axes[0, j], axes[1, j]
        x = np.arange(len(rows))
        r = {f: np.array([getattr(row, f) for row in rows], float)
             for f in ("eta_c", "eos_lo", "eos_hi", "edge_lo", "edge_hi", "first_diverged",
                       "eta_best", "loss_best", "loss_flow")}  # fmt: skip
        capped = np.array([row.capped for row in rows])
        ok = np.isfinite(r["eos_hi"])
        top.bar(x[ok], (r["eos_hi"] - r["eos_lo"])[ok], bottom=r["eos_lo"][ok], width=0.5,
                color=c["eos"], alpha=0.45, lw=0, zorder=1,
                label="EoS range: η_c to the largest η that did not diverge")  # fmt: skip
        if (ok & capped).any():
            top.plot(x[ok & capped], 1.07 * r["eos_hi"][ok & capped], "^", color=c["eos"], mec="k",
                     mew=0.6, ms=7, zorder=3,
                     label="the range reaches the grid's largest η")  # fmt: skip
        fin = np.isfinite(r["edge_lo"])
        top.vlines(x[fin] - 0.33, r["edge_lo"][fin], r["edge_hi"][fin], color=c["edge"], lw=2.2,
                   zorder=2, label="runs ending at the edge (S·η/2 ≥ 0.95)")  # fmt: skip
        top.plot(x[fin] - 0.33, r["edge_lo"][fin], "_", color=c["edge"], ms=6, zorder=2)
        top.plot(x[fin] - 0.33, r["edge_hi"][fin], "_", color=c["edge"], ms=6, zorder=2)
        top.plot(x, r["first_diverged"], "x", color=c["diverged"], ms=7, mew=1.8, zorder=3,
                 label="smallest η that diverged")  # fmt: skip
        style = "k--o" if name in _NUMERIC_AXES else "ko"
        top.plot(x, r["eta_c"], style, lw=1.3, ms=5, zorder=4,
                 label="η_c = 2/s_GF (gradient flow)")  # fmt: skip
        top.plot(x, r["eta_best"], "*", color=c["best"], mec="k", mew=0.5, ms=12, zorder=5,
                 label="η with the lowest test loss")  # fmt: skip
        for xi, eb, ec in zip(x, r["eta_best"], r["eta_c"]):
            if np.isfinite(eb):
                top.annotate(f"{eb / ec:.2g}η_c", (xi, eb), xytext=(7, -3),
                             textcoords="offset points", fontsize=7.5, color=c["best"])  # fmt: skip
        bottom.plot(x, r["loss_flow"], "o-", color=c["flow"], mfc="white", mew=1.5, ms=6,
                    label="lowest test loss, flow-aligned runs (η ≤ η_c)")  # fmt: skip
        bottom.plot(x, r["loss_best"], "*-", color=c["best"], mec="k", mew=0.5, ms=12,
                    label="lowest test loss, all converged runs")  # fmt: skip
        labels = [f"{getattr(row.point, name):g}" if name in _NUMERIC_AXES
                  else str(getattr(row.point, name)) for row in rows]  # fmt: skip
        labels = [lab + ("\n(base)" if getattr(row.point, name) == getattr(base, name) else "")
                  for lab, row in zip(labels, rows)]  # fmt: skip
        for ax in (top, bottom):
            ax.set_xticks(x, labels)
            ax.set_xlim(-0.7, len(rows) - 0.4)
            ax.grid(True, axis="y", which="major", alpha=0.3)
        top.set_yscale("log")
        top.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        top.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:.3g}"))
        top.yaxis.set_minor_formatter(ticker.NullFormatter())
        top.set_title(_AXIS_TITLES.get(name, name))
        bottom.set_xlabel(_AXIS_TITLES.get(name, name).split(" (")[0])
    shown = np.array([getattr(row, f) for _, rows in panels for row in rows
                      for f in ("eta_c", "eos_hi", "edge_lo", "edge_hi", "first_diverged",
                                "eta_best")], float)  # fmt: skip
    shown = shown[np.isfinite(shown) & (shown > 0)]
    if shown.size:  # every marker inside the panels (sharey: one range for the row)
        axes[0, 0].set_ylim(shown.min() / 1.25, shown.max() * 1.25)
    if panels:
        axes[0, 0].set_ylabel("learning rate η")
        axes[1, 0].set_ylabel("test loss (held-out split)")
        handles, labels = [], []
        for ax in axes.ravel():
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8.5)
        fig.suptitle(f"Ablations on a {model.upper()}, one axis at a time from the base\n"
                     f"({base.activation}, width {base.width}, depth {base.depth}, "
                     f"{base.loss.upper()}, {base.param}, n = {base.n}, P = {n_params}; "
                     f"α = {base.alpha:g}, ε = {base.eps:g})")  # fmt: skip
    return fig
