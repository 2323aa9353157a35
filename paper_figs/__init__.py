"""Regenerate the figures of the toolkit's two source papers with the toolkit's own commands:
``python -m paper_figs`` (``--list`` shows what each figure shows and which command draws it).

Paper 1 — "Conflicting Biases at the Edge of Stability" (spec 01): the learning-rate phase
diagram and its phase maps over the initialisation scale and the stopping threshold, on the
diagonal linear network of the paper's theory, and the theory picture (the interpolating set in
2 and 3 coordinates, where the min-norm and min-sharpness interpolators sit and where GD ends).
Paper 2 — "Generalization Benefits of Late Learning Rate Decay" (spec 02): the late-decay curve
with its controls, the phase-II scaling and the train/test landscapes, on a model of the class
the paper studies and (the landscape) on a small MLP. Paper 1's runs on real networks and data
(MNIST/CIFAR) are reproduced at the scale where Hessians are exact: a small MLP on
scikit-learn's digits, with MSE and with cross-entropy, and its ablations (width, depth,
activation, NTK vs muP, training-set size) in one sweep; the DLN's eta_c against alpha and eps
as curves beside theory's exact prediction; and, beside paper 1, the continuous-time models of
GD at the edge of stability (central flow, rod flow) against GD over the same η range.
"""

from __future__ import annotations

from paper_figs import (
    p1_eta_c_curves,
    p1_flows,
    p1_network_ablation,
    p1_network_ce,
    p1_network_mse,
    p1_phase_diagram,
    p1_phase_diagram_averaged,
    p1_phase_map_alpha,
    p1_phase_map_eps,
    p1_reviewer_check,
    p1_theory_picture,
    p2_landscape_exact,
    p2_landscape_mlp,
    p2_landscape_pca,
    p2_late_decay,
)
from paper_figs._figure import PaperFigure

#: the figures in drawing order (one module per figure)
FIGURES: tuple[PaperFigure, ...] = tuple(
    m.FIGURE
    for m in (
        p1_phase_diagram,
        p1_theory_picture,
        p1_phase_diagram_averaged,
        p1_reviewer_check,
        p1_flows,
        p1_phase_map_alpha,
        p1_phase_map_eps,
        p1_eta_c_curves,
        p1_network_mse,
        p1_network_ce,
        p1_network_ablation,
        p2_late_decay,
        p2_landscape_exact,
        p2_landscape_pca,
        p2_landscape_mlp,
    )
)

__all__ = ["FIGURES", "PaperFigure"]
