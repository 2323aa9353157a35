"""Paper 1: network_ablation."""

from paper_figs._figure import PaperFigure

FIGURE = PaperFigure(
    "network_ablation",
    1,
    "the ablations in one sweep (one axis at a time from a tanh MLP of width 32 on 100 digits): "
    "eta_c, the EoS range (eta_c to the largest eta that did not diverge) and the eta of the "
    "lowest test loss against width, depth, activation, NTK vs muP and training-set size",
    "sims.phase_diagram",
    ("--model", "mlp", "--ablate", "--stem", "network_ablation"),
    ("network_ablation.png", "network_ablation.csv"),
    quick=tuple(
        "--width 32 16 --depth 1 --activation tanh --param ntk mup --n 50 --n-test 200 "
        "--n-etas 6 --max-steps 3000 --gf-sharpness-points 5".split()
    ),
)
