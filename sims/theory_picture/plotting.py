"""The theory picture: the interpolating set of the one-point w⊙w DLN, d = 2 (left, the segment
in the (β₁, β₂) plane) and d = 3 (right, the triangle in simplex coordinates: a point β is drawn
at Σ λ_i P_i with λ_i = x_i β_i / y and P_i the triangle's corners, so lines stay lines).
Matplotlib's object API.

Colours: step sizes by viridis (η / η_c, the same scale in both panels) for GD's endpoints and
the S = 2/η slices; the markers of the min-norm, min-sharpness and GF-limit points in the
colours of the phase diagram's theory levels; the slice at η_c (S = s_GF) dashed black, as η_c
is drawn in every phase diagram.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sims.theory_picture.runs import PictureResult

#: the colours of theory's points (as the phase diagram's levels) and their markers
MARKS = {
    "min_norm": ("#6a1b9a", "D", 10),
    "min_sharpness": ("#c62828", "s", 10),
    "gf_limit": ("#2e7d32", "*", 17),
}
ETA_CMAP = "viridis"
#: the corners of the d = 3 triangle: vertex 0 (largest x: min-norm) bottom left, vertex 2
#: (smallest x: min-sharpness) bottom right
CORNERS = np.array([[0.0, 0.0], [0.5, np.sqrt(3.0) / 2.0], [1.0, 0.0]])


def _eta_norm(results: Sequence[PictureResult]) -> Normalize:
    ratios = np.concatenate([r.etas / r.eta_c for r in results])
    return Normalize(ratios.min(), ratios.max())


def level_segment(values: np.ndarray, level: float) -> np.ndarray | None:
    """The segment (2, 2) where a function linear on the triangle, with ``values`` (3,) at its
    corners, equals ``level`` (None if it does not cross the triangle)."""
    pts = []
    for i, j in ((0, 1), (1, 2), (0, 2)):
        a, b = values[i], values[j]
        if a != b and min(a, b) <= level <= max(a, b):
            t = (level - a) / (b - a)
            pts.append(CORNERS[i] + t * (CORNERS[j] - CORNERS[i]))
    if len(pts) < 2:
        return None
    pts = np.array(pts)
    far = np.argmax(np.linalg.norm(pts - pts[0], axis=1))
    return np.stack([pts[0], pts[far]])


class _Panel:
    """How one panel maps β to the plane: d = 2 as is, d = 3 through the simplex coordinates."""

    def __init__(self, r: PictureResult):
        self.r = r

    def xy(self, beta: np.ndarray) -> np.ndarray:
        beta = np.asarray(beta, float)
        if self.r.point.d == 2:
            return beta
        return self.r.barycentric(beta) @ CORNERS


def _vertex_note(r: PictureResult, beta: np.ndarray, name: str) -> str:
    return (f"{name}\n‖β‖₁ = {np.abs(beta).sum():.3g}, "
            f"S = {float(r.interpolation_sharpness(beta)):.3g}")  # fmt: skip


def _draw_common(ax, r: PictureResult, panel: _Panel, norm: Normalize, cmap) -> None:
    """Slices (coloured by η), the slice at η_c, GD's endpoints, theory's points."""
    ratios = r.etas / r.eta_c
    for k in range(r.etas.size):
        lo, hi = r.slice_lo[k], r.slice_hi[k]
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            continue
        seg = _slice_segment(panel, lo, hi)
        below = r.etas[k] < r.eta_c
        ax.plot(seg[:, 0], seg[:, 1], color=cmap(norm(ratios[k])), lw=1.0 if below else 2.0,
                ls=":" if below else "-", alpha=0.9, zorder=2, solid_capstyle="butt")  # fmt: skip
    if np.isfinite(r.edge_lo).all():
        seg = _slice_segment(panel, r.edge_lo, r.edge_hi)
        ax.plot(seg[:, 0], seg[:, 1], color="k", ls="--", lw=1.4, zorder=3)
    ok = r.converged
    pts = panel.xy(r.beta[ok])
    ax.scatter(pts[:, 0], pts[:, 1], c=ratios[ok], cmap=cmap, norm=norm, s=46,
               edgecolors="k", linewidths=0.6, zorder=6)  # fmt: skip
    for key in ("min_norm", "min_sharpness", "gf_limit"):
        colour, marker, size = MARKS[key]
        p = panel.xy(getattr(r, key))
        ax.plot(*p, marker=marker, color=colour, mec="w", mew=1.0, ms=size, ls="",
                zorder=7)  # fmt: skip


def _slice_segment(panel: _Panel, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The drawn slice: its two ends (d = 3); for d = 2 the slice is one point, drawn as a short
    stretch of the level line S = 2/η through it (the line's direction in the β plane)."""
    if panel.r.point.d == 3:
        return panel.xy(np.stack([lo, hi]))
    x = panel.r.x
    u = np.array([x[1] ** 2, -(x[0] ** 2)])
    u /= np.linalg.norm(u)
    half = 0.06 * panel.r.y / x.min()
    return np.stack([lo - half * u, lo + half * u])


def _segment_content(ax, r: PictureResult, norm: Normalize, cmap) -> None:
    """The segment, the ℓ1 level lines through its two vertices, and everything on it."""
    v = r.vertices
    ax.plot(v[:, 0], v[:, 1], "-", color="0.15", lw=2.6, zorder=1, solid_capstyle="round")
    for c in (np.abs(r.min_norm).sum(), np.abs(r.min_sharpness).sum()):
        ax.plot([0, c], [c, 0], ":", color="0.55", lw=1.0, zorder=0)
    _draw_common(ax, r, _Panel(r), norm, cmap)


def _segment_panel(ax, r: PictureResult, norm: Normalize, cmap) -> None:
    panel = _Panel(r)
    _segment_content(ax, r, norm, cmap)
    top = r.y / r.x.min()
    for key, name, off in (
        ("min_norm", "min-norm vertex (y/x₁)e₁", (10, -4)),
        ("min_sharpness", "min-sharpness vertex (y/x₂)e₂", (12, -4)),
    ):
        ax.annotate(_vertex_note(r, getattr(r, key), name), panel.xy(getattr(r, key)),
                    xytext=off, textcoords="offset points", fontsize=8,
                    color=MARKS[key][0])  # fmt: skip
    right = r.y / r.x.max()
    ax.set_xlim(-0.05 * top, right + 0.55 * top)
    ax.set_ylim(-0.05 * top, 1.08 * top)
    v0, v1 = r.vertices[0], r.vertices[1]
    along = (v1 - v0) / np.linalg.norm(v1 - v0)
    side = np.array([along[1], -along[0]]) * 0.1 * top
    start = v0 + 0.2 * (v1 - v0) + side
    ax.annotate("", start + 0.3 * top * along, start,
                arrowprops=dict(arrowstyle="->", color="0.3", lw=1.2))  # fmt: skip
    # over the zoom's connector lines, which cross it
    ax.text(*(start + 0.4 * side), "η ↑: the slice S = 2/η\nmoves toward\nthe flat vertex",
            fontsize=8, color="0.3", ha="left", va="top", zorder=6,
            bbox=dict(fc="white", ec="none", alpha=0.85, pad=1))  # fmt: skip
    # a zoom on the corner where GF and the small step sizes end
    ins = ax.inset_axes((0.5, 0.52, 0.47, 0.42))
    _segment_content(ins, r, norm, cmap)
    h = 0.035 * top
    below = r.beta[r.converged & (r.etas < r.eta_c)]
    lo = np.minimum(r.gf_limit, below.min(axis=0, initial=np.inf))
    hi = np.maximum(r.gf_limit, below.max(axis=0, initial=-np.inf))
    ins.set_xlim(lo[0] - h, max(hi[0], r.min_norm[0]) + h)
    ins.set_ylim(-0.3 * h, hi[1] + h)
    ins.set_aspect("equal", adjustable="datalim")
    ins.tick_params(labelsize=7)
    ins.grid(True, alpha=0.25)
    ins.set_title("zoom: GF limit and the endpoints below η_c", fontsize=8)
    ax.indicate_inset_zoom(ins, edgecolor="0.4")
    ax.set_aspect("equal")
    ax.set_xlabel("β₁")
    ax.set_ylabel("β₂")
    ax.grid(True, alpha=0.25)
    ax.set_title(f"d = 2, x = ({r.x[0]:g}, {r.x[1]:g}), y = {r.y:g}: the segment ⟨x, β⟩ = y, "
                 f"β ≥ 0\nη_c = 2/s_GF = {r.eta_c:.3g}", fontsize=10)  # fmt: skip


def _triangle_panel(ax, r: PictureResult, norm: Normalize, cmap) -> None:
    panel = _Panel(r)
    ax.fill(CORNERS[:, 0], CORNERS[:, 1], color="0.96", zorder=0)
    ring = CORNERS[[0, 1, 2, 0]]
    ax.plot(ring[:, 0], ring[:, 1], "-", color="0.15", lw=2.0, zorder=1)
    l1_at = r.y / r.x
    for c in np.linspace(l1_at.min(), l1_at.max(), 7)[1:-1]:
        seg = level_segment(l1_at, c)
        if seg is not None:
            ax.plot(seg[:, 0], seg[:, 1], ":", color="0.65", lw=0.9, zorder=1)
    _draw_common(ax, r, panel, norm, cmap)
    names = {0: "min-norm vertex", 2: "min-sharpness vertex"}
    offsets = {0: (-0.02, -0.075), 1: (0.0, 0.04), 2: (0.02, -0.075)}
    for i in range(3):
        text = f"(y/x{'₁₂₃'[i]})e{'₁₂₃'[i]}, x{'₁₂₃'[i]} = {r.x[i]:g}"
        if i in names:
            key = "min_norm" if i == 0 else "min_sharpness"
            text = _vertex_note(r, r.vertices[i], f"{names[i]} {text}")
            colour = MARKS[key][0]
        else:
            colour = "0.2"
        ha = {0: "left", 1: "center", 2: "right"}[i]
        pos = CORNERS[i] + np.array(offsets[i])
        ax.text(*pos, text, ha=ha, va="top" if i != 1 else "bottom", fontsize=8, color=colour)
    ax.annotate("", (0.98, 0.6), (0.74, 0.6),
                arrowprops=dict(arrowstyle="->", color="0.3", lw=1.2))  # fmt: skip
    ax.text(
        0.74,
        0.63,
        "η ↑: the slice S = 2/η\nmoves toward the flat vertex",
        ha="left",
        va="bottom",
        fontsize=8,
        color="0.3",
    )
    ax.set_xlim(-0.08, 1.08)
    ax.set_ylim(-0.2, np.sqrt(3.0) / 2 + 0.1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"d = 3, x = ({', '.join(f'{v:g}' for v in r.x)}), y = {r.y:g}: the triangle "
                 f"⟨x, β⟩ = y, β ≥ 0 (simplex coordinates)\nη_c = 2/s_GF = {r.eta_c:.3g}",
                 fontsize=10)  # fmt: skip


def picture_figure(results: Sequence[PictureResult]) -> Figure:
    """Left d = 2, right d = 3 (``results`` in that order); a shared η / η_c colour bar."""
    by_d = {r.point.d: r for r in results}
    cmap = colormaps[ETA_CMAP]
    norm = _eta_norm(results)
    fig = Figure(figsize=(14, 7.6), layout="constrained")
    axes = fig.subplots(1, 2, width_ratios=(0.8, 1.2))
    _segment_panel(axes[0], by_d[2], norm, cmap)
    _triangle_panel(axes[1], by_d[3], norm, cmap)
    bar = fig.colorbar(ScalarMappable(norm, cmap), ax=axes, shrink=0.8, pad=0.01,
                       label="step size η / η_c (each panel's own η_c)")  # fmt: skip
    bar.ax.axhline(1.0, color="k", ls="--", lw=1.6)
    lost = sum(int((~r.converged).sum()) for r in results)
    r0 = results[0]
    handles = [
        Line2D([], [], color="0.15", lw=2.4, label="interpolating set (zero loss)"),
        Line2D([], [], color=MARKS["min_norm"][0], marker="D", ls="", ms=8,
               label="min-norm interpolator (largest x_i)"),
        Line2D([], [], color=MARKS["min_sharpness"][0], marker="s", ls="", ms=8,
               label="min-sharpness interpolator (smallest x_i)"),
        Line2D([], [], color=MARKS["gf_limit"][0], marker="*", ls="", ms=12,
               label=f"gradient-flow limit from w(0) = {r0.alpha:g}·1"),
        Line2D([], [], color="0.5", marker="o", mec="k", ls="", ms=7,
               label="GD endpoint (colour: η)" + (f"; {lost} run(s) not converged, not drawn"
                                                  if lost else "")),
        Line2D([], [], color=cmap(0.85), lw=2.0, label="slice S = 2/η, η > η_c (colour: η)"),
        Line2D([], [], color="k", ls="--", lw=1.4, label="slice at η_c: S = s_GF"),
        Line2D([], [], color="0.55", ls=":", lw=1.0, label="‖β‖₁ level lines"),
    ]  # fmt: skip
    if any(np.isfinite(r.slice_lo[r.etas < r.eta_c]).all(axis=1).any() for r in results):
        handles.append(Line2D([], [], color=cmap(0.1), lw=1.0, ls=":",
                              label="slice S = 2/η, η < η_c (GD ignores it)"))  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8.5)
    fig.suptitle("Why the norm and sharpness biases conflict (one-point w⊙w DLN): the min-norm "
                 "vertex is the sharpest, the flattest vertex has the largest norm.\nGD can only "
                 "stop where S ≤ 2/η: below η_c it stops at the GF limit (near min-norm); above "
                 "η_c on the slice S = 2/η, which sweeps toward the flat vertex as η grows",
                 fontsize=10.5)  # fmt: skip
    return fig
