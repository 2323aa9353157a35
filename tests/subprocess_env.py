"""The environment for tests that run a command in a fresh Python process: this checkout first
on PYTHONPATH (whatever is installed), and matplotlib's non-interactive backend."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def subprocess_env() -> dict[str, str]:
    """os.environ with ROOT prepended to PYTHONPATH and MPLBACKEND=Agg."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return env
