"""Command-line options shared by ``python -m sims.phase_diagram`` and ``python -m sims.compare``:
the sweep (model, data, grid, stopping rule) and how to run it (cache, threads, backend), and
the checks and messages every such command shares (bad options, output folders, Ctrl-C).

Nothing heavy is imported here: a command reports a bad option before numba, scipy or
matplotlib load.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from diaglin import DEPTH_MODELS, MODEL_NAMES
from sims.cache import DEFAULT_CACHE_DIR, prepare_dir
from sims.config import BACKENDS, ETA_GRIDS, ETA_UNITS, SweepConfig

if TYPE_CHECKING:  # pragma: no cover
    from sims.results import SweepResult
    from sims.sweep import Experiment

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
    g = parser.add_argument_group(
        "sweep (defaults: GD on the shared-weight DLN beta = w*w, one sample, d = 5)"
    )
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
        default=None,
        help="depth D of --model prod or power (default: 2; an error with other models)",
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
        help="largest eta, in --eta-units (default: 3; with the default data every run "
        "diverges well below 3 eta_c)",
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


def add_run_arguments(parser: argparse.ArgumentParser, *, backend: bool = True) -> None:
    """Options for how the sweep runs and where outputs go (not part of the cache key,
    except --backend, offered when ``backend``)."""
    g = parser.add_argument_group("running")
    if backend:
        g.add_argument(
            "--backend",
            choices=BACKENDS,
            default="cpu",
            help="where the GD runs: cpu = numba kernels on this machine's cores, cuda = "
            "numba.cuda kernels on an NVIDIA GPU (pip install -e '.[cuda]') (default: cpu)",
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
        help="result cache folder, created if missing; a read-only one is used without "
        "storing new results (default: ./.diaglin_cache)",
    )
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    g.add_argument(
        "--out", type=Path, default=DEFAULT_OUT_DIR,
        help="output folder, created if missing (default: ./out)",
    )  # fmt: skip
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="compute the grid points on a Dask cluster: tcp://HOST:PORT of a running "
        "scheduler, or local:N for N worker processes on this machine (needs the [dask] "
        "extra; results are cached by this process as they arrive)",
    )  # fmt: skip


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The :class:`SweepConfig` the parsed options describe (ValueError on a bad combination)."""
    if args.depth is not None and args.model not in DEPTH_MODELS:
        raise ValueError(f"--depth: only --model {' or '.join(DEPTH_MODELS)} have a depth, "
                         f"got --model {args.model}")  # fmt: skip
    kw = (("depth", args.depth or 2),) if args.model in DEPTH_MODELS else ()
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


def check_folders(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Before any computing: --out must be (or become) a writable folder; --cache-dir must be
    (or become) a folder — a read-only one only warns later (results are then not stored)."""
    try:
        if not prepare_dir(args.out):
            parser.error(f"--out {args.out}: cannot write in this folder (read-only)")
    except OSError as exc:
        parser.error(f"--out: {exc}")
    if not args.no_cache:
        try:
            prepare_dir(args.cache_dir)
        except OSError as exc:
            parser.error(f"--cache-dir: {exc}")


def check_backend(parser: argparse.ArgumentParser, backend: str) -> None:
    """Before any computing: --backend cuda needs a usable GPU (else: what is missing)."""
    if backend != "cuda":
        return
    from diaglin.cuda import CudaUnavailable, runtime

    try:
        runtime.cuda()
    except CudaUnavailable as exc:
        parser.error(f"--backend cuda: {exc}")


def run_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, config: Experiment | None = None
) -> SweepResult:
    """Build the config (unless given), check the folders, set threads and run the sweep; a bad
    value, an unusable folder or a sweep too large for memory -> parser.error (exit 2)."""
    from sims.sweep import run_sweep

    try:
        config = config or config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    check_folders(parser, args)
    check_backend(parser, getattr(args, "backend", "cpu"))
    set_threads(parser, args.jobs)
    cache_dir = None if args.no_cache else args.cache_dir
    try:
        if args.scheduler is None:
            return run_sweep(config, cache_dir=cache_dir, progress=not args.quiet)
        from sims.dask_executor import dask_client, dask_executor

        with dask_client(args.scheduler) as client:
            return run_sweep(config, cache_dir=cache_dir, progress=not args.quiet,
                             executor=dask_executor(client))  # fmt: skip
    except (ValueError, OSError) as exc:  # SweepTooLarge is a ValueError; SchedulerError OSError
        parser.error(str(exc))


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=file or sys.stderr)


def cli_main(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
    """Wrap a command's ``main``: warnings print as one line, and Ctrl-C ends with one line
    saying what was kept and how to resume (exit status 130) instead of a traceback."""

    @functools.wraps(main)
    def wrapped(argv: Sequence[str] | None = None) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _one_line_warning
            try:
                return main(argv)
            except KeyboardInterrupt as stop:  # sims.sweep.SweepInterrupted says what was kept
                summary = getattr(stop, "summary", None)
                print(summary() if summary else "interrupted", file=sys.stderr)
                return 130

    return wrapped
