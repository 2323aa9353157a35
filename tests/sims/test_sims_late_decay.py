"""The late-decay experiment end to end on a small instance: the CLI's checks pass (benefit,
min norm reached, no-noise control flat, regulariser = tr Hessian, phase-II constant), its
figures and table are written, results come back from the cache unchanged, and each check
fails when its input is perturbed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sims import late_decay
from sims.core.sweep import run_sweep
from sims.late_decay.compare import DecayTolerances, compare_decay
from sims.late_decay.config import LATE, NO_DECAY, DecayConfig
from sims.late_decay.phases import budget_view, fit_times, phase_two_times, phases_of

SMALL = ["--n", "10", "--d", "20", "--sparsity", "2", "--eta", "0.01", "--decay-steps", "0",
         "500", "4000", "30000", "--total-steps", "40000", "--seeds", "0", "1", "2",
         "--record-every", "200", "--scaling-etas", "0.008", "0.012", "--scaling-sigmas", "0.7",
         "1.0", "--scaling-steps", "60000", "--scaling-seeds", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("decay")
    args = late_decay.cli.build_parser().parse_args([*SMALL, "--cache-dir", str(root / "cache"),
                                                 "--out", str(root / "out")])  # fmt: skip
    main, scaling = late_decay.cli.configs_from_args(args)
    return root, main, scaling


def test_cli_checks_pass_and_outputs_are_written(run, capsys):
    root, *_ = run
    code = late_decay.main([*SMALL, "--cache-dir", str(root / "cache"), "--out",
                            str(root / "out"), "--quiet"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "all checks passed" in out
    for name in ("late_decay.png", "late_decay.pdf", "phase2_scaling.png",
                 "late_decay_compare.csv", "late_decay_compare.md"):  # fmt: skip
        assert (root / "out" / name).stat().st_size > 0


def test_cached_results_equal_computed_ones(run):
    root, main, _ = run
    first = run_sweep(main, cache_dir=root / "cache", progress=False).first()
    again = run_sweep(main, cache_dir=root / "cache", progress=False).first()
    fresh = run_sweep(main, cache_dir=None, progress=False).first()
    for r in (again, fresh):
        for k, v in first.to_arrays().items():
            np.testing.assert_array_equal(v, r.to_arrays()[k], err_msg=k)


def test_phases_come_in_order_and_the_budget_view_pays_off(run):
    root, main, scaling = run
    r = run_sweep(main, cache_dir=root / "cache", progress=False).first()
    for b in r.runs_of(NO_DECAY):
        ph = phases_of(r, int(b))
        assert 0 < ph.t_fit < ph.t_min_norm < main.total_steps
    assert (fit_times(r) > 0).all()
    bv = budget_view(r)
    # decaying late wins by 10x within the budget; the best K at the end of the budget is the
    # latest one, and the envelope never exceeds the earliest decay's curve
    assert np.isfinite(bv.pays_off_at(10.0))
    assert bv.best_K[-1] == r.decay_step[r.variant == LATE].max()
    early = r.test_loss[r.runs_of(LATE, 0)].mean(axis=0)
    assert (bv.envelope <= early + 1e-15).all()
    p2 = phase_two_times(list(run_sweep(scaling, cache_dir=root / "cache", progress=False).points))
    assert np.isfinite(p2.t_min_norm).all()
    # T_II scales like 1/(eta sigma)²: the constant varies far less than 1/(eta sigma)² does
    assert p2.c_cv < 0.3 < np.std(p2.t_min_norm) / np.mean(p2.t_min_norm)


def _perturbed(r, **changes):
    return dataclasses.replace(r, **changes)


@pytest.mark.parametrize("quantity", [
    "test loss: latest / earliest decay", "||theta||² at latest decay vs min on M",
    "no-noise control: spread over K", "runs diverged",
    "tr Hessian on M vs label-noise regulariser", "phase II: CV of C over the grid"])  # fmt: skip
def test_each_check_fails_when_its_input_is_perturbed(run, quantity):
    root, main, scaling = run
    r = run_sweep(main, cache_dir=root / "cache", progress=False).first()
    grid = list(run_sweep(scaling, cache_dir=root / "cache", progress=False).points)
    assert compare_decay(r, grid, main.model).row(quantity).passed
    late = r.variant == LATE
    if quantity.startswith("test loss"):  # the latest decay no better than the earliest
        k = r.decay_step == r.decay_step[late].max()
        r = _perturbed(r, final_test_loss=np.where(late & k, r.final_test_loss.max(),
                                                   r.final_test_loss))  # fmt: skip
    elif quantity.startswith("||theta||"):
        r = _perturbed(r, final_norm_sq=r.final_norm_sq * 1.5)
    elif quantity.startswith("no-noise"):
        r = _perturbed(r, final_test_loss=r.final_test_loss * (1 + r.decay_step / 1e4))
    elif quantity == "runs diverged":
        r = _perturbed(r, status=np.where(np.arange(r.status.size) == 0, 1, r.status))
    elif quantity.startswith("tr Hessian"):
        r = _perturbed(r, final_trace=r.final_trace * (1 + 1e-5))
    else:
        grid[0] = _perturbed(grid[0], steps=grid[0].steps * 3, early_steps=grid[0].early_steps * 3)
    assert compare_decay(r, grid, main.model, DecayTolerances()).row(quantity).passed is False


def test_bad_decay_configs_name_the_argument():
    with pytest.raises(ValueError, match="decay_steps"):
        DecayConfig(decay_steps=(10,), total_steps=10)
    with pytest.raises(ValueError, match="model"):
        DecayConfig(model="deep")
    with pytest.raises(ValueError, match="batch_size"):
        DecayConfig(n=5, batch_size=6)
    with pytest.raises(ValueError, match="sigmas"):
        DecayConfig(sigmas=(0.0,))
    with pytest.raises(ValueError, match="seeds: expected integers"):  # not truncated to (0, 1)
        DecayConfig(seeds=(0.5, 1.9))


def test_cli_rejects_bad_values_before_computing(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        late_decay.main(["--decay-steps", "10", "--total-steps", "10", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "decay_steps" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["exact", "pca", "mlp"])
def test_landscape_commands_write_their_pictures(kind, tmp_path, capsys):
    from sims import landscape

    small = ["--total-steps", "20000", "--decay-steps", "0", "2000", "15000"]
    if kind == "mlp":  # a network step costs ~0.1 ms: fewer steps
        small = ["--total-steps", "400", "--decay-steps", "0", "100", "300"]
    assert landscape.main([kind, *small, "--out", str(tmp_path)]) == 0
    for ext in ("png", "pdf", "npz"):
        assert (tmp_path / f"landscape_{kind}.{ext}").stat().st_size > 0
    with np.load(tmp_path / f"landscape_{kind}.npz", allow_pickle=False) as z:
        assert np.isfinite(z["train"]).all() and np.isfinite(z["test"]).all()
        assert "versions" in str(z["meta"])


def test_more_scaling_seeds_than_seeds_is_an_error(tmp_path, capsys):
    """--scaling-seeds N takes the first N of --seeds: asking for more is refused, not cut."""
    with pytest.raises(SystemExit) as exc:
        late_decay.main([*SMALL, "--scaling-seeds", "4", "--out", str(tmp_path), "--no-cache"])
    assert exc.value.code == 2
    assert "--scaling-seeds: at most the 3 seeds of --seeds, got 4" in capsys.readouterr().err
