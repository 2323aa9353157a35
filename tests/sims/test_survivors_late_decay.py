"""Late-decay quantities against independent computations with known answers: the phase-II
constant of constructed results whose first-hit times are known is T_II eta² sigma² exactly; the
benefit ratio divides by the EARLIEST decay (constructed losses where the earliest and the
second-earliest decay differ); the saved test loss is ½||beta − beta*||² recomputed from the
saved iterates; and a run that decays exactly at the end of the phase-I prefix gets that prefix
spliced into its curves (it is its own history)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sims_builders import constructed

from sims.late_decay.compare import compare_decay, scaling_rows
from sims.late_decay.config import LATE, NO_DECAY, NO_NOISE, DecayConfig, DecayPoint
from sims.late_decay.phases import phase_two_times
from sims.late_decay.runs import EARLY_CURVES, compute_decay_point, early_steps

# --- 1. the phase-II constant ---------------------------------------------------------------


def test_phase_two_constant_is_the_first_hit_time_times_eta_squared_sigma_squared():
    """Grid points whose no-decay runs reach the min-norm level at known steps, chosen so that
    T_II = C / (eta² sigma²) with C = 100 at every point: the constant is 100 everywhere (no
    spread), whatever eta and sigma are."""
    C = 100.0
    steps, early = np.arange(0, 5001, 25), np.arange(0, 201)
    grid = [(0.5, 1.0), (0.25, 1.0), (0.5, 0.5), (0.2, 2.0)]
    results, expected_t = [], []
    for i, (eta, sigma) in enumerate(grid):
        t = C / (eta**2 * sigma**2)  # 400, 1600, 1600, 625
        hits = (round(t) - 25, round(t) + 25)  # the two seeds' first hits; their mean is t
        norm = np.array([np.where(steps < h, 3.0, 1.05) for h in hits])  # min on M is 1
        results.append(constructed(DecayPoint(i, eta, sigma), [NO_DECAY] * 2, [-1] * 2, [0, 1],
                                    steps=steps, early=early, norm_sq=norm,
                                    early_norm_sq=np.full((2, early.size), 3.0)))  # fmt: skip
        expected_t.append(np.mean(hits))
    p2 = phase_two_times(results)
    np.testing.assert_array_equal(p2.t_min_norm, expected_t)
    np.testing.assert_allclose(p2.constant, C, rtol=1e-12)
    assert p2.c_mean == pytest.approx(C, rel=1e-12)
    assert p2.c_cv == pytest.approx(0.0, abs=1e-12)
    rows = scaling_rows(results)
    assert rows[0].simulated == pytest.approx(C, rel=1e-12)
    assert rows[1].passed


# --- 2. the benefit ratio -------------------------------------------------------------------


def test_benefit_ratio_is_latest_over_the_earliest_decay_not_the_second_earliest():
    """Final test losses per K (runs in shuffled order): earliest K = 0 -> mean 1.1, K = 100 ->
    0.3, latest K = 1000 -> mean 0.06. The benefit is 0.06 / 1.1 (passes <= 0.1); against the
    second-earliest decay it would be 0.2 (fails)."""
    ks = np.array([1000, 0, 100, 0, 1000, 100])
    loss = np.array([0.05, 1.0, 0.3, 1.2, 0.07, 0.3])
    r = constructed(DecayPoint(0, 0.01, 1.0), [LATE] * ks.size, ks, [0, 0, 0, 1, 1, 1],
                     steps=np.arange(0, 2001, 100), early=np.arange(0, 11),
                     final_test_loss=loss)  # fmt: skip
    expected = loss[ks == ks.max()].mean() / loss[ks == ks.min()].mean()
    assert expected == pytest.approx(0.06 / 1.1)
    row = compare_decay(r, [], "pm").row("test loss: latest / earliest decay")
    assert row.simulated == pytest.approx(expected, rel=1e-12)
    assert row.passed is True


# --- 3 and 4. a real small point ------------------------------------------------------------


@pytest.fixture(scope="module")
def boundary_run():
    """A small point whose decay steps include K = the phase-I prefix length exactly."""
    base = DecayConfig(n=10, d=20, sparsity=2, etas=(0.02,), sigmas=(1.0,), decay_steps=(0,),
                       total_steps=8000, seeds=(0, 1), record_every=500)  # fmt: skip
    point = base.points()[0]
    k1 = early_steps(base, point)
    config = dataclasses.replace(base, decay_steps=(0, k1 // 2, k1))
    return config, compute_decay_point(config, point), k1


def _test_loss(theta: np.ndarray, beta_star: np.ndarray) -> np.ndarray:
    """½||beta − beta*||² for pm iterates theta = (u, v): beta = u² − v²."""
    d = beta_star.size
    beta = theta[..., :d] ** 2 - theta[..., d:] ** 2
    return 0.5 * np.sum((beta - beta_star) ** 2, axis=-1)


def test_saved_test_loss_is_half_the_squared_distance_to_beta_star(boundary_run):
    config, r, _ = boundary_run
    assert (r.status != 1).all()
    want = _test_loss(r.final_theta, r.beta_star)
    assert np.ptp(want) > 0 and want.min() > 0  # runs that differ, none at beta*
    np.testing.assert_allclose(r.final_test_loss, want, rtol=1e-12)
    assert r.steps[-1] == config.total_steps  # the last record is the final iterate
    np.testing.assert_allclose(r.test_loss[:, -1], want, rtol=1e-12)
    # at step 0 every run is at theta0 = (alpha, alpha): beta = 0, test loss ½||beta*||²
    start = 0.5 * np.sum(r.beta_star**2)
    assert r.steps[0] == 0 and r.early_steps[0] == 0
    np.testing.assert_allclose(r.test_loss[:, 0], start, rtol=1e-14)
    np.testing.assert_allclose(r.early_test_loss[:, 0], start, rtol=1e-14)


def test_a_decay_at_the_end_of_the_prefix_gets_the_prefix_spliced_in(boundary_run):
    """A late run decayed at K = the last phase-I step had noise up to there: its curve is the
    dense prefix, then the main records after K, and the prefix agrees with the run's own main
    records wherever both were recorded."""
    _, r, k1 = boundary_run
    assert r.early_steps[-1] == k1 and k1 in r.steps
    later = r.steps > k1
    for s in r.seeds:
        (run,) = np.flatnonzero((r.variant == LATE) & (r.decay_step == k1) & (r.seed == s))
        (own,) = np.flatnonzero(r.seeds == s)
        for name in EARLY_CURVES:
            steps, vals = r.curve(name, int(run))
            np.testing.assert_array_equal(steps, np.concatenate([r.early_steps, r.steps[later]]))
            n1 = r.early_steps.size
            np.testing.assert_array_equal(vals[:n1], getattr(r, f"early_{name}")[own])
            np.testing.assert_array_equal(vals[n1:], getattr(r, name)[run][later])
            shared = np.isin(r.steps, r.early_steps)
            assert shared.sum() >= 3
            dense = np.isin(steps, r.steps[shared]) & (np.arange(steps.size) < n1)
            np.testing.assert_allclose(vals[dense], getattr(r, name)[run][shared], rtol=1e-12,
                                       atol=1e-300)  # fmt: skip
    # a run decayed before the prefix ends (or without noise) keeps its main records only
    for run in (*r.runs_of(LATE, k1 // 2), *r.runs_of(NO_NOISE)):
        steps, vals = r.curve("norm_sq", int(run))
        np.testing.assert_array_equal(steps, r.steps)
        np.testing.assert_array_equal(vals, r.norm_sq[run])


def test_the_scaling_figure_is_drawn_when_no_point_reaches_the_min_norm(tmp_path):
    """Short runs (paper_figs --quick) may leave every grid point above the min-norm level: the
    figure says so instead of failing on log axes with nothing to show."""
    from sims.core.figures import save_figure
    from sims.late_decay.plotting import scaling_figure

    steps, early = np.arange(0, 1001, 25), np.arange(0, 51)
    results = [constructed(DecayPoint(i, eta, 1.0), [NO_DECAY] * 2, [-1] * 2, [0, 1],
                           steps=steps, early=early, norm_sq=np.full((2, steps.size), 3.0),
                           early_norm_sq=np.full((2, early.size), 3.0))
               for i, eta in enumerate((0.5, 0.25))]  # fmt: skip
    assert not np.isfinite(phase_two_times(results).t_min_norm).any()
    fig = scaling_figure(results)
    assert "2 point(s) did not reach min norm" in " ".join(t.get_text() for t in fig.axes[0].texts)
    assert all(p.stat().st_size > 0 for p in save_figure(fig, tmp_path, "scaling"))
