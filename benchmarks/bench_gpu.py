"""The GPU backend against JAX on the same GPU and against diaglin's CPU backend.

    python benchmarks/bench_gpu.py [--repeats 3] [--quick] [--sizes all|small] [--no-cpu]

Workload: that of ``bench_gd.py`` (model "ww", beta = w ⊙ w, B runs with η ∈ [1e-3, 1e-2] from
w0 = 0.1, T full-batch GD steps, float64, no run stopping early: every status is MAX_STEPS).
Engines, each in its own process:

- ``cuda``: ``run_gd(..., backend="cuda", stats="none")``, the whole call (host↔device copies
  included), with the path auto picks; ``cuda-tile`` / ``cuda-blas`` force a kernel shape;
- ``jax``: what a JAX user writes — x64, ``jax.jit(jax.vmap(run))`` over η with
  ``lax.fori_loop`` over the steps, the gradient written out (as ``jax.grad`` would give it),
  on the default (GPU) device; skipped where ``import jax`` fails (JAX is never a dependency);
- ``cpu``: ``run_gd(..., stats="none")`` on all cores.

Reported: run-steps per second of a whole call of T steps, B·T / its median time; where T steps
would exceed the time budget (the CPU at large sizes), the call is timed at fewer steps and
fitted as fixed + T·per_step from two step counts (marked ~), so that the fixed costs are not
scaled up with the steps. For diaglin also the steps alone, B / per_step, from the difference
between T/20 and T steps where it stands out of the timing noise ("fixed-bound" where it does
not: the call is then its fixed costs), and the raw times of both step counts. JAX is timed as
its users call it: on arguments already on the GPU, its result left there. Plus the first-call
(compile) time, and the largest relative difference of the final losses between the engines
that ran all T steps.

Then (unless ``--no-stats``) the final statistics, issue 10's item 2: ``run_gd(...,
backend="cuda")`` with stats "none", "norms" (+ the Hessian's trace, on the GPU) and "all" (+ the
sharpness, by Lanczos on the GPU), and the CPU's ``diaglin.sharpness(..., bottom=False)`` of the
same final iterates on all cores (timed on the first runs where all B would exceed the budget,
scaled to B: marked ~), with the largest relative difference of the sharpness between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import fmt_rate, jax_gd, problem, run_worker, timed  # noqa: E402

SIZES = [(65_536, 1, 5, 10_000), (16_384, 20, 100, 2000), (4096, 200, 1000, 200),
         (1024, 1, 5, 10_000)]  # fmt: skip
EPS = 1e-300  # unreachable: every run does exactly T steps
MAX_STEPS = 2  # diaglin.Status.MAX_STEPS


def workload(B, n, d):
    X, y = problem(n, d)
    return X, y, np.linspace(1e-3, 1e-2, B), np.full(d, 0.1)


def diaglin_worker(engine, B, n, d, T, repeats, budget):
    import diaglin

    X, y, etas, w0 = workload(B, n, d)
    backend = "cpu" if engine == "cpu" else "cuda"
    path = engine.split("-")[1] if "-" in engine else "auto"

    def call(steps, runs=B):
        return diaglin.run_gd("ww", X, y, etas[:runs], w0, eps=EPS, max_steps=steps,
                              stats="none", backend=backend, path=path)  # fmt: skip

    t0 = time.perf_counter()
    call(3, min(B, 64))  # compile (or load from the cache) and warm up
    first = time.perf_counter() - t0
    # Two step counts, s1 = T/20 and s2 = T (fewer where T steps would blow the budget). The
    # whole call is the measured time of T steps where it ran; the fit t = fixed + steps·per_step
    # separates the fixed costs (copies, layout, final statistics on the host) from the steps,
    # and is reported only where the s2 − s1 steps took clearly longer than the timing noise
    # (else the call is bound by its fixed costs: per_step None).
    s1 = max(1, T // 20)
    t1, _ = timed(lambda: call(s1), max(repeats, 3), budget / 4)
    est = min(t1) * T / s1
    s2 = T if est * repeats <= budget else max(2 * s1, int(s1 * budget / (repeats * min(t1))))
    t2, r = timed(lambda: call(s2), repeats, budget)
    m1, m2 = float(np.median(t1)), float(np.median(t2))
    noise = max(float(np.max(t1) - np.min(t1)), float(np.max(t2) - np.min(t2)), 0.02 * m2)
    per_step = (m2 - m1) / (s2 - s1) if m2 - m1 > noise else None
    if s2 == T:
        whole = m2
    elif per_step is not None:
        whole = m1 + (T - s1) * per_step
    else:  # T steps not run and the steps lost in the noise: m2 bounds the call from below
        whole = m2
    print(json.dumps(dict(
        engine=engine, whole_s=whole, whole_measured=s2 == T, step_s=per_step,
        fixed_s=None if per_step is None else max(m1 - s1 * per_step, 0.0),
        steps_short=s1, t_short=t1, steps_timed=s2, t_long=t2, first_call_s=first,
        path=r.config["path"], loss=r.loss.tolist(),
        all_max_steps=bool(np.all(r.status == MAX_STEPS)), gpu=r.config.get("cuda"),
    )))  # fmt: skip


def stats_worker(B, n, d, T, repeats, budget):
    """The cost of the final statistics on the GPU (stats "norms" and "all" over "none") and of
    the CPU's sharpness of the same final iterates."""
    import diaglin

    X, y, etas, w0 = workload(B, n, d)

    def call(stats, runs=B):
        return diaglin.run_gd("ww", X, y, etas[:runs], w0, eps=EPS, max_steps=T, stats=stats,
                              backend="cuda")  # fmt: skip

    t0 = time.perf_counter()
    call("all", min(B, 64))  # compile (or load) the statistics' kernels
    first = time.perf_counter() - t0
    times = {}
    for stats in ("none", "norms", "all"):
        times[stats], r = timed(lambda s=stats: call(s), repeats, budget)
    theta = r.theta
    runs = min(B, 16)
    t_cpu, cpu = timed(lambda: diaglin.sharpness("ww", theta[:runs], X, y, bottom=False), 1, 0)
    if runs < B and t_cpu[0] * B / runs > budget:
        runs = max(runs, min(B, int(runs * budget / (2 * t_cpu[0]))))
    else:
        runs = B
    t_cpu, cpu = timed(lambda: diaglin.sharpness("ww", theta[:runs], X, y, bottom=False),
                       repeats if runs == B else 1, budget)  # fmt: skip
    diff = np.abs(r.sharpness[:runs] - cpu.top_abs) / np.abs(cpu.top_abs)
    print(json.dumps(dict(
        engine="stats", first_call_s=first, **{k: float(np.median(v)) for k, v in times.items()},
        cpu_s=float(np.median(t_cpu)) * B / runs, cpu_runs=runs, max_rel_diff=float(diff.max()),
        all_max_steps=bool(np.all(r.status == MAX_STEPS)),
    )))  # fmt: skip


def stats_row(size, r) -> str:
    """One markdown row of the statistics' costs (seconds per call)."""
    gpu = r["all"] - r["none"]
    mark = "" if r["cpu_runs"] == size[0] else "~"
    return (
        f"| {size} | {r['none']:.3g} | {r['norms'] - r['none']:+.3g} | {gpu:+.3g} "
        f"| {mark}{r['cpu_s']:.3g} ({r['cpu_runs']} runs timed) "
        f"| **{r['cpu_s'] / max(gpu, 1e-9):.0f}×** | {r['max_rel_diff']:.1e} "
        f"| {r['first_call_s']:.1f} |"
    )


def jax_worker(engine, B, n, d, T, repeats, budget):
    import jax

    compiled, args, first = jax_gd(*workload(B, n, d), T)
    times, (_, loss) = timed(lambda: jax.block_until_ready(compiled(*args)), repeats, budget)
    whole = float(np.median(times))
    print(json.dumps(dict(
        engine="jax", whole_s=whole, whole_measured=True, step_s=None, fixed_s=None,
        steps_timed=T, t_long=times, first_call_s=first, path=str(jax.devices()[0]),
        all_max_steps=True, loss=np.asarray(loss).tolist(),
    )))  # fmt: skip


def table_row(size, res) -> str:
    """One markdown row: whole-call rates, the diaglin steps-only rates, ratios to JAX and to
    the CPU, first-call times, and the agreement of the final losses (runs of all T steps)."""
    B, _, _, T = size
    rate = {e: B * T / r["whole_s"] for e, r in res.items()}
    full = [e for e, r in res.items() if r["steps_timed"] == T]
    ref = np.asarray(res["cuda"]["loss"]) if "cuda" in full else None
    diffs = [float(np.max(np.abs(np.asarray(res[e]["loss"]) - ref) / np.abs(ref)))
             for e in full if ref is not None and e != "cuda"]  # fmt: skip

    def cell(e):
        if e not in res:
            return "–"
        r = res[e]
        mark = "" if r.get("whole_measured", True) else "~"
        extra = ""
        if e != "jax":
            extra = f" ({fmt_rate(B / r['step_s'])})" if r.get("step_s") else " (fixed-bound)"
        return mark + fmt_rate(rate[e]) + extra

    def ratio(e):
        return f"**{rate['cuda'] / rate[e]:.1f}×**" if e in res and "cuda" in res else "–"

    first = " / ".join(f"{res[e]['first_call_s']:.1f}" if e in res else "–"
                       for e in ("cuda-tile", "cuda-blas", "jax"))  # fmt: skip
    auto = f"{cell('cuda')} [{res['cuda']['path']}]" if "cuda" in res else "–"
    cells = [str(size), auto, cell("cuda-tile"), cell("cuda-blas"), cell("jax"), cell("cpu"),
             ratio("jax"), ratio("cpu"), first,
             f"{max(diffs):.1e} ({len(diffs)})" if diffs else "–"]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def raw_row(size, engine, r) -> str:
    """The measured times of one engine: both step counts, and the fit (if any)."""

    def times(ts):
        return ", ".join(f"{t:.4g}" for t in ts) if ts else "–"

    fit = [f"{r[k] * 1e3:.4g} ms" if r.get(k) is not None else "–" for k in ("step_s", "fixed_s")]
    fit[0] = fit[0].replace(" ms", " ms/step")
    return (
        f"| {size} | {engine} | {r.get('steps_short', '–')} | {times(r.get('t_short'))} "
        f"| {r['steps_timed']} | {times(r.get('t_long'))} | {fit[0]} | {fit[1]} |"
    )


def gpu_name() -> str:
    try:
        query = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]
        out = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        out = ""
    return out or "no nvidia-smi"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2 repeats, 8 s budget per engine")
    ap.add_argument("--budget", type=float, default=None, help="seconds per engine and size")
    ap.add_argument("--sizes", choices=("all", "small"), default="all",
                    help="small: only the rows with d <= 100")  # fmt: skip
    ap.add_argument("--no-cpu", action="store_true", help="leave out the CPU backend")
    ap.add_argument("--no-stats", action="store_true", help="leave out the statistics' table")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        eng, B, n, d, T, rep = a.worker[0], *map(int, a.worker[1:6])
        if eng == "stats":
            return stats_worker(B, n, d, T, rep, float(a.worker[6]))
        fn = jax_worker if eng == "jax" else diaglin_worker
        return fn(eng, B, n, d, T, rep, float(a.worker[6]))
    repeats = 2 if a.quick else a.repeats
    budget = a.budget or (8.0 if a.quick else 20.0)
    script = os.path.abspath(__file__)
    print(f"# bench_gpu — {time.strftime('%Y-%m-%d %H:%M')}, GPU: {gpu_name()}, "
          f"{os.cpu_count()} CPU cores, repeats={repeats} (median)\n")  # fmt: skip
    engines = ["cuda", "cuda-tile", "cuda-blas", "jax"] + ([] if a.no_cpu else ["cpu"])
    sizes = SIZES if a.sizes == "all" else [s for s in SIZES if s[2] <= 100]
    rows, raw, gemm = [], [], None
    for B, n, d, T in sizes:
        res = {}
        for eng in engines:
            try:
                res[eng] = run_worker(script, [eng, *map(str, (B, n, d, T, repeats)), str(budget)])
            except RuntimeError as exc:
                print(f"  {eng} at {(B, n, d, T)} failed: {str(exc)[-300:]}", file=sys.stderr)
                continue
            assert res[eng]["all_max_steps"], f"{eng} at {(B, n, d, T)}: a run stopped early"
        rows.append(table_row((B, n, d, T), res))
        raw.extend(raw_row((B, n, d, T), e, r) for e, r in res.items())
        gemm = res.get("cuda-blas", {}).get("gpu") or gemm
        print(f"  done {(B, n, d, T)}", file=sys.stderr, flush=True)
    print("Run-steps per second of a whole call of T steps, B·T / its median time (~: T steps "
          "would exceed the budget; fitted from two step counts). In brackets: the steps alone, "
          "B / per_step, from t(T) − t(T/20); 'fixed-bound' where that difference is within "
          "the timing noise (the call's fixed costs dominate):\n")  # fmt: skip
    print("| (B, n, d, T) | diaglin cuda [auto path] | cuda tile | cuda blas "
          "| JAX jit+vmap (GPU) | diaglin CPU (all cores) | cuda / JAX | cuda / CPU "
          "| first call s (tile / blas / JAX) | max rel. diff of final losses vs cuda "
          "(engines compared) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nGPU backend: {gemm} (the blas path's GEMMs)")
    print("\nRaw times (s) of the calls behind the table:\n")
    print("| (B, n, d, T) | engine | steps | times | steps | times | per step | fixed |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(raw))
    if a.no_stats:
        return
    stats = []
    for B, n, d, T in sizes:
        try:
            r = run_worker(script, ["stats", *map(str, (B, n, d, T, repeats)), str(budget)])
        except RuntimeError as exc:
            print(f"  stats at {(B, n, d, T)} failed: {str(exc)[-300:]}", file=sys.stderr)
            continue
        stats.append(stats_row((B, n, d, T), r))
    print("\nFinal statistics (seconds per call; backend='cuda'): GD with stats='none', what "
          "'norms' (the Hessian's trace) and 'all' (+ sharpness, Lanczos) add on the GPU, and "
          "the CPU's exact sharpness of the same final iterates (all cores; ~: scaled from the "
          "runs timed):\n")  # fmt: skip
    print("| (B, n, d, T) | stats='none' s | + norms s | + all s (GPU) | CPU sharpness s "
          "| CPU / GPU | max rel. diff of sharpness | first call s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(stats))


if __name__ == "__main__":
    main()
