"""What produced a result: package versions and a hash of the source that computes it.

Cache keys and sidecars carry both, so a result computed by other code — another release, or an
edited working tree with the same version number — is never served as this code's result.
"""

from __future__ import annotations

import hashlib
import platform
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: packages whose code the cached numbers depend on.
PACKAGES = ("numpy", "scipy", "numba", "llvmlite")
#: our own packages whose source computes the cached numbers.
SOURCE_PACKAGES = ("diaglin", "sims")

_ROOT = Path(__file__).resolve().parents[1]


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
