"""On-disk cache of grid-point results: ``<key>.npz`` (arrays, ``allow_pickle=False``) plus a
``<key>.json`` sidecar with the point's full config, seed, package versions (and a hash of the
package source) and the sha256 of the ``.npz``.

Writes are atomic (temp file in the same folder, then ``os.replace``) and get the usual
permissions of new files (0666 minus the umask), so a shared cache folder stays readable. The
``.npz`` is written last, so its presence marks a complete entry. Reading checks provenance: an
entry whose sidecar is unreadable, or does not describe exactly the requested computation, or
whose ``.npz`` does not match the recorded hash, is reported (``CacheMiss.reason``) and
recomputed by the sweep.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_CACHE_DIR = Path(".diaglin_cache")


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one.
    The file gets mode 0666 & ~umask, like any file the user creates."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_dir(path: Path) -> bool:
    """Make ``path`` a folder if it is not one (creating missing parents, like ``mkdir -p``) and
    return whether new files can be written in it (False: a read-only folder).

    Raises ``OSError`` with a one-line message naming the path when it is a file, or cannot be
    created (a parent is a file, or read-only, ...).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"cannot create {path}: a parent is a file") from None
    except OSError as exc:
        raise OSError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The ``.npz`` file of ``arrays`` as bytes (object arrays refused)."""
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise ValueError(f"array {name!r}: object arrays cannot be cached")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` into memory, then ``atomic_write_bytes``."""
    atomic_write_bytes(Path(path), npz_bytes(arrays))


@dataclass(frozen=True)
class CacheMiss:
    """Why a present entry could not be used (absent entries are plain misses, no reason)."""

    key: str
    reason: str


@dataclass(frozen=True)
class ResultCache:
    """A folder of cached grid points, addressed by key
    (see :func:`sims.core.provenance.point_key`)."""

    root: Path = DEFAULT_CACHE_DIR

    def paths(self, key: str) -> tuple[Path, Path]:
        """(npz path, json path) of ``key``."""
        return Path(self.root) / f"{key}.npz", Path(self.root) / f"{key}.json"

    def load(
        self, key: str, expect: dict | None = None
    ) -> dict[str, np.ndarray] | CacheMiss | None:
        """The cached arrays of ``key``; None if absent (or partly written); a
        :class:`CacheMiss` if present but unusable: unreadable sidecar or ``.npz``, a sidecar
        whose key or any entry of ``expect`` (e.g. spec, versions) differs from what it records,
        or an ``.npz`` whose sha256 is not the recorded one."""
        npz, side = self.paths(key)
        if not (npz.exists() and side.exists()):
            return None
        try:
            meta = json.loads(side.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            return CacheMiss(key, f"unreadable sidecar {side.name} ({exc})")
        wrong = [k for k, v in {"key": key, **(expect or {})}.items() if meta.get(k) != v]
        if wrong:
            return CacheMiss(key, f"sidecar {side.name} does not match this computation "
                                  f"(differs in: {', '.join(wrong)})")  # fmt: skip
        try:
            data = npz.read_bytes()
            if hashlib.sha256(data).hexdigest() != meta.get("npz_sha256"):
                return CacheMiss(key, f"{npz.name} does not match the hash in its sidecar")
            with np.load(io.BytesIO(data), allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            return CacheMiss(key, f"unreadable {npz.name} ({exc})")

    def metadata(self, key: str) -> dict | None:
        """The JSON sidecar of ``key`` (None if absent)."""
        meta = self.paths(key)[1]
        return json.loads(meta.read_text()) if meta.exists() else None

    def save(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Store ``arrays`` and the JSON ``meta`` (plus the key and the sha256 of the ``.npz``)
        under ``key``: sidecar first, npz last."""
        npz, side = self.paths(key)
        data = npz_bytes(arrays)
        full = {**meta, "key": key, "npz_sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_bytes(side, json.dumps(full, indent=2, sort_keys=True).encode())
        atomic_write_bytes(npz, data)
