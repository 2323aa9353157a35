"""The theory picture of paper 1 (spec 01 §2-3): why norm and sharpness biases conflict, drawn
on the interpolating set of the one-point w⊙w DLN in d = 2 (a segment) and d = 3 (a triangle):
the min-norm and min-sharpness vertices, the gradient-flow limit, GD's endpoints for several
step sizes and the S = 2/η slices moving across the set as η grows.

- ``config``: the picture declared as data (light); ``runs``: one panel computed (GF, one
  batched ``run_gd`` call, theory's points) as a
  :class:`~sims.theory_picture.runs.PictureResult`, and the picture's checks;
- ``plotting``: the figure; ``cli``: ``python -m sims.theory_picture``.
"""

from sims.core.experiment import ExperimentRuns, register
from sims.theory_picture.cli import build_parser, main
from sims.theory_picture.config import PictureConfig, PicturePoint


def _runs() -> ExperimentRuns:
    from sims.theory_picture.runs import RUNS

    return RUNS


register(PictureConfig, _runs)

__all__ = ["PictureConfig", "PicturePoint", "build_parser", "main"]
