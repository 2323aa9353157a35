"""Time per exact sharpness: ``diaglin.sharpness`` (dense / lanczos / auto) vs NumPy eigvalsh.

    python benchmarks/bench_sharpness.py [--repeats 3] [--quick]

Model "ww" (beta = w ⊙ w, P = d), n = d/5 samples (so d = 100 has n = 20 and d = 1000 has
n = 200), B points w per size. The NumPy reference builds the full Hessian
H = Jᵀ(XᵀX/n)J + diag(2g), J = diag(2w), g = Xᵀ(X beta − y)/n, and calls
``numpy.linalg.eigvalsh`` (batched); the sharpness is max |λ|. Each engine runs in its own process.
The sweep over P justifies ``diaglin.spectrum.DENSE_MAX_P`` (the dense/Lanczos switch of
``method="auto"``): the crossover is the P where Lanczos becomes faster than dense.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import base_parser, machine_line, problem, run_worker, timed, worker_env  # noqa: E402

P_SWEEP = [50, 100, 200, 300, 500, 700, 1000]
ENGINES = ("numpy", "dense", "lanczos", "auto")


def n_points(P: int) -> int:
    """Points per size: enough for a stable per-point time, bounded total work."""
    return int(max(8, min(64, 6400 // P)))


def points(P: int):
    """X, y and B points w (B, P): near the start w0 = 0.1 of bench_gd, with spread."""
    X, y = problem(P // 5, P)
    rng = np.random.default_rng(1)
    W = 0.1 + 0.5 * np.abs(rng.standard_normal((n_points(P), P)))
    return X, y, W


def numpy_sharpness(W, X, y):
    """max |λ| of the exact Hessian of L(w) = 1/(2n)||X (w⊙w) − y||², built in NumPy."""
    n = X.shape[0]
    A = X.T @ X / n
    out = np.empty(W.shape[0])
    chunk = max(1, 2**23 // W.shape[1] ** 2)
    for s in range(0, W.shape[0], chunk):
        w = W[s : s + chunk]
        g = ((w * w) @ X.T - y) @ X / n
        H = 4.0 * w[:, :, None] * A[None] * w[:, None, :]
        idx = np.arange(w.shape[1])
        H[:, idx, idx] += 2.0 * g
        ev = np.linalg.eigvalsh(H)
        out[s : s + chunk] = np.maximum(np.abs(ev[:, 0]), np.abs(ev[:, -1]))
    return out


def worker(engine: str, repeats: int, budget: float):
    res = {}
    if engine == "numpy":
        fn = numpy_sharpness
        X, y, W = points(50)
        numpy_sharpness(W, X, y)  # warm-up
    else:
        import diaglin
        from diaglin.spectrum import DENSE_MAX_P

        def fn(W, X, y):
            return diaglin.sharpness("ww", W, X, y, method=engine).top_abs

        for P in (50, DENSE_MAX_P + 50):  # compile both solvers' kernels
            X, y, W = points(P)
            diaglin.sharpness("ww", W[:2], X, y, method=engine)
    for P in P_SWEEP:
        X, y, W = points(P)
        times, top = timed(lambda W=W, X=X, y=y: fn(W, X, y), repeats, budget)
        res[P] = {"ms_per_point": 1e3 * float(np.median(times)) / W.shape[0],
                  "repeats": len(times), "top_abs": [float(v) for v in top]}  # fmt: skip
    print(json.dumps(res))


def main():
    ap = base_parser(__doc__, repeats=3, worker_args=3)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker[0], int(a.worker[1]), float(a.worker[2]))
    repeats = 2 if a.quick else a.repeats
    budget = a.budget or (4.0 if a.quick else 8.0)
    env = worker_env(a.blas_threads)
    from diaglin.spectrum import DENSE_MAX_P

    print(f"# bench_sharpness — {machine_line()}")
    print(f"# repeats={repeats} (median), budget {budget:.0f} s per engine and size", end="")
    print(f", OPENBLAS_NUM_THREADS={a.blas_threads}\n" if env else "\n")
    script = os.path.abspath(__file__)
    res = {e: run_worker(script, [e, str(repeats), str(budget)], env=env) for e in ENGINES}
    print("Milliseconds per exact sharpness (model 'ww', P = d, n = d/5), median:\n")
    print(
        "| P = d (n) | points | NumPy H + eigvalsh | diaglin dense | diaglin lanczos "
        "| diaglin auto (method) | dense/NumPy | max rel. err top abs λ: dense, lanczos, auto "
        "vs NumPy |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ms = {e: [] for e in ENGINES}
    for P in P_SWEEP:
        r = {e: res[e][str(P)] for e in ENGINES}
        for e in ENGINES:
            ms[e].append(r[e]["ms_per_point"])
        ref = np.asarray(r["numpy"]["top_abs"])
        err = [
            float(np.max(np.abs(np.asarray(r[e]["top_abs"]) - ref) / ref))
            for e in ("dense", "lanczos", "auto")
        ]
        chosen = "dense" if P <= DENSE_MAX_P else "lanczos"
        print(
            f"| {P} ({P // 5}) | {len(ref)} | {r['numpy']['ms_per_point']:.3g} | "
            f"{r['dense']['ms_per_point']:.3g} | {r['lanczos']['ms_per_point']:.3g} | "
            f"{r['auto']['ms_per_point']:.3g} ({chosen}) | "
            f"{r['dense']['ms_per_point'] / r['numpy']['ms_per_point']:.2f}× | "
            + ", ".join(f"{e:.1e}" for e in err)
            + " |"
        )
    # Crossover: first P where Lanczos beats dense, interpolated in log-log between sweep points.
    d_ms, l_ms = np.log(ms["dense"]), np.log(ms["lanczos"])
    diff = l_ms - d_ms  # > 0: dense faster
    cross = None
    for i in range(1, len(P_SWEEP)):
        if diff[i - 1] > 0 >= diff[i]:
            lp = np.log(P_SWEEP[i - 1]) + (np.log(P_SWEEP[i]) - np.log(P_SWEEP[i - 1])) * (
                diff[i - 1] / (diff[i - 1] - diff[i])
            )
            cross = float(np.exp(lp))
            break
    print()
    if cross is not None:
        print(f"Measured dense/Lanczos crossover: P ≈ {cross:.0f} (DENSE_MAX_P = {DENSE_MAX_P}).")
    elif diff[-1] > 0:
        print(f"Dense is faster at every P up to {P_SWEEP[-1]} (DENSE_MAX_P = {DENSE_MAX_P}).")
    else:
        print(f"Lanczos is faster at every P from {P_SWEEP[0]} (DENSE_MAX_P = {DENSE_MAX_P}).")


if __name__ == "__main__":
    main()
