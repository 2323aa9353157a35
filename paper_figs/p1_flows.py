"""Paper 1: flows."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "flows",
    1,
    "continuous-time models of GD at the edge of stability (the central flow, rod flow) against "
    "GD over the phase diagram's eta range: below eta_c all follow gradient flow; above it the "
    "central flow ends on the slice S = 2/eta and rod flow, like GD, just inside it; neither "
    "models GD's divergence",
    "sims.flows",
    (),
    ("flows.png",),
    quick=("--instance", "ww:1:5:0.01", "--n-etas", "5"),
)
