"""The cache's key check and the Dask executor's resilience: a sidecar whose key field was edited
is detected and the point recomputed; a task that fails once with a transient error is retried
and the sweep succeeds with the in-process numbers; ``local:N`` gives every worker at least one
Numba thread even with more workers than cores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

import sims.core.dask_executor as dx
from sims.core.cache import CacheMiss, ResultCache
from sims.core.sweep import CacheWarning, compute_point, run_sweep
from sims.phase_diagram.config import SweepConfig

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

CFG = SweepConfig(n_etas=5, max_steps=3000)  # one grid point

# --- 7. the sidecar's key -------------------------------------------------------------------


def test_a_sidecar_with_an_edited_key_is_a_cache_miss(tmp_path):
    cache = ResultCache(tmp_path)
    cache.save("abc", {"a": np.arange(3.0)}, {"spec": {"n": 1}})
    side = cache.paths("abc")[1]
    assert json.loads(side.read_text())["key"] == "abc"
    np.testing.assert_array_equal(cache.load("abc", expect={"spec": {"n": 1}})["a"], [0, 1, 2])
    meta = json.loads(side.read_text())
    meta["key"] = "another"
    side.write_text(json.dumps(meta))
    miss = cache.load("abc", expect={"spec": {"n": 1}})
    assert isinstance(miss, CacheMiss) and miss.key == "abc"
    assert "differs in: key" in miss.reason


def _sweep(cache_dir, calls):
    def runner(config, point, **_):
        calls.append(point.index)
        return compute_point(config, point)

    return run_sweep(CFG, cache_dir=cache_dir, runner=runner, progress=False)


def test_an_edited_sidecar_key_is_detected_and_recomputed(tmp_path):
    calls = []
    first = _sweep(tmp_path, calls)
    (npz,) = tmp_path.glob("*.npz")
    side = npz.with_suffix(".json")
    meta = json.loads(side.read_text())
    assert meta["key"] == npz.stem
    meta["key"] = "0" * len(npz.stem)
    side.write_text(json.dumps(meta))
    with pytest.warns(CacheWarning, match="differs in: key.*recomputing"):
        again = _sweep(tmp_path, calls)
    assert calls == [0, 0]
    np.testing.assert_array_equal(first.first().final.sharpness, again.first().final.sharpness)
    assert json.loads(side.read_text())["key"] == npz.stem  # the entry is whole again
    calls.clear()
    _sweep(tmp_path, calls)
    assert calls == []


# --- 8. retries of a transient failure ------------------------------------------------------


def test_a_task_that_fails_once_is_retried_and_the_sweep_succeeds(tmp_path):
    distributed = pytest.importorskip("distributed")
    log = tmp_path / "attempts"

    def flaky(config, point, progress=None):
        """Fails with a transient error on the first attempt at each point (the attempts are
        counted in a file: the task may run in another thread or process)."""
        with Path(log).open("a") as fh:
            fh.write(f"{point.index}\n")
        if Path(log).read_text().split().count(str(point.index)) == 1:
            raise ConnectionResetError("transient: lost the connection to the data store")
        return compute_point(config, point)

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)  # fmt: skip
    try:
        with distributed.Client(cluster) as client:
            res = run_sweep(CFG, cache_dir=None, progress=False, runner=flaky,
                            executor=dx.dask_executor(client))  # fmt: skip
    finally:
        cluster.close()
    assert log.read_text().split() == ["0", "0"]  # failed once, then succeeded
    ref = run_sweep(CFG, cache_dir=None, progress=False)
    for k, v in ref.first().to_arrays().items():
        np.testing.assert_array_equal(res.first().to_arrays()[k], v, err_msg=k)


# --- 9. threads per worker of local:N -------------------------------------------------------


@pytest.mark.parametrize("cores, n", [(2, 4), (1, 3), (2, 2), (8, 2), (2, 1), (6, 4)])
def test_local_workers_get_at_least_one_thread_and_share_the_cores(cores, n, monkeypatch):
    """``local:N`` on a machine with ``cores`` cores (a fake cluster records what it gets):
    every worker has >= 1 Numba thread; the workers never use more threads than there are
    cores unless there are more workers than cores; they use all cores when N divides them."""
    distributed = pytest.importorskip("distributed")
    made = {}

    class FakeCluster:
        scheduler_address = "tcp://fake:1"

        def __init__(self, **kwargs):
            made["cluster"] = kwargs

        def close(self):
            made["closed"] = True

    class FakeClient:
        def __init__(self, address, **_):
            made["address"] = address

        def close(self):
            pass

    monkeypatch.setattr(dx.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(distributed, "LocalCluster", FakeCluster)
    monkeypatch.setattr(distributed, "Client", FakeClient)
    with dx.dask_client(f"local:{n}"):
        pass
    kw = made["cluster"]
    threads = int(kw["env"]["NUMBA_NUM_THREADS"])
    assert kw["n_workers"] == n and made["address"] == "tcp://fake:1" and made["closed"]
    assert threads >= 1
    assert n * threads <= max(cores, n)
    if cores % n == 0:
        assert n * threads == cores
