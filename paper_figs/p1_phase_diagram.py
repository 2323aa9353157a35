"""Paper 1: phase_diagram."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "phase_diagram",
    1,
    "below eta_c sharpness and norm are flat (flow-aligned); above it sharpness hugs "
    "2/eta and the l1 norm grows; the test error is U-shaped in eta",
    "sims.phase_diagram",
    (),
    ("phase_diagram.png",),
    quick=("--n-etas", "16"),
)
