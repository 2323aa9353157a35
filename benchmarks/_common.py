"""Helpers shared by the benchmark scripts: the workload, worker subprocesses, formatting.

Every engine is timed in its own fresh Python process (``03_performance.md``, lesson 6: after a
Numba parallel region its worker threads keep spinning and slow NumPy/OpenBLAS timed afterwards
in the same process), so the parent only launches workers and collects the JSON they print.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def problem(n: int, d: int, seed: int = 0):
    """X ~ N(0,1)/sqrt(d), beta* >= 0, y = X beta* (float64)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    beta_star = np.abs(rng.standard_normal(d))
    return X, X @ beta_star


def base_parser(doc: str, repeats: int) -> argparse.ArgumentParser:
    """The options every benchmark script shares (plus the hidden ``--worker``)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--quick", action="store_true", help="2 repeats, smaller time budget")
    ap.add_argument("--budget", type=float, default=None, help="seconds per engine and size")
    ap.add_argument(
        "--blas-threads", type=int, default=1,
        help="OPENBLAS_NUM_THREADS for every worker (default 1, see README; 0: library default)",
    )  # fmt: skip
    return ap


def worker_env(blas_threads: int) -> dict | None:
    """Environment overrides for the worker processes (None: library default threads)."""
    return {"OPENBLAS_NUM_THREADS": str(blas_threads)} if blas_threads else None


def run_worker(script: str, args: list[str], env: dict | None = None, timeout: float = 900):
    """Run ``python script --worker *args`` in a fresh process; return its last-line JSON."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, script, "--worker", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed(fn, repeats: int, budget_s: float):
    """Call fn() up to ``repeats`` times (at least once; stop early past ``budget_s``).

    Returns (list of wall times, last result).
    """
    times, out = [], None
    t_start = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - t_start > budget_s:
            break
    return times, out


def fmt_rate(x: float) -> str:
    """Format a rate (per second) with k/M units."""
    if x >= 1e6:
        return f"{x / 1e6:.3g} M"
    if x >= 1e3:
        return f"{x / 1e3:.3g} k"
    return f"{x:.3g}"


def machine_line() -> str:
    import numba

    import diaglin

    return (
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"numba {numba.__version__}, diaglin {diaglin.__version__}, "
        f"load avg {os.getloadavg()[0]:.1f}"
    )
