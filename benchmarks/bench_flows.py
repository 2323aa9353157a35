"""Throughput of the EoS flows ``diaglin.eos_flow`` (central, rod) vs the JAX program a
researcher writes for them.

    python benchmarks/bench_flows.py [--repeats 3] [--quick] [--jax-python PATH] [--skip-compile]
                                     [--cores N]

Workload: model "ww" (beta = w ⊙ w), alpha = 0.01 (w0 = 0.01·1), two instances —
``one_point(d=5, seed=0)`` (n = 1, the phase diagram's default) and ``sparse_regression(n=5,
d=20, s=3, seed=11, nonneg=True)`` (a seed with one critical eigenvalue, see INSTANCES) — and
B ∈ {1, 9, 64} step sizes η = eta_c·(the midpoints of B equal cells of [0.5, 1.8]), eta_c =
2/s_GF from ``diaglin.gradient_flow`` (as ``sims.flows.runs`` picks its η's). Each flow runs for
T GD-step-equivalents (``substeps`` = 4 integrator steps per GD step), float64, ``eps`` =
1e-300 so that no run stops early (asserted: every diaglin status is MAX_STEPS, every JAX
centre finite). Reported: run-steps per second B·T / time, median over repeats, each engine in
its own fresh process; the first call apart.

diaglin: the whole ``eos_flow(flow, "ww", X, y, etas, w0, max_steps=T, stats="none")`` call
(one parallel Numba kernel over the B runs; it also evaluates the modelled GD loss once per
step for its stopping rule), after a first call of 2 steps (the "1st call" column: cache load
and thread start, the kernels are compiled once in part 2). The "call at T = 0" column is the
median of 5 calls with ``max_steps=0``: the fixed cost of a call (validation, thread launch).

JAX (``jax_flow``, on the CPU): what a researcher writes — x64, a one-run integrator in
``lax.fori_loop`` over the T·substeps substeps, ``vmap`` over η, ``jit``, compiled ahead of time
(``lower().compile()``: the "JAX compile" column), derivatives by autodiff. It runs only where
``--jax-python`` (default: this interpreter) can ``import jax``; JAX is never a diaglin
dependency (``python3 -m venv /tmp/jaxenv && /tmp/jaxenv/bin/pip install jax numpy``). It is
the same discretisation as ``diaglin.kernels.eos_flows``:

- central flow, explicit Euler: H = ``jax.hessian(L)``, (λ, V) = ``jnp.linalg.eigh(H)``; the
  top eigenvalue λ with unit eigenvector v is critical when η λ > LOOKAHEAD and (η λ >
  threshold or the substep would carry it past the edge: lin < 0 below); with ∇S =
  ∇_θ(vᵀ∇²L(θ)v) (``jax.grad`` of a ``jax.jvp`` of ``jax.grad``), c = dt η² and lin = 2 − η λ
  + c⟨∇S, ∇L⟩ (2 − η λ after the substep, linearised), σ² = max(0, −lin / (½ c ‖∇S‖²)) =
  [2⟨−∇L, ∇S⟩ − 2(2 − η λ)/(dt η²)]₊ / ‖∇S‖² — the closed form 2⟨−∇L, ∇S⟩/‖∇S‖² at η λ = 2
  plus the term that restores η λ = 2 within the substep — and θ += dt·(−η)(∇L + ½σ²∇S), the
  gradient projected orthogonally to ∇S. **Restriction**: this is the one-critical-eigenvalue
  case of the kernel's semidefinite complementarity problem, so the instances must never have a
  second candidate eigenvalue: the JAX program records max η λ₂ over every substep and run, and
  the benchmark asserts it stays ≤ LOOKAHEAD (the kernel then never looks at λ₂);
- rod flow, classical RK4 on (θ̄, Σ), Σ (P × P), δ = √μ₁ e₁ from ``jnp.linalg.eigh(Σ)``, the
  module docstring's equations with the Hessian-vector products by ``jax.jvp`` of ``jax.grad``;
  start: θ̄ = θ0 − (η/2)∇L(θ0), Σ = (η²/4)∇L∇Lᵀ.

Correctness: the final centres and oscillations (tr Σ; the rod's ‖δ‖²) of the two engines must
agree to RTOL (``diffs``: max over runs of ‖Δθ‖∞ / ‖θ‖∞ and |Δ osc| / ‖θ‖∞²). Same equations and
substeps, derivatives by hand (diaglin) or by autodiff (JAX), two LAPACK builds' eigh: they
differ by rounding only, ≤ 5.3e-14 measured after 8 000 substeps (the flows do not amplify it
here). RTOL = 1e-10 leaves that a wide margin, while a critical-eigenvalue decision taken in
different substeps by the two engines (an eigenvalue within rounding of a threshold: one substep
with σ² > 0 in one engine, σ² = 0 in the other) would move the centre by far more: such a case
fails loudly instead of passing as agreement.

Part 2 times the first call of each flow kernel in a fresh process with an empty Numba cache
(``NUMBA_CACHE_DIR`` = a new temp dir), then in a second fresh process using that cache.
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
    pinned_worker_env,
    run_worker,
    run_worker_in,
    timed,
)

#: (n, d, data seed). n = 5: seed 11, because at most one eigenvalue may be critical (the JAX
#: program's closed form): with seeds 0-7, 9, 10, 12-15 a second eigenvalue becomes a
#: candidate (η λ₂ > 1.5; in most it reaches 2/η) for some η ≳ eta_c; with seed 11 max η λ₂ ≤
#: 1.06 over T = 2000 (16 η's in [0.5, 1.8]·eta_c; README)
INSTANCES = [(1, 5, 0), (5, 20, 11)]
BATCHES = (1, 9, 64)
T_FULL, T_QUICK = 2000, 400
FLOWS = ("central", "rod")
ALPHA, SPARSITY = 0.01, 3
ETA_LO, ETA_HI = 0.5, 1.8  # in units of eta_c
SUBSTEPS, THRESHOLD = 4, 1.95  # eos_flow's defaults
EPS = 1e-300  # unreachable: every run integrates for exactly T steps
MAX_STEPS = 2  # diaglin.Status.MAX_STEPS (not imported by the JAX worker)
#: final centres must agree to this (relative, max over runs); see the module docstring
RTOL = 1e-10


def step_sizes(eta_c: float, B: int) -> np.ndarray:
    """eta_c times the midpoints of B equal cells of [ETA_LO, ETA_HI]."""
    return eta_c * (ETA_LO + (ETA_HI - ETA_LO) * (np.arange(B) + 0.5) / B)


def make_workload(n: int, d: int, seed: int, B: int, path: str) -> float:
    """Write the instance (X, y, etas, w0 and the kernel's LOOKAHEAD) to ``path`` (.npz) for
    both workers (the JAX one cannot import diaglin); returns eta_c."""
    import diaglin
    from diaglin import data
    from diaglin.kernels.eos_flows import LOOKAHEAD

    ds = (data.one_point(d, seed=seed) if n == 1 else
          data.sparse_regression(n, d, SPARSITY, seed=seed, nonneg=True))  # fmt: skip
    w0 = diaglin.get_model("ww").init(d, ALPHA)
    gf = diaglin.gradient_flow("ww", ds.X, ds.y, w0, eps=1e-12)
    assert gf.converged, f"gradient flow at (n, d) = {(n, d)} did not converge"
    etas = step_sizes(gf.eta_c, B)
    np.savez(path, X=ds.X, y=ds.y, etas=etas, w0=w0, lookahead=LOOKAHEAD)
    return float(gf.eta_c)


def jax_flow(flow: str, X, y, etas, w0, T: int, substeps: int = SUBSTEPS,
             threshold: float = THRESHOLD, lookahead: float = 1.5):  # fmt: skip
    """The JAX program for ``flow`` (see the module docstring): ``jit(vmap(one_run))`` over η
    with ``lax.fori_loop`` over T·substeps substeps, compiled ahead of time. Returns (compiled
    function of (etas, w0) → (θ (B, P), tr Σ (B,), max η λ₂ (B,); NaN for the rod), its
    arguments, compile seconds)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    n = X.shape[0]
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    dt = 1.0 / substeps

    def loss(w):
        r = Xj @ (w * w) - yj
        return r @ r / (2.0 * n)

    grad = jax.grad(loss)
    hessian = jax.hessian(loss)

    def hvp(w, v):
        return jax.jvp(grad, (w,), (v,))[1]

    def central_substep(eta, w):
        g, (lam, V) = grad(w), jnp.linalg.eigh(hessian(w))
        v = V[:, -1]
        dS = jax.grad(lambda th: v @ hvp(th, v))(w)  # ∇(vᵀ∇²L v), v held fixed
        c = dt * eta * eta
        lin = 2.0 - eta * lam[-1] + c * (dS @ g)
        take = (eta * lam[-1] > lookahead) & ((eta * lam[-1] > threshold) | (lin < 0.0))
        q = 0.5 * c * (dS @ dS)
        sigma2 = jnp.where(take & (lin < 0.0) & (q > 0.0), -lin / q, 0.0)
        return w + dt * (-eta * g - 0.5 * eta * sigma2 * dS), sigma2, eta * lam[-2]

    def rod_rhs(eta, w, Sig):
        mu, E = jnp.linalg.eigh(Sig)
        delta = jnp.sqrt(jnp.maximum(mu[-1], 0.0)) * E[:, -1]
        gp, gm = grad(w + delta), grad(w - delta)
        s = gp + gm
        dw = -0.5 * eta * s - 0.125 * eta * eta * (hvp(w + delta, s) + hvp(w - delta, s))
        return dw, 0.25 * eta * eta * (jnp.outer(gp, gp) + jnp.outer(gm, gm)) - 2.0 * Sig

    def rod_substep(eta, w, Sig):
        k1w, k1s = rod_rhs(eta, w, Sig)
        k2w, k2s = rod_rhs(eta, w + 0.5 * dt * k1w, Sig + 0.5 * dt * k1s)
        k3w, k3s = rod_rhs(eta, w + 0.5 * dt * k2w, Sig + 0.5 * dt * k2s)
        k4w, k4s = rod_rhs(eta, w + dt * k3w, Sig + dt * k3s)
        w = w + (dt / 6.0) * (k1w + 2.0 * k2w + 2.0 * k3w + k4w)
        return w, Sig + (dt / 6.0) * (k1s + 2.0 * k2s + 2.0 * k3s + k4s)

    def one_run(eta, w0):
        if flow == "central":

            def body(_, carry):
                w, _tr, top2 = carry
                w, tr, l2 = central_substep(eta, w)
                return w, tr, jnp.maximum(top2, l2)

            start = (w0, jnp.zeros(()), jnp.full((), -jnp.inf))  # θ, tr Σ, max η λ₂
            return jax.lax.fori_loop(0, T * substeps, body, start)
        g0 = grad(w0)

        def body(_, carry):
            return rod_substep(eta, *carry)

        w, Sig = jax.lax.fori_loop(
            0, T * substeps, body, (w0 - 0.5 * eta * g0, 0.25 * eta * eta * jnp.outer(g0, g0))
        )
        return w, jnp.linalg.eigvalsh(Sig)[-1], jnp.nan  # the rod's extent ‖δ‖² = μ₁

    run = jax.jit(jax.vmap(one_run, in_axes=(0, None)))
    args = (jnp.asarray(etas), jnp.asarray(w0))
    t0 = time.perf_counter()
    compiled = run.lower(*args).compile()
    return compiled, args, time.perf_counter() - t0


def jax_worker(flow: str, T: int, repeats: int, budget: float, data: str) -> None:
    import jax

    z = np.load(data)
    compiled, args, compile_s = jax_flow(flow, z["X"], z["y"], z["etas"], z["w0"], T,
                                         lookahead=float(z["lookahead"]))  # fmt: skip
    times, (w, tr, top2) = timed(lambda: jax.block_until_ready(compiled(*args)), repeats, budget)
    w = np.asarray(w)
    res = dict(engine="jax", times=times, compile_s=compile_s, theta=w.tolist(),
               osc=np.asarray(tr).tolist(), top2=float(np.max(top2)),
               ok=bool(np.all(np.isfinite(w))), version=jax.__version__)  # fmt: skip
    print(json.dumps(res))


def diaglin_worker(flow: str, T: int, repeats: int, budget: float, data: str) -> None:
    import numba

    from diaglin.eos_flows import eos_flow

    z = np.load(data)
    X, y, etas, w0 = z["X"], z["y"], z["etas"], z["w0"]

    def call(steps: int):
        return eos_flow(flow, "ww", X, y, etas, w0, eps=EPS, max_steps=steps,
                        substeps=SUBSTEPS, threshold=THRESHOLD, stats="none")  # fmt: skip

    t0 = time.perf_counter()
    call(2)  # cache load (compiled in part 2 / by an earlier run), thread pool start
    first_s = time.perf_counter() - t0
    overhead, _ = timed(lambda: call(0), 5, budget)
    times, r = timed(lambda: call(T), repeats, budget)
    res = dict(engine="diaglin", times=times, first_s=first_s,
               overhead_s=float(np.median(overhead)), theta=r.final.theta.tolist(),
               osc=r.oscillation.tolist(), ok=bool(np.all(r.status == MAX_STEPS)),
               threads=numba.get_num_threads())  # fmt: skip
    print(json.dumps(res))


def compile_worker(data: str) -> None:
    """Fresh process: import time, then per flow the first and second ``eos_flow`` call
    (2 runs, 3 steps, stats="none": the flow kernel only)."""
    t0 = time.perf_counter()
    from diaglin.eos_flows import eos_flow

    out = {"import_s": time.perf_counter() - t0}
    z = np.load(data)
    for flow in FLOWS:
        for name in ("first", "second"):
            t0 = time.perf_counter()
            eos_flow(flow, "ww", z["X"], z["y"], z["etas"][:2], z["w0"], max_steps=3,
                     stats="none")  # fmt: skip
            out[f"{name}_{flow}_s"] = time.perf_counter() - t0
    print(json.dumps(out))


def diffs(a: dict, b: dict) -> tuple[float, float]:
    """Max over runs of the two workers' results ``a``, ``b`` of ‖Δθ‖∞ / ‖θ‖∞ and of
    |Δ tr Σ| / ‖θ‖∞² (tr Σ is a squared length in θ-space; below eta_c it decays to ~1e-30,
    where a relative difference would be meaningless)."""
    ta, tb = np.asarray(a["theta"]), np.asarray(b["theta"])
    scale = np.max(np.abs(tb), axis=1)
    err = np.max(np.abs(ta - tb), axis=1) / scale
    err_osc = np.abs(np.subtract(a["osc"], b["osc"])) / scale**2
    return float(np.max(err)), float(np.max(err_osc))


def compare(dg: dict, jx: dict | None, B: int, T: int, lookahead: float, where: str) -> list:
    """The table cells of one (instance, B, flow) from the two workers' results (``jx`` None:
    no JAX), after the checks: no early stop, at most one critical eigenvalue, agreement."""
    assert dg["ok"], f"diaglin {where}: a run stopped early"
    rate = B * T / float(np.median(dg["times"]))
    cells = [fmt_rate(rate)]
    if jx is None:
        return cells + ["–", "–", f"{dg['first_s']:.2f} s", f"{dg['overhead_s'] * 1e3:.1f} ms",
                        "–", "–", "–", f"{len(dg['times'])}/–"]  # fmt: skip
    assert jx["ok"], f"JAX {where}: a centre is not finite"
    assert not jx["top2"] > lookahead, (
        f"{where}: η λ₂ reached {jx['top2']:.3f} > {lookahead}: a second candidate "
        "eigenvalue, outside the JAX program's closed form"
    )
    err, err_osc = diffs(dg, jx)
    assert max(err, err_osc) <= RTOL, f"{where}: centres differ by {err:.2e}, tr Σ by {err_osc:.2e}"
    jrate = B * T / float(np.median(jx["times"]))
    top2 = round(jx["top2"], 3) + 0.0  # no "-0.000" for a λ₂ of -1e-17
    return cells + [
        fmt_rate(jrate), f"**{rate / jrate:.2f}×**", f"{dg['first_s']:.2f} s",
        f"{dg['overhead_s'] * 1e3:.1f} ms", f"{jx['compile_s']:.2f} s",
        f"{err:.1e} / {err_osc:.1e}", f"{top2:.3f}" if np.isfinite(top2) else "–",
        f"{len(dg['times'])}/{len(jx['times'])}",
    ]  # fmt: skip


def main() -> None:
    ap = base_parser(__doc__, repeats=3, jax=True, cores=True, compile_time=True)
    a = ap.parse_args()
    if a.worker:
        if a.worker[0] == "compile":
            return compile_worker(a.worker[1])
        eng, flow, (T, rep), budget, data = *a.worker[:2], map(int, a.worker[2:4]), *a.worker[4:]
        fn = jax_worker if eng == "jax" else diaglin_worker
        return fn(flow, T, rep, float(budget), data)
    repeats = 2 if a.quick else a.repeats
    budget = a.budget or (10.0 if a.quick else 30.0)
    T = T_QUICK if a.quick else T_FULL
    script = os.path.abspath(__file__)
    print(f"# bench_flows — {machine_line()}")
    print(f"# repeats={repeats} (median), budget {budget:.0f} s per engine and size, T = {T}, "
          f"substeps = {SUBSTEPS}\n")  # fmt: skip
    env = pinned_worker_env(a.blas_threads, a.cores)
    jenv = {**(env or {}), **XLA_ENV}
    jax_version = jax_available(a.jax_python)
    print(f"# JAX {jax_version} ({a.jax_python}), "
          + " ".join(f"{k}={v}" for k, v in XLA_ENV.items()) + "\n" if jax_version else
          f"# JAX columns skipped: `import jax` fails in {a.jax_python}\n")  # fmt: skip
    rows, loads = [], []
    with tempfile.TemporaryDirectory(prefix="bench_flows_") as tmp:
        data = os.path.join(tmp, "data.npz")
        for n, d, seed in INSTANCES:
            for B in BATCHES:
                eta_c = make_workload(n, d, seed, B, data)
                lookahead = float(np.load(data)["lookahead"])
                for flow in FLOWS:
                    args = [flow, str(T), str(repeats), str(budget), data]
                    dg = run_worker(script, ["diaglin", *args], env=env, timeout=3600)
                    jx = (run_worker_in(a.jax_python, script, ["jax", *args], jenv, 3600)
                          if jax_version else None)  # fmt: skip
                    where = f"{flow} at (n, d, B) = {(n, d, B)}"
                    cells = compare(dg, jx, B, T, lookahead, where)
                    rows.append("| " + " | ".join([f"({n}, {d})", str(B), flow, *cells]) + " |")
                    loads.append(os.getloadavg()[0])
                    print(f"  done {where} (eta_c = {eta_c:.4g})", file=sys.stderr)
        print(f"Run-steps per second (B·T / median wall time; T = {T} GD steps of "
              f"{SUBSTEPS} substeps each), Numba threads: {dg['threads']}:\n")  # fmt: skip
        print(
            "| (n, d) | B | flow | diaglin eos_flow | JAX jit+vmap | diaglin/JAX "
            "| diaglin 1st call (cache load) | diaglin call at T = 0 | JAX compile "
            "| rel. diff centre / osc | max η λ₂ (JAX) | repeats diaglin/JAX |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        print(
            f"\n1-minute load average after each row: {min(loads):.1f}–{max(loads):.1f}. "
            "diaglin: the whole eos_flow call (stats='none'); JAX: the compiled program "
            "(lower().compile() excluded: the compile column). Centres and oscillations "
            f"asserted to agree within {RTOL:g}; η λ₂ ≤ LOOKAHEAD asserted (at most one critical "
            "eigenvalue)."
        )

        if not a.skip_compile:
            make_workload(*INSTANCES[0], 2, data)  # n = 1, d = 5
            with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
                cenv = {**(env or {}), "NUMBA_CACHE_DIR": cache}
                c1 = run_worker(script, ["compile", data], env=cenv, timeout=3600)
                c2 = run_worker(script, ["compile", data], env=cenv)
            print("\nFirst-call time of eos_flow (n = 1, d = 5, 2 runs, 3 steps, "
                  "stats='none'), fresh processes:\n")  # fmt: skip
            print("| process | import | 1st call central | 2nd call | 1st call rod | 2nd call |")
            print("|---|---|---|---|---|---|")
            for name, c in (("empty Numba cache", c1), ("warm cache (2nd process)", c2)):
                print(
                    f"| {name} | {c['import_s']:.2f} s | {c['first_central_s']:.2f} s | "
                    f"{c['second_central_s'] * 1e3:.1f} ms | {c['first_rod_s']:.2f} s | "
                    f"{c['second_rod_s'] * 1e3:.1f} ms |"
                )


if __name__ == "__main__":
    main()
