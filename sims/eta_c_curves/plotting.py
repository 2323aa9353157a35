"""The eta_c curves figure: eta_c = 2/s_GF against alpha (left) and eps (right), gradient flow
for every model, theory's exact prediction and its limits for w⊙w. Matplotlib's object API."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

#: Okabe–Ito colours (colour-blind safe) per model, and the theory lines.
MODEL_STYLE = {"ww": ("#0072B2", "o", "w⊙w", 7), "uv": ("#E69F00", "s", "u⊙v", 4.5),
               "pm": ("#009E73", "^", "u⊙u − v⊙v", 3.5)}  # fmt: skip
_THEORY = "k"
_LIMIT_EPS = "#CC79A7"
_LIMIT_MIN_NORM = "#D55E00"


def curves_figure(results, theories, config) -> Figure:
    """Two panels: eta_c(alpha) at eps = config.eps, eta_c(eps) at alpha = config.alpha;
    ``theories[i]`` is ``runs.theory_curve(results[i])`` (None: theory has no prediction)."""
    fig = Figure(figsize=(13, 5.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, axis in zip(axes, ("alpha", "eps")):
        without = []
        for res, th in zip(results, theories):
            if res.point.axis != axis:
                continue
            colour, marker, name, size = MODEL_STYLE[res.point.model]
            ok = np.isfinite(res.eta_c)
            if th is None:
                without.append(name)
            ax.plot(res.values[ok], res.eta_c[ok], marker=marker, ls="-", lw=0.8, ms=size,
                    color=colour, mfc="white" if th is not None else colour, zorder=3,
                    label=f"{name}: gradient flow (η_c = 2/s_GF)"
                    + ("" if th is not None else " — no theory prediction"))  # fmt: skip
            if th is None:
                continue
            ax.plot(th.grid, th.exact, "-", color=_THEORY, lw=1.3, zorder=2,
                    label=f"{name}: theory, exact GF path (one_point_gf_path)")  # fmt: skip
            lim = np.isfinite(th.eps_to_zero)
            if lim.any():
                ax.plot(res.values[lim], th.eps_to_zero[lim], ":", color=_LIMIT_EPS, lw=2.6,
                        zorder=4, label=f"{name}: theory, ε → 0 limit 2/S(β_GF)")  # fmt: skip
            ax.axhline(th.min_norm, color=_LIMIT_MIN_NORM, ls="-.", lw=1.3, zorder=1,
                       label=f"{name}: theory, α, ε → 0 limit 1/(2 y x_max) (min-norm "
                       "interpolator's 2/S)")  # fmt: skip
        default = config.alpha if axis == "alpha" else config.eps
        ax.axvline(default, color="0.55", ls="--", lw=1, zorder=0,
                   label="the phase diagram's α = 0.01 / ε = 1e-12 (fixed in the other panel)"
                   if (config.alpha, config.eps) == (0.01, 1e-12)
                   else "the value fixed in the other panel")  # fmt: skip
        if without:
            ax.text(0.02, 0.97, f"theory/ has no η_c prediction for {', '.join(without)}: "
                    "gradient flow only", transform=ax.transAxes, fontsize=8, color="0.25",
                    va="top",
                    bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.75"))  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_ylabel("critical step size η_c = 2/s_GF")
        if axis == "alpha":
            ax.set_xlabel("initialisation scale α (w(0) = α·1)")
            ax.set_title(f"η_c against α (ε = {config.eps:g})")
        else:
            ax.set_xlabel("stopping loss ε (GF and GD stop at L < ε)")
            ax.set_title(f"η_c against ε (α = {config.alpha:g})")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8)
    first = results[0]
    fig.suptitle(f"Critical step size of the one-point DLN (d = {config.d}, x = "
                 f"({', '.join(f'{v:.3g}' for v in first.x)}), y = {first.y:.3g}): gradient "
                 "flow and theory")  # fmt: skip
    return fig
