"""Paper 2: landscape_pca."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "landscape_pca",
    2,
    "the paper's landscape method (checkpoints, PCA, surface curved along pc3) with "
    "decayed branches",
    "sims.landscape",
    ("pca",),
    ("landscape_pca.png",),
    cached=False,
    quick=("--total-steps", "50000", "--decay-steps", "1000", "10000", "30000"),
)
