"""``python -m sims.flows``: the central flow and rod flow (``diaglin.eos_flows``) against GD
over the phase diagram's η range, endpoints and time courses, and where each is most accurate.

With no arguments: three instances — the phase diagram's default (w⊙w, one point, d = 5,
α = 0.01), w⊙w on 3 samples in d = 8 (α = 0.1) and u⊙u − v⊙v on 4 samples in d = 8 (α = 0.1)
— each at 9 step sizes from 0.4 to 2.0 eta_c; GD, its mean over the last 20 iterates, and both
flows, all stopped by GD's rule (loss < 1e-12, divergence, or 20 000 steps). Writes
./out/flows.png/.pdf and ./out/flows_compare.csv/.md (the table: the central flow's constraint
and, on the one-point DLN, theory's EoS slice as checks; per regime the endpoint and path errors
of each flow against GD, and which flow is closest), prints the table and exits 1 if a check
fails. Cached: a second run only redraws. The flows' kernels compile on first use (about a
minute each on 2 cores; cached for later processes).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sims.core.cli import (
    add_run_arguments,
    cli_main,
    int_at_least,
    parse_config,
    positive_float,
    report_checks,
    run_from_args,
)


def _instance(text: str) -> tuple[str, int, int, float]:
    """MODEL:N:D:ALPHA, e.g. ww:1:5:0.01."""
    from sims.flows.config import instance

    try:
        model, n, d, alpha = text.split(":")
        return instance((model, int(n), int(d), float(alpha)))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MODEL:N:D:ALPHA ({exc})") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    pf, ia = positive_float, int_at_least
    parser = argparse.ArgumentParser(
        prog="python -m sims.flows",
        description="The central flow and rod flow against GD at and around the edge of "
        "stability: endpoints over eta and time courses, with the EoS slice of theory.",
    )
    g = parser.add_argument_group("instances and step sizes")
    g.add_argument("--instance", type=_instance, nargs="+", default=None, metavar="M:N:D:ALPHA",
                   help="instances as MODEL:N:D:ALPHA (N = 1: the one-point data of the paper; "
                   "N > 1: sparse regression) (default: ww:1:5:0.01 ww:3:8:0.1 "
                   "pm:4:8:0.1)")  # fmt: skip
    g.add_argument("--sparsity", type=ia(0), default=2,
                   help="nonzeros of beta* for N > 1 (default: 2)")  # fmt: skip
    g.add_argument("--eps", type=pf, default=1e-12, help="stop when L < eps (default: 1e-12)")
    g.add_argument("--eta-min", type=pf, default=0.4, help="in units of eta_c (default: 0.4)")
    g.add_argument("--eta-max", type=pf, default=2.0, help="in units of eta_c (default: 2.0)")
    g.add_argument("--n-etas", type=ia(1), default=9, help="linearly spaced (default: 9)")
    g.add_argument("--max-steps", type=ia(1), default=20_000,
                   help="GD steps (flow time) at most (default: 20000)")  # fmt: skip
    g.add_argument("--averaged", type=ia(1), default=20,
                   help="GD's averaged iterate: the mean of the last K (default: 20)")  # fmt: skip
    g.add_argument("--substeps", type=ia(1), default=4,
                   help="integrator steps of the flows per GD step (default: 4)")  # fmt: skip
    g.add_argument("--seed", type=ia(0), default=0, help="data seed (default: 0)")
    add_run_arguments(parser, backend=False)
    g = parser.add_argument_group("figure")
    g.add_argument("--stem", default="flows", help="file name stem (default: flows)")
    return parser


def config_from_args(args: argparse.Namespace):
    """The ``FlowsConfig`` the options describe (ValueError if bad)."""
    from sims.flows.config import FlowsConfig

    kw = {} if args.instance is None else {"instances": tuple(args.instance)}
    return FlowsConfig(sparsity=args.sparsity, eps=args.eps, eta_min=args.eta_min,
                       eta_max=args.eta_max, n_etas=args.n_etas, max_steps=args.max_steps,
                       average_last=args.averaged, substeps=args.substeps,
                       data_seed=args.seed, **kw)  # fmt: skip


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Run (or load) every instance, draw the figure, print and save the table."""
    parser = build_parser()
    args, config = parse_config(parser, argv, config_from_args)
    results = run_from_args(parser, args, config).points
    from sims.core.figures import save_figure
    from sims.flows.plotting import flows_figure
    from sims.flows.runs import flows_checks

    written = save_figure(flows_figure(results), args.out, args.stem)
    table = flows_checks(results)
    return report_checks(table, written, args.out, args.stem)
