"""Figures that do not mislead: legends list only what is visible, regimes are classified with
eta_c, single-run regime changes do not draw slivers, tick labels never collide, any positive
eta grid can be drawn."""

from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from diaglin import Status
from sims.core.sweep import run_sweep
from sims.phase_diagram import plotting
from sims.phase_diagram.compare import predictions_for
from sims.phase_diagram.config import SweepConfig
from sims.phase_diagram.regimes import Regime, classify


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _point(cache, **kw):
    return run_sweep(SweepConfig(**kw), cache_dir=cache, progress=False).first()


def _draw(fig):
    FigureCanvasAgg(fig).draw()
    return fig


def _legend_labels(ax):
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def test_classify_separates_flow_edge_and_below_edge_beyond_eta_c():
    status = np.array([0, 0, 0, 0, 2, 1])
    etas = np.array([0.5, 0.9, 1.5, 1.5, 1.0, 3.0])
    sharp = 2 / etas * np.array([0.4, 0.97, 0.99, 0.5, 3.0, 1.0])
    got = classify(status, sharp, etas, eta_c=1.0)
    assert got.tolist() == [Regime.FLOW, Regime.EOS, Regime.EOS, Regime.BELOW_EDGE,
                            Regime.NOT_CONVERGED, Regime.DIVERGED]  # fmt: skip
    # without a GF critical step no run counts as beyond it
    assert classify(status, sharp, etas, eta_c=np.nan)[3] == Regime.FLOW


def test_single_run_regime_changes_do_not_shade_slivers():
    r = np.array([0, 0, 0, 1, 0, 0, 1, 1, 1, 3, 1, 4, 4])
    assert plotting.smoothed_regimes(r).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 4, 4]
    assert plotting.smoothed_regimes(np.array([2, 0, 0])).tolist() == [0, 0, 0]


def test_legends_list_only_what_is_visible(cache):
    p = _point(cache, n_etas=40)
    fig = _draw(plotting.phase_diagram_figure(p, predictions_for(p, "ww"), "ww"))
    sharp_ax, _l1_ax, err_ax = fig.axes[:3]
    labels = _legend_labels(err_ax)
    # the min-sharpness vertex has an error far above the panel's range: named off-scale
    assert "min-sharpness interpolator" not in labels
    note = err_ax.get_legend().get_title().get_text()  # the note heads the legend
    assert note.startswith("off-scale") and "min-sharpness interpolator (above)" in note
    assert "best interpolator (min error)" in labels  # error 0 is drawn, just above the frame
    assert err_ax.get_ylim()[0] < 0
    for ax in fig.axes[:3]:
        for label in _legend_labels(ax):
            artist = next(a for a in [*ax.get_lines(), *ax.collections] if a.get_label() == label)
            assert plotting._visible(ax, artist)[0], label
    assert "2/η (stability edge)" in _legend_labels(sharp_ax)


def test_max_steps_runs_are_labelled_as_not_converged(cache):
    p = _point(cache, n_etas=40)
    stuck = np.zeros_like(p.status)
    stuck[-12] = Status.MAX_STEPS
    q = replace(p, status=np.where(stuck == Status.MAX_STEPS, stuck, p.status))
    fig = _draw(plotting.phase_diagram_figure(q, predictions_for(q, "ww"), "ww"))
    assert any("not converged" in t for t in _legend_labels(fig.axes[0]))


def _overlaps(ax):
    boxes = [t.get_window_extent() for t in ax.get_xticklabels(which="both")
             if t.get_text() and t.get_visible()]  # fmt: skip
    inside = ax.get_window_extent()
    boxes = [b for b in boxes if inside.x0 - 1 <= (b.x0 + b.x1) / 2 <= inside.x1 + 1]
    return len(boxes), [(a, b) for a, b in combinations(boxes, 2) if a.overlaps(b)]


@pytest.mark.parametrize("lo, hi", [(0.95, 1.05), (0.9, 1.3), (0.5, 2.0), (0.05, 3.0)])
def test_eta_tick_labels_never_collide(cache, lo, hi):
    p = _point(cache, eta_min=lo, eta_max=hi, n_etas=12)
    fig = _draw(plotting.phase_diagram_figure(p, predictions_for(p, "ww"), "ww"))
    for ax in fig.axes[:3]:
        n, clashes = _overlaps(ax)
        assert n >= 2 and not clashes, (lo, hi, n)


def test_any_positive_eta_grid_can_be_drawn(cache):
    p = _point(cache, eta_min=1e-300, n_etas=6, max_steps=2000)
    fig = _draw(plotting.phase_diagram_figure(p, predictions_for(p, "ww"), "ww"))
    lo, hi = fig.axes[0].get_xlim()
    assert 0 < lo < p.etas.min() and np.isfinite(hi)


def test_phase_map_legend_names_every_colour_shown(cache):
    pts = run_sweep(SweepConfig(alphas=(0.01, 0.05), n_etas=30), cache_dir=cache,
                    progress=False).points  # fmt: skip
    # make one converged run beyond eta_c land below the edge
    q = pts[0]
    i = int(np.flatnonzero((q.status == 0) & (q.etas > 1.2 * q.eta_c))[0])
    s = q.final.sharpness.copy()
    s[i] *= 0.5
    pts = (replace(q, final=replace(q.final, sharpness=s)), pts[1])
    fig = _draw(plotting.phase_map_figure(pts, "alpha", "ww", [None, None]))
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert Regime.BELOW_EDGE.title in texts and Regime.FLOW.title in texts
    assert any("not converged" in t for t in texts)
