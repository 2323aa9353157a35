"""Sweep config, on-disk cache (hit / miss / resume), atomic writes — mostly with a fake runner."""

import json
import os

import numpy as np
import pytest
from sims_builders import fake_point

import sims.core.sweep
import sims.phase_diagram.point
from sims.core.cache import CacheMiss, ResultCache, atomic_save_npz, atomic_write_bytes
from sims.core.provenance import point_key
from sims.core.sweep import run_sweep
from sims.phase_diagram.config import SweepConfig


class Counter:
    def __init__(self, fail_at: int | None = None):
        self.calls, self.fail_at = [], fail_at

    def __call__(self, config, point, **_):
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt("simulated interruption")
        self.calls.append(point.index)
        return fake_point(config, point)


GRID = SweepConfig(alphas=(0.01, 0.02, 0.05), epsilons=(1e-12, 1e-10), n_etas=7)


def test_grid_points_and_etas():
    pts = GRID.points()
    assert len(pts) == 6 and [p.index for p in pts] == list(range(6))
    assert pts[1].alpha == 0.01 and pts[1].eps == 1e-10
    e = GRID.etas(0.2)
    assert e.size == 7 and np.isclose(e[0], 0.05 * 0.2) and np.isclose(e[-1], 3.0 * 0.2)
    lin = SweepConfig(eta_grid="linear", eta_units="absolute", eta_min=0.1, eta_max=0.7, n_etas=4)
    assert np.allclose(lin.etas(123.0), [0.1, 0.3, 0.5, 0.7])


@pytest.mark.parametrize(
    "kw, name",
    [({"alphas": (-1.0,)}, "alpha"), ({"epsilons": (0.0,)}, "eps"), ({"model": "xx"}, "model"),
     ({"eta_min": 2.0, "eta_max": 1.0}, "eta_min"), ({"n_etas": 0}, "n_etas"),
     ({"eta_grid": "cubic"}, "eta_grid"), ({"backend": "tpu"}, "backend"),
     ({"max_steps": 0}, "max_steps"), ({"dims": (0,)}, "d"), ({"dims": (5.7,)}, "d: expected int"),
     ({"n_samples": (float("inf"),)}, "n: expected finite"),
     ({"model_kwargs": (("depth", 3),)}, "model_kwargs")],
)  # fmt: skip
def test_config_rejects_bad_values_naming_the_field(kw, name):
    with pytest.raises(ValueError, match=name):
        SweepConfig(**kw)


def test_config_roundtrips_through_dict():
    cfg = SweepConfig(model="prod", model_kwargs={"depth": 3}, alphas=(0.1, 0.2))
    assert SweepConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_key_depends_on_config_point_and_version():
    p = GRID.points()[0]
    v = {"diaglin": "0.1.0"}
    k = point_key(GRID, p, v)
    assert k == point_key(SweepConfig.from_dict(GRID.to_dict()), p, dict(v))
    assert k != point_key(GRID, GRID.points()[1], v)
    assert k != point_key(GRID.__class__(**{**vars(GRID), "max_steps": 7}), p, v)
    assert k != point_key(GRID, p, {"diaglin": "0.2.0"})


def test_cache_hit_and_miss(tmp_path):
    runner = Counter()
    first = run_sweep(GRID, cache_dir=tmp_path, runner=runner, progress=False)
    assert runner.calls == list(range(6))
    assert len(list(tmp_path.glob("*.npz"))) == 6 and len(list(tmp_path.glob("*.json"))) == 6
    again = Counter()
    second = run_sweep(GRID, cache_dir=tmp_path, runner=again, progress=False)
    assert again.calls == []
    for a, b in zip(first.points, second.points):
        for k, v in a.to_arrays().items():
            np.testing.assert_array_equal(v, b.to_arrays()[k])
    changed = Counter()
    run_sweep(SweepConfig(**{**vars(GRID), "n_etas": 8}), cache_dir=tmp_path, runner=changed,
              progress=False)  # fmt: skip
    assert changed.calls == list(range(6))


def test_version_change_is_a_miss(tmp_path, monkeypatch):
    run_sweep(GRID, cache_dir=tmp_path, runner=Counter(), progress=False)
    monkeypatch.setattr(sims.core.sweep, "versions", lambda: {"diaglin": "99.0"})
    runner = Counter()
    run_sweep(GRID, cache_dir=tmp_path, runner=runner, progress=False)
    assert runner.calls == list(range(6))


def test_no_cache_writes_nothing(tmp_path):
    runner = Counter()
    run_sweep(GRID, cache_dir=None, runner=runner, progress=False)
    assert runner.calls == list(range(6)) and not list(tmp_path.iterdir())


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run_sweep(GRID, cache_dir=tmp_path, runner=Counter(fail_at=4), progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    resumed = Counter()
    res = run_sweep(GRID, cache_dir=tmp_path, runner=resumed, progress=False)
    assert resumed.calls == [4, 5]
    assert [p.point.index for p in res.points] == list(range(6))


def test_sidecar_holds_config_seed_versions_and_npz_has_no_pickles(tmp_path):
    run_sweep(GRID, cache_dir=tmp_path, runner=Counter(), progress=False)
    meta = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert meta["sweep"] == GRID.to_dict() and meta["seed"] == GRID.data_seed
    assert "diaglin" in meta["versions"] and meta["spec"]["alpha"] in GRID.alphas
    with np.load(next(tmp_path.glob("*.npz")), allow_pickle=False) as f:
        assert all(f[k].dtype != object for k in f.files)


def test_run_gd_called_once_per_grid_point(tmp_path, monkeypatch):
    calls = []
    real = sims.phase_diagram.point.run_gd

    def counting(*args, **kw):
        calls.append(np.size(args[3]))
        return real(*args, **kw)

    monkeypatch.setattr(sims.phase_diagram.point, "run_gd", counting)
    cfg = SweepConfig(alphas=(0.01, 0.05), n_etas=9, max_steps=3000)
    res = run_sweep(cfg, cache_dir=tmp_path, progress=False)
    assert calls == [10, 10]  # all 9 etas (+ the reference run) of a point in ONE call
    run_sweep(cfg, cache_dir=tmp_path, progress=False)
    assert len(calls) == 2
    p = res.first()
    assert p.etas.size == 9 and p.final.beta.shape == (9, 5) and p.reference is not None


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.npz"
    atomic_save_npz(target, {"a": np.arange(3)})

    def broken(fh, **arrays):
        fh.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError):
        atomic_save_npz(target, {"a": np.arange(5)})
    with np.load(target, allow_pickle=False) as f:
        np.testing.assert_array_equal(f["a"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]


def test_atomic_write_bytes_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two" and len(os.listdir(path.parent)) == 1


def test_unreadable_entry_is_a_reported_miss(tmp_path):
    cache = ResultCache(tmp_path)
    cache.save("k", {"a": np.ones(2)}, {"spec": {}})
    np.testing.assert_array_equal(cache.load("k")["a"], np.ones(2))
    assert cache.load("absent") is None
    cache.paths("k")[0].write_bytes(b"not a zip")
    miss = cache.load("k")
    assert isinstance(miss, CacheMiss) and "does not match the hash" in miss.reason
    with pytest.raises(ValueError, match="object"):
        cache.save("k2", {"a": np.array([{}], dtype=object)}, {})


def test_a_points_numbers_do_not_depend_on_the_thread_count():
    """A cached point must be what any run of its config computes (its key holds no thread
    count): on an instance where ``run_gd(path="auto")`` would take the BLAS path with one
    thread and the tile path with two (the BLAS path's last bits depend on its blocks), the
    sweep's GD (``gd_path``) is bitwise the same with 1 and 2 Numba threads."""
    import numba

    from diaglin.driver import choose_cpu_path

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one Numba thread: nothing to compare")
    cfg = SweepConfig(model="ww", alphas=(0.1,), epsilons=(1e-6,), dims=(100,), n_samples=(20,),
                      n_etas=100, eta_min=0.5, eta_max=1.9, max_steps=300)  # fmt: skip
    point = cfg.points()[0]
    assert [choose_cpu_path(100, 20, 100, t) for t in (1, 2)] == ["blas", "tile"]
    threads = numba.get_num_threads()
    out = {}
    try:
        for t in (1, 2):
            numba.set_num_threads(t)
            out[t] = cfg.compute(point)
    finally:
        numba.set_num_threads(threads)
    one, two = out[1].to_arrays(), out[2].to_arrays()
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
