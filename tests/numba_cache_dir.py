"""The numba cache folder of the test session: ``.pytest_cache/numba-<hash of diaglin's
sources>`` (see ``tests/conftest.py`` for why it is named after the sources).

``python tests/numba_cache_dir.py`` prints it, so that a command run after the tests can load
the kernels they compiled instead of compiling them again (``.ci/run`` does this for
``python -m paper_figs --quick``): ``NUMBA_CACHE_DIR=$(python tests/numba_cache_dir.py) ...``.
Only the standard library is imported here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def source_hash() -> str:
    """The first 16 hex digits of the SHA-256 of every diaglin source file, in path order."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "diaglin").rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """The test session's numba cache folder."""
    return ROOT / ".pytest_cache" / f"numba-{source_hash()}"


if __name__ == "__main__":
    print(cache_dir())
