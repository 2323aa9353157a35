"""Sweeps on a Dask cluster (a real LocalCluster with 2 worker processes): bitwise the
in-process results, nothing finished is lost when a worker is killed mid-sweep, an interrupted
sweep resumes from the cache without recomputing, and a bad scheduler is a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cloudpickle
import numpy as np
import pytest

import sims.core.dask_executor as dx
from sims import phase_diagram
from sims.core.sweep import SweepInterrupted, compute_point, run_sweep
from sims.phase_diagram.config import SweepConfig

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

GRID = SweepConfig(alphas=(0.005, 0.01, 0.02, 0.05), n_etas=12, max_steps=200_000)


def slow_point(config, point, progress=None):
    """The real computation, made slow enough that a worker can be killed in the middle."""
    time.sleep(1.5)
    return compute_point(config, point)


@pytest.fixture(scope="module")
def client():
    with dx.dask_client("local:2", timeout=60) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def in_process():
    return run_sweep(GRID, cache_dir=None, progress=False)


def _same(a, b):
    assert len(a.points) == len(b.points)
    for p, q in zip(a.points, b.points):
        assert p.point == q.point
        for k, v in p.to_arrays().items():
            np.testing.assert_array_equal(v, q.to_arrays()[k], err_msg=k)


def test_a_local_cluster_gives_bitwise_the_in_process_results(client, in_process):
    res = run_sweep(GRID, cache_dir=None, progress=False, executor=dx.dask_executor(client))
    _same(res, in_process)


def test_a_worker_killed_mid_sweep_loses_nothing(client, in_process, tmp_path):
    inner = dx.dask_executor(client)
    killed = []

    def killing(runner, config, points, say):
        for i, item in enumerate(inner(runner, config, points, say)):
            if i == 0:  # the other tasks are running or queued: kill one worker's process
                victim = sorted(client.scheduler_info()["workers"])[0]
                pid = client.run(os.getpid, workers=[victim])[victim]
                os.kill(pid, signal.SIGKILL)
                killed.append(victim)
            yield item

    res = run_sweep(GRID, cache_dir=tmp_path, progress=False, runner=slow_point,
                    executor=killing)  # fmt: skip
    assert killed
    _same(res, in_process)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next test


def test_an_interrupted_sweep_resumes_from_the_cache(client, in_process, tmp_path):
    inner = dx.dask_executor(client)
    submitted = []

    def stop_after_two(runner, config, points, say):
        for i, item in enumerate(inner(runner, config, points, say)):
            yield item
            if i == 1:
                raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted) as stop:
        run_sweep(GRID, cache_dir=tmp_path, progress=False, executor=stop_after_two)
    assert stop.value.cached >= 2

    def recording(runner, config, points, say):
        submitted.extend(p.index for p in points)
        yield from inner(runner, config, points, say)

    res = run_sweep(GRID, cache_dir=tmp_path, progress=False, executor=recording)
    assert len(submitted) == len(GRID.points()) - stop.value.cached
    _same(res, in_process)


def test_cli_runs_on_a_local_cluster(tmp_path, capsys):
    argv = ["--alpha", "0.01", "0.02", "--n-etas", "8", "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache"), "--quiet"]  # fmt: skip
    assert phase_diagram.main([*argv, "--scheduler", "local:2"]) == 0
    assert (tmp_path / "out" / "phase_diagram_index.csv").exists()


@pytest.mark.parametrize("address, needle", [("tcp://127.0.0.1:9", "cannot reach"),
                                             ("local:0", "local:N")])  # fmt: skip
def test_a_bad_scheduler_is_a_clear_error(address, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dx, "CONNECT_TIMEOUT", 2)
    with pytest.raises(SystemExit) as exc:
        phase_diagram.main(["--scheduler", address, "--out", str(tmp_path), "--no-cache"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err or "scheduler" in err
    assert needle in err


def test_without_a_scheduler_nothing_imports_dask():
    code = ("import sys, sims.core.sweep, sims.core.cli, sims.phase_diagram, sims.late_decay; "
            "sys.exit(any(m == 'dask' or m.startswith(('dask.', 'distributed')) "
            "for m in sys.modules))")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
