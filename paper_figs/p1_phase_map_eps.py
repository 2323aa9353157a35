"""Paper 1: phase_map_eps."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "phase_map_eps",
    1,
    "the stopping threshold eps and the regimes over (eta, eps)",
    "sims.phase_diagram",
    ("--map", "eps"),
    ("phase_map_eps.png",),
    quick=("--map-values", "1e-12", "1e-6", "1e-2", "--map-etas", "10"),
)
