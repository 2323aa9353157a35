"""``python -m sims.theory_picture``: why the norm and sharpness biases conflict (paper 1's
theory picture, spec 01 §2-3), drawn on the interpolating set of the one-point w⊙w DLN.

With no arguments: x = (1.5, 0.6) (d = 2) and x = (1.5, 1, 0.6) (d = 3), y = 1, w(0) = 0.1·1,
eps = 1e-10; gradient flow gives eta_c = 2/s_GF, then GD at 9 step sizes from 0.3 to 1.9
eta_c (one batched call per panel). Left the segment (d = 2) in the (β₁, β₂) plane, right the
triangle (d = 3) in simplex coordinates: the min-norm and min-sharpness vertices, the GF limit,
GD's endpoints coloured by η, and the S = 2/η slices in the same colours. Writes
./out/theory_picture.png/.pdf, ./out/theory_picture.npz (the numbers, with the config and
versions) and ./out/theory_picture_compare.csv/.md; prints the checks and exits 1 if one fails.
A few seconds (once the GD and GF kernels are compiled); cached, so a second run only redraws.
"""

from __future__ import annotations

import argparse
import io
import json
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    pf, ia = positive_float, int_at_least
    parser = argparse.ArgumentParser(
        prog="python -m sims.theory_picture",
        description="The interpolating set of the one-point w⊙w DLN in 2 and 3 coordinates: "
        "min-norm and min-sharpness interpolators, the GF limit, GD's endpoints for several "
        "step sizes and the S = 2/eta slices they sit on.",
    )
    g = parser.add_argument_group("data and model")
    g.add_argument("--x2", type=pf, nargs=2, default=[1.5, 0.6], metavar="X",
                   help="the data point of the d = 2 panel, distinct entries > 0 "
                   "(default: 1.5 0.6)")  # fmt: skip
    g.add_argument("--x3", type=pf, nargs=3, default=[1.5, 1.0, 0.6], metavar="X",
                   help="the data point of the d = 3 panel (default: 1.5 1 0.6)")  # fmt: skip
    g.add_argument("--y", type=pf, default=1.0, help="the label, > 0 (default: 1)")
    g.add_argument("--alpha", type=pf, default=0.1, help="init scale w(0) = alpha·1 (default: 0.1)")
    g.add_argument("--eps", type=pf, default=1e-10, help="stop when L < eps (default: 1e-10)")
    g.add_argument("--seed", type=ia(0), default=0,
                   help="recorded seed (the data are fixed; default: 0)")  # fmt: skip
    g = parser.add_argument_group("step sizes (in units of eta_c = 2/s_GF, linearly spaced)")
    g.add_argument("--eta-min", type=pf, default=0.3, help="(default: 0.3)")
    g.add_argument("--eta-max", type=pf, default=1.9, help="(default: 1.9)")
    g.add_argument("--n-etas", type=ia(2), default=9, help="(default: 9)")
    g.add_argument("--max-steps", type=ia(1), default=200_000,
                   help="GD steps at most (default: 200000)")  # fmt: skip
    add_run_arguments(parser, backend=False)
    g = parser.add_argument_group("figure")
    g.add_argument("--stem", default="theory_picture",
                   help="file name stem (default: theory_picture)")  # fmt: skip
    return parser


def config_from_args(args: argparse.Namespace):
    """The ``PictureConfig`` the options describe (ValueError if bad)."""
    from sims.theory_picture.config import PictureConfig

    return PictureConfig(x2=tuple(args.x2), x3=tuple(args.x3), y=args.y, alpha=args.alpha,
                         eps=args.eps, eta_min=args.eta_min, eta_max=args.eta_max,
                         n_etas=args.n_etas, max_steps=args.max_steps,
                         data_seed=args.seed)  # fmt: skip


def save_npz(path: Path, results, config) -> Path:
    """Both panels' arrays (``d2.*``, ``d3.*``) and a ``meta`` JSON string with the config, the
    seed and the versions, written atomically."""
    from sims.core.cache import atomic_write_bytes
    from sims.core.provenance import versions

    arrays = {f"d{r.point.d}.{k}": v for r in results for k, v in r.to_arrays().items()}
    meta = json.dumps({"config": config.to_dict(), "seed": config.data_seed,
                       "versions": versions()})  # fmt: skip
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays, meta=np.array(meta))
    atomic_write_bytes(path, buf.getvalue())
    return path


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Run (or load) both panels, draw the figure, print and save the checks."""
    parser = build_parser()
    args, config = parse_config(parser, argv, config_from_args)
    results = run_from_args(parser, args, config).points
    from sims.core.figures import save_figure
    from sims.theory_picture.plotting import picture_figure
    from sims.theory_picture.runs import picture_checks

    written = save_figure(picture_figure(results), args.out, args.stem)
    written.append(save_npz(Path(args.out) / f"{args.stem}.npz", results, config))
    table = picture_checks(results)
    return report_checks(table, written, args.out, args.stem)
