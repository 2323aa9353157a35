"""On-disk cache of grid-point results: ``<key>.npz`` (arrays, ``allow_pickle=False``) plus a
``<key>.json`` sidecar with the point's full config, seed and package versions.

Writes are atomic (temp file in the same folder, then ``os.replace``); the ``.npz`` is written
last, so its presence marks a complete entry. An unreadable entry is treated as a miss.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_CACHE_DIR = Path(".diaglin_cache")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` into memory, then ``atomic_write_bytes`` (object arrays refused)."""
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise ValueError(f"array {name!r}: object arrays cannot be cached")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(Path(path), buf.getvalue())


@dataclass(frozen=True)
class ResultCache:
    """A folder of cached grid points, addressed by key (see :func:`sims.config.point_key`)."""

    root: Path = DEFAULT_CACHE_DIR

    def paths(self, key: str) -> tuple[Path, Path]:
        """(npz path, json path) of ``key``."""
        return Path(self.root) / f"{key}.npz", Path(self.root) / f"{key}.json"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The cached arrays of ``key``, or None on a miss (absent, partial or unreadable)."""
        npz, meta = self.paths(key)
        if not (npz.exists() and meta.exists()):
            return None
        try:
            with np.load(npz, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return None

    def metadata(self, key: str) -> dict | None:
        """The JSON sidecar of ``key`` (None if absent)."""
        meta = self.paths(key)[1]
        return json.loads(meta.read_text()) if meta.exists() else None

    def save(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Store ``arrays`` and the JSON ``meta`` under ``key`` (sidecar first, npz last)."""
        npz, side = self.paths(key)
        text = json.dumps({"key": key, **meta}, indent=2, sort_keys=True)
        atomic_write_bytes(side, text.encode())
        atomic_save_npz(npz, arrays)
