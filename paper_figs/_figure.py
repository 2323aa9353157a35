"""What a paper figure is: the claim it shows and the toolkit command that draws it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigure:
    """One figure: its name, the paper and claim it shows, and the toolkit command drawing it
    (``module`` with ``argv``; the output folder and cache options are added)."""

    name: str
    paper: int
    claim: str
    module: str
    argv: tuple[str, ...]
    files: tuple[str, ...]
    cached: bool = True  #: the command takes --cache-dir / --quiet

    @property
    def command(self) -> str:
        """The shell command that draws it alone."""
        return " ".join(("python -m", self.module, *self.argv))
