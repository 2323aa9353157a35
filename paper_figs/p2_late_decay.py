"""Paper 2: late_decay."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "late_decay",
    2,
    "the later the learning-rate decay, the lower the final test loss; no effect "
    "without label noise; the three phases; the budget view; phase II lasts "
    "~C/(eta sigma)^2",
    "sims.late_decay",
    (),
    ("late_decay.png", "phase2_scaling.png"),
    quick=tuple(
        "--total-steps 30000 --decay-steps 0 10000 25000 --seeds 0 1 --scaling-steps 40000 "
        "--scaling-seeds 1 --scaling-etas 0.006 --scaling-sigmas 1 1.4 2".split()
    ),
)
