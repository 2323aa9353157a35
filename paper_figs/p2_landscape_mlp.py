"""Paper 2: landscape_mlp."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "landscape_mlp",
    2,
    "the paper's landscape method on a network (an MLP on digits, label-noise SGD at a large "
    "LR, branches decaying at different steps): later decay ends lower on the test landscape",
    "sims.landscape",
    ("mlp",),
    ("landscape_mlp.png",),
    cached=False,
    quick=("--total-steps", "8000", "--decay-steps", "1000", "3000", "6000"),
)
