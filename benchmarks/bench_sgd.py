"""Throughput of label-noise SGD: ``diaglin.run_sgd`` vs the JAX program a JAX user writes.

    python benchmarks/bench_sgd.py [--repeats 3] [--quick] [--jax-python PATH] [--skip-compile]

Workload (issue 9): model "pm" (beta = u⊙u − v⊙v, theta = (u, v), P = 2d), data
``sparse_regression(n=30, d=100, s=3, seed=0)``, start u = v = alpha = 0.5, label-noise SGD with
batch_size 1 and Gaussian label noise sigma = 1, constant eta = 0.004, B runs (seeds 0..B−1), T
steps, float64, nothing recorded. Reported: single-sample steps per second summed over the runs,
B·T / time, median over repeats, each engine in its own fresh process.

diaglin: the WHOLE ``run_sgd`` call with ``stats="none"`` (the final iterate and its clean
loss only), timed after a warm-up call (10 steps, same B: JIT compile / cache load, thread pool
start). The exact final statistics of ``stats="all"`` (sharpness, trace, norms) are timed
separately, with ``IterateStats.at`` on the same final iterates, and added for the
"stats='all'" column. Every run must end with status MAX_STEPS (asserted).

JAX: what a JAX user writes — x64 enabled, per-run keys ``jax.random.split(PRNGKey(0), B)``, a
one-run step (split the key in 3, ``randint`` a row, ``normal`` a noise, r = ⟨x_i, u²−v²⟩ −
y_i − sigma·xi, u −= eta·2r·x_i⊙u, v += eta·2r·x_i⊙v) in ``lax.fori_loop`` over T steps,
``vmap`` over the runs, ``jit`` of the whole thing, ``block_until_ready``. Compiled ahead of
time (``.lower(...).compile()``, timed: the JAX compile column), then the compiled program is
called. It runs only where ``--jax-python`` (default: this interpreter) can ``import jax``;
JAX is not a diaglin dependency, so use a separate venv, e.g.
``python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax numpy``.
The two engines draw different random streams, so the check is statistical: the mean final
clean training loss over the B runs must agree within a factor LOSS_FACTOR.

Part 2 times the first-call JIT compilation of ``run_sgd`` in a fresh process with an empty
Numba cache (``NUMBA_CACHE_DIR`` = a new temp dir), then again in a second fresh process using
the cache it left behind.
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
    machine_line,
    run_worker,
    run_worker_in,
    timed,
    worker_env,
)  # fmt: skip

SIZES = [(64, 200_000), (256, 50_000), (1024, 20_000)]  # (B, T); --quick: T / 10
N, D, S, ALPHA, ETA, SIGMA = 30, 100, 3, 0.5, 0.004, 1.0
MAX_STEPS = 2  # diaglin.Status.MAX_STEPS
LOSS_FACTOR = 3.0  # the engines' mean final losses must agree within this factor
TARGET_RATE, TARGET_RATIO = 1e7, 2.0  # issue 9: diaglin >= 1e7 steps/s in total and >= 2x JAX
#: XLA on CPU: one host device (its default; stated so a user's XLA_FLAGS cannot change it)


def make_data(path: str) -> None:
    """Write the workload's X, y (from diaglin.data) to ``path`` (.npz) for both workers."""
    from diaglin.data import sparse_regression

    ds = sparse_regression(N, D, S, seed=0)
    np.savez(path, X=ds.X, y=ds.y)


def clean_loss(u, v, X, y):
    """L = 1/(2n)||X (u⊙u − v⊙v) − y||² per run (rows of u, v)."""
    r = (u * u - v * v) @ X.T - y
    return 0.5 * np.mean(r * r, axis=1)


def diaglin_worker(B, T, repeats, budget, data):
    import numba

    import diaglin
    from diaglin.results import IterateStats
    from diaglin.schedules import Schedule

    z = np.load(data)
    X, y = z["X"], z["y"]
    model = diaglin.get_model("pm")
    theta0 = model.init(X.shape[1], ALPHA)
    sched = Schedule.constant(ETA, noise=SIGMA)
    seeds = np.arange(B)

    def call(steps, stats="none"):
        return diaglin.run_sgd(
            model, X, y, sched, theta0, seeds=seeds, max_steps=steps, batch_size=1, stats=stats
        )

    call(10)  # compile / cache load, thread pool start
    times, r = timed(lambda: call(T), repeats, budget)
    th = r.final.theta
    IterateStats.at(model, th[:2], X, y, "all")  # load the statistics kernels
    stats_times, _ = timed(lambda: IterateStats.at(model, th, X, y, "all"), 3, budget / 2)
    u, v = th[:, : X.shape[1]], th[:, X.shape[1] :]
    res = dict(
        engine="diaglin",
        times=times,
        stats_times=stats_times,
        all_max_steps=bool(np.all(r.status == MAX_STEPS)),
        loss=[float(v) for v in r.final.loss],
        loss_check=float(np.max(np.abs(clean_loss(u, v, X, y) - r.final.loss))),
        threads=numba.get_num_threads(),
    )
    print(json.dumps(res))


def jax_worker(B, T, repeats, budget, data):
    t0 = time.perf_counter()
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    t_import = time.perf_counter() - t0
    z = np.load(data)
    X, y = jnp.asarray(z["X"]), jnp.asarray(z["y"])
    n, d = X.shape
    eta, sigma = ETA, SIGMA

    def step(_, carry):
        key, u, v = carry
        key, k1, k2 = jax.random.split(key, 3)
        i = jax.random.randint(k1, (), 0, n)
        xi = jax.random.normal(k2)
        x = X[i]
        r = x @ (u * u - v * v) - y[i] - sigma * xi
        gu = 2.0 * r * x * u
        gv = -2.0 * r * x * v
        return key, u - eta * gu, v - eta * gv

    def one_run(key, u0, v0):
        _, u, v = jax.lax.fori_loop(0, T, step, (key, u0, v0))
        return u, v

    run = jax.jit(jax.vmap(one_run, in_axes=(0, None, None)))
    keys = jax.random.split(jax.random.PRNGKey(0), B)
    u0 = jnp.full(d, ALPHA)
    v0 = jnp.full(d, ALPHA)
    t0 = time.perf_counter()
    compiled = run.lower(keys, u0, v0).compile()
    t_compile = time.perf_counter() - t0
    times, (u, v) = timed(lambda: jax.block_until_ready(compiled(keys, u0, v0)), repeats, budget)
    u, v = np.asarray(u), np.asarray(v)
    loss = clean_loss(u, v, z["X"], z["y"])
    res = dict(
        engine="jax",
        times=times,
        compile_s=t_compile,
        import_s=t_import,
        all_finite=bool(np.all(np.isfinite(loss))),
        loss=[float(v) for v in loss],
        version=jax.__version__,
        devices=str(jax.devices()),
    )
    print(json.dumps(res))


def compile_worker(data):
    """Fresh process: import time, first/second run_sgd call (stats="none"), then the first
    call with stats="all" (adds the statistics kernels)."""
    t0 = time.perf_counter()
    import diaglin
    from diaglin.schedules import Schedule

    out = {"import_s": time.perf_counter() - t0}
    z = np.load(data)
    X, y = z["X"], z["y"]
    theta0 = diaglin.get_model("pm").init(X.shape[1], ALPHA)
    sched = Schedule.constant(ETA, noise=SIGMA)
    for name, stats in (("first", "none"), ("second", "none"), ("first_all", "all")):
        t0 = time.perf_counter()
        diaglin.run_sgd("pm", X, y, sched, theta0, seeds=[0, 1], max_steps=5, stats=stats)
        out[f"{name}_s"] = time.perf_counter() - t0
    print(json.dumps(out))


def main():
    ap = base_parser(__doc__, repeats=3, jax=True, compile_time=True)
    a = ap.parse_args()
    if a.worker:
        if a.worker[0] == "compile":
            return compile_worker(a.worker[1])
        eng, (B, T, rep), budget, data = a.worker[0], map(int, a.worker[1:4]), *a.worker[4:6]
        fn = jax_worker if eng == "jax" else diaglin_worker
        return fn(B, T, rep, float(budget), data)
    repeats = 2 if a.quick else a.repeats
    budget = a.budget or (20.0 if a.quick else 90.0)
    sizes = [(B, T // 10 if a.quick else T) for B, T in SIZES]
    script = os.path.abspath(__file__)
    env = worker_env(a.blas_threads)
    jax_version = jax_available(a.jax_python)
    print(f"# bench_sgd — {machine_line()}")
    print(f"# repeats={repeats} (median), budget {budget:.0f} s per engine and size")
    if env:
        print(f"# OPENBLAS_NUM_THREADS={a.blas_threads} in every worker")
    if jax_version:
        print(
            f"# JAX {jax_version} ({a.jax_python}), "
            + " ".join(f"{k}={v}" for k, v in XLA_ENV.items())
        )
    else:
        print(f"# JAX rows skipped: `import jax` fails in {a.jax_python} (pass --jax-python)")
    print()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_sgd_") as tmp:
        data = os.path.join(tmp, "data.npz")
        make_data(data)
        for B, T in sizes:
            args = [*map(str, (B, T, repeats)), str(budget), data]
            dg = run_worker(script, ["diaglin", *args], env=env)
            assert dg["all_max_steps"], f"diaglin at {(B, T)}: a run diverged"
            assert dg["loss_check"] < 1e-10, f"diaglin at {(B, T)}: final loss mismatch"
            rate = B * T / float(np.median(dg["times"]))
            stat = float(np.median(dg["stats_times"]))
            whole = B * T / (float(np.median(dg["times"])) + stat)
            loss_dg = float(np.mean(dg["loss"]))
            cells = [f"({B}, {T})", fmt_rate(rate), f"{stat:.3g} s", fmt_rate(whole)]
            if jax_version:
                jx = run_worker_in(
                    a.jax_python, script, ["jax", *args], env={**(env or {}), **XLA_ENV}
                )
                assert jx["all_finite"], f"JAX at {(B, T)}: a run diverged"
                jrate = B * T / float(np.median(jx["times"]))
                loss_jx = float(np.mean(jx["loss"]))
                q = loss_dg / loss_jx
                assert 1 / LOSS_FACTOR < q < LOSS_FACTOR, (
                    f"{(B, T)}: mean final loss diaglin {loss_dg:.4g} vs JAX {loss_jx:.4g}"
                )
                met = rate >= TARGET_RATE and rate / jrate >= TARGET_RATIO
                cells += [
                    fmt_rate(jrate),
                    f"**{rate / jrate:.2f}×**",
                    f"{jx['compile_s']:.2f} s",
                    f"{loss_dg:.4g} / {loss_jx:.4g}",
                    "yes" if met else "no",
                    f"{len(dg['times'])}/{len(jx['times'])}",
                ]
            else:
                met = rate >= TARGET_RATE
                cells += ["–", "–", "–", f"{loss_dg:.4g} / –", "yes" if met else "no",
                          f"{len(dg['times'])}/–"]  # fmt: skip
            rows.append("| " + " | ".join(cells) + " |")
            print(f"  done {(B, T)}", file=sys.stderr)
        print(
            "Single-sample steps per second, summed over the B runs (B·T / median wall time), "
            f"Numba threads: {dg['threads']}:\n"
        )
        print(
            '| (B, T) | diaglin run_sgd stats="none" | + final stats "all" | whole call '
            'stats="all" | JAX | diaglin/JAX | JAX compile | mean final loss diaglin / JAX '
            f"| target (≥ {TARGET_RATE:.0e}/s, ≥ {TARGET_RATIO:g}× JAX) | repeats diaglin/JAX |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        print(
            "\ndiaglin columns time the whole run_sgd call with stats='none' (final iterate and "
            "its clean loss); 'final stats' is IterateStats.at(..., 'all') (exact sharpness, "
            "trace, norms) timed on the same final iterates; 'whole call' = both. JAX: the "
            "compiled program (lower().compile() excluded; its time is the compile column)."
        )

        if not a.skip_compile:
            with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
                cenv = {**(env or {}), "NUMBA_CACHE_DIR": cache}
                c1 = run_worker(script, ["compile", data], env=cenv)
                c2 = run_worker(script, ["compile", data], env=cenv)
            print(
                "\nFirst-call time of run_sgd (model 'pm', d=100, 2 runs, 5 steps), "
                "fresh processes:\n"
            )
            print(
                '| process | import diaglin | 1st call stats="none" | 2nd call '
                '| then 1st call stats="all" |'
            )
            print("|---|---|---|---|---|")
            for name, c in (("empty Numba cache", c1), ("warm cache (2nd process)", c2)):
                print(
                    f"| {name} | {c['import_s']:.2f} s | {c['first_s']:.2f} s | "
                    f"{c['second_s'] * 1e3:.1f} ms | {c['first_all_s']:.2f} s |"
                )
            if jax_version:
                print(f"\n(JAX: `import jax` took {jx['import_s']:.2f} s in the last worker.)")


if __name__ == "__main__":
    main()
