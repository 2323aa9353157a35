"""Paper 1: network_mse."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "network_mse",
    1,
    "the transition on a real network and data: a tanh MLP on 100 digits with MSE — flat "
    "sharpness and norm below eta_c, S on 2/eta and a growing norm above, a U-shaped test loss",
    "sims.phase_diagram",
    ("--model", "mlp", "--averaged", "20", "--stem", "network_mse"),
    ("network_mse.png",),
    quick=("--n-etas", "6", "--max-steps", "3000"),
)
