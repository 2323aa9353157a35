"""Command-line options shared by ``python -m sims.phase_diagram`` and ``python -m sims.compare``:
the sweep (model, data, grid, stopping rule) and how to run it (cache, threads, backend)."""

from __future__ import annotations

import argparse
from pathlib import Path

from diaglin import MODEL_NAMES
from sims.cache import DEFAULT_CACHE_DIR
from sims.config import BACKENDS, ETA_GRIDS, ETA_UNITS, SweepConfig
from sims.results import SweepResult

DEFAULT_OUT_DIR = Path("out")
_DEFAULT = SweepConfig()


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text!r}")
    return v


def nonneg_float(text: str) -> float:
    """argparse type: a finite float >= 0."""
    v = positive_float(text) if text.strip() not in ("0", "0.0") else 0.0
    return v


def int_at_least(minimum: int):
    """argparse type factory: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}")
        return v

    parse.__name__ = f"integer>={minimum}"
    return parse


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that define the sweep (they all enter the cache key)."""
    g = parser.add_argument_group("sweep (defaults: the one-point shared-weight DLN of spec 01 §4)")
    g.add_argument(
        "--model",
        choices=MODEL_NAMES,
        default=_DEFAULT.model,
        help="parameterisation: ww = w*w, uv = u*v, pm = u*u - v*v, prod = w_1*...*w_D,"
        " power = w^D (default: ww)",
    )
    g.add_argument(
        "--depth",
        type=int_at_least(1),
        default=2,
        help="depth D for --model prod/power (default: 2)",
    )
    g.add_argument(
        "--d",
        type=int_at_least(1),
        nargs="+",
        default=list(_DEFAULT.dims),
        metavar="D",
        help="dimension(s) d (default: 5)",
    )
    g.add_argument(
        "--n",
        type=int_at_least(1),
        nargs="+",
        default=list(_DEFAULT.n_samples),
        metavar="N",
        help="number(s) of samples; 1 = diaglin.data.one_point, >1 = "
        "diaglin.data.sparse_regression (default: 1)",
    )
    g.add_argument(
        "--sparsity",
        type=int_at_least(0),
        default=_DEFAULT.sparsity,
        help="nonzeros of beta* for n > 1 (default: 3)",
    )
    g.add_argument(
        "--seed",
        type=int_at_least(0),
        default=_DEFAULT.data_seed,
        help="data seed (np.random.default_rng) (default: 0)",
    )
    g.add_argument(
        "--alpha",
        type=positive_float,
        nargs="+",
        default=list(_DEFAULT.alphas),
        metavar="A",
        help="init scale(s) alpha (default: 0.01)",
    )
    g.add_argument(
        "--eps",
        type=positive_float,
        nargs="+",
        default=list(_DEFAULT.epsilons),
        metavar="E",
        help="stop when the loss < eps (default: 1e-12)",
    )
    g.add_argument(
        "--eta-min",
        type=positive_float,
        default=_DEFAULT.eta_min,
        help="smallest eta, in --eta-units (default: 0.05)",
    )
    g.add_argument(
        "--eta-max",
        type=positive_float,
        default=_DEFAULT.eta_max,
        help="largest eta, in --eta-units (default: 3; for one-point ww data no "
        "interpolator is stable beyond x_max/x_min < 3 eta_c)",
    )
    g.add_argument(
        "--n-etas",
        type=int_at_least(1),
        default=_DEFAULT.n_etas,
        help="number of step sizes per grid point (default: 80)",
    )
    g.add_argument(
        "--eta-grid",
        choices=ETA_GRIDS,
        default=_DEFAULT.eta_grid,
        help="log or linear spacing (default: log)",
    )
    g.add_argument(
        "--eta-units",
        choices=ETA_UNITS,
        default=_DEFAULT.eta_units,
        help="eta_c: multiples of each point's 2/s_GF; absolute: raw step sizes (default: eta_c)",
    )
    g.add_argument(
        "--max-steps",
        type=int_at_least(1),
        default=_DEFAULT.max_steps,
        help="give up after this many GD steps (default: 100000)",
    )
    g.add_argument(
        "--averaged",
        type=int_at_least(0),
        default=0,
        metavar="K",
        help="also report statistics of the mean of the last K iterates (default: 0)",
    )
    g.add_argument(
        "--reference-eta",
        type=nonneg_float,
        default=_DEFAULT.reference_eta,
        help="extra tiny-step run at this multiple of eta_c, checked against the GF "
        "limit; 0 disables (default: 1e-3)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for how the sweep runs and where outputs go (not part of the cache key,
    except --backend)."""
    g = parser.add_argument_group("running")
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        default="cpu",
        help="cpu (numba); cuda is not available in this build (default: cpu)",
    )
    g.add_argument(
        "--jobs",
        type=int_at_least(1),
        default=None,
        help="numba threads (numba.set_num_threads; default: all cores)",
    )
    g.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="result cache folder (default: ./.diaglin_cache)",
    )
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    g.add_argument(
        "--out", type=Path, default=DEFAULT_OUT_DIR, help="output folder (default: ./out)"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The :class:`SweepConfig` the parsed options describe (ValueError on a bad combination)."""
    kw = (("depth", args.depth),) if args.model in ("prod", "power") else ()
    return SweepConfig(
        model=args.model, model_kwargs=kw, alphas=tuple(args.alpha), epsilons=tuple(args.eps),
        dims=tuple(args.d), n_samples=tuple(args.n), sparsity=args.sparsity,
        data_seed=args.seed, eta_min=args.eta_min, eta_max=args.eta_max, n_etas=args.n_etas,
        eta_grid=args.eta_grid, eta_units=args.eta_units, reference_eta=args.reference_eta,
        max_steps=args.max_steps, average_last=args.averaged, backend=args.backend,
    )  # fmt: skip


def set_threads(parser: argparse.ArgumentParser, jobs: int | None) -> None:
    """numba.set_num_threads(jobs), with an argparse error if jobs exceeds the cores."""
    if jobs is None:
        return
    import numba

    if jobs > numba.config.NUMBA_NUM_THREADS:
        parser.error(f"--jobs: at most {numba.config.NUMBA_NUM_THREADS} on this machine, "
                     f"got {jobs}")  # fmt: skip
    numba.set_num_threads(jobs)


def run_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, config: SweepConfig | None = None
) -> SweepResult:
    """Build the config (unless given), set threads, run the sweep; bad values -> parser.error."""
    from sims.sweep import run_sweep

    try:
        config = config or config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    set_threads(parser, args.jobs)
    try:
        return run_sweep(config, cache_dir=None if args.no_cache else args.cache_dir,
                         progress=not args.quiet)  # fmt: skip
    except ValueError as exc:
        if args.backend != "cpu" and "backend" in str(exc):
            parser.error(f"--backend {args.backend}: not available in this build ({exc})")
        parser.error(str(exc))
