"""Paper 1: reviewer_check."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "reviewer_check",
    1,
    "the norm growth above eta_c is no oscillation artefact: sharpness and l1 norm of the raw "
    "final iterates, of the mean of the last 4 and after 300 steps at 0.1 eta side by side "
    "(at the paper's eps = 1e-12 and a loose eps = 1e-3)",
    "sims.phase_diagram",
    (
        "--averaged",
        "4",
        "--decay-tail",
        "0.1",
        "300",
        "--eps",
        "1e-12",
        "1e-3",
        "--stem",
        "reviewer_check",
    ),
    ("reviewer_check.png",),
    quick=("--n-etas", "16"),
)
