"""Figures of the loss landscapes: train and test loss contours side by side, with the main
label-noise SGD run and its decayed branches drawn on both. Matplotlib's object API."""

from __future__ import annotations

import numpy as np
from matplotlib import cm
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from sims.landscape.runs import Branches, PCASurface, TwoCoordinate

_MAIN = "0.25"


def _contours(ax, x, y, z, title: str, cmap: str) -> None:
    z = np.maximum(z, 1e-12)
    lo, hi = np.log10(np.percentile(z, 0.5)), np.log10(z.max())
    levels = np.logspace(max(lo, hi - 8), hi, 25)
    cs = ax.contourf(x, y, z, levels=levels, norm=LogNorm(levels[0], levels[-1]), cmap=cmap,
                     extend="min")  # fmt: skip
    ax.figure.colorbar(cs, ax=ax, label=title, format="%.2g", pad=0.01)
    ax.set_title(title)


def _paths(ax, br: Branches, xy: np.ndarray, ends: tuple[str, ...] = ()) -> None:
    """Draw the main run (row 0) and each branch after its decay step; xy (R, T, 2); ``ends``
    (one per branch, if given) is added to each branch's legend entry."""
    ax.plot(xy[0, :, 0], xy[0, :, 1], color=_MAIN, lw=0.6, alpha=0.8,
            label="main run: η with label noise")  # fmt: skip
    ax.plot(*xy[0, 0], "o", color="w", mec="k", ms=6, label="start")
    colours = cm.autumn(np.linspace(0, 0.8, len(br.decay_steps)))
    ends = ends or ("",) * len(br.decay_steps)
    for j, (k, col, end) in enumerate(zip(br.decay_steps, colours, ends), start=1):
        after = br.steps >= k
        ax.plot(xy[j, after, 0], xy[j, after, 1], color=col, lw=1.4)
        ax.plot(*xy[j, after][0], "s", color=col, mec="k", ms=5)
        ax.plot(*xy[j, -1], "*", color=col, mec="k", ms=12,
                label=f"decay at K = {k:,} (square) → end (star){end}")  # fmt: skip


def exact_figure(pic: TwoCoordinate) -> Figure:
    """The (u_1, v_2) plane: train loss | test loss, the minima arc, the min-norm point, paths."""
    fig = Figure(figsize=(13, 5.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    xy = pic.branches.theta[..., [0, 3]]
    vv = np.linspace(pic.v.min(), pic.v.max(), 400)
    for ax, z, title, cmap in ((axes[0], pic.train, "train loss ½(u₁² − v₂² − 1)²", "Greens_r"),
                               (axes[1], pic.test, "test loss ½‖β − β*‖²", "Reds_r")):  # fmt: skip
        _contours(ax, pic.u, pic.v, z, title, cmap)
        ax.plot(np.sqrt(1 + vv**2), vv, color="k", ls="--", lw=1,
                label="minima manifold u₁² − v₂² = 1")  # fmt: skip
        _paths(ax, pic.branches, xy)
        # hollow and on top: the late branch's end (a star) lies on it
        ax.plot(1, 0, "P", mfc="none", mec="#1565c0", mew=2, ms=17, zorder=5,
                label="min-norm point = β*")  # fmt: skip
        ax.set_xlim(pic.u.min(), pic.u.max())
        ax.set_ylim(pic.v.min(), pic.v.max())
        ax.set_xlabel("u₁")
        ax.set_aspect("equal")
    axes[0].set_ylabel("v₂")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Exact landscape of β = u⊙u − v⊙v with two live coordinates (x = (1, 1), y = 1)"
                 f"\nlabel-noise SGD (η = {pic.eta:g}, σ = {pic.sigma:g}) drifts along the minima "
                 f"arc toward the min-norm point; decaying to 0.1·η (noise off) settles where it "
                 f"is", fontsize=9)  # fmt: skip
    return fig


def _pca_panels(surf: PCASurface, br: Branches, test_title: str,
                ends: tuple[str, ...] = ()) -> tuple[Figure, np.ndarray]:  # fmt: skip
    """Train | test loss on the curved PCA surface, the projected paths drawn on both
    (``ends``: as ``_paths``')."""
    fig = Figure(figsize=(13, 5.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, z, title, cmap in ((axes[0], surf.train, "train loss", "Greens_r"),
                               (axes[1], surf.test, test_title, "Reds_r")):  # fmt: skip
        _contours(ax, surf.a, surf.b, z, title, cmap)
        _paths(ax, br, surf.paths, ends)
        ax.set_xlim(surf.a.min(), surf.a.max())
        ax.set_ylim(surf.b.min(), surf.b.max())
        ax.set_xlabel(f"a (pc1, {100 * surf.explained[0]:.0f}% of variance)")
    axes[0].set_ylabel(f"b (pc2, {100 * surf.explained[1]:.0f}%)")
    return fig, axes


def _surface_formula(surf: PCASurface) -> str:
    c = surf.c
    return (f"θ̄ + a·pc1 + b·pc2 + ({c[0]:.3g}a² {c[1]:+.3g}a {c[2]:+.3g})·pc3 "
            f"(pc3: {100 * surf.explained[2]:.0f}%)")  # fmt: skip


def pca_figure(surf: PCASurface, br: Branches, theta_mn: np.ndarray, opts: dict) -> Figure:
    """Train | test loss on the curved PCA surface with the projected paths and min-norm point."""
    fig, axes = _pca_panels(surf, br, "test loss ½‖β − β*‖²")
    mn = (theta_mn - surf.mean) @ surf.pcs[:2].T
    for ax in axes:
        ax.plot(*mn, "P", color="#1565c0", mec="w", ms=12, label="min-norm point (projected)")
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"PCA landscape (paper 2's method) of label-noise SGD on β = u⊙u − v⊙v "
                 f"(n = 30, d = 100, s = 3; η = {opts['eta']:g}, σ = {opts['sigma']:g}): surface "
                 f"\n{_surface_formula(surf)}", fontsize=9)  # fmt: skip
    return fig


def mlp_figure(surf: PCASurface, br: Branches, final_test: np.ndarray, opts: dict) -> Figure:
    """Train | test loss on the curved PCA surface of a network's runs, each run's final test
    loss in the legend (row 0 the main run, then the branches)."""
    ends = tuple(f": test {v:.4f}" for v in final_test[1:])
    fig, axes = _pca_panels(surf, br, "test loss (held-out digits)", ends)
    axes[1].legend(fontsize=7, loc="best")
    fig.suptitle(f"PCA landscape (paper 2's method) of label-noise SGD on an MLP 64–32–10 (tanh, "
                 f"MSE on one-hot labels; 200 digits, batch {opts['batch_size']}, "
                 f"η = {opts['eta']:g}, σ = {opts['sigma']:g}; main run without decay: "
                 f"test {final_test[0]:.4f}): surface\n{_surface_formula(surf)}",
                 fontsize=9)  # fmt: skip
    return fig
