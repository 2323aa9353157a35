"""Second mutation audit: core properties with known answers (the gradient flow's s_GF is the
maximum over its path, the memory guard's block sizes and result bytes, the blocks' results
joined run by run, the available-memory reading, schedules and run_sgd's checks)."""

from __future__ import annotations

import numpy as np
import pytest

import diaglin as dl

# --- gradient flow: s_GF is a maximum --------------------------------------------------------


def test_s_gf_is_never_below_a_sampled_sharpness_when_the_peak_is_the_end_point():
    """One point x = (1, 0.5), y = 1, w0 = 0.1: r(0) < 0 and the sharpness grows along the
    whole path (the certified end-point case of theory.one_point_gf_path), so the largest
    sample is the last point. s_GF = max over the path can only be >= every sample; the
    refinement between the last two points never lowers it."""
    from theory import one_point_gf_path

    X, y = np.array([[1.0, 0.5]]), np.array([1.0])
    gf = dl.gradient_flow("ww", X, y, np.full(2, 0.1), eps=1e-10)
    assert gf.converged
    assert int(np.nanargmax(gf.sharpness)) == gf.t.size - 1
    assert gf.s_gf >= np.nanmax(gf.sharpness)
    assert gf.t_s_gf == pytest.approx(gf.t[-1], rel=1e-6)
    path = one_point_gf_path(np.array([1.0, 0.5]), 1.0, 0.1, eps=1e-10)
    assert path.endpoint_certified
    assert gf.s_gf == pytest.approx(path.s_gf, rel=1e-7)
    assert gf.eta_c == pytest.approx(2.0 / path.s_gf, rel=1e-7)


def test_sharpness_points_needs_at_least_three_points():
    """m sampled points must include an interior one (the same floor as the sims' option
    gf_sharpness_points >= 3): m = 2 is refused naming the argument, m = 3 samples 3 points
    (``"dop853"``; the dual integrator evaluates the sharpness at every step)."""
    X, y = np.array([[1.0, 0.5]]), np.array([1.0])
    with pytest.raises(ValueError, match="sharpness_points"):
        dl.gradient_flow("ww", X, y, np.full(2, 0.1), eps=1e-8, sharpness_points=2)
    gf = dl.gradient_flow("ww", X, y, np.full(2, 0.1), eps=1e-8, sharpness_points=3,
                          method="dop853")  # the sampling of the explicit integrator  # fmt: skip
    assert gf.converged and np.isfinite(gf.sharpness).sum() == 3


# --- the memory guard: block sizes -----------------------------------------------------------

from diaglin import driver  # noqa: E402

SIZES = dict(max_steps=300, record_every=50, record_grads=False, average_last=0)


def test_a_batch_runs_whole_only_within_the_memory_share(monkeypatch):
    """B = 200 runs: whole when memory_bytes <= MEMORY_SHARE x available (here exactly at it),
    in blocks when it exceeds that share even though it is below the whole available memory."""
    need = driver.memory_bytes(200, 4, 6, 2, **SIZES)
    at_share = int(np.ceil(need / driver.MEMORY_SHARE))
    monkeypatch.setattr(driver, "available_memory", lambda: at_share)
    assert driver.runs_per_block(200, 4, 6, 2, **SIZES) == 200
    have = int(need / (0.5 * (1 + driver.MEMORY_SHARE)))  # need is 90 % of it: > 80 %
    assert need < have
    monkeypatch.setattr(driver, "available_memory", lambda: have)
    assert driver.runs_per_block(200, 4, 6, 2, **SIZES) < 200


@pytest.mark.parametrize("runs", [200, 1000])
def test_the_block_is_the_largest_that_fits_beside_the_whole_batchs_results(monkeypatch, runs):
    """The block b satisfies result_bytes(B) + memory_bytes(b) <= share x available and b + 1
    does not (the results of the WHOLE batch stay in memory while the blocks run)."""
    kept = driver.result_bytes(runs, 6, 2, **SIZES)
    target = runs // 3
    have = int((kept + driver.memory_bytes(target, 4, 6, 2, **SIZES)) / driver.MEMORY_SHARE) + 1
    monkeypatch.setattr(driver, "available_memory", lambda: have)
    block = driver.runs_per_block(runs, 4, 6, 2, **SIZES)
    budget = driver.MEMORY_SHARE * have
    assert block == target
    assert kept + driver.memory_bytes(block, 4, 6, 2, **SIZES) <= budget
    assert kept + driver.memory_bytes(block + 1, 4, 6, 2, **SIZES) > budget


# --- available memory -------------------------------------------------------------------------


class _FakePath:
    text = ""

    def __init__(self, *_):
        pass

    def read_text(self):
        if self.text is None:
            raise OSError("no /proc here")
        return self.text


def test_available_memory_is_memavailable_not_memfree(monkeypatch):
    """Linux's MemAvailable (what a new allocation can get, page cache included), in bytes."""
    import diaglin._memory as mem

    _FakePath.text = ("MemTotal:       16000 kB\nMemFree:          700 kB\n"
                      "MemAvailable:    9000 kB\nBuffers:          100 kB\n")  # fmt: skip
    monkeypatch.setattr(mem, "Path", _FakePath)
    assert mem.available_memory() == 9000 * 1024


def test_without_proc_meminfo_available_memory_is_the_available_pages(monkeypatch):
    """No /proc/meminfo: the AVAILABLE physical pages (not all of them) times the page size."""
    import diaglin._memory as mem

    _FakePath.text = None
    monkeypatch.setattr(mem, "Path", _FakePath)
    pages = {"SC_AVPHYS_PAGES": 300, "SC_PHYS_PAGES": 5000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(mem.os, "sysconf", lambda name: pages[name])
    assert mem.available_memory() == 300 * 4096


# --- run_sgd and schedules --------------------------------------------------------------------


def test_run_sgd_reports_the_step_size_of_step_zero():
    """``etas`` are the schedules' step sizes at step 0: 0.1 for a decay at step 1, 0.3 for a
    linear ramp 0.3 -> 0 over 10 steps (0.27 at step 1), 0.05 for a constant."""
    from diaglin import Schedule

    X, y = np.array([[1.0, 0.5], [0.2, 1.0]]), np.array([1.0, 0.5])
    scheds = [Schedule.step_decay(0.1, at=1, factor=0.5), Schedule.linear(0.3, 10),
              Schedule.constant(0.05)]  # fmt: skip
    res = dl.run_sgd("pm", X, y, scheds, dl.get_model("pm").init(2, 0.5), seeds=[0, 1, 2],
                     max_steps=5, stats="none")  # fmt: skip
    np.testing.assert_array_equal(res.etas, [0.1, 0.3, 0.05])


def test_schedule_max_noise_is_the_largest_of_any_phase():
    """The noise may rise later in a schedule: max_noise is over every phase."""
    from diaglin import Schedule
    from diaglin.schedules import Phase

    assert Schedule.step_decay(0.1, at=5, noise=0.0, noise_after=1.5).max_noise == 1.5
    assert Schedule((Phase(3, 0.1, noise=0.2), Phase(4, 0.1, noise=0.7),
                     Phase(None, 0.1, noise=0.1))).max_noise == 0.7  # fmt: skip
    assert Schedule.constant(0.1).max_noise == 0.0


# --- blocks of runs -------------------------------------------------------------------------


def test_result_bytes_counts_the_averaged_iterates_without_recorded_gradients():
    """A result with averaged iterates but no gradient history: its arrays fit the estimate."""
    m = dl.get_model("pm")
    ds = dl.data.sparse_regression(3, 5, 1, seed=3)
    B = 20
    etas = np.geomspace(0.01, 0.5, B)
    r = dl.run_gd(m, ds.X, ds.y, etas, m.init(5, 0.5), eps=1e-9, max_steps=50, path="tile",
                  stats="none", average_last=4)  # fmt: skip

    def nbytes(v):
        if isinstance(v, np.ndarray):
            return v.nbytes
        if hasattr(v, "__dataclass_fields__"):
            return sum(nbytes(getattr(v, f)) for f in v.__dataclass_fields__)
        return 0

    assert r.averaged is not None and r.grad_history is None
    est = driver.result_bytes(B, 5, 2, max_steps=50, average_last=4)
    assert nbytes(r) <= est <= 1.1 * nbytes(r)


def test_runs_in_later_blocks_keep_their_own_divergence_floor(monkeypatch, spy):
    """128 SGD runs in blocks of 64: the first 64 without label noise, the last 64 with noise
    3 (divergence bound 20 · max(L(θ0), L(0) + 9/2)). Each run's result is its own, so the
    blocked batch is bitwise the batch of one call (a noisy run judged by a noise-free run's
    floor would be stopped as diverged)."""
    from diaglin import Schedule

    m = dl.get_model("pm")
    ds = dl.data.sparse_regression(3, 5, 1, seed=3)
    B = 128
    scheds = [Schedule.constant(0.05)] * 64 + [Schedule.constant(0.05, noise=3.0)] * 64
    kw = dict(seeds=np.arange(B), max_steps=60, batch_size=1, stats="none", diverge_factor=20.0)
    theta0 = m.init(5, 0.5)
    monkeypatch.setattr(driver, "available_memory", lambda: None)
    whole = dl.run_sgd(m, ds.X, ds.y, scheds, theta0, **kw)
    assert not whole.diverged.any()
    shape = dict(max_steps=60)
    need = driver.result_bytes(B, 5, 2, **shape) + driver.memory_bytes(64, 3, 5, 2, **shape)
    monkeypatch.setattr(driver, "available_memory",
                        lambda: int(np.ceil(need / driver.MEMORY_SHARE)))  # fmt: skip
    blocked = dl.run_sgd(m, ds.X, ds.y, scheds, theta0, **kw)
    assert spy == [B, 64, 64]
    np.testing.assert_array_equal(blocked.status, whole.status)
    np.testing.assert_array_equal(blocked.theta, whole.theta)
