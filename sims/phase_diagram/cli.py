"""``python -m sims.phase_diagram``: sweep eta from tiny to divergence and draw the phase diagram.

``--model mlp`` / ``cnn``: the same protocol on a small network
(``sims.phase_diagram.net_config``; default: one hidden tanh layer of width 32 on 100
standardised digits, MSE), with the held-out test loss in the third panel and one summary line
per grid point (eta_c, the EoS branch, the test-loss minimum and whether it is U-shaped).

With no arguments: the one-point shared-weight DLN (d = 5, alpha = 0.01, eps = 1e-12, 80
log-spaced eta from 0.05 eta_c to 3 eta_c), written to ./out/phase_diagram.png and .pdf.
Several grid points (e.g. ``--alpha 0.01 0.1``) give one figure each, named by index, with an
index file ``<stem>_index.csv`` saying which is which. ``--map alpha`` / ``--map eps`` draws the
2-D phase map over (eta, alpha) / (eta, eps) instead (``--map-values`` picks the alpha / eps
values; ``--map-etas`` the eta count per row). ``--decay-tail FACTOR STEPS`` draws the reviewer
check instead (``sims.phase_diagram.tail_check``: raw, averaged and decayed iterates side by
side, one row per grid point, ``reviewer_check.png``) and prints its numbers per point.
``--model mlp --ablate`` runs paper 1's ablations in one sweep (``sims.phase_diagram.ablation``:
the first value of every network axis is the base, every other value varies that one axis; by
default width 32/16/64, depth 1/2/3, tanh/gelu, ntk/mup, n 100/50/200) and draws
``network_ablation.png`` (eta_c, the EoS range and the best-test-loss eta against each axis)
with ``network_ablation.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

from diaglin._names import NET_MODELS
from sims.core.cli import (
    add_run_arguments,
    cli_main,
    int_at_least,
    parse_config,
    positive_float,
    run_from_args,
)
from sims.phase_diagram.options import add_sweep_arguments, config_from_args

#: default values of the mapped axis for ``--map``.
MAP_DEFAULTS = {
    "alpha": tuple(np.geomspace(1e-3, 0.3, 10).tolist()),
    "eps": tuple(np.geomspace(1e-14, 1e-2, 7).tolist()),
}
MAP_ETAS = 40


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    parser = argparse.ArgumentParser(
        prog="python -m sims.phase_diagram",
        description="Sweep the learning rate of full-batch GD on a diagonal linear network from "
        "tiny to divergence and draw the phase diagram: final sharpness vs 2/eta, l1 norm and "
        "test error vs eta, eta_c from gradient flow, theory overlays, regime shading.",
    )
    add_sweep_arguments(parser)
    add_run_arguments(parser)
    g = parser.add_argument_group("figure")
    g.add_argument(
        "--stem",
        default=None,
        help="output file name stem (default: phase_diagram, phase_map_<axis>, or "
        "reviewer_check with --decay-tail)",
    )
    g.add_argument(
        "--map",
        choices=tuple(MAP_DEFAULTS),
        default=None,
        help="draw the 2-D phase map over (eta, alpha) or (eta, eps) instead",
    )
    g.add_argument(
        "--map-values",
        type=positive_float,
        nargs="+",
        default=None,
        metavar="V",
        help="values of the mapped axis (default: 10 alphas in "
        "[1e-3, 0.3] or 7 eps in [1e-14, 1e-2], log-spaced)",
    )
    g.add_argument(
        "--ablate",
        action="store_true",
        help="networks: vary one axis at a time from the base network (the first value of each "
        "of --width, --depth, --activation, --loss, --param, --n, --alpha, --eps) in one sweep "
        "and draw eta_c, the EoS range and the best-test-loss eta against each axis; axes not "
        "given: width 32 16 64, depth 1 2 3, activation tanh gelu, param ntk mup, n 100 50 200; "
        "eta grid 16 from 0.5 to 2.5 eta_c (output network_ablation.png/.csv)",
    )
    g.add_argument("--map-etas", type=int_at_least(1), default=MAP_ETAS,
                   help=f"eta values per map row (default: {MAP_ETAS})")  # fmt: skip
    return parser


def write_index(points, stems: Sequence[str], out_dir: Path, stem: str) -> Path:
    """``<stem>_index.csv``: for each figure file, its grid point (every axis, and eta_c)."""
    from sims.core.cache import atomic_write_bytes

    axes = [f.name for f in fields(points[0].point) if f.name != "index"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["file", *axes, "eta_c"])
    for p, s in zip(points, stems):
        w.writerow([f"{s}.png", *(_cell(getattr(p.point, a)) for a in axes), repr(p.eta_c)])
    path = Path(out_dir) / f"{stem}_index.csv"
    atomic_write_bytes(path, buf.getvalue().encode())
    return path


def _cell(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def network_summary(p) -> str:
    """One line per network grid point: eta_c, the eta range of the edge-of-stability branch
    and where the test loss is smallest (``sims.phase_diagram.regimes.u_shape``)."""
    from sims.phase_diagram.regimes import Regime, classify, u_shape

    regimes = classify(p.status, p.final.sharpness, p.etas, p.eta_c)
    eos = p.etas[regimes == Regime.EOS]
    branch = (f"EoS branch eta in [{eos.min():.4g}, {eos.max():.4g}] = [{eos.min() / p.eta_c:.3g}, "
              f"{eos.max() / p.eta_c:.3g}] eta_c" if eos.size else "no EoS run")  # fmt: skip
    shape = u_shape(p.etas, p.gen_error(), p.status, p.eta_c)
    return (
        f"{p.point.label}: eta_c = {p.eta_c:.4g}; {branch}; "
        f"{shape.describe() if shape else 'fewer than 3 converged runs'}"
    )


def ablation_defaults(args: argparse.Namespace) -> None:
    """``--ablate``: its axis values and eta grid where the options did not give them;
    ValueError for a diagonal model or another figure mode."""
    from sims.phase_diagram.ablation import ABLATION_AXES, ABLATION_GRID

    if args.model not in NET_MODELS:
        raise ValueError(f"--ablate: varies network axes, needs --model "
                         f"{' or '.join(NET_MODELS)}, got --model {args.model}")  # fmt: skip
    if args.map is not None or args.averaged:
        raise ValueError("--ablate: draws its own figure (no --map, no --averaged)")
    option = {"widths": "width", "depths": "depth", "activations": "activation",
              "params": "param", "n_samples": "n"}  # fmt: skip
    for axis, values in ABLATION_AXES.items():
        if getattr(args, option[axis]) is None:
            setattr(args, option[axis], list(values))
    for name, value in ABLATION_GRID.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def draw_ablation(sweep, config, out_dir: Path, stem: str) -> list[Path]:
    """The ablation figure and its CSV; prints one line per point."""
    from sims.core.figures import save_figure
    from sims.phase_diagram.ablation import (
        ablation_row,
        describe,
        varied_axis,
        write_ablation_csv,
    )
    from sims.phase_diagram.plotting import ablation_figure

    rows = [ablation_row(p) for p in sweep.points]
    axes = [varied_axis(config, p.point) for p in sweep.points]
    for row, axis in zip(rows, axes):
        print(describe(row, axis))
    by_index = {r.point.index: r for r in rows}
    panels = [(name, [by_index[p.index] for p in pts]) for name, pts in config.panels()]
    base = sweep.points[0]  # the ablation's first point is its base
    fig = ablation_figure(panels, config.model, base.point, base.n_params)
    written = save_figure(fig, out_dir, stem)
    written.append(write_ablation_csv(rows, axes, Path(out_dir) / f"{stem}.csv"))
    return written


def sweep_config_from_args(args: argparse.Namespace):
    """The config of the sweep the options describe: the phase diagram's, an ablation's or a
    phase map's (ValueError if bad)."""
    if args.ablate:
        ablation_defaults(args)
    config = config_from_args(args)
    if args.ablate:
        from sims.phase_diagram.ablation import AblationConfig

        config = AblationConfig.of(config)
    if args.map is not None:
        values = tuple(args.map_values or MAP_DEFAULTS[args.map])
        axis_field = {"alpha": "alphas", "eps": "epsilons"}[args.map]
        config = replace(config, **{axis_field: values}, n_etas=args.map_etas)
        if getattr(config, "decay_tail", None) is not None:
            raise ValueError("--decay-tail: draws its own figure, not a --map")
    return config


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep (cached), draw the figure(s), print where they went."""
    parser = build_parser()
    args, config = parse_config(parser, argv, sweep_config_from_args)
    sweep = run_from_args(parser, args, config)
    from sims.core.figures import save_figure
    from sims.phase_diagram.compare import predictions_for
    from sims.phase_diagram.plotting import phase_diagram_figure, phase_map_figure

    written = []
    if args.ablate:
        written += draw_ablation(sweep, config, args.out, args.stem or "network_ablation")
    elif args.map is not None:
        preds = [predictions_for(p, config.model) for p in sweep.points]
        fig = phase_map_figure(sweep.points, args.map, config.model, [q.eta_c for q in preds])
        written += save_figure(fig, args.out, args.stem or f"phase_map_{args.map}")
    elif getattr(config, "decay_tail", None) is not None:
        from sims.phase_diagram.tail_check import reviewer_check_figure, tail_check

        fig = reviewer_check_figure(sweep.points, config.model)
        written += save_figure(fig, args.out, args.stem or "reviewer_check")
        for p in sweep.points:
            print(f"{p.point.label}: eta_c = {p.eta_c:.4g}; {tail_check(p).describe()}")
    else:
        stem = args.stem or "phase_diagram"
        many = len(sweep.points) > 1
        stems = [f"{stem}_{p.point.index:03d}" if many else stem for p in sweep.points]
        for p, s in zip(sweep.points, stems):
            fig = phase_diagram_figure(p, predictions_for(p, config.model), config.model)
            written += save_figure(fig, args.out, s)
        if many:
            written.append(write_index(sweep.points, stems, args.out, stem))
    if config.model in NET_MODELS and not args.ablate:
        for p in sweep.points:
            print(network_summary(p))
    for path in written:
        print(f"wrote {path}")
    return 0
