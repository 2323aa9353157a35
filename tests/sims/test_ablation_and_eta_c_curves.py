"""Paper 1's ablations on networks (``python -m sims.phase_diagram --model mlp --ablate``) and
the DLN's eta_c curves (``python -m sims.eta_c_curves``): what the figures draw, checked on
their numbers."""

from __future__ import annotations

import csv
from dataclasses import fields

import numpy as np
import pytest

from diaglin import IterateStats
from diaglin.status import Status
from sims.core.sweep import run_sweep
from sims.phase_diagram import cli as phase_cli
from sims.phase_diagram.ablation import AblationConfig, ablation_row, varied_axis
from sims.phase_diagram.net_config import AXES, NetPoint
from sims.phase_diagram.results import FlowSummary, HeldOut, NetPointResult

# --- a tiny ablation: a tanh MLP on 20 teacher samples, widths 6 (base) and 10 -------------
TINY = AblationConfig(dataset="teacher", widths=(6, 10), n_samples=(20,), n_test=40, n_etas=6,
                      eta_min=0.5, eta_max=3.0, max_steps=3000,
                      gf_sharpness_points=10)  # fmt: skip
TINY_ARGV = ["--model", "mlp", "--ablate", "--dataset", "teacher", "--width", "6", "10",
             "--depth", "1", "--activation", "tanh", "--param", "ntk", "--n", "20",
             "--n-test", "40", "--n-etas", "6", "--eta-min", "0.5", "--eta-max", "3",
             "--max-steps", "3000", "--gf-sharpness-points", "10", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    """(cache folder, sweep result) of TINY, computed once."""
    folder = tmp_path_factory.mktemp("ablation_cache")
    return folder, run_sweep(TINY, cache_dir=folder, progress=False)


def test_the_ablation_varies_one_axis_at_a_time_from_the_first_values():
    cfg = AblationConfig(widths=(32, 16, 64), depths=(1, 2, 3), activations=("tanh", "gelu"),
                         params=("ntk", "mup"), n_samples=(100, 50, 200))  # fmt: skip
    pts = cfg.points()
    base = pts[0]
    assert (base.width, base.depth, base.activation, base.param) == (32, 1, "tanh", "ntk")
    assert base.n == 100
    assert len(pts) == 1 + 2 + 2 + 1 + 1 + 2 and [p.index for p in pts] == list(range(9))
    names = [n for _, n in AXES]
    for p in pts[1:]:
        assert sum(getattr(p, n) != getattr(base, n) for n in names) == 1
        assert getattr(p, varied_axis(cfg, p)) != getattr(base, varied_axis(cfg, p))
    panels = dict(cfg.panels())
    assert list(panels) == ["width", "depth", "activation", "param", "n"]
    assert [p.width for p in panels["width"]] == [16, 32, 64]  # numeric axes sorted
    assert [p.activation for p in panels["activation"]] == ["tanh", "gelu"]
    assert all(base in row for row in panels.values())


def _result(etas, status, loss, eta_c, sharpness=None) -> NetPointResult:
    B = len(etas)
    stats = IterateStats(**{f.name: np.zeros((B, 3)) if f.name in ("theta", "beta")
                            else np.zeros(B) for f in fields(IterateStats)})  # fmt: skip
    if sharpness is not None:
        stats = IterateStats(**{**vars(stats), "sharpness": np.asarray(sharpness, float)})
    nan = np.full(B, np.nan)
    return NetPointResult(point=NetPoint(0, 1.0, 0.01, 8, 1, "tanh", "mse", "ntk", 10),
                          etas=np.asarray(etas, float), status=np.asarray(status, np.int8),
                          steps=np.ones(B, np.int64), final=stats,
                          flow=FlowSummary(2.0 / eta_c, eta_c, np.zeros(3), True),
                          test=HeldOut(np.asarray(loss, float), nan, nan))  # fmt: skip


def test_the_eos_range_runs_from_eta_c_to_the_largest_eta_that_did_not_diverge():
    C, D, M = Status.CONVERGED, Status.DIVERGED, Status.MAX_STEPS
    etas = [0.5, 0.8, 1.2, 1.5, 1.8, 2.2, 2.6]
    # non-monotone divergence: 1.8 diverges, 2.2 still ends (at max_steps), 2.6 diverges
    p = _result(etas, [C, C, C, C, D, M, D], [0.5, 0.5, 0.4, 0.45, 9, 9, 9], eta_c=1.0,
                sharpness=[1.0, 1.0, 1.6, 1.3, 0, 0, 0])  # fmt: skip
    row = ablation_row(p)
    assert row.eos_lo == row.eta_c == 1.0 and row.eos_hi == 2.2 and not row.capped
    assert row.first_diverged == 1.8
    assert row.eta_best == 1.2 and row.loss_best == 0.4 and row.loss_flow == 0.5
    assert (row.edge_lo, row.edge_hi) == (1.2, 1.5)  # S·η/2 = 0.96 and 0.975
    everything_survives = ablation_row(_result(etas, [C] * 7, np.arange(7.0), eta_c=1.0))
    assert everything_survives.capped and everything_survives.eos_hi == 2.6
    nothing_above = ablation_row(_result(etas, [C, C, D, D, D, D, D], np.ones(7), eta_c=1.0))
    assert np.isnan(nothing_above.eos_lo) and np.isnan(nothing_above.eos_hi)


def test_the_ablation_rows_of_a_real_sweep(tiny_cache):
    _, sweep = tiny_cache
    assert len(sweep.points) == 2
    for p in sweep.points:
        row = ablation_row(p)
        assert row.eta_c == p.eta_c > 0
        assert row.eos_lo == p.eta_c  # the range's lower end is the point's own eta_c
        alive = p.etas[p.status != Status.DIVERGED]
        assert row.eos_hi == alive.max() > p.eta_c
        conv = p.status == Status.CONVERGED
        assert p.etas.min() <= row.eta_best <= p.etas.max() and row.eta_best in p.etas[conv]
        assert row.loss_best == p.test.loss[conv].min()


def test_the_ablation_cli_redraws_from_the_cache(tiny_cache, tmp_path, capsys, monkeypatch):
    folder, sweep = tiny_cache

    def no_compute(*_a, **_k):
        raise AssertionError("a cached point was recomputed")

    monkeypatch.setattr(AblationConfig, "compute", no_compute)
    out = tmp_path / "out"
    assert phase_cli.main([*TINY_ARGV, "--out", str(out), "--cache-dir", str(folder)]) == 0
    assert (out / "network_ablation.png").stat().st_size > 0
    assert (out / "network_ablation.pdf").stat().st_size > 0
    with open(out / "network_ablation.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["varied"] for r in rows] == ["base", "width"]
    for r, p in zip(rows, sweep.points):
        assert float(r["eta_c"]) == p.eta_c and float(r["eos_lo"]) == p.eta_c
    printed = capsys.readouterr().out
    assert "base (tanh width=6" in printed and "width=10 (" in printed


@pytest.mark.parametrize("extra", [["--model", "ww", "--ablate"],
                                   ["--model", "mlp", "--ablate", "--map", "alpha"],
                                   ["--model", "mlp", "--ablate", "--averaged", "4"],
                                   ["--model", "mlp", "--ablate", "--gf-sharpness-points", "2"],
                                   ["--model", "ww", "--gf-sharpness-points", "10"]])  # fmt: skip
def test_bad_ablation_options_exit_with_status_2(extra, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        phase_cli.main([*extra, "--out", str(tmp_path), "--no-cache"])
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


# ============================================================================================
# eta_c curves
# ============================================================================================
def test_eta_c_curves_equal_theory_and_come_from_the_cache_again(tmp_path, monkeypatch):
    import theory
    from diaglin import data
    from sims.eta_c_curves import CurveConfig
    from sims.eta_c_curves import cli as curves_cli

    argv = ["--n-values", "5", "--out", str(tmp_path / "out"), "--cache-dir",
            str(tmp_path / "cache"), "--quiet"]  # fmt: skip
    assert curves_cli.main(argv) == 0
    assert (tmp_path / "out" / "eta_c_curves.png").stat().st_size > 0
    with open(tmp_path / "out" / "eta_c_curves.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["model"], r["axis"]) for r in rows} == {(m, a) for m in ("ww", "uv", "pm")
                                                       for a in ("alpha", "eps")}  # fmt: skip
    ds = data.one_point(5, seed=0)
    ww = [r for r in rows if r["model"] == "ww"]
    assert len(ww) == 10
    for r in ww:  # the figure's data against theory's exact eta_c, recomputed here
        exact = theory.one_point_gf_path(ds.X[0], ds.y[0], float(r["alpha"]),
                                         eps=float(r["eps"])).eta_c  # fmt: skip
        assert abs(float(r["eta_c"]) / exact - 1) < 1e-8
    assert all(r["eta_c_theory"] == "" and float(r["eta_c"]) > 0 for r in rows
               if r["model"] != "ww")  # fmt: skip

    def no_compute(*_a, **_k):
        raise AssertionError("a cached curve was recomputed")

    monkeypatch.setattr(CurveConfig, "compute", no_compute)
    again = run_sweep(CurveConfig(n_values=5), cache_dir=tmp_path / "cache", progress=False)
    assert [float(r["eta_c"]) for r in rows] == [v for c in again.points for v in c.eta_c]


@pytest.mark.parametrize("extra", [["--n-values", "1"], ["--alpha-range", "0.3", "0.001"],
                                   ["--models", "prod"], ["--eps", "0"]])  # fmt: skip
def test_bad_curve_options_exit_with_status_2(extra, tmp_path):
    from sims.eta_c_curves import cli as curves_cli

    with pytest.raises(SystemExit) as exc:
        curves_cli.main([*extra, "--out", str(tmp_path), "--no-cache"])
    assert exc.value.code == 2
