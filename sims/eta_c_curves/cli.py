"""``python -m sims.eta_c_curves``: the one-point DLN's critical step size eta_c = 2/s_GF
against the initialisation scale alpha and against the stopping loss eps, as curves.

With no arguments: the phase diagram's data (d = 5, one point, seed 0), models w⊙w, u⊙v and
u⊙u − v⊙v, 40 alphas in [1e-3, 0.3] at eps = 1e-12 and 40 eps in [1e-14, 1e-2] at alpha =
0.01 (the phase maps' ranges), each curve by one ``diaglin.gradient_flow_batch`` call; beside
w⊙w theory's exact eta_c (``theory.one_point_gf_path``) and its limits eps → 0 (2/S(β_GF)) and
alpha, eps → 0 (1/(2 y x_max)); theory has no eta_c for the other models (the figure says so).
Writes ./out/eta_c_curves.png/.pdf, eta_c_curves.csv (every curve's numbers) and
eta_c_curves_compare.csv/.md (gradient flow against theory; exit 1 if a check fails). Cached:
a second run only redraws.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sims.core.cli import (
    add_run_arguments,
    cli_main,
    int_at_least,
    parse_config,
    positive_float,
    report_checks,
    run_from_args,
)
from sims.eta_c_curves.config import CURVE_MODELS

#: gradient flow must match theory's exact eta_c to this relative error.
THEORY_RTOL = 1e-8


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    pf, ia = positive_float, int_at_least
    parser = argparse.ArgumentParser(
        prog="python -m sims.eta_c_curves",
        description="The one-point DLN's critical step size eta_c = 2/s_GF against alpha and "
        "eps, from gradient flow, beside theory's prediction where one exists.",
    )
    g = parser.add_argument_group("curves")
    g.add_argument("--models", choices=CURVE_MODELS, nargs="+", default=list(CURVE_MODELS),
                   help="ww = w*w (theory predicts its eta_c), uv = u*v, pm = u*u - v*v "
                   "(default: all three)")  # fmt: skip
    g.add_argument("--d", type=ia(1), default=5, help="dimension (default: 5)")
    g.add_argument("--seed", type=ia(0), default=0, help="data seed (default: 0)")
    g.add_argument("--alpha", type=pf, default=0.01,
                   help="alpha of the eps curve (default: 0.01)")  # fmt: skip
    g.add_argument("--eps", type=pf, default=1e-12,
                   help="eps of the alpha curve (default: 1e-12)")  # fmt: skip
    g.add_argument("--alpha-range", type=pf, nargs=2, default=[1e-3, 0.3], metavar=("LO", "HI"),
                   help="alphas of the alpha curve (default: 1e-3 0.3)")  # fmt: skip
    g.add_argument("--eps-range", type=pf, nargs=2, default=[1e-14, 1e-2], metavar=("LO", "HI"),
                   help="eps of the eps curve (default: 1e-14 1e-2)")  # fmt: skip
    g.add_argument("--n-values", type=ia(2), default=40,
                   help="values per curve, log-spaced (default: 40)")  # fmt: skip
    add_run_arguments(parser, backend=False)
    g = parser.add_argument_group("figure")
    g.add_argument("--stem", default="eta_c_curves", help="file name stem (default: eta_c_curves)")
    return parser


def config_from_args(args: argparse.Namespace):
    """The ``CurveConfig`` the options describe (ValueError if bad)."""
    from sims.eta_c_curves.config import CurveConfig

    return CurveConfig(models=tuple(args.models), d=args.d, alpha=args.alpha, eps=args.eps,
                       alpha_range=tuple(args.alpha_range), eps_range=tuple(args.eps_range),
                       n_values=args.n_values, data_seed=args.seed)  # fmt: skip


def curves_checks(results, theories):
    """Per curve with a theory: gradient flow's eta_c against theory's exact one at every value
    (the largest relative gap; passes at <= ``THEORY_RTOL``); per curve without: its range
    (informational)."""
    from sims.core.table import ComparisonTable, check_row

    rows = []
    for res, th in zip(results, theories):
        if th is None:
            rows.append(check_row(res.point.label, "eta_c range (no theory)",
                                  np.nanmin(res.eta_c), np.nanmax(res.eta_c), 0.0,
                                  note="simulated: min, predicted column: max"))  # fmt: skip
            continue
        rel = np.abs(res.eta_c / th.at_values - 1.0)
        i = int(np.nanargmax(rel)) if np.isfinite(rel).any() else 0
        ok = bool(np.all(np.isfinite(res.eta_c)) and np.nanmax(rel) <= THEORY_RTOL)
        rows.append(check_row(res.point.label, "eta_c: gradient flow vs theory (worst value)",
                              res.eta_c[i], th.at_values[i], THEORY_RTOL, ok, rel=rel[i],
                              note=f"{res.point.axis} = {res.values[i]:.4g}, {res.values.size} "
                              "values", criterion=f"rel err <= {THEORY_RTOL:g}"))  # fmt: skip
    return ComparisonTable(tuple(rows))


def write_curves_csv(results, theories, path: Path) -> Path:
    """One line per curve value: model, axis, alpha, eps, GF status, s_gf, eta_c, theory's
    eta_c (empty where theory has none)."""
    from sims.core.cache import atomic_write_bytes

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "axis", "alpha", "eps", "gf_status", "s_gf", "eta_c", "eta_c_theory"])
    for res, th in zip(results, theories):
        alphas, eps = res.alphas_eps()
        for i in range(res.values.size):
            w.writerow([res.point.model, res.point.axis, repr(float(alphas[i])),
                        repr(float(eps[i])), int(res.status[i]), repr(float(res.s_gf[i])),
                        repr(float(res.eta_c[i])),
                        "" if th is None else repr(float(th.at_values[i]))])  # fmt: skip
    atomic_write_bytes(path, buf.getvalue().encode())
    return path


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Run (or load) the curves, draw the figure, print and save the checks."""
    parser = build_parser()
    args, config = parse_config(parser, argv, config_from_args)
    results = run_from_args(parser, args, config).points
    from sims.core.figures import save_figure
    from sims.eta_c_curves.plotting import curves_figure
    from sims.eta_c_curves.runs import theory_curve

    theories = [theory_curve(r) for r in results]
    written = save_figure(curves_figure(results, theories, config), args.out, args.stem)
    written.append(write_curves_csv(results, theories, Path(args.out) / f"{args.stem}.csv"))
    table = curves_checks(results, theories)
    return report_checks(table, written, args.out, args.stem)
