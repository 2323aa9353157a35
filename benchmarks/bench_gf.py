"""Gradient flow on random instances: the dual Radau integrator against the explicit DOP853.

The family of issue 29: β = w⊙w, X = |Gaussian| (n ≤ 5 rows, d ≤ 25 columns), α log-uniform in
[0.01, 0.3], eps = 1e-12, and y = |Gaussian| drawn again until the model can interpolate it (y
in the cone of X's columns; ``--family positive``: the stiff family — a target near the cone's
boundary leaves some coordinates of the limit tiny, and the flow slow) or y = X β* with a dense
β* = |Gaussian| (``--family dense``: rarely stiff).
Per instance: the time of ``gradient_flow(method="dual")`` (compiled; the first call is timed
apart), of ``method="dop853"`` (capped at its default 50 000 steps), the limit's error against
``theory.gf_limit`` and η_c against the dual integrator at a tighter tolerance (rtol 1e-13).

    python benchmarks/bench_gf.py [--family positive|dense] [--instances 30] [--seed 0]
                                  [--no-dop853]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import nnls

import diaglin as dl
import theory


def instance(rng: np.random.Generator, family: str = "positive"):
    n = int(rng.integers(1, 6))
    d = int(rng.integers(n + 1, 26))
    alpha = float(np.exp(rng.uniform(np.log(0.01), np.log(0.3))))
    X = np.abs(rng.standard_normal((n, d)))
    if family == "dense":
        return X, X @ np.abs(rng.standard_normal(d)), alpha
    while True:  # a positive target inside the cone of X's columns (the flow interpolates)
        y = np.abs(rng.standard_normal(n))
        if nnls(X, y)[1] <= 1e-10 * np.linalg.norm(y):
            return X, y, alpha


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--family", choices=("positive", "dense"), default="positive")
    ap.add_argument("--no-dop853", action="store_true", help="skip the explicit integrator")
    args = ap.parse_args()
    m = dl.get_model("ww")
    rng = np.random.default_rng(args.seed)
    X, y, alpha = instance(np.random.default_rng(10**6))
    _, first = timed(dl.gradient_flow, m, X, y, m.init(X.shape[1], alpha))
    print(f"first call (compilation included): {first:.1f} s")
    rows = []
    print(
        "| # | n | d | α | dual time | DOP853 time (status) | steps dual | limit err "
        "| η_c rel. diff vs rtol 1e-13 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k in range(args.instances):
        X, y, alpha = instance(rng, args.family)
        th0 = m.init(X.shape[1], alpha)
        gf, t_new = timed(dl.gradient_flow, m, X, y, th0)
        tight = dl.gradient_flow(m, X, y, th0, rtol=1e-13, atol=1e-16)
        lim_err = eta_diff = float("nan")
        if gf.converged:
            pred = theory.gf_limit(X, y, "ww", alpha).beta
            lim_err = float(np.max(np.abs(gf.beta_limit - pred)) / np.max(np.abs(pred)))
            eta_diff = abs(gf.eta_c / tight.eta_c - 1)
        old = "—"
        t_old = np.nan
        if not args.no_dop853:
            ref, t_old = timed(dl.gradient_flow, m, X, y, th0, method="dop853")
            old = f"{t_old:.2f} s ({ref.status.name})"
        rows.append((t_new, t_old, lim_err, eta_diff, gf.converged))
        print(
            f"| {k} | {X.shape[0]} | {X.shape[1]} | {alpha:.3f} | {t_new * 1e3:.1f} ms | {old} "
            f"| {gf.t.size - 1} | {lim_err:.1e} | {eta_diff:.1e} |"
        )
    t_new, t_old, lim, eta, conv = (np.array(c) for c in zip(*rows))
    print()
    print(
        f"dual: converged {int(conv.sum())}/{conv.size}; time median "
        f"{np.median(t_new) * 1e3:.1f} ms, 90 % {np.quantile(t_new, 0.9) * 1e3:.1f} ms, max "
        f"{t_new.max() * 1e3:.1f} ms; limit error max {np.nanmax(lim):.1e}; η_c vs tight max "
        f"{np.nanmax(eta):.1e}"
    )
    if not args.no_dop853:
        print(
            f"DOP853: time median {np.median(t_old):.2f} s, 90 % {np.quantile(t_old, 0.9):.2f} s, "
            f"max {t_old.max():.2f} s; over 1 s: {int((t_old > 1).sum())}/{t_old.size}"
        )


if __name__ == "__main__":
    main()
