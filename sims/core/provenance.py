"""What produced a result: package versions and a hash of the source that computes it.

Cache keys and sidecars carry both, so a result computed by other code — another release, or an
edited working tree with the same version number — is never served as this code's result.
"""

from __future__ import annotations

import hashlib
import json
import platform
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: Bump when the cached arrays change meaning; part of every cache key.
CACHE_FORMAT = 3
#: packages whose code the cached numbers depend on.
PACKAGES = ("numpy", "scipy", "numba", "llvmlite")
#: our own packages whose source computes the cached numbers (theory too: cached late-decay
#: results hold its min-norm interpolator).
SOURCE_PACKAGES = ("diaglin", "sims", "theory")

_ROOT = Path(__file__).resolve().parents[2]


@cache
def source_hash() -> str:
    """sha256 (16 hex chars) of every ``.py`` file of ``SOURCE_PACKAGES`` (paths and bytes)."""
    h = hashlib.sha256()
    for pkg in SOURCE_PACKAGES:
        for path in sorted((_ROOT / pkg).rglob("*.py")):
            h.update(path.relative_to(_ROOT).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


@cache
def versions() -> dict[str, str]:
    """Everything that enters every cache key: diaglin's version and source hash, Python, and
    the versions of the numerical packages (metadata only: nothing heavy is imported)."""
    from diaglin import __version__

    return {
        "diaglin": __version__,
        "source": source_hash(),
        "python": platform.python_version(),
        **{name: _version(name) for name in PACKAGES},
    }


def point_key(config, point, versions: dict[str, str]) -> str:
    """sha256 (hex, 24 chars) of the experiment type, the point's spec, the package versions and
    the cache format (``config``: any experiment, e.g. a SweepConfig)."""
    payload = {"experiment": type(config).__name__, "spec": config.point_spec(point),
               "versions": versions, "format": CACHE_FORMAT}  # fmt: skip
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def gd_path(backend: str) -> str:
    """The ``run_gd`` path of every cached computation, so that a point's numbers depend on
    its key alone: on the CPU "tile", whose runs are bitwise independent of the batch, the
    chunking and the thread count. ``path="auto"`` picks "blas" or "tile" from the thread
    count (``--jobs``, the machine's cores, a Dask worker's share), and the BLAS path's last
    bits depend on how it deals the runs into blocks; runs at the edge of stability amplify
    last bits to O(1) differences (100 step sizes on a sparse regression, n = 20, d = 100,
    1500 steps: final sharpness differed by up to 1.8 between 1 and 2 threads). On "cuda",
    "auto": chosen from n·d alone."""
    return "tile" if backend == "cpu" else "auto"
