"""``python -m paper_figs``: draw every figure of the two source papers into ``--out``
(default ./out/paper_figs) with an ``INDEX.md`` saying which file shows which claim and which
command redraws it alone. ``--only NAME ...`` draws some; ``--list`` lists them. Results are
cached (``--cache-dir``), so a second run only redraws (58 s on 2 cores). About 2 minutes on 2
cores the first time (133 s), plus a few minutes compiling the Numba kernels on first use.

``--quick`` draws every figure on small grids and short runs (default folder
./out/paper_figs_quick): the same pictures in a few minutes, their numbers not the paper's. A
check that fails on those small grids is reported in INDEX.md but does not fail the run; a
command that errors, or a promised file missing or empty, fails it in either mode."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from paper_figs import FIGURES
from sims.core.cache import DEFAULT_CACHE_DIR, prepare_dir
from sims.core.cli import cli_main


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    names = [f.name for f in FIGURES]
    parser = argparse.ArgumentParser(prog="python -m paper_figs",
                                     description="Regenerate the figures of the two source "
                                     "papers with the toolkit's commands.")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                        help=f"draw only these ({', '.join(names)})")  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument("--quick", action="store_true",
                        help="small grids, short runs: every figure in minutes")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: ./out/paper_figs, with --quick "
                        "./out/paper_figs_quick)")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                        help="result cache folder (default: ./.diaglin_cache)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


#: exit statuses of a figure's command: 0 ok, 1 a check failed (its table says which)
CHECK_FAILED = 1


def missing_files(fig, out_dir: Path) -> list[str]:
    """The files ``fig`` promises that are missing or empty in ``out_dir``."""
    return [
        f for f in fig.files if not (out_dir / f).is_file() or (out_dir / f).stat().st_size == 0
    ]


def index_markdown(done: list[tuple], *, quick: bool = False) -> str:
    """INDEX.md: one row per drawn figure (files, paper, claim, command, exit status)."""
    lines = (
        ["Quick mode: small grids and short runs; the numbers are not the paper's.\n"]
        if quick
        else []
    )
    lines += ["| files | paper | what it shows | command | status |", "|---|---|---|---|---|"]
    for fig, code, seconds, missing in done:
        if missing:
            status = f"missing or empty: {', '.join(missing)}"
        elif code == 0:
            status = "ok"
        elif quick and code == CHECK_FAILED:  # short runs: a paper's claim may not be reached yet
            status = "drawn; a check missed its tolerance on the quick grid (see its table)"
        else:
            status = f"exit {code} (a check failed: see its table)"
        lines.append(f"| {', '.join(fig.files)} | {fig.paper} | {fig.claim} | "
                     f"`{fig.command_for(quick=quick)}` | {status}, {seconds:.0f} s |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _failed(code: int, missing: list[str], quick: bool) -> bool:
    """A figure fails when its files are missing or its command errors; a failed check fails
    a full run only (on quick grids a check may miss its tolerance)."""
    return bool(missing) or (code != 0 and not (quick and code == CHECK_FAILED))


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Draw the figures in turn; exit 1 if any command reported a failed check."""
    parser = build_parser()
    args = parser.parse_args(argv)
    chosen = [f for f in FIGURES if not args.only or f.name in args.only]
    if args.list:
        for f in chosen:
            print(f"{f.name:24s} paper {f.paper}  {f.command_for(quick=args.quick)}\n"
                  f"{'':24s} {f.claim}")  # fmt: skip
        return 0
    out = args.out or Path("out/paper_figs_quick" if args.quick else "out/paper_figs")
    try:
        if not prepare_dir(out):
            parser.error(f"--out {out}: cannot write in this folder (read-only)")
    except OSError as exc:
        parser.error(f"--out: {exc}")
    done = []
    for f in chosen:
        print(f"== {f.name} (paper {f.paper}): {f.command_for(quick=args.quick)}", flush=True)
        extra = ["--out", str(out)]
        if f.cached:
            extra += ["--cache-dir", str(args.cache_dir)] + (["--quiet"] if args.quiet else [])
        start = time.perf_counter()
        code = importlib.import_module(f.module).main([*f.arguments(quick=args.quick), *extra])
        done.append((f, code, time.perf_counter() - start, missing_files(f, out)))
    from sims.core.cache import atomic_write_bytes

    index = out / "INDEX.md"
    atomic_write_bytes(index, index_markdown(done, quick=args.quick).encode())
    print(f"wrote {index}")
    failed = [f.name for f, code, _, missing in done if _failed(code, missing, args.quick)]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
