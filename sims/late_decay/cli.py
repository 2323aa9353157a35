"""``python -m sims.late_decay``: the late learning-rate decay experiment (paper 2, on a model of
the class it studies — spec 02 §2).

With no arguments: label-noise SGD (batch 1, Gaussian noise) on beta = u⊙u − v⊙v, sparse
regression n = 30, d = 100, s = 3, alpha = 0.5; eta = 0.004 with sigma = 1, decayed to
0.1·eta (noise off) at K in {0, 1e3, …, 4e5} of a 5e5-step budget, 5 seeds, with the no-noise
and no-decay controls; and the phase-II scaling grid eta in {0.003, 0.004, 0.006} x sigma in
{0.7, 1, 1.4} (no-decay runs, 3 seeds, 4e5 steps). Writes ./out/late_decay.png/.pdf (final
test loss vs K; three phases; budget view), ./out/phase2_scaling.png/.pdf and
./out/late_decay_compare.csv/.md, prints the comparison table and exits 1 if a check fails.
About a minute on 2 cores (plus ~60 s compiling the SGD kernel on first use).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sims.core.cli import (
    add_run_arguments,
    cli_main,
    int_at_least,
    nonneg_float,
    parse_config,
    positive_float,
    report_checks,
    run_from_args,
)

_DEFAULT_K = (0, 1_000, 3_000, 10_000, 30_000, 60_000, 100_000, 200_000, 400_000)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    from sims.late_decay.config import DECAY_MODELS

    parser = argparse.ArgumentParser(
        prog="python -m sims.late_decay",
        description="Late learning-rate decay with label-noise SGD: final test loss vs decay "
        "time K with the no-noise and no-decay controls, the three phases, the budget view, "
        "and the phase-II time scale T_II ~ C/(eta² sigma²) over an (eta, sigma) grid.",
    )
    pf, nf, ia = positive_float, nonneg_float, int_at_least
    g = parser.add_argument_group("model and data")
    g.add_argument("--model", choices=DECAY_MODELS, default="pm",
                   help="beta = w⊙w (ww), u⊙v (uv) or u⊙u − v⊙v (pm; default)")  # fmt: skip
    g.add_argument("--n", type=ia(1), default=30, help="training samples (default: 30)")
    g.add_argument("--d", type=ia(1), default=100, help="features (default: 100)")
    g.add_argument("--sparsity", type=ia(0), default=3, help="nonzeros of beta* (default: 3)")
    g.add_argument("--seed", type=ia(0), default=0, help="data seed (default: 0)")
    g.add_argument("--alpha", type=pf, default=0.5, help="init scale (default: 0.5)")
    g = parser.add_argument_group("late-decay runs")
    g.add_argument("--eta", type=pf, default=0.004, help="large step size (default: 0.004)")
    g.add_argument("--sigma", type=pf, default=1.0, help="label-noise std (default: 1)")
    g.add_argument("--factor", type=pf, default=0.1,
                   help="step size after the decay = factor · eta (default: 0.1)")  # fmt: skip
    g.add_argument("--sigma-after", type=nf, default=0.0,
                   help="label-noise std after the decay (default: 0)")  # fmt: skip
    g.add_argument("--decay-steps", type=ia(0), nargs="+", default=list(_DEFAULT_K),
                   metavar="K", help="decay times (default: 0 1000 3000 … 400000)")  # fmt: skip
    g.add_argument("--total-steps", type=ia(1), default=500_000,
                   help="steps of every run (default: 500000)")  # fmt: skip
    g.add_argument("--seeds", type=ia(0), nargs="+", default=[0, 1, 2, 3, 4],
                   help="SGD seeds (default: 0 1 2 3 4)")  # fmt: skip
    g.add_argument("--batch-size", type=ia(1), default=1, help="rows per step (default: 1)")
    g.add_argument("--label-noise", choices=("gaussian", "rademacher"), default="gaussian",
                   help="noise distribution (default: gaussian)")  # fmt: skip
    g.add_argument("--record-every", type=ia(1), default=1000,
                   help="record the curves every this many steps (default: 1000)")  # fmt: skip
    g = parser.add_argument_group("phase-II scaling grid (no-decay runs)")
    g.add_argument("--scaling-etas", type=pf, nargs="+", default=[0.003, 0.004, 0.006],
                   metavar="ETA", help="(default: 0.003 0.004 0.006)")  # fmt: skip
    g.add_argument("--scaling-sigmas", type=pf, nargs="+", default=[0.7, 1.0, 1.4],
                   metavar="SIGMA", help="(default: 0.7 1 1.4)")  # fmt: skip
    g.add_argument("--scaling-steps", type=ia(1), default=400_000,
                   help="steps per scaling run (default: 400000)")  # fmt: skip
    g.add_argument("--scaling-seeds", type=ia(1), default=3,
                   help="seeds per scaling point: the first N of --seeds (default: 3)")  # fmt: skip
    g.add_argument("--no-scaling", action="store_true", help="skip the scaling grid")
    add_run_arguments(parser, backend=False)
    g = parser.add_argument_group("figure")
    g.add_argument("--stem", default="late_decay", help="file name stem (default: late_decay)")
    return parser


def configs_from_args(args: argparse.Namespace):
    """The (main, scaling or None) ``DecayConfig`` s the options describe (ValueError if bad)."""
    from sims.late_decay.config import DecayConfig

    common = dict(model=args.model, n=args.n, d=args.d, sparsity=args.sparsity,
                  data_seed=args.seed, alpha=args.alpha, batch_size=args.batch_size,
                  label_noise=args.label_noise, record_every=args.record_every)  # fmt: skip
    main = DecayConfig(**common, etas=(args.eta,), sigmas=(args.sigma,), factor=args.factor,
                       sigma_after=args.sigma_after, decay_steps=tuple(args.decay_steps),
                       total_steps=args.total_steps, seeds=tuple(args.seeds))  # fmt: skip
    if args.no_scaling:
        return main, None
    if args.scaling_seeds > len(args.seeds):
        raise ValueError(f"--scaling-seeds: at most the {len(args.seeds)} seeds of --seeds, "
                         f"got {args.scaling_seeds}")  # fmt: skip
    scaling = DecayConfig(**common, etas=tuple(args.scaling_etas),
                          sigmas=tuple(args.scaling_sigmas), decay_steps=(),
                          total_steps=args.scaling_steps,
                          seeds=tuple(args.seeds[: args.scaling_seeds]))  # fmt: skip
    return main, scaling


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Run (or load) both sweeps, draw the figures, print and save the comparison table."""
    parser = build_parser()
    args, (main_cfg, scaling_cfg) = parse_config(parser, argv, configs_from_args)
    runs = run_from_args(parser, args, main_cfg).first()
    scaling = [] if scaling_cfg is None else list(
        run_from_args(parser, args, scaling_cfg).points)  # fmt: skip
    from sims.core.figures import save_figure
    from sims.late_decay.compare import compare_decay
    from sims.late_decay.plotting import late_decay_figure, scaling_figure

    written = save_figure(late_decay_figure(runs, main_cfg), args.out, args.stem)
    if scaling:
        written += save_figure(scaling_figure(scaling), args.out, "phase2_scaling")
    table = compare_decay(runs, scaling, main_cfg.model)
    return report_checks(table, written, args.out, args.stem)
