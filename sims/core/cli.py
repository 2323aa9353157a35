"""What every command line of the toolkit shares: argparse types, the options of how a sweep
runs (cache, threads, backend, output folder, Dask scheduler), the checks before any computing
(output and cache folders, the GPU), running the sweep, and one-line messages for warnings and
Ctrl-C (:func:`cli_main`).

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
from typing import TYPE_CHECKING, Any

from diaglin._names import BACKENDS
from sims.core.cache import DEFAULT_CACHE_DIR, prepare_dir

if TYPE_CHECKING:  # pragma: no cover
    from sims.core.experiment import Experiment
    from sims.core.sweep import SweepResult

DEFAULT_OUT_DIR = Path("out")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    v = _number(text)
    if not (v > 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text!r}")
    return v


def nonneg_float(text: str) -> float:
    """argparse type: a finite float >= 0 (-0 read as 0)."""
    v = _number(text)
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"must be finite and >= 0, got {text!r}")
    return v + 0.0


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


def parse_config(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    make: Callable[[argparse.Namespace], Any],
) -> tuple[argparse.Namespace, Any]:
    """(args, make(args)) for the options ``argv``; a value the config refuses (ValueError)
    -> parser.error (exit 2)."""
    args = parser.parse_args(argv)
    try:
        return args, make(args)
    except ValueError as exc:
        parser.error(str(exc))


def run_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, config: Experiment
) -> SweepResult:
    """Check the folders, set threads and run the sweep of ``config`` as the options say; an
    unusable folder or a sweep too large for memory -> parser.error (exit 2)."""
    from sims.core.sweep import run_sweep

    check_folders(parser, args)
    check_backend(parser, getattr(args, "backend", "cpu"))
    set_threads(parser, args.jobs)
    cache_dir = None if args.no_cache else args.cache_dir
    try:
        if args.scheduler is None:
            return run_sweep(config, cache_dir=cache_dir, progress=not args.quiet)
        from sims.core.dask_executor import dask_client, dask_executor

        with dask_client(args.scheduler) as client:
            return run_sweep(config, cache_dir=cache_dir, progress=not args.quiet,
                             executor=dask_executor(client))  # fmt: skip
    except (ValueError, OSError) as exc:  # SweepTooLarge is a ValueError; SchedulerError OSError
        parser.error(str(exc))


def report_checks(table, written: list, out: Path, stem: str) -> int:
    """End of a command: print the checks ``table``, save it as ``<stem>_compare`` in ``out``,
    print every file written (``written`` and the table's); exit status 0 if every check
    passed, else 1."""
    from sims.core.table import save_table

    print(table)
    for path in [*written, *save_table(table, out, f"{stem}_compare")]:
        print(f"wrote {path}")
    return 0 if table.passed else 1


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
            except KeyboardInterrupt as stop:  # sims.core.sweep.SweepInterrupted says what was kept
                summary = getattr(stop, "summary", None)
                print(summary() if summary else "interrupted", file=sys.stderr)
                return 130

    return wrapped
