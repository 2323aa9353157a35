"""Throughput of ``diaglin.run_gd`` vs a vectorised NumPy reference doing the same workload.

    python benchmarks/bench_gd.py [--repeats 5] [--quick] [--skip-compile] [--cores N]
                                  [--jax-python PATH]

Workload (``03_performance.md``): model "ww" (beta = w ⊙ w), L = 1/(2n)||X beta − y||², B runs
with different η ∈ [1e-3, 1e-2] from one start w0 = 0.1, T full-batch GD steps, float64, no run
stopping early (asserted: every status is MAX_STEPS). Reported: run-steps per second B·T / time,
median over repeats, each engine in its own process. The diaglin numbers time the WHOLE
``run_gd`` call, which also computes exact final statistics (sharpness by eigvalsh/Lanczos,
trace, norms); the NumPy reference only does the T steps, so "auto/NumPy" is conservative and
the final-statistics share is reported separately (``IterateStats.at`` timed on the result).

JAX, where ``--jax-python`` (default: this interpreter) can import it: what a JAX user writes
(``_common.jax_gd``: x64, jit + vmap over η, ``lax.fori_loop`` over the T steps, on the CPU),
timed on its compiled function; the table gives diaglin auto / JAX. ``--cores N`` pins the parent
and every worker to cores 0..N-1 (``sched_setaffinity``, inherited) with N Numba threads.

Part 2 times the first-call JIT compilation of ``run_gd`` in a fresh process with an empty
Numba cache (``NUMBA_CACHE_DIR`` = a new temp dir), then again in a second fresh process using the
cache it left behind.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    XLA_ENV,
    base_parser,
    fmt_rate,
    jax_available,
    jax_gd,
    machine_line,
    pinned_worker_env,
    problem,
    run_worker,
    run_worker_in,
    timed,
)

SIZES = [(1024, 1, 5, 10_000), (1024, 20, 100, 2000), (256, 200, 1000, 200), (4096, 200, 1000, 200)]
EPS = 1e-300  # unreachable: every run does exactly T steps
DIVERGE_FACTOR = 1e8  # run_gd's default
MAX_STEPS = 2  # diaglin.Status.MAX_STEPS (not imported by the NumPy worker)


def workload(B, n, d):
    X, y = problem(n, d)
    etas = np.linspace(1e-3, 1e-2, B)
    w0 = np.full(d, 0.1)
    return X, y, etas, w0


def numpy_gd(X, y, etas, w0, T, eps=EPS, diverge_factor=DIVERGE_FACTOR):
    """Reference: what run_gd does per step, vectorised over the B runs.

    β = W⊙W, r = βXᵀ − y, per-run loss = |r|²/(2n), stop test (loss < eps, non-finite or over the
    divergence bound) applied as a mask that compacts the live runs, g = rX/n, W −= η·2W⊙g.
    Returns (final W (B, d), final loss (B,), status (B,)).
    """
    n = X.shape[0]
    B = etas.size
    W = np.tile(w0, (B, 1))
    run = np.arange(B)
    eta = etas[:, None].copy()
    out_W, out_loss = np.empty_like(W), np.empty(B)
    status = np.full(B, -1, np.int8)
    bound = None
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(T + 1):
            r = (W * W) @ X.T - y
            loss = np.einsum("bi,bi->b", r, r) / (2.0 * n)
            if bound is None:
                bound = diverge_factor * np.maximum(loss, eps)
            conv = loss < eps
            div = ~conv & ~(loss <= bound)
            stop = conv | div | (step >= T)
            if stop.any():
                idx = run[stop]
                out_W[idx], out_loss[idx] = W[stop], loss[stop]
                status[idx] = np.where(conv[stop], 0, np.where(div[stop], 1, MAX_STEPS))
                keep = ~stop
                run, eta, bound = run[keep], eta[keep], bound[keep]
                W, r = W[keep], r[keep]
                if not run.size:
                    break
            g = r @ X / n
            W -= eta * (2.0 * W) * g
    return out_W, out_loss, status


def worker(engine, B, n, d, T, repeats, budget):
    X, y, etas, w0 = workload(B, n, d)
    res = {"engine": engine}
    if engine == "jax":
        import jax

        compiled, args, compile_s = jax_gd(X, y, etas, w0, T)
        times, (W, loss) = timed(lambda: jax.block_until_ready(compiled(*args)), repeats, budget)
        W, loss, status = np.asarray(W), np.asarray(loss), np.full(B, MAX_STEPS)
        res.update(stats_times=[0.0], norms_times=[0.0], path="jax", compile_s=compile_s)
    elif engine == "numpy":
        numpy_gd(X, y, etas[:8], w0, min(T, 3))  # warm-up
        times, (W, loss, status) = timed(lambda: numpy_gd(X, y, etas, w0, T), repeats, budget)
        res.update(stats_times=[0.0], norms_times=[0.0], path="numpy")
    else:
        import numba

        import diaglin
        import diaglin.driver as gd_mod

        model = diaglin.get_model("ww")
        kw = dict(eps=EPS, diverge_factor=DIVERGE_FACTOR, path=engine)
        diaglin.run_gd(model, X, y, etas[:8], w0, max_steps=3, **kw)  # compile / warm up
        exact_stats = gd_mod.IterateStats.at

        # Kernel part: run_gd with stats="none" (theta, beta and the loss only); the exact
        # final statistics are timed separately below, on the same iterates (at d = 1000 they
        # cost more than the T steps, which would drown the GD timing).
        def call(steps):
            return diaglin.run_gd(model, X, y, etas, w0, max_steps=steps, stats="none", **kw)

        # Pilot: if T steps would blow the time budget, time fewer and scale to T
        # (no early stop, so the kernel time is proportional to the step count).
        t0 = time.perf_counter()
        call(max(1, T // 20))
        est = (time.perf_counter() - t0) * T / max(1, T // 20)
        steps = T
        if est * min(repeats, 2) > budget:
            steps = int(min(T, max(T // 20, T * budget / (2 * est))))
        times, r = timed(lambda: call(steps), repeats, budget)
        times = [t * T / steps for t in times]
        stats_times, _ = timed(lambda: exact_stats(model, r.theta, X, y), 3, budget / 2)
        norms_times, _ = timed(lambda: exact_stats(model, r.theta, X, y, "norms", loss=r.loss),
                               3, budget / 4)  # fmt: skip
        W, loss, status = r.theta, r.loss, r.status
        res.update(stats_times=stats_times, norms_times=norms_times, path=r.config["path"],
                   steps_timed=steps)  # fmt: skip
        res["auto_path"] = gd_mod.choose_cpu_path(B, n, d, numba.get_num_threads())
    res.update(
        times=times,
        all_max_steps=bool(np.all(status == MAX_STEPS)),
        loss=[float(v) for v in loss],
        w_checksum=float(np.abs(W).sum()),
    )
    print(json.dumps(res))


def compile_worker():
    """Fresh process: import time, first run_gd call (JIT compile or cache load), second call."""
    t0 = time.perf_counter()
    import diaglin

    t_import = time.perf_counter() - t0
    X, y = problem(3, 4)
    out = {"import_s": t_import}
    for path in ("tile", "blas"):
        t0 = time.perf_counter()
        diaglin.run_gd("ww", X, y, [0.01, 0.02], np.full(4, 0.1), max_steps=5, path=path)
        out[f"first_{path}_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        diaglin.run_gd("ww", X, y, [0.01, 0.02], np.full(4, 0.1), max_steps=5, path=path)
        out[f"second_{path}_s"] = time.perf_counter() - t0
    print(json.dumps(out))


def main():
    ap = base_parser(__doc__, repeats=5, jax=True, cores=True, compile_time=True)
    a = ap.parse_args()
    if a.worker:
        if a.worker[0] == "compile":
            return compile_worker()
        eng, B, n, d, T, rep = a.worker[0], *map(int, a.worker[1:6])
        return worker(eng, B, n, d, T, rep, float(a.worker[6]))
    repeats = 2 if a.quick else a.repeats
    budget = a.budget or (12.0 if a.quick else 20.0)
    script = os.path.abspath(__file__)
    print(f"# bench_gd — {machine_line()}")
    print(f"# repeats={repeats} (median), budget {budget:.0f} s per engine and size\n")
    env = pinned_worker_env(a.blas_threads, a.cores)
    jax_version = jax_available(a.jax_python)
    print(f"# JAX {jax_version} ({a.jax_python})\n" if jax_version else
          f"# JAX column skipped: `import jax` fails in {a.jax_python}\n")  # fmt: skip
    rows, notes = [], []
    for B, n, d, T in SIZES:
        res = {}
        for eng in ("numpy", "tile", "blas"):
            args = [eng, *map(str, (B, n, d, T, repeats)), str(budget)]
            res[eng] = run_worker(script, args, env=env)
            assert res[eng]["all_max_steps"], f"{eng} at {(B, n, d, T)}: a run stopped early"
            if res[eng].get("steps_timed", T) != T:
                notes.append(
                    f"{eng} at {(B, n, d, T)}: timed at {res[eng]['steps_timed']} steps "
                    "(a full call would exceed the budget), scaled to T (marked ~)"
                )
        if jax_version:
            args = ["jax", *map(str, (B, n, d, T, repeats)), str(budget)]
            res["jax"] = run_worker_in(a.jax_python, script, args, env={**(env or {}), **XLA_ENV})
        rate = {e: B * T / float(np.median(r["times"])) for e, r in res.items()}
        mark = {e: "~" if r.get("steps_timed", T) != T else "" for e, r in res.items()}
        auto = res["tile"]["auto_path"]
        stat = float(np.median(res[auto]["stats_times"]))
        norms = float(np.median(res[auto]["norms_times"])) / float(np.median(res[auto]["times"]))
        whole_rate = B * T / (float(np.median(res[auto]["times"])) + stat)
        ref = np.asarray(res["numpy"]["loss"])
        full = [e for e in res if e != "numpy" and res[e].get("steps_timed", T) == T]
        errs = [float(np.max(np.abs(np.asarray(res[e]["loss"]) - ref) / np.abs(ref))) for e in full]
        err = f"{max(errs):.1e} ({'+'.join(full)})" if errs else "n/a"
        n_rep = "/".join(str(len(r["times"])) for r in res.values())
        cells = [
            f"({B}, {n}, {d}, {T})",
            fmt_rate(rate["numpy"]),
            f"{mark[auto]}{fmt_rate(rate[auto])} ({auto})",
            f"{mark['tile']}{fmt_rate(rate['tile'])}",
            f"{mark['blas']}{fmt_rate(rate['blas'])}",
            f"**{rate[auto] / rate['numpy']:.2f}×**",
            f"{stat:.3g} s",
            f"+{100 * norms:.1f} %",
            f"{fmt_rate(whole_rate)}",
            f"{whole_rate / rate['numpy']:.2f}×",
            fmt_rate(rate["jax"]) if "jax" in res else "–",
            f"**{rate[auto] / rate['jax']:.2f}×**" if "jax" in res else "–",
            err,
            n_rep,
        ]
        rows.append("| " + " | ".join(cells) + " |")
        print(f"  done {(B, n, d, T)}", file=sys.stderr)
    print("Run-steps per second (B·T / median wall time of T GD steps):\n")
    print(
        "| (B, n, d, T) | NumPy | diaglin auto (path) | tile | blas | auto/NumPy "
        "| + final stats (auto) | stats='norms' vs GD | whole run_gd call (auto) | whole/NumPy "
        "| JAX jit+vmap "
        "| auto/JAX | max rel. diff final loss vs NumPy | repeats NumPy/tile/blas(/JAX) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        "\nGD columns time run_gd with stats='none' (loss only); "
        "'final stats' is IterateStats.at (exact sharpness, trace, norms) timed on the same "
        "iterates; 'stats=norms vs GD': the extra time of the statistics stats='norms' computes "
        "(trace, norms; the loss comes from the kernel) relative to the GD time; "
        "'whole call' = GD + final stats. 'auto' is the measurement of the path "
        "auto selects (diaglin.driver.choose_cpu_path: blas iff (B/threads)·n·d >= BLAS_MIN_WORK)."
    )
    for s in notes:
        print(f"- note: {s}")

    if not a.skip_compile:
        with tempfile.TemporaryDirectory(prefix="numba_cache_") as tmp:
            cenv = {**(env or {}), "NUMBA_CACHE_DIR": tmp}
            c1 = run_worker(script, ["compile"], env=cenv)
            c2 = run_worker(script, ["compile"], env=cenv)
        print(
            "\nFirst-call time of run_gd (model 'ww', n=3, d=4, 2 runs, 5 steps), "
            "fresh processes:\n"
        )
        print(
            "| process | import diaglin | 1st call tile | 2nd call tile "
            "| 1st call blas | 2nd call blas |"
        )
        print("|---|---|---|---|---|---|")
        for name, c in (("empty Numba cache", c1), ("warm cache (2nd process)", c2)):
            print(
                f"| {name} | {c['import_s']:.2f} s | {c['first_tile_s']:.2f} s | "
                f"{c['second_tile_s'] * 1e3:.1f} ms | {c['first_blas_s']:.2f} s | "
                f"{c['second_blas_s'] * 1e3:.1f} ms |"
            )
        print(
            "\n(1st call tile includes compiling the final-statistics kernels; blas reuses them.)"
        )


if __name__ == "__main__":
    main()
