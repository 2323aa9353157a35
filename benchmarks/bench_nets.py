"""A tanh MLP on scikit-learn's digits: ``diaglin.nets`` vs what a JAX user writes.

    python benchmarks/bench_nets.py [--repeats 3] [--quick] [--budget S] [--cores N]
                                    [--jax-python PATH] [--blas-threads K]

Workload (the nonlinear-networks issue): the first n = 1000 images of ``load_digits`` after a
fixed shuffle (``default_rng(0).permutation``), each of the d = 64 features standardised with
the mean and std of those 1000 (std 0 → 1); labels y ∈ {0..9} and one-hot targets t_i ∈ R^10.
One hidden layer of width h = 28, tanh, biases, NTK parameterisation, float64:

    f(x) = (W2/√h) tanh((W1/√d) x + b1) + b2,      L(θ) = (1/n) Σ_i ½ ‖f(x_i) − t_i‖²,

θ = (W1 (h, d) row-major, b1 (h), W2 (10, h) row-major, b2 (10)), P = 64·28 + 28 + 28·10 + 10
= 2110 (diaglin's layout, so both engines read the same vector). θ0: W ~ N(0, 1), biases 0, from
``default_rng(0)`` (the values of ``net.init(1.0, seed=0)``); θ1 = θ0 + 0.1·ξ, ξ ~ N(0, I_P)
(the same generator continued; biases nonzero too). The parent builds X, y, θ0, θ1 once and
hands the same arrays (an .npz) to every worker.

Measurements, each engine and measurement in its own fresh process (``_common.run_worker``),
best (min) of ``--repeats`` wall times after a warm-up/compile call:

1. GD: B = 64 full-batch runs θ ← θ − η_b ∇L(θ) from θ0, η = geomspace(0.05, 0.5, 64), exactly
   T = 200 steps each (no early stop), reported as run-steps/s = B·T / time. diaglin:
   ``run_gd(net, X, y, etas, θ0, eps=1e-30, max_steps=T, stats="none")`` (every status asserted
   MAX_STEPS). JAX: ``jit(vmap(run, in_axes=(0, None)))``, ``run`` a ``lax.fori_loop`` of
   θ − η·``grad(L)``(θ) returning (θ_T, L(θ_T)), x64, compiled ahead (``lower().compile()``).
2. Exact Hessian ∇²L(θ1) (P × P): ``diaglin.hessian`` vs ``jit(jax.hessian(L))``; then its
   spectrum, ``numpy.linalg.eigvalsh`` vs ``jit(jnp.linalg.eigvalsh)``, timed separately.
3. Top |eigenvalue| of ∇²L(θ1): ``diaglin.sharpness(net, θ1, X, y, method="lanczos")`` (which
   also returns λ_min and the trace) vs the usual JAX recipe: a jitted HVP
   v ↦ ``jax.jvp(jax.grad(L), (θ,), (v,))[1]`` wrapped in a ``scipy.sparse.linalg.LinearOperator``
   and ``eigsh(op, k=1, which="LM")`` (ARPACK's implicitly restarted Lanczos, default tol and
   random start vector; one NumPy ↔ JAX conversion per product).

Columns: best time (min over repeats; the GD row as a rate), diaglin / JAX speed-up (JAX time
over diaglin time: > 1 means diaglin is faster), diaglin's first call (Numba compile or cache
load included; for GD a 2-step call), JAX's ahead-of-time compile seconds (not in the timings).

Cross-checks (asserted): final GD losses of the 64 runs agree to 1e-8 relative, the Hessian
spectra to 1e-8 of max |λ|, the Lanczos top |λ| to 1e-8 relative, across engines and against
each engine's dense spectrum. JAX runs in ``--jax-python`` (default: this interpreter) with
``_common.XLA_ENV`` (CPU, one host device); without JAX only the diaglin column is printed.
``--cores N`` pins the parent and every worker to cores 0..N-1 (inherited affinity) with N
Numba threads. JAX is a peer to measure against, never a dependency; scikit-learn is needed
for the data, in this interpreter or else in ``--jax-python``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable

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

N, D, WIDTH, N_OUT = 1000, 64, 28, 10
#: W1, b1, W2, b2 as they follow each other in θ (diaglin's layout: per layer W row-major, b)
SHAPES = ((WIDTH, D), (WIDTH,), (N_OUT, WIDTH), (N_OUT,))
OFFSETS = tuple(int(o) for o in np.cumsum([0, *(int(np.prod(s)) for s in SHAPES)]))
P = OFFSETS[-1]  # 2110
B, T = 64, 200
ETAS = np.geomspace(0.05, 0.5, B)
PERTURB = 0.1  # θ1 = θ0 + PERTURB·ξ
EPS = 1e-30  # unreachable: every run does exactly T steps
RTOL = 1e-8  # cross-check tolerance between the engines
MAX_STEPS = 2  # diaglin.Status.MAX_STEPS (not imported by the JAX worker)
MEASUREMENTS = ("gd", "hessian", "lanczos")


# --- the workload ---------------------------------------------------------------------------
def digits(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """X (n, 64) standardised features and y (n,) float labels of ``load_digits`` (first n after
    a fixed shuffle)."""
    from sklearn.datasets import load_digits

    Xall, yall = load_digits(return_X_y=True)
    idx = np.random.default_rng(seed).permutation(yall.size)[:n]
    X, y = Xall[idx].astype(np.float64), yall[idx].astype(np.float64)
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd, y


def write_workload(path: str, seed: int = 0) -> None:
    """Save X, y, etas, θ0 (N(0,1) weights, zero biases) and θ1 = θ0 + PERTURB·ξ to ``path``."""
    X, y = digits(seed=seed)
    rng = np.random.default_rng(seed)
    theta0 = np.zeros(P)
    for k in (0, 2):  # W1, W2; the biases stay 0
        theta0[OFFSETS[k] : OFFSETS[k + 1]] = rng.standard_normal(OFFSETS[k + 1] - OFFSETS[k])
    theta1 = theta0 + PERTURB * rng.standard_normal(P)
    np.savez(path, X=X, y=y, etas=ETAS, theta0=theta0, theta1=theta1)


def aot_compile(fn, *args) -> tuple[Callable, float]:
    """(ahead-of-time compiled ``jax.jit`` function ``fn`` for ``args``, compile seconds)."""
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - t0


# --- JAX: what a user writes ----------------------------------------------------------------
def jax_loss(X: np.ndarray, y: np.ndarray) -> Callable:
    """L(θ) of the module docstring as a JAX function of θ (P,) (x64 switched on)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    Xj, Tj = jnp.asarray(X), jnp.asarray(np.eye(N_OUT)[y.astype(np.int64)])
    n = X.shape[0]

    def loss(theta):
        W1, b1, W2, b2 = (theta[o:e].reshape(s) for o, e, s in zip(OFFSETS, OFFSETS[1:], SHAPES))
        a = jnp.tanh(Xj @ W1.T / np.sqrt(D) + b1)
        r = a @ W2.T / np.sqrt(WIDTH) + b2 - Tj
        return 0.5 * jnp.sum(r * r) / n

    return loss


def jax_worker(meas: str, w: dict, repeats: int, budget: float) -> dict:
    """Time one measurement in JAX; "first" holds the ahead-of-time compile seconds."""
    import jax
    import jax.numpy as jnp

    loss = jax_loss(w["X"], w["y"])
    block = jax.block_until_ready
    if meas == "gd":
        grad = jax.grad(loss)

        def one_run(eta, theta):
            theta = jax.lax.fori_loop(0, T, lambda _, th: th - eta * grad(th), theta)
            return theta, loss(theta)

        args = (jnp.asarray(w["etas"]), jnp.asarray(w["theta0"]))
        run, c = aot_compile(jax.jit(jax.vmap(one_run, in_axes=(0, None))), *args)
        times, (_, L) = timed(lambda: block(run(*args)), repeats, budget)
        return dict(times={"gd": times}, first={"gd": c}, loss=np.asarray(L).tolist())
    theta = jnp.asarray(w["theta1"])
    if meas == "hessian":
        hess, c_h = aot_compile(jax.jit(jax.hessian(loss)), theta)
        t_h, H = timed(lambda: block(hess(theta)), repeats, budget)
        eig, c_e = aot_compile(jax.jit(jnp.linalg.eigvalsh), H)
        t_e, ev = timed(lambda: block(eig(H)), repeats, budget)
        return dict(
            times={"hessian": t_h, "eigvalsh": t_e},
            first={"hessian": c_h, "eigvalsh": c_e},
            eigvals=np.asarray(ev).tolist(),
        )
    from scipy.sparse.linalg import LinearOperator, eigsh

    hvp, c = aot_compile(
        jax.jit(lambda th, v: jax.jvp(jax.grad(loss), (th,), (v,))[1]), theta, theta
    )
    n_products = [0]

    def matvec(v: np.ndarray) -> np.ndarray:
        n_products[0] += 1
        return np.asarray(hvp(theta, jnp.asarray(v.reshape(-1))))

    op = LinearOperator((P, P), matvec=matvec, dtype=np.float64)
    times, lam = timed(
        lambda: eigsh(op, k=1, which="LM", return_eigenvectors=False)[0], repeats, budget
    )
    return dict(
        times={"lanczos": times},
        first={"lanczos": c},
        top_abs=abs(float(lam)),
        hvps=n_products[0] / len(times),
    )


# --- diaglin --------------------------------------------------------------------------------
def first_then_timed(fn: Callable, repeats: int, budget: float):
    """(seconds of a first call — compile or Numba cache load included —, ``timed`` times of
    the following calls, their last result)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times, out = timed(fn, repeats, budget)
    return first, times, out


def diaglin_worker(meas: str, w: dict, repeats: int, budget: float) -> dict:
    """Time one measurement in diaglin; "first" holds the first call's seconds."""
    import diaglin
    from diaglin.nets import Network

    net = Network(
        arch="mlp",
        in_shape=(1, 1, D),
        hidden=(WIDTH,),
        n_out=N_OUT,
        activation="tanh",
        criterion="mse",
        param="ntk",
        bias=True,
    )
    X, y, theta = w["X"], w["y"], w["theta1"]
    if meas == "gd":

        def call(steps: int):
            return diaglin.run_gd(
                net, X, y, w["etas"], w["theta0"], eps=EPS, max_steps=steps, stats="none"
            )

        t0 = time.perf_counter()
        call(2)  # compile / warm up
        first = time.perf_counter() - t0
        times, r = timed(lambda: call(T), repeats, budget)
        return dict(
            times={"gd": times},
            first={"gd": first},
            loss=np.asarray(r.loss).tolist(),
            all_max_steps=bool(np.all(np.asarray(r.status) == MAX_STEPS)),
        )
    if meas == "hessian":
        first, t_h, H = first_then_timed(lambda: diaglin.hessian(net, theta, X, y), repeats, budget)
        t_e, ev = timed(lambda: np.linalg.eigvalsh(H), repeats, budget)
        return dict(
            times={"hessian": t_h, "eigvalsh": t_e}, first={"hessian": first}, eigvals=ev.tolist()
        )
    from diaglin.nets import numerics

    products, solves, batched_hvp = [0], [0], numerics.batched_hvp

    def counted(*args):  # counts the Hessian-vector products (``Network.batched_hvp`` calls it)
        matvec = batched_hvp(*args)
        solves[0] += 1

        def apply(V, rows=None):
            products[0] += V.shape[0]
            return matvec(V, rows)

        return apply

    numerics.batched_hvp = counted
    first, times, lam = first_then_timed(
        lambda: diaglin.sharpness(net, theta, X, y, method="lanczos").top_abs, repeats, budget
    )
    return dict(
        times={"lanczos": times},
        first={"lanczos": first},
        top_abs=float(lam),
        hvps=products[0] / solves[0],
    )


# --- the parent -----------------------------------------------------------------------------
#: table rows: (label, measurement, timed parts summed); the GD row is a rate B·T / seconds
ROWS = (
    (f"GD, {B} runs × {T} steps: run-steps/s", "gd", ("gd",)),
    (f"exact Hessian (P = {P}): s", "hessian", ("hessian",)),
    ("eigvalsh of it: s", "hessian", ("eigvalsh",)),
    ("Hessian + eigvalsh: s", "hessian", ("hessian", "eigvalsh")),
    ("top abs eigenvalue, Lanczos: s per θ", "lanczos", ("lanczos",)),
)


def top_abs(eigvals: list[float]) -> float:
    return max(abs(eigvals[0]), abs(eigvals[-1]))


def rel_diff(what: str, a, b, scale=None) -> float:
    """max |a − b| / |b| (or / ``scale``), asserted below RTOL."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    err = float(np.max(np.abs(a - b) / (np.abs(b) if scale is None else scale)))
    assert err < RTOL, f"{what}: relative difference {err:.1e} > {RTOL:g}"
    return err


def main() -> None:
    ap = base_parser(__doc__, repeats=3, jax=True, cores=True)
    a = ap.parse_args()
    if a.worker:
        if a.worker[0] == "data":
            write_workload(a.worker[1])
            print(json.dumps({"written": a.worker[1]}))
            return None
        eng, meas, path, rep, bud = a.worker
        with np.load(path) as f:
            w = dict(f)
        fn = jax_worker if eng == "jax" else diaglin_worker
        print(json.dumps(fn(meas, w, int(rep), float(bud))))
        return None
    repeats = 2 if a.quick else a.repeats
    budget = a.budget or (30.0 if a.quick else 60.0)
    script = os.path.abspath(__file__)
    print(f"# bench_nets — {machine_line()}")
    print(f"# best of {repeats} repeats, budget {budget:.0f} s per engine and measurement\n")
    env = pinned_worker_env(a.blas_threads, a.cores)
    jax_version = jax_available(a.jax_python)
    jax_env = {**(env or {}), **XLA_ENV}
    print(
        f"# JAX {jax_version} ({a.jax_python})\n"
        if jax_version
        else f"# JAX column skipped: `import jax` fails in {a.jax_python}\n"
    )
    engines = ("diaglin", "jax") if jax_version else ("diaglin",)

    res: dict[str, dict] = {e: {} for e in engines}
    with tempfile.TemporaryDirectory(prefix="bench_nets_") as tmp:
        path = os.path.join(tmp, "workload.npz")
        if importlib.util.find_spec("sklearn"):
            write_workload(path)
        else:
            print(f"# no scikit-learn here: data built by {a.jax_python}\n")
            run_worker_in(a.jax_python, script, ["data", path], env=jax_env)
        for meas in MEASUREMENTS:
            args = [meas, path, str(repeats), str(budget)]
            res["diaglin"][meas] = run_worker(script, ["diaglin", *args], env=env)
            if jax_version:
                res["jax"][meas] = run_worker_in(a.jax_python, script, ["jax", *args], env=jax_env)
            print(f"  done {meas}", file=sys.stderr)
    dg = res["diaglin"]
    assert dg["gd"]["all_max_steps"], "a diaglin GD run stopped early"
    lam = top_abs(dg["hessian"]["eigvals"])
    self_checks = {
        "diaglin": rel_diff("diaglin Lanczos vs eigvalsh", dg["lanczos"]["top_abs"], lam)
    }
    diffs = {}
    if jax_version:
        jx = res["jax"]
        lam_j = top_abs(jx["hessian"]["eigvals"])
        self_checks["jax"] = rel_diff("JAX eigsh vs eigvalsh", jx["lanczos"]["top_abs"], lam_j)
        diffs = {
            "gd": rel_diff("final GD losses", dg["gd"]["loss"], jx["gd"]["loss"]),
            "hessian": rel_diff(
                "Hessian spectra", dg["hessian"]["eigvals"], jx["hessian"]["eigvals"], lam_j
            ),
            "lanczos": rel_diff(
                "top abs eigenvalue", dg["lanczos"]["top_abs"], jx["lanczos"]["top_abs"]
            ),
        }

    def seconds(eng: str, meas: str, parts: tuple[str, ...]) -> float:
        return sum(min(res[eng][meas]["times"][p]) for p in parts)

    def first(eng: str, meas: str, parts: tuple[str, ...]) -> str:
        got = [res[eng][meas]["first"][p] for p in parts if p in res[eng][meas]["first"]]
        return f"{sum(got):.2f}" if got else "–"

    print(
        "| measurement | diaglin | JAX | diaglin speed-up (JAX time / diaglin time) "
        "| diaglin first call, s | JAX compile, s | max rel. diff diaglin vs JAX |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, meas, parts in ROWS:
        s = {e: seconds(e, meas, parts) for e in engines}
        cell = {e: fmt_rate(B * T / s[e]) if meas == "gd" else f"{s[e]:.3g}" for e in engines}
        cells = [
            label,
            cell["diaglin"],
            cell.get("jax", "–"),
            f"**{s['jax'] / s['diaglin']:.2f}×**" if jax_version else "–",
            first("diaglin", meas, parts),
            first("jax", meas, parts) if jax_version else "–",
            f"{diffs[meas]:.1e}" if diffs else "–",
        ]
        print("| " + " | ".join(cells) + " |")
    L = np.asarray(dg["gd"]["loss"])
    print(
        f"\nFinal GD loss: {L[0]:.4g} (η = {ETAS[0]:g}) … {L[-1]:.4g} (η = {ETAS[-1]:g}); "
        f"top abs eigenvalue of ∇²L(θ1) = {lam:.12g}."
    )
    print(
        "Lanczos vs the same engine's eigvalsh: "
        + ", ".join(f"{e} {v:.1e}" for e, v in self_checks.items())
        + f"; diaglin used {dg['lanczos']['hvps']:.0f} HVPs per solve (λ_max and λ_min to a "
        "relative residual of 1e-12; the trace in closed form)"
        + (
            f", JAX's eigsh {res['jax']['lanczos']['hvps']:.0f} (the top |λ| only)."
            if jax_version
            else "."
        )
    )
    reps = {e: "/".join(str(len(res[e][m]["times"][m])) for m in MEASUREMENTS) for e in engines}
    print("Timed repeats gd/hessian/lanczos: " + ", ".join(f"{e} {r}" for e, r in reps.items()))


if __name__ == "__main__":
    main()
