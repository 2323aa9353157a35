"""Paper 2: landscape_exact."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "landscape_exact",
    2,
    "SGD travels along the valley of training minima toward the test-loss minimum; "
    "a late decay settles there (exact two-coordinate picture)",
    "sims.landscape",
    ("exact",),
    ("landscape_exact.png",),
    cached=False,
    quick=("--total-steps", "20000", "--decay-steps", "0", "2000", "15000"),
)
