"""What a paper figure is: the claim it shows and the toolkit command that draws it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigure:
    """One figure: its name, the paper and claim it shows, and the toolkit command drawing it
    (``module`` with ``argv``; the output folder and cache options are added). ``quick``: the
    options appended for ``python -m paper_figs --quick`` (small grids, short runs: the same
    figure, drawn in seconds, its numbers not the paper's)."""

    name: str
    paper: int
    claim: str
    module: str
    argv: tuple[str, ...]
    files: tuple[str, ...]
    cached: bool = True  #: the command takes --cache-dir / --quiet
    quick: tuple[str, ...] = ()

    def arguments(self, *, quick: bool = False) -> tuple[str, ...]:
        """The command's options (with the quick ones appended: later options win)."""
        return (*self.argv, *self.quick) if quick else self.argv

    @property
    def command(self) -> str:
        """The shell command that draws it alone."""
        return self.command_for()

    def command_for(self, *, quick: bool = False) -> str:
        """The shell command that draws it alone, quick or full."""
        return " ".join(("python -m", self.module, *self.arguments(quick=quick)))
