"""The continuous-time models of GD at the edge of stability against GD itself
(``diaglin.eos_flows``: the central flow and rod flow), over the phase diagram's η range.

- ``config``: the comparison declared as data (light): instances (model, n, d, α) and the η grid
  in units of each instance's η_c;
- ``runs``: one instance computed (gradient flow for η_c, ONE batched ``run_gd`` call, ONE
  ``eos_flow`` call per flow, theory's EoS-slice prediction on the one-point w⊙w DLN) as a
  :class:`~sims.flows.runs.FlowsResult`, and the comparison's table;
- ``plotting``: the figure; ``cli``: ``python -m sims.flows``.
"""

from sims.core.experiment import ExperimentRuns, register
from sims.flows.cli import build_parser, main
from sims.flows.config import FlowsConfig, FlowsPoint


def _runs() -> ExperimentRuns:
    from sims.flows.runs import RUNS

    return RUNS


register(FlowsConfig, _runs)

__all__ = ["FlowsConfig", "FlowsPoint", "build_parser", "main"]
