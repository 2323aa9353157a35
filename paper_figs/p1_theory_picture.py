"""Paper 1: theory_picture."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "theory_picture",
    1,
    "on the interpolating set of the one-point DLN (d = 2, 3) the min-norm vertex is the "
    "sharpest and the flattest vertex has the largest norm; GD stops at the GF limit below "
    "eta_c and on the slice S = 2/eta above it, which sweeps toward the flat vertex as eta grows",
    "sims.theory_picture",
    (),
    ("theory_picture.png",),
    quick=("--n-etas", "5", "--max-steps", "50000"),
)
