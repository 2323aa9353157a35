"""Test-session set-up shared by every test package.

Hypothesis profiles: ``ci`` (the default, what ``.ci/run`` uses) is derandomised — every run
draws the same examples and no example database is read or written — so CI is deterministic.
``random`` draws fresh examples each run (and keeps failures in ``.hypothesis/`` to replay
them); run it with ``python -m pytest -n 2 -q --hypothesis-profile=random``.

Numba's on-disk cache is keyed by each function's own source file, not by the files it calls
into (``diaglin/models/_ops.py`` is inlined into every kernel). So that an edit anywhere in
``diaglin`` can never be tested against stale machine code, the test session uses a cache
directory named after a hash of all of diaglin's sources (set before numba is imported).

The GPU backend's tests run under numba's CUDA simulator unless NUMBA_ENABLE_CUDASIM is set:
CI has no GPU. On a machine with one, ``NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/cuda``
runs the same tests on the GPU.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hypothesis import settings
from numba.core import config as numba_config

_ROOT = Path(__file__).resolve().parents[1]

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("random", derandomize=False, deadline=None, print_blob=True)
settings.load_profile("ci")  # --hypothesis-profile=random (pytest option) overrides this


def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted((_ROOT / "diaglin").rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


os.environ["NUMBA_CACHE_DIR"] = str(_ROOT / ".pytest_cache" / f"numba-{_source_hash()}")
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
numba_config.reload_config()  # in case a plugin imported numba before this file


def pytest_collection_finish(session):
    """An empty collection is an error, not a pass (pytest would only exit with code 5)."""
    if not session.items:
        raise RuntimeError("no tests collected: check testpaths and the test file names")
