"""The one-point DLN's critical step size eta_c = 2/s_GF against the initialisation scale alpha
and the stopping loss eps, as curves, beside theory's exact prediction (paper 1, spec 01 §3).

- ``config``: the curves declared as data (light); ``runs``: one curve computed by one
  ``diaglin.gradient_flow_batch`` call, and theory's prediction for it;
- ``plotting``: the figure; ``cli``: ``python -m sims.eta_c_curves``.
"""

from sims.core.experiment import ExperimentRuns, register
from sims.eta_c_curves.cli import build_parser, main
from sims.eta_c_curves.config import CurveConfig, CurvePoint


def _runs() -> ExperimentRuns:
    from sims.eta_c_curves.runs import RUNS

    return RUNS


register(CurveConfig, _runs)

__all__ = ["CurveConfig", "CurvePoint", "build_parser", "main"]
