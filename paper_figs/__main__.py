"""``python -m paper_figs``: draw every figure of the two source papers into ``--out``
(default ./out/paper_figs) with an ``INDEX.md`` saying which file shows which claim and which
command redraws it alone. ``--only NAME ...`` draws some; ``--list`` lists them. Results are
cached (``--cache-dir``), so a second run only redraws. About 6 minutes on 2 cores the first
time (plus ~1 minute compiling the Numba kernels on first use)."""

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
    parser.add_argument("--out", type=Path, default=Path("out/paper_figs"),
                        help="output folder (default: ./out/paper_figs)")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                        help="result cache folder (default: ./.diaglin_cache)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def index_markdown(done: list[tuple]) -> str:
    """INDEX.md: one row per drawn figure (files, paper, claim, command, exit status)."""
    lines = ["| files | paper | what it shows | command | status |", "|---|---|---|---|---|"]
    for fig, code, seconds in done:
        status = "ok" if code == 0 else f"exit {code} (a check failed: see its table)"
        lines.append(f"| {', '.join(fig.files)} | {fig.paper} | {fig.claim} | "
                     f"`{fig.command}` | {status}, {seconds:.0f} s |")  # fmt: skip
    return "\n".join(lines) + "\n"


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    """Draw the figures in turn; exit 1 if any command reported a failed check."""
    parser = build_parser()
    args = parser.parse_args(argv)
    chosen = [f for f in FIGURES if not args.only or f.name in args.only]
    if args.list:
        for f in chosen:
            print(f"{f.name:24s} paper {f.paper}  {f.command}\n{'':24s} {f.claim}")
        return 0
    try:
        if not prepare_dir(args.out):
            parser.error(f"--out {args.out}: cannot write in this folder (read-only)")
    except OSError as exc:
        parser.error(f"--out: {exc}")
    done = []
    for f in chosen:
        print(f"== {f.name} (paper {f.paper}): {f.command}", flush=True)
        extra = ["--out", str(args.out)]
        if f.cached:
            extra += ["--cache-dir", str(args.cache_dir)] + (["--quiet"] if args.quiet else [])
        start = time.perf_counter()
        code = importlib.import_module(f.module).main([*f.argv, *extra])
        done.append((f, code, time.perf_counter() - start))
    from sims.core.cache import atomic_write_bytes

    index = args.out / "INDEX.md"
    atomic_write_bytes(index, index_markdown(done).encode())
    print(f"wrote {index}")
    return 0 if all(code == 0 for _, code, _ in done) else 1


if __name__ == "__main__":
    sys.exit(main())
