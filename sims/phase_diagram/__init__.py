"""The learning-rate phase diagram (paper 1): sweep the step size eta from tiny to divergence
at every point of a grid over the initialisation scale alpha, the stopping loss eps, d and n,
and draw what GD does — on the diagonal linear networks (:class:`SweepConfig`) and on small
networks on digits (:class:`NetSweepConfig`); compared with theory by :mod:`.compare`.

- ``config`` / ``net_config``: the sweeps declared as data (light: no numerics);
- ``point`` / ``net_point``: one grid point computed (gradient flow, then one batched GD call);
- ``results``: the per-point result dataclasses; ``regimes``: each run classified;
- ``predictions``: theory's numbers for a point; ``compare``: the checks, ``python -m
  sims.compare``; ``plotting``: the phase diagram, the phase maps and the ablation figure;
- ``ablation``: paper 1's ablations in one sweep (one network axis at a time from a base);
- ``options``: the sweep's command-line options; ``cli``: ``python -m sims.phase_diagram``.
"""

from sims.core.experiment import ExperimentRuns, register
from sims.phase_diagram.cli import build_parser, main
from sims.phase_diagram.config import GridPoint, SweepConfig
from sims.phase_diagram.net_config import NetPoint, NetSweepConfig


def _diagonal_runs() -> ExperimentRuns:
    from sims.phase_diagram.point import RUNS

    return RUNS


def _network_runs() -> ExperimentRuns:
    from sims.phase_diagram.net_point import RUNS

    return RUNS


register(SweepConfig, _diagonal_runs)
register(NetSweepConfig, _network_runs)

__all__ = ["GridPoint", "NetPoint", "NetSweepConfig", "SweepConfig", "build_parser", "main"]
