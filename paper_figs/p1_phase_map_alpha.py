"""Paper 1: phase_map_alpha."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "phase_map_alpha",
    1,
    "the init scale moves s_GF and hence eta_c; the regimes over (eta, alpha)",
    "sims.phase_diagram",
    ("--map", "alpha"),
    ("phase_map_alpha.png",),
    quick=("--map-values", "0.003", "0.03", "0.3", "--map-etas", "10"),
)
