"""Test-session set-up shared by every test package.

Hypothesis profiles: ``ci`` (the default, what ``.ci/run`` uses) is derandomised — every run
draws the same examples and no example database is read or written — so CI is deterministic.
``random`` draws fresh examples each run (and keeps failures in ``.hypothesis/`` to replay
them); run it with ``python -m pytest -n 2 -q --hypothesis-profile=random``.

Numba's on-disk cache is keyed by each function's own source file, not by the files it calls
into (``diaglin/models/_ops.py`` is inlined into every kernel). So that an edit anywhere in
``diaglin`` can never be tested against stale machine code, the test session uses a cache
directory named after a hash of all of diaglin's sources (set before numba is imported;
``tests/numba_cache_dir.py`` names it, and ``.ci/run`` hands it to the quick figures after the
tests, so that they load the kernels the tests compiled).

``--require-cached-kernels`` (the warm-cache pass of ``.ci/run``) fails the session if any of
diaglin's cached Numba functions was compiled rather than loaded from that cache: run after the
suite, it checks kernels written by both xdist workers, loaded together into one process.

The GPU backend's tests run under numba's CUDA simulator unless NUMBA_ENABLE_CUDASIM is set:
CI has no GPU. On a machine with one, ``NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/cuda``
runs the same tests on the GPU.
"""

from __future__ import annotations

import os
import sys

from hypothesis import settings
from numba.core import config as numba_config

from tests.numba_cache_dir import cache_dir

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("random", derandomize=False, deadline=None, print_blob=True)
settings.load_profile("ci")  # --hypothesis-profile=random (pytest option) overrides this


os.environ["NUMBA_CACHE_DIR"] = str(cache_dir())
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
numba_config.reload_config()  # in case a plugin imported numba before this file


def pytest_collection_finish(session):
    """An empty collection is an error, not a pass (pytest would only exit with code 5)."""
    if not session.items:
        raise RuntimeError("no tests collected: check testpaths and the test file names")


def pytest_addoption(parser):
    parser.addoption(
        "--require-cached-kernels", action="store_true",
        help="fail unless every diaglin Numba function used was loaded from numba's cache "
        "(none compiled): the warm-cache pass of .ci/run",
    )  # fmt: skip


def _diaglin_dispatchers():
    """Every cached Numba dispatcher of the loaded diaglin modules, the kernels built by the
    factories included: {"module.qualname": dispatcher}."""
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    from diaglin.kernels import blas, eos_flows, tile

    found = {}
    candidates = [v for name, mod in list(sys.modules.items()) if name.startswith("diaglin.")
                  for v in vars(mod).values()]  # fmt: skip
    candidates += [f for pair in blas._KERNELS.values() for f in pair]
    for k in tile._KERNELS.values():
        candidates += [k, k.py_func.__globals__["drive"]]
    for k in eos_flows._KERNELS.values():
        candidates += [k, k.py_func.__globals__["run"]]
    for v in candidates:
        if isinstance(v, CPUDispatcher) and not isinstance(v._cache, NullCache):
            found[f"{v.py_func.__module__}.{v.py_func.__qualname__}"] = v
    return found


def pytest_sessionfinish(session, exitstatus):
    if not session.config.getoption("--require-cached-kernels") or exitstatus != 0:
        return
    dispatchers = _diaglin_dispatchers()
    compiled = sorted(k for k, v in dispatchers.items() if sum(v.stats.cache_misses.values()))
    loaded = sum(sum(v.stats.cache_hits.values()) for v in dispatchers.values())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if compiled or not loaded:
        reporter.write_line(
            f"--require-cached-kernels: {loaded} loaded from numba's cache; "
            f"compiled instead: {', '.join(compiled) or 'none'}",
            red=True,
        )
        session.exitstatus = 1
    else:
        reporter.write_line(
            f"--require-cached-kernels: {loaded} compiled functions loaded "
            "from numba's cache, none compiled"
        )
