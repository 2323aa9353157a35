"""Saving a figure: PNG and PDF side by side, each written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from sims.core.cache import atomic_write_bytes

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: the formats every figure is saved in.
FORMATS = ("png", "pdf")


def save_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``out_dir/stem.png`` (150 dpi) and ``.pdf``; return the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150)
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    return paths
