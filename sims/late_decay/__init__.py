"""The late learning-rate decay experiment (paper 2, spec 02 §2): label-noise SGD on a sparse
regression diagonal network, the learning rate decayed at different times K, against theory.

- ``config``: the experiment declared as data (light); ``runs``: one point computed (every run in
  one ``run_sgd`` call) and its :class:`~sims.late_decay.runs.DecayResult`;
- ``phases``: what a result says (phase boundaries, final loss per K, the phase-II constant);
- ``compare``: the checks against theory; ``plotting``: the figures;
- ``cli``: ``python -m sims.late_decay``.
"""

from sims.core.experiment import ExperimentRuns, register
from sims.late_decay.cli import build_parser, main
from sims.late_decay.config import DecayConfig, DecayPoint


def _runs() -> ExperimentRuns:
    from sims.late_decay.runs import RUNS

    return RUNS


register(DecayConfig, _runs)

__all__ = ["DecayConfig", "DecayPoint", "build_parser", "main"]
