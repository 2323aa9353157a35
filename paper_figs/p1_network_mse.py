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
    # 7 eta around eta_c, stopping at L < 0.05: converged runs on both sides of eta_c and an
    # EoS branch within 5000 steps (with 6 eta over the full range and 3000 steps no run
    # converged, and the figure showed none of its claim)
    quick=tuple("--n-etas 7 --eta-min 0.4 --eta-max 1.6 --max-steps 5000 --eps 0.05".split()),
)
