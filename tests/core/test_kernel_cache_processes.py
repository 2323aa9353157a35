"""Kernels loaded from a numba cache that other processes wrote give, bitwise, what a fresh
process computes (issue 26: with each model's kernel cached by a process of its own, a process
that loaded two of them ran the first one's driver in the second, or crashed).

Each kernel below is compiled by a process of its own into an empty cache folder of this test;
then one process loads them all, in one order and in the reverse order."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.subprocess_env import subprocess_env

#: the models whose GD kernels are compiled, each by a process of its own (issue 26's collision
#: was between two models' kernels: same driver name, different model code). No SGD kernel is
#: compiled here: the warm-cache pass of ``.ci/run`` loads those, with the GD kernels, from the
#: cache both xdist workers wrote and repeats their reference tests; one more here cost CI about
#: a minute of one core.
MODELS = ("ww", "uv", "pm")

_RUN = r"""
import hashlib, sys
import numpy as np
import diaglin as dl
from diaglin.kernels.tile import gd_kernel

for name in sys.argv[1:]:
    m = dl.get_model(name)
    ds = dl.data.sparse_regression(3, 5, 1, seed=3, nonneg=name == "ww")
    X, y, th0 = ds.X, ds.y, m.init(5, 0.5)
    r = dl.run_gd(m, X, y, np.array([0.02, 0.1, 0.3, 1e-4, 50.0]), th0, eps=1e-8,
                  max_steps=1500, path="tile", stats="none")
    digest = hashlib.sha256(b"".join(a.tobytes() for a in (r.theta, r.loss, r.steps, r.status)))
    kernel = gd_kernel(m.kind)
    hits = sum(kernel.stats.cache_hits.values())
    misses = sum(kernel.stats.cache_misses.values())
    print(name, digest.hexdigest(), hits, misses, ",".join(map(str, sorted(set(r.status)))))
"""


def _processes(cache_dir, runs: list[list[str]]) -> list[dict[str, tuple]]:
    """Run each list of models in a process of its own, all at once, with numba's cache in
    ``cache_dir``; per process {model: (digest, cache hits, cache misses, statuses)}."""
    env = {**subprocess_env(), "NUMBA_CACHE_DIR": str(cache_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", _RUN, *models], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for models in runs]  # fmt: skip
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=900)
        assert p.returncode == 0, stderr[-3000:]
        rows = [line.split(" ", 4) for line in stdout.splitlines() if line.strip()]
        out.append({r[0]: (r[1], int(r[2]), int(r[3]), set(map(int, r[4].split(","))))
                    for r in rows})  # fmt: skip
    return out


@pytest.mark.slow
def test_kernels_cached_by_different_processes_load_together_with_their_own_code(tmp_path):
    fresh = {}
    for compiled in _processes(tmp_path, [[name] for name in MODELS]):
        fresh.update(compiled)
    assert set(fresh) == set(MODELS)
    assert all(misses == 1 for _, _, misses, _ in fresh.values()), fresh  # each one compiled
    # the instances are not degenerate: every batch converges, diverges and runs out of steps
    assert all(fresh[s][3] == {0, 1, 2} for s in MODELS), fresh
    for order in (list(MODELS), list(reversed(MODELS))):
        (loaded,) = _processes(tmp_path, [order])
        for name in MODELS:
            digest, hits, misses, _ = loaded[name]
            assert (hits, misses) == (1, 0), (name, "not loaded from the cache")
            assert digest == fresh[name][0], (name, "differs from a fresh process", order)
