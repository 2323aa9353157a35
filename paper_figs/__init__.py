"""Regenerate the figures of the toolkit's two source papers with the toolkit's own commands:
``python -m paper_figs`` (``--list`` shows what each figure shows and which command draws it).

Paper 1 — "Conflicting Biases at the Edge of Stability" (spec 01): the learning-rate phase
diagram and its phase maps over the initialisation scale and the stopping threshold, on the
diagonal linear network of the paper's theory. Paper 2 — "Generalization Benefits of Late
Learning Rate Decay" (spec 02): the late-decay curve with its controls, the phase-II scaling and
the train/test landscapes, on a model of the class the paper studies. Figures on real networks
and data (paper 1's MNIST/CIFAR runs) are not reproduced: the toolkit's nonlinear networks are
not built yet.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigure:
    """One figure: its name, the paper and claim it shows, and the toolkit command drawing it
    (``module`` with ``argv``; the output folder and cache options are added)."""

    name: str
    paper: int
    claim: str
    module: str
    argv: tuple[str, ...]
    files: tuple[str, ...]
    cached: bool = True  #: the command takes --cache-dir / --quiet

    @property
    def command(self) -> str:
        """The shell command that draws it alone."""
        return " ".join(("python -m", self.module, *self.argv))


FIGURES: tuple[PaperFigure, ...] = (
    PaperFigure("phase_diagram", 1,
                "below eta_c sharpness and norm are flat (flow-aligned); above it sharpness hugs "
                "2/eta and the l1 norm grows; the test error is U-shaped in eta",
                "sims.phase_diagram", (), ("phase_diagram.png",)),
    PaperFigure("phase_diagram_averaged", 1,
                "the same on iterates averaged over the last 4 steps (is the norm growth an "
                "oscillation artefact? a reviewer's question)",
                "sims.phase_diagram", ("--averaged", "4", "--stem", "phase_diagram_averaged"),
                ("phase_diagram_averaged.png",)),
    PaperFigure("phase_map_alpha", 1,
                "the init scale moves s_GF and hence eta_c; the regimes over (eta, alpha)",
                "sims.phase_diagram", ("--map", "alpha"), ("phase_map_alpha.png",)),
    PaperFigure("phase_map_eps", 1,
                "the stopping threshold eps and the regimes over (eta, eps)",
                "sims.phase_diagram", ("--map", "eps"), ("phase_map_eps.png",)),
    PaperFigure("late_decay", 2,
                "the later the learning-rate decay, the lower the final test loss; no effect "
                "without label noise; the three phases; the budget view; phase II lasts "
                "~C/(eta sigma)^2",
                "sims.late_decay", (), ("late_decay.png", "phase2_scaling.png")),
    PaperFigure("landscape_exact", 2,
                "SGD travels along the valley of training minima toward the test-loss minimum; "
                "a late decay settles there (exact two-coordinate picture)",
                "sims.landscape", ("exact",), ("landscape_exact.png",), cached=False),
    PaperFigure("landscape_pca", 2,
                "the paper's landscape method (checkpoints, PCA, surface curved along pc3) with "
                "decayed branches",
                "sims.landscape", ("pca",), ("landscape_pca.png",), cached=False),
)  # fmt: skip

__all__ = ["FIGURES", "PaperFigure"]
