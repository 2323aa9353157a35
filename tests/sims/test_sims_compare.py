"""The comparison layer: passes on the default setting, FAILS when a theory prediction is off."""

from dataclasses import replace

import numpy as np
import pytest

import sims.predictions
from sims import compare
from sims.config import SweepConfig
from sims.sweep import run_sweep

#: the default experiment on a coarser grid (same alpha, eps, data).
CFG = SweepConfig(n_etas=40)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return run_sweep(CFG, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def test_default_setting_passes_every_check(sweep):
    table = compare.compare(sweep)
    assert table.passed, str(table)
    names = [r.quantity for r in table.rows]
    assert "eta_c = 2/s_GF" in names
    assert any(n.startswith("GF limit: GD at eta=") for n in names)
    assert any(n.startswith("EoS:") for n in names) and any(n.startswith("slice:") for n in names)
    assert any(n.startswith("gen. error:") for n in names)
    assert table.row("eta_c = 2/s_GF").rel_err < 1e-8


def _scaled_gf_limit(factor):
    real = sims.predictions.gf_limit

    def fake(X, y, model, alpha):
        sol = real(X, y, model, alpha)
        return replace(sol, beta=sol.beta * factor)

    return fake


def test_perturbed_gf_limit_fails(sweep, monkeypatch):
    monkeypatch.setattr(sims.predictions, "gf_limit", _scaled_gf_limit(1.03))
    table = compare.compare(sweep)
    assert not table.passed
    failed = {r.quantity for r in table.failures}
    assert "GF limit: diaglin gradient_flow" in failed
    assert any(q.startswith("GF limit: GD at eta=") for q in failed)


def test_perturbed_eta_c_fails(sweep, monkeypatch):
    real = sims.predictions.one_point_gf_path

    def fake(*args, **kw):
        path = real(*args, **kw)
        return replace(path, eta_c=path.eta_c * 0.97)

    monkeypatch.setattr(sims.predictions, "one_point_gf_path", fake)
    table = compare.compare(sweep)
    assert [r.quantity for r in table.failures] == ["eta_c = 2/s_GF"]


def test_slice_check_fails_when_candidate_is_wrong(sweep, monkeypatch):
    real = sims.predictions.slice_candidates

    def fake(x, y, etas, alpha):
        c = real(x, y, etas, alpha)
        return replace(c, entropy=c.max_l1)  # a wrong "prediction" of GD's endpoint

    monkeypatch.setattr(sims.predictions, "slice_candidates", fake)
    table = compare.compare(sweep)
    assert "slice: median rel. dist. to entropy candidate" in {r.quantity for r in table.failures}


def test_sharpness_above_edge_fails(sweep):
    p = sweep.first()
    bad = replace(p, final=replace(p.final, sharpness=p.final.sharpness * 1.05))
    table = compare.compare(replace(sweep, points=(bad,)))
    assert "EoS: max S*eta/2 (S <= 2/eta)" in {r.quantity for r in table.failures}


def test_table_formats(sweep, tmp_path):
    table = compare.compare(sweep)
    md, csv_text = table.to_markdown(), table.to_csv()
    assert md.startswith("| point | quantity |") and md.count("\n") == len(table.rows) + 2
    assert csv_text.splitlines()[0].startswith("point,quantity,simulated,predicted")
    assert "all checks passed" in str(table)
    paths = compare.save_table(table, tmp_path)
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_cli_exit_status(tmp_path, monkeypatch, capsys):
    argv = ["--n-etas", "40", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path),
            "--quiet"]  # fmt: skip
    assert compare.main(argv) == 0
    assert "all checks passed" in capsys.readouterr().out
    monkeypatch.setattr(sims.predictions, "gf_limit", _scaled_gf_limit(0.97))
    assert compare.main(argv) != 0
    assert "FAIL" in capsys.readouterr().out
    assert (tmp_path / "compare.csv").exists() and (tmp_path / "compare.md").exists()


def test_predictions_cover_only_what_theory_covers():
    x = np.array([[1.2, 0.8, 0.6]])
    pr = sims.predictions.predict("prod", x, np.array([1.0]), np.ones(3), 0.1, 1e-12, [0.1])
    assert pr.gf is None and pr.eta_c is None and pr.slice is None
    pr = sims.predictions.predict("ww", x, np.array([1.0]), np.ones(3) / 2.6, 0.1, 1e-12, [0.1])
    assert pr.eta_c > 0 and pr.min_norm.l1 < pr.min_sharpness.l1
