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


def base_parser(
    doc: str,
    repeats: int,
    *,
    jax: bool = False,
    cores: bool = False,
    compile_time: bool = False,
    worker_args: str | int = "+",
) -> argparse.ArgumentParser:
    """The options every benchmark script shares, the hidden ``--worker`` (``worker_args``: its
    nargs) and, where the script offers them, ``--jax-python`` (``jax``), ``--cores``
    (``cores``) and ``--skip-compile`` (``compile_time``)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--quick", action="store_true", help="2 repeats, smaller time budget")
    ap.add_argument("--budget", type=float, default=None, help="seconds per engine and size")
    ap.add_argument(
        "--blas-threads", type=int, default=1,
        help="OPENBLAS_NUM_THREADS for every worker (default 1, see README; 0: library default)",
    )  # fmt: skip
    if jax:
        ap.add_argument("--jax-python", default=sys.executable,
                        help="interpreter for the JAX worker (default: this one)")  # fmt: skip
    if cores:
        ap.add_argument("--cores", type=int, default=None,
                        help="pin every engine to cores 0..N-1")  # fmt: skip
    if compile_time:
        ap.add_argument("--skip-compile", action="store_true",
                        help="leave out the first-call (compile) timing")  # fmt: skip
    ap.add_argument("--worker", nargs=worker_args, help=argparse.SUPPRESS)
    return ap


def worker_env(blas_threads: int) -> dict | None:
    """Environment overrides for the worker processes (None: library default threads)."""
    return {"OPENBLAS_NUM_THREADS": str(blas_threads)} if blas_threads else None


def pinned_worker_env(blas_threads: int, cores: int | None) -> dict | None:
    """``worker_env`` and, with ``cores``, this process (so every worker, by inheritance)
    pinned to cores 0..cores-1 with that many Numba threads; prints what it set."""
    env = worker_env(blas_threads)
    if env:
        print(f"# OPENBLAS_NUM_THREADS={blas_threads} in every worker\n")
    if cores:
        os.sched_setaffinity(0, set(range(cores)))
        env = {**(env or {}), "NUMBA_NUM_THREADS": str(cores)}
        print(f"# pinned to cores 0..{cores - 1}, NUMBA_NUM_THREADS={cores}\n")
    return env


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


#: JAX on the CPU, one host device (the setting of every JAX peer on the CPU here)
XLA_ENV = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"}


def run_worker_in(python, script, args, env=None, timeout=900):
    """``run_worker`` with another interpreter (e.g. a venv that has JAX)."""
    proc = subprocess.run(
        [python, script, "--worker", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args} ({python}) failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def jax_available(python: str) -> str | None:
    """jax's version if ``python`` can import it, else None (JAX is a peer, never a dependency)."""
    try:
        proc = subprocess.run(
            [python, "-c", "import jax; print(jax.__version__)"],
            capture_output=True,
            text=True,
            env={**os.environ, **XLA_ENV},
            timeout=300,
        )
    except OSError:
        return None
    return proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else None


def jax_gd(X, y, etas, w0, T):
    """What a JAX user writes for the ``bench_gd`` workload: x64, ``jit(vmap(run))`` over η with
    ``lax.fori_loop`` over T steps of w ← w − η·2w⊙Xᵀ(X(w⊙w) − y)/n (the gradient ``jax.grad``
    gives, written out). Returns (compiled function of (etas, w0) → (w (B, d), loss (B,)),
    its arguments, compile seconds)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    n = X.shape[0]
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def one_run(eta, w):
        def step(_, w):
            r = Xj @ (w * w) - yj
            return w - eta * 2.0 * w * (Xj.T @ r) / n

        w = jax.lax.fori_loop(0, T, step, w)
        r = Xj @ (w * w) - yj
        return w, r @ r / (2.0 * n)

    run = jax.jit(jax.vmap(one_run, in_axes=(0, None)))
    args = (jnp.asarray(etas), jnp.asarray(w0))
    t0 = time.perf_counter()
    compiled = run.lower(*args).compile()
    return compiled, args, time.perf_counter() - t0


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
