"""Second mutation audit: sims quantities against independent computations with known answers.

Late decay: the no-noise control runs the first two seeds at every K and has no label noise at
any step (also with ``sigma_after`` > 0); the fit time T_I is read from the run WITHOUT label
noise (here full-batch GD, recomputed in numpy); a curve that lands exactly on the level counts
as below it (``<=``); a decay at K = 0 is a decay; the no-noise spread is (max − min) / mean; the
min-norm check is two-sided; only runs with loss <= 1e-12 count as on the manifold.
Landscape: the exact picture's losses are the pm model's in the (u_1, v_2) plane and its grid
reaches the min-norm point; the curved PCA surface through checkpoints on a quadratic valley
reproduces them; the CLI refuses a decay at the last step.
Cache and provenance: an entry without its sidecar is absent; a renamed source file changes the
source hash; the sweep's memory estimate keeps every result; a sidecar naming another grid point
is recomputed. Dask: an explicit connect timeout is honoured; an interrupted executor cancels
the tasks it has not received."""

from __future__ import annotations

import numpy as np
import pytest
from sims_builders import constructed, fake_point

from sims.late_decay.compare import compare_decay
from sims.late_decay.config import LATE, NO_DECAY, NO_NOISE, DecayConfig, DecayPoint
from sims.late_decay.phases import first_step_below, phases_of
from sims.late_decay.runs import (
    compute_decay_point,
    early_steps,
    schedules,
)

# --- late decay: the controls ---------------------------------------------------------------


def test_the_no_noise_control_runs_the_first_two_seeds_at_every_decay_step():
    config = DecayConfig(decay_steps=(0, 10, 50), total_steps=100, seeds=(4, 7, 9))
    v, k, s = config.runs()
    late = {(int(a), int(b)) for a, b in zip(k[v == LATE], s[v == LATE])}
    control = sorted((int(a), int(b)) for a, b in zip(k[v == NO_NOISE], s[v == NO_NOISE]))
    assert late == {(a, b) for a in (0, 10, 50) for b in (4, 7, 9)}
    assert control == sorted((a, b) for a in (0, 10, 50) for b in (4, 7))
    assert sorted(s[v == NO_DECAY].tolist()) == [4, 7, 9] and (k[v == NO_DECAY] == -1).all()


def test_the_no_noise_control_has_no_label_noise_even_with_noise_after_the_decay():
    """sigma_after = 0.5: the late runs have noise sigma before K and 0.5 after it; the no-noise
    control has none at any step, before or after its decay; the no-decay control has sigma."""
    config = DecayConfig(decay_steps=(0, 40), total_steps=100, seeds=(0, 1), sigmas=(2.0,),
                         sigma_after=0.5)  # fmt: skip
    point = config.points()[0]
    v, k, _ = config.runs()
    steps = np.arange(0, 200)
    for variant, K, sched in zip(v, k, schedules(config, point)):
        noise = sched.noise(steps)
        if variant == NO_NOISE:
            np.testing.assert_array_equal(noise, 0.0)
        elif variant == LATE:
            np.testing.assert_array_equal(noise, np.where(steps < K, 2.0, 0.5))
        else:
            np.testing.assert_array_equal(noise, 2.0)


# --- late decay: the fit time comes from the noise-free prefix ------------------------------


def _gd_losses(X, y, theta0, eta, steps):
    """Full-batch GD on beta = u² − v², L = 1/(2n)||X beta − y||², in numpy: the loss at
    ``steps``."""
    n, d = X.shape
    u, v = theta0[:d].copy(), theta0[d:].copy()
    out, want = [], set(int(s) for s in steps)
    for k in range(int(steps.max()) + 1):
        r = X @ (u * u - v * v) - y
        if k in want:
            out.append(0.5 * np.mean(r * r))
        g = X.T @ r / n
        u, v = u - eta * 2 * u * g, v + eta * 2 * v * g
    return np.array(out)


def test_fit_losses_are_those_of_the_noise_free_run():
    """batch_size = n: without label noise every seed's prefix run is plain GD, the same for
    all seeds and equal to numpy's GD; with the strong label noise (sigma = 3) it would not be."""
    config = DecayConfig(n=6, d=8, sparsity=1, etas=(0.05,), sigmas=(3.0,), decay_steps=(0,),
                         total_steps=2000, seeds=(0, 1), batch_size=6,
                         record_every=500)  # fmt: skip
    point = config.points()[0]
    assert early_steps(config, point) == 2000
    r = compute_decay_point(config, point)
    from diaglin import get_model

    theta0 = get_model("pm").init(config.d, config.alpha)
    want = _gd_losses(r.X, r.y, theta0, 0.05, r.early_steps)
    assert want[-1] < 1e-2 * want[0]  # the data are fitted within the prefix
    for s in range(2):
        np.testing.assert_allclose(r.fit_train_loss[s], want, rtol=1e-8, atol=1e-14)
    # the noisy prefix stays well above the noise-free losses at the end
    assert (r.early_train_loss[:, -1] > 10 * want[-1]).all()


# --- late decay: phases ---------------------------------------------------------------------


def test_a_curve_that_lands_exactly_on_the_level_is_below_it():
    steps = np.array([0, 10, 20, 30])
    assert first_step_below(steps, np.array([4.0, 1.0, 0.5, 0.1]), 1.0) == 10.0
    assert first_step_below(steps, np.array([4.0, 2.0, 0.5, 0.1]), 1.0) == 20.0
    assert np.isnan(first_step_below(steps, np.array([4.0, 2.0, 1.5, 1.1]), 1.0))


def test_a_decay_at_step_zero_is_a_decay():
    steps, early = np.arange(0, 1001, 100), np.arange(0, 11)
    r = constructed(DecayPoint(0, 0.1, 1.0), [LATE, LATE, NO_DECAY], [0, 300, -1], [0, 0, 0],
                     steps=steps, early=early)  # fmt: skip
    assert phases_of(r, 0).decay == 0.0
    assert phases_of(r, 1).decay == 300.0
    assert np.isnan(phases_of(r, 2).decay)


def test_no_noise_spread_is_range_over_mean():
    """No-noise control final losses per K (two seeds each): means 1, 2, 3 -> spread
    (3 − 1) / 2 = 1 (it would be 2/3 over the maximum)."""
    ks = np.array([0, 0, 100, 100, 500, 500])
    loss = np.array([0.5, 1.5, 2.0, 2.0, 2.5, 3.5])
    r = constructed(DecayPoint(0, 0.1, 1.0), [NO_NOISE] * 6, ks, [0, 1] * 3,
                     steps=np.arange(0, 1001, 100), early=np.arange(0, 11),
                     final_test_loss=loss)  # fmt: skip
    row = compare_decay(r, [], "pm").row("no-noise control: spread over K")
    assert row.simulated == pytest.approx(1.0, rel=1e-12)
    assert row.passed is False


def test_min_norm_check_is_two_sided():
    """Mean final ||theta||² at the latest decay 0.5 x the minimum on M: 50 % off, it fails
    (a norm BELOW the minimum is just as wrong as one above); at 1.05 x it passes."""
    ks = np.array([0, 0, 1000, 1000])
    for factor, passed in ((0.5, False), (1.05, True), (1.5, False)):
        norm = np.where(ks == 1000, factor, 3.0)  # norm_sq_min = 1
        r = constructed(DecayPoint(0, 0.1, 1.0), [LATE] * 4, ks, [0, 1, 0, 1],
                         steps=np.arange(0, 2001, 100), early=np.arange(0, 11),
                         final_norm_sq=norm)  # fmt: skip
        row = compare_decay(r, [], "pm").row("||theta||² at latest decay vs min on M")
        assert row.simulated == pytest.approx(factor, rel=1e-12)
        assert row.passed is passed, factor


def test_only_runs_that_interpolate_to_1e_12_count_as_on_the_manifold():
    """ww, one sample x = (1, 1), y = 1 (unit columns): tr ∇²L = 4 Σ w_j² + 2 r Σ x_j. Run A at
    w = (1, 0) interpolates (trace 4 = the regulariser); run B at w = (1, 0.01) has r = 1e-4,
    loss 5e-9 and trace 4.0008 against the regulariser 4.0004. Only A is on M (loss <= 1e-12),
    so the check passes; counting B would make it fail (relative error 1e-4)."""
    X, y = np.array([[1.0, 1.0]]), np.array([1.0])
    theta = np.array([[1.0, 0.0], [1.0, 0.01]])
    r_b = 1e-4
    trace = np.array([4.0, 4.0 * (1 + 1e-4) + 2 * r_b * 2])
    loss = np.array([0.0, 0.5 * r_b**2])
    r = constructed(DecayPoint(0, 0.1, 1.0), [NO_DECAY] * 2, [-1] * 2, [0, 1],
                     steps=np.arange(0, 1001, 100), early=np.arange(0, 11), X=X, y=y,
                     final_theta=theta, final_trace=trace, final_train_loss=loss)  # fmt: skip
    row = compare_decay(r, [], "ww").row("tr Hessian on M vs label-noise regulariser")
    assert row.passed is True
    assert row.simulated == pytest.approx(4.0, rel=1e-14)
    assert row.note.startswith("1 runs on M")


# --- landscape: the exact picture and the curved PCA surface ---------------------------------


def test_exact_picture_losses_are_the_pm_model_losses_in_the_plane():
    """On the grid, train = ½(u² − v² − 1)² (the model's loss for x = (1, 1), y = 1) and test =
    ½||beta − beta*||² with beta = (u², −v²), beta* = (1, 0), i.e. ½((u² − 1)² + v⁴)."""
    from diaglin import get_model
    from sims.landscape.runs import exact_two_coordinate, two_coordinate_theta

    pic = exact_two_coordinate(total_steps=100, decay_steps=(0, 50), record_every=50, grid=9)
    uu, vv = np.meshgrid(pic.u, pic.v)
    theta = two_coordinate_theta(uu, vv).reshape(-1, 4)
    model = get_model("pm")
    beta = model.beta(theta)
    X, y = np.array([[1.0, 1.0]]), np.array([1.0])
    train = np.asarray(model.loss(theta, X, y)).reshape(uu.shape)
    test = (0.5 * np.sum((beta - np.array([1.0, 0.0])) ** 2, axis=-1)).reshape(uu.shape)
    assert np.ptp(vv) > 1  # the grid reaches |v| > 1, where v⁴ and v² differ a lot
    np.testing.assert_allclose(pic.train, train, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(pic.test, test, rtol=1e-12, atol=1e-15)
    # a grid point by hand: u = v = 1 gives train ½ and test ½ (0 + 1)
    i = np.argmin(np.abs(pic.v - 1)), np.argmin(np.abs(pic.u - 1))
    u1, v1 = pic.u[i[1]], pic.v[i[0]]
    assert pic.test[i] == pytest.approx(0.5 * ((u1**2 - 1) ** 2 + v1**4), rel=1e-12)


def test_exact_picture_grid_covers_the_min_norm_point_from_a_small_start():
    """The grid runs over [-0.15 h, h] with h = 1.3 max(|u0|, |v0|, 1): from theta0 = (0.3, 0.2)
    it must still reach past the min-norm point (1, 0), i.e. h = 1.3."""
    from sims.landscape.runs import exact_two_coordinate

    pic = exact_two_coordinate(theta0=(0.3, 0.2), total_steps=100, decay_steps=(0, 50),
                               record_every=50, grid=5)  # fmt: skip
    assert pic.u[-1] == pytest.approx(1.3, rel=1e-12)
    assert pic.u[0] == pytest.approx(-0.15 * 1.3, rel=1e-12)
    assert pic.u.min() < 1.0 < pic.u.max() and pic.v.min() < 0.0 < pic.v.max()


def test_pca_surface_through_checkpoints_on_a_quadratic_valley_reproduces_them():
    """Checkpoints exactly on theta = m + a q1 + b q2 + 0.1 a² q3 (orthonormal q, a on a
    symmetric grid of variance 4, b of variance 0.5, so the lift's variance 0.12 is the third):
    the fitted surface is that valley, so it passes through every checkpoint at the checkpoint's
    own path coordinates, and its quadratic is ±(0.1 a² − 0.4) (0.4 = the mean of 0.1 a²)."""
    from sims.landscape.runs import Branches, pca_surface

    Q = np.linalg.qr(np.random.default_rng(1).normal(size=(5, 5)))[0].T
    a, b = (g.ravel() for g in np.meshgrid(np.linspace(-3, 3, 7), np.linspace(-1, 1, 5)))
    pts = 2.0 + a[:, None] * Q[0] + b[:, None] * Q[1] + 0.1 * (a**2)[:, None] * Q[2]
    br = Branches(np.arange(a.size), pts[None], (), pts[None, -1])

    def sq(th):
        return np.sum(th**2, axis=-1)

    surf = pca_surface(br, sq, sq, grid=5)
    np.testing.assert_allclose(np.abs(surf.pcs @ Q[:3].T), np.eye(3), atol=1e-10)
    np.testing.assert_allclose(np.abs(surf.paths[0]), np.abs(np.stack([a, b], axis=1)),
                               atol=1e-10)  # fmt: skip
    back = surf.theta(surf.paths[0, :, 0], surf.paths[0, :, 1])
    np.testing.assert_allclose(back, pts, atol=1e-9)
    assert abs(surf.c[0]) == pytest.approx(0.1, rel=1e-9)
    assert surf.c[1] == pytest.approx(0.0, abs=1e-10)
    assert surf.c[2] / surf.c[0] == pytest.approx(-4.0, rel=1e-9)


def test_landscape_cli_rejects_a_decay_at_the_last_step(tmp_path, capsys):
    """A branch decaying at K = total_steps never decays: refused before anything runs."""
    from sims import landscape

    with pytest.raises(SystemExit) as exc:
        landscape.main(["exact", "--decay-steps", "0", "100", "--total-steps", "100",
                        "--out", str(tmp_path)])  # fmt: skip
    assert exc.value.code == 2
    assert "--decay-steps" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_landscape_cli_quiet_writes_its_files_and_prints_nothing(tmp_path, capsys):
    from sims import landscape

    argv = ["exact", "--decay-steps", "0", "100", "--total-steps", "200", "--out", str(tmp_path)]
    assert landscape.main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert {p.name for p in tmp_path.iterdir()} >= {"landscape_exact.png", "landscape_exact.npz"}


# --- cache and provenance -------------------------------------------------------------------


def test_an_entry_without_its_sidecar_is_absent_not_a_bad_entry(tmp_path):
    """Only ``.npz`` + ``.json`` together make an entry: with the sidecar gone, the entry is a
    plain miss (None, recomputed silently), not a provenance failure."""
    from sims.core.cache import ResultCache

    cache = ResultCache(tmp_path)
    cache.save("k", {"a": np.arange(3.0)}, {"spec": {"n": 1}})
    np.testing.assert_array_equal(cache.load("k")["a"], [0.0, 1.0, 2.0])
    cache.paths("k")[1].unlink()
    assert cache.paths("k")[0].exists()
    assert cache.load("k") is None
    assert cache.load("k", expect={"spec": {"n": 1}}) is None


def test_a_renamed_source_file_changes_the_source_hash(tmp_path, monkeypatch):
    """The hash covers the files' paths, not only their bytes: the same bytes under another
    module name (here the last file of sims renamed so that it still sorts last, the bytes of
    the whole tree in the same order) are other source."""
    import shutil

    import sims.core.provenance as prov

    root = tmp_path / "tree"
    for pkg in prov.SOURCE_PACKAGES:
        shutil.copytree(prov._ROOT / pkg, root / pkg,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    monkeypatch.setattr(prov, "_ROOT", root)
    hashes = []
    try:
        prov.source_hash.cache_clear()
        hashes.append(prov.source_hash())
        last = sorted((root / "sims").rglob("*.py"))[-1]
        renamed = last.with_name(last.stem + "_z.py")
        last.rename(renamed)
        assert sorted((root / "sims").rglob("*.py"))[-1] == renamed
        prov.source_hash.cache_clear()
        hashes.append(prov.source_hash())
    finally:
        prov.source_hash.cache_clear()
    assert hashes[0] != hashes[1]


class _FakeExperiment:
    """memory_bytes per point: (while computing, result) = (10 + index, 100) bytes."""

    def memory_bytes(self, point):
        return 10 + point.index, 100


def test_sweep_memory_is_the_largest_working_set_plus_every_kept_result(monkeypatch):
    """Three points: working sets 10, 11, 12 bytes, results 100 each, all kept by the sweep:
    12 + 300 = 312 bytes. 312 bytes available fit; 311 do not."""
    import types

    import sims.core.sweep as sweep

    points = [types.SimpleNamespace(index=i) for i in range(3)]
    monkeypatch.setattr(sweep, "available_memory", lambda: 10_000)
    assert sweep.check_memory(_FakeExperiment(), points) == 312
    monkeypatch.setattr(sweep, "available_memory", lambda: 312)
    assert sweep.check_memory(_FakeExperiment(), points) == 312
    monkeypatch.setattr(sweep, "available_memory", lambda: 311)
    with pytest.raises(sweep.SweepTooLarge, match="3 grid point"):
        sweep.check_memory(_FakeExperiment(), points)
    assert sweep.check_memory(_FakeExperiment(), []) == 0


def test_a_sidecar_that_names_another_grid_point_is_recomputed(tmp_path):
    """The sidecar records which grid point it holds (its label); one naming another point does
    not describe this computation: a CacheWarning, and the point is computed again."""
    import json

    from sims.core.sweep import CacheWarning, run_sweep
    from sims.phase_diagram.config import SweepConfig

    cfg = SweepConfig(alphas=(0.01, 0.02), n_etas=3)
    calls = []

    def runner(config, point, **kw):
        calls.append(point.index)
        return fake_point(config, point, **kw)

    run_sweep(cfg, cache_dir=tmp_path, runner=runner, progress=False)
    assert sorted(calls) == [0, 1]
    labels = [p.label for p in cfg.points()]
    assert labels[0] != labels[1]
    sides = {json.loads(p.read_text())["point"]: p for p in tmp_path.glob("*.json")}
    assert set(sides) == set(labels)
    side = sides[labels[0]]
    meta = json.loads(side.read_text())
    meta["point"] = labels[1]
    side.write_text(json.dumps(meta))
    calls.clear()
    with pytest.warns(CacheWarning, match="differs in: point"):
        run_sweep(cfg, cache_dir=tmp_path, runner=runner, progress=False)
    assert calls == [0]


# --- Dask -----------------------------------------------------------------------------------


def test_an_explicit_connect_timeout_is_honoured(monkeypatch):
    """dask_client(address, timeout=1) gives up on an unreachable scheduler after about a
    second, not after the module default (set to 30 s here)."""
    import time

    import sims.core.dask_executor as dx

    pytest.importorskip("distributed")
    monkeypatch.setattr(dx, "CONNECT_TIMEOUT", 30)
    t0 = time.perf_counter()
    with pytest.raises(dx.SchedulerError, match="cannot reach"):
        with dx.dask_client("tcp://127.0.0.1:9", timeout=1):
            pass
    assert time.perf_counter() - t0 < 12


class _FakeFuture:
    def __init__(self, value):
        self.value, self.cancelled = value, False

    def result(self):
        return self.value

    def cancel(self):
        self.cancelled = True


class _FakeClient:
    """Records submissions; every task's result is known at once."""

    def __init__(self):
        self.futures = []

    def submit(self, fn, *args, **_):
        fut = _FakeFuture(fn(*args))
        self.futures.append(fut)
        return fut

    def scheduler_info(self):
        return {"workers": {"a": {}, "b": {}}}


def test_an_interrupted_dask_sweep_cancels_the_tasks_it_has_not_received(monkeypatch):
    """The consumer stops after the first result (Ctrl-C in run_sweep): every other task is
    cancelled, so no work stays queued on the cluster; a sweep read to the end yields every
    point once with its own result."""
    distributed = pytest.importorskip("distributed")
    import sims.core.dask_executor as dx

    monkeypatch.setattr(distributed, "as_completed", lambda futures: iter(list(futures)))
    client = _FakeClient()
    execute = dx.dask_executor(client)
    gen = execute(lambda config, p: 10 * p, None, [1, 2, 3, 4], lambda _t: None)
    assert next(gen) == (1, 10)
    gen.close()
    assert len(client.futures) == 4
    assert all(f.cancelled for f in client.futures[1:])
    client = _FakeClient()
    out = list(dx.dask_executor(client)(lambda config, p: 10 * p, None, [1, 2, 3], lambda _t: None))
    assert sorted(out) == [(1, 10), (2, 20), (3, 30)]
