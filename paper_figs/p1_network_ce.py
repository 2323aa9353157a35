"""Paper 1: network_ce."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "network_ce",
    1,
    "the same network with cross-entropy: eta_c set by the early GF sharpness, GD converging "
    "below the edge, the norm growing, a weaker test-loss U",
    "sims.phase_diagram",
    (
        "--model",
        "mlp",
        "--loss",
        "ce",
        "--eta-max",
        "12",
        "--averaged",
        "20",
        "--stem",
        "network_ce",
    ),
    ("network_ce.png",),
    quick=("--n-etas", "6", "--max-steps", "3000"),
)
