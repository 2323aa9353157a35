"""``python -m paper_figs.thumbnails``: the README's pictures, small copies of four figures that
``python -m paper_figs`` drew (PNG, 256 colours, ``docs/img/``; a few hundred kB in all).

Regenerate them with::

    python -m paper_figs --only phase_diagram network_mse late_decay landscape_exact
    python -m paper_figs.thumbnails
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from sims.core.cache import atomic_write_bytes

#: the figures the README shows, with the line saying what to see in each
README_FIGURES = (
    ("phase_diagram.png", "the default phase diagram: flat sharpness and ℓ1 norm below η_c, "
     "sharpness on 2/η and a growing norm above, a U-shaped test error"),
    ("network_mse.png", "the same protocol on a tanh MLP on digits (MSE): the transition at "
     "η_c, sharpness pinned at 2/η above it"),
    ("late_decay.png", "late-decay SGD: the later the decay, the lower the final test loss; "
     "without label noise the decay time does not matter"),
    ("landscape_exact.png", "the exact two-coordinate landscape: SGD drifts along the valley of "
     "minima; the late-decayed branch settles nearest the test minimum"),
)  # fmt: skip
WIDTH = 900


def thumbnail(src: Path, dst: Path, width: int = WIDTH) -> Path:
    """Write ``src`` scaled to ``width`` pixels wide (aspect kept; Lanczos filter), reduced to
    256 colours, as the PNG ``dst`` (atomically); returns ``dst``."""
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        height = max(1, round(im.height * width / im.width))
        small = im.resize((width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.quantize(256).save(buf, format="PNG", optimize=True)
    atomic_write_bytes(Path(dst), buf.getvalue())
    return Path(dst)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option)."""
    parser = argparse.ArgumentParser(prog="python -m paper_figs.thumbnails",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--from", dest="src", type=Path, default=Path("out/paper_figs"),
                        help="folder of the drawn figures (default: ./out/paper_figs)")  # fmt: skip
    parser.add_argument("--to", dest="dst", type=Path, default=Path("docs/img"),
                        help="folder of the pictures (default: ./docs/img)")  # fmt: skip
    parser.add_argument("--width", type=int, default=WIDTH, help=f"pixels (default: {WIDTH})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Write the README's pictures; exit 2 naming the figures not drawn yet."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.width < 16:
        parser.error(f"--width: at least 16 pixels, got {args.width}")
    missing = [name for name, _ in README_FIGURES if not (args.src / name).is_file()]
    if missing:
        names = " ".join(name.removesuffix(".png") for name, _ in README_FIGURES)
        parser.error(f"--from {args.src}: not drawn yet: {', '.join(missing)} "
                     f"(run python -m paper_figs --only {names})")  # fmt: skip
    for name, _ in README_FIGURES:
        path = thumbnail(args.src / name, args.dst / name, args.width)
        print(f"wrote {path} ({path.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
