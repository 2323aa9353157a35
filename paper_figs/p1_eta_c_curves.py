"""Paper 1: eta_c_curves."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "eta_c_curves",
    1,
    "the init scale and the stopping loss move eta_c = 2/s_GF: the DLN's eta_c against alpha "
    "and eps from gradient flow, on theory's exact prediction for w*w (and its limits); no "
    "theory prediction for u*v and u*u - v*v",
    "sims.eta_c_curves",
    (),
    ("eta_c_curves.png", "eta_c_curves.csv"),
    quick=("--n-values", "8"),
)
