"""The flows figure: per instance (a row), against η/eta_c, the endpoints of GD (final and
averaged iterates) and of each flow — ‖β‖₁, S·η/2 and the flows' distance to GD — and, at one
step size at the edge of stability, the time courses of the loss and of S·η/2."""

from __future__ import annotations

import numpy as np

from diaglin.status import Status
from sims.flows.runs import FLOWS, FlowsResult, endpoint_error, regime

#: colour-blind-safe (Okabe–Ito), one per series, none near the edge's orange; theory's slice
#: in grey
STYLE = {
    "gd": dict(color="#000000", marker="o", ls="none", ms=5, label="GD, final iterate"),
    "gd_averaged": dict(
        color="#000000", marker="x", ls="none", ms=6, label="GD, mean of the last K iterates"
    ),  # fmt: skip
    "central": dict(
        color="#0072B2",
        marker="s",
        ls="-",
        ms=4,
        mfc="none",
        label="central flow (Cohen, Damian et al.)",
    ),  # fmt: skip
    "rod": dict(
        color="#009E73", marker="^", ls="-", ms=4, mfc="none", label="rod flow (Regis & Chewi)"
    ),  # fmt: skip
}
SLICE = dict(color="#7f7f7f", ls=":", lw=2, label="EoS slice, GF-entropy point (theory)")
#: S = 2/η, as in every figure, under the series (a flow on the edge stays visible)
EDGE = dict(color="#f57c00", lw=2, zorder=1.5)
ETA_C = dict(color="k", ls="--", lw=1.3)  # η_c = 2/s_GF, as in every figure


def path_eta(result: FlowsResult) -> int:
    """The step size whose time courses are drawn: among the runs where GD converged at the
    edge of stability, the one nearest 1.5 eta_c (else the largest converged one)."""
    eos = np.flatnonzero(regime(result) == "eos")
    if eos.size:
        return int(eos[np.argmin(np.abs(result.etas[eos] / result.eta_c - 1.5))])
    ok = np.flatnonzero(result.ends["gd"].status == Status.CONVERGED)
    return int(ok[-1]) if ok.size else 0


def _endpoints(ax, r: FlowsResult, values) -> None:
    """Every series' endpoints that did not diverge (GD's mean of its last K only where GD
    still oscillated at the end: where it converged that mean may reach back to its start)."""
    x = r.etas / r.eta_c
    gd_conv = r.ends["gd"].status == Status.CONVERGED
    for s, style in STYLE.items():
        e = r.ends[s]
        ok = e.status != Status.DIVERGED
        if s == "gd_averaged":
            ok &= ~gd_conv
        ax.plot(x[ok], values(e)[ok], **style)
    ax.axvline(1.0, **ETA_C, label="η_c = 2/s_GF (gradient flow)")


def flows_figure(results: list[FlowsResult]):
    """The figure (rows: instances; columns: ‖β‖₁, S·η/2, distance to GD, loss and S·η/2
    over time at one EoS step size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(results)
    fig, axes = plt.subplots(rows, 5, figsize=(25, 4.6 * rows), squeeze=False)
    for r, ax in zip(results, axes):
        x = r.etas / r.eta_c
        _endpoints(ax[0], r, lambda e: e.l1_beta)
        if r.has_slice:
            ax[0].plot(x, np.abs(r.slice_entropy).sum(axis=1), **SLICE)
        ax[0].set(ylabel=f"{r.point.label}\n‖β‖₁ at the end", title="ℓ1 norm of the endpoint")
        _endpoints(ax[1], r, lambda e, etas=r.etas: e.sharpness * etas / 2.0)
        ax[1].axhline(1.0, **EDGE, label="S = 2/η (stability edge)")
        ax[1].set(ylabel="S·η/2 at the end", title="sharpness of the endpoint (1 = the edge)")
        ax[1].set_ylim(0, 1.5)
        gd_bad = r.ends["gd"].status == Status.DIVERGED
        if gd_bad.any():
            for a in ax[:3]:
                a.axvspan(x[gd_bad].min(), x.max() * 1.02, color="#e8504c", alpha=0.12, lw=0,
                          label="GD diverged")  # fmt: skip
        for flow in FLOWS:
            style = {k: v for k, v in STYLE[flow].items() if k != "label"}
            ax[2].plot(x, endpoint_error(r, flow), **style, label=f"{flow} vs GD")
        ax[2].axvline(1.0, **ETA_C)
        ax[2].set_yscale("log")
        ax[2].set_ylim(bottom=1e-6)
        ax[2].set(
            ylabel="‖β_flow − β_GD‖ / ‖β_GD‖", title="distance of each flow's endpoint to GD's"
        )
        b = path_eta(r)
        t = r.path_times
        for s in ("gd", *FLOWS):
            p = r.paths[s]
            style = dict(color=STYLE[s]["color"], lw=0.8 if s == "gd" else 1.8,
                         alpha=0.6 if s == "gd" else 1.0)  # fmt: skip
            name = "GD (every 5th step: both sides of the oscillation)" if s == "gd" else s
            ax[3].plot(t, p.loss[b], **style, label=name)
            ax[4].plot(t, p.sharpness[b] * r.etas[b] / 2.0, **style, label=name)
        ax[3].set_yscale("log")
        ax[3].set(xlabel="step (GD) / time (flows)", ylabel="training loss",
                  title=f"loss over time at η = {x[b]:.2f} η_c\n"
                  "(a flow: the GD loss it models)")  # fmt: skip
        ax[4].axhline(1.0, **EDGE)
        ax[4].set(xlabel="step (GD) / time (flows)", ylabel="S·η/2",
                  title=f"sharpness over time at η = {x[b]:.2f} η_c")  # fmt: skip
        ax[4].set_ylim(0, 1.5)
        for a in ax[:3]:
            a.set_xlabel("η / η_c")
        for a in ax:
            a.grid(alpha=0.3)
        stop = np.nanmax([r.ends[s].steps[b] for s in ("gd", *FLOWS)])
        for a in ax[3:]:
            a.set_xlim(0, min(t[-1], 1.1 * stop) if np.isfinite(stop) and stop > 0 else t[-1])
    for a in axes[0]:
        a.legend(fontsize=8, loc="best")
    fig.suptitle("Continuous-time models of GD at the edge of stability against GD itself: "
                 "endpoints over the phase diagram's η range, and time courses at one EoS η",
                 fontsize=14)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig
