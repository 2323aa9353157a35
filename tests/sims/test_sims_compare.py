"""The comparison layer: passes on the default setting, FAILS when a theory prediction is off."""

from dataclasses import replace

import numpy as np
import pytest

from sims.core.sweep import run_sweep
from sims.core.table import save_table
from sims.phase_diagram import compare, predictions
from sims.phase_diagram.config import SweepConfig

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
    real = predictions.gf_limit

    def fake(X, y, model, alpha):
        sol = real(X, y, model, alpha)
        return replace(sol, beta=sol.beta * factor)

    return fake


def test_perturbed_gf_limit_fails(sweep, monkeypatch):
    monkeypatch.setattr(predictions, "gf_limit", _scaled_gf_limit(1.03))
    table = compare.compare(sweep)
    assert not table.passed
    failed = {r.quantity for r in table.failures}
    assert "GF limit: diaglin gradient_flow" in failed
    assert any(q.startswith("GF limit: GD at eta=") for q in failed)


def test_perturbed_eta_c_fails(sweep, monkeypatch):
    real = predictions.one_point_gf_path

    def fake(*args, **kw):
        path = real(*args, **kw)
        return replace(path, eta_c=path.eta_c * 0.97)

    monkeypatch.setattr(predictions, "one_point_gf_path", fake)
    table = compare.compare(sweep)
    assert [r.quantity for r in table.failures] == ["eta_c = 2/s_GF"]


def test_slice_check_fails_when_candidate_is_wrong(sweep, monkeypatch):
    real = predictions.slice_candidates

    def fake(x, y, etas, alpha):
        c = real(x, y, etas, alpha)
        return replace(c, entropy=c.max_l1)  # a wrong "prediction" of GD's endpoint

    monkeypatch.setattr(predictions, "slice_candidates", fake)
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
    paths = save_table(table, tmp_path)
    assert all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_cli_exit_status(tmp_path, monkeypatch, capsys):
    argv = ["--n-etas", "40", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path),
            "--quiet"]  # fmt: skip
    assert compare.main(argv) == 0
    assert "all checks passed" in capsys.readouterr().out
    monkeypatch.setattr(predictions, "gf_limit", _scaled_gf_limit(0.97))
    assert compare.main(argv) != 0
    assert "FAIL" in capsys.readouterr().out
    assert (tmp_path / "compare.csv").exists() and (tmp_path / "compare.md").exists()


def test_predictions_cover_only_what_theory_covers():
    x = np.array([[1.2, 0.8, 0.6]])
    pr = predictions.predict("prod", x, np.array([1.0]), np.ones(3), 0.1, 1e-12, [0.1])
    assert pr.gf is None and pr.eta_c is None and pr.slice is None
    pr = predictions.predict("ww", x, np.array([1.0]), np.ones(3) / 2.6, 0.1, 1e-12, [0.1])
    assert pr.eta_c > 0 and pr.min_norm.l1 < pr.min_sharpness.l1


# --- every check can fail: one perturbation per row must flip it to FAIL -----------------


def _with_beta(p, idx, beta):
    b = p.final.beta.copy()
    b[idx] = beta
    return replace(p, final=replace(p.final, beta=b))


def _eos(p):
    return np.flatnonzero((p.status == 0) & (p.etas > p.eta_c))


def _scale_sharpness(p, idx, factor):
    s = p.final.sharpness.copy()
    s[idx] *= factor
    return replace(p, final=replace(p.final, sharpness=s))


def _fake_best(monkeypatch, error):
    real = predictions.best_interpolator

    def far(x, y, beta_star, p=2):
        b = real(x, y, beta_star, p)
        return b + np.sqrt(error / b.size)  # ||b - beta*||^2 = error (b interpolating is moot)

    monkeypatch.setattr(predictions, "best_interpolator", far)


PERTURB = {
    "GF limit: diaglin gradient_flow":
        lambda p, mp: replace(p, flow=replace(p.flow, beta=p.flow.beta * 1.03)),
    "GF limit: GD at eta=":
        lambda p, mp: replace(p, reference=replace(p.reference, beta=p.reference.beta * 1.03)),
    "GF limit: GD at smallest grid eta=":
        lambda p, mp: _with_beta(p, int(np.argmin(p.etas)), p.final.beta[0] * 1.05),
    "eta_c = 2/s_GF": lambda p, mp: replace(p, flow=replace(p.flow, eta_c=p.flow.eta_c * 1.01)),
    "EoS: max S*eta/2 (S <= 2/eta)": lambda p, mp: _scale_sharpness(p, _eos(p)[:1], 1.01),
    "EoS: min S*eta/2 (hugs 2/eta)": lambda p, mp: _scale_sharpness(p, _eos(p)[:1], 0.9),
    "slice: median rel. dist. to entropy candidate":
        lambda p, mp: _with_beta(p, _eos(p), p.final.beta[_eos(p)] * 1.3),
    "gen. error: argmin eta / eta_c inside EoS range":
        lambda p, mp: _with_beta(p, int(np.argmin(p.etas)), p.beta_star),
    "gen. error: min ||beta-beta*||^2 >= theory min": lambda p, mp: _fake_best(mp, 10.0) or p,
    "gen. error: argmin eta vs 2/S(best interpolator)":  # moves eta* = 2/S(best) far away
        lambda p, mp: _fake_best(mp, 10.0) or p,
}  # fmt: skip


def _key(quantity):
    return next(k for k in PERTURB if quantity.startswith(k))


def test_every_check_row_has_a_perturbation(sweep):
    table = compare.compare(sweep)
    checks = [r.quantity for r in table.rows if r.passed is not None]
    assert {_key(q) for q in checks} == set(PERTURB)


@pytest.mark.parametrize("name", list(PERTURB))
def test_each_check_fails_when_its_input_is_perturbed(name, sweep, monkeypatch):
    before = [r for r in compare.compare(sweep).rows if r.quantity.startswith(name)]
    assert before and all(r.passed for r in before)
    bad = PERTURB[name](sweep.first(), monkeypatch)
    after = compare.compare(replace(sweep, points=(bad,)))
    flipped = [r for r in after.rows if r.quantity.startswith(name)]
    assert flipped and all(r.passed is False for r in flipped), [str(r) for r in flipped]
    assert not after.passed


def test_the_table_states_each_pass_condition(sweep):
    table = compare.compare(sweep)
    for r in table.rows:
        if r.passed is not None:
            assert r.criterion, r.quantity
    row = table.row("EoS: max S*eta/2 (S <= 2/eta)")
    assert row.criterion == "<= 1.001" and row.criterion in str(table)
    assert table.row("EoS: min S*eta/2 (hugs 2/eta)").criterion == ">= 0.95"


def test_for_networks_a_run_below_the_edge_above_eta_c_is_reported_not_failed(sweep):
    """A network's run above eta_c may converge below the edge (a catapult to a flatter
    point): "hugs 2/eta" is a report there (counting the runs at the edge), while
    S <= 2/eta stays a check."""
    p = sweep.first()
    low = _scale_sharpness(p, _eos(p)[:1], 0.9)
    rows = {r.quantity: r for r in compare.compare_point(low, "mlp", compare.NET_TOLERANCES)}
    hug = rows["EoS: min S*eta/2 (hugs 2/eta)"]
    assert hug.passed is None and f"{_eos(p).size - 1} at the edge" in hug.note
    assert rows["EoS: max S*eta/2 (S <= 2/eta)"].passed is True
    diag = {r.quantity: r for r in compare.compare_point(low, "ww")}
    assert diag["EoS: min S*eta/2 (hugs 2/eta)"].passed is False
