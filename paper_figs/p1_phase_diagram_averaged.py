"""Paper 1: phase_diagram_averaged."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "phase_diagram_averaged",
    1,
    "the same on iterates averaged over the last 4 steps (is the norm growth an "
    "oscillation artefact? a reviewer's question)",
    "sims.phase_diagram",
    ("--averaged", "4", "--stem", "phase_diagram_averaged"),
    ("phase_diagram_averaged.png",),
    quick=("--n-etas", "16"),
)
