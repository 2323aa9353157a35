"""What every experiment of ``sims`` shares; imports ``diaglin``, never an experiment package.

- ``experiment``: the ``Experiment`` base class, ``ExperimentRuns``, ``register`` — and how to add
  an experiment;
- ``sweep``: ``run_sweep`` (cache lookup, memory check, executors, progress, Ctrl-C) and
  ``SweepResult``; ``dask_executor``: the same points as tasks on a Dask cluster;
- ``cache``: the on-disk cache (``.npz`` + JSON sidecar, atomic writes); ``provenance``: package
  versions, the source hash and ``point_key``;
- ``validate``: checks of config fields; ``cli``: argparse types, the options of how a sweep
  runs, the checks before computing, ``cli_main``;
- ``table``: the comparison table (``CheckRow``, ``ComparisonTable``, ``save_table``);
  ``figures``: ``save_figure``.

Nothing heavy loads with this package: a command line checks its options before numba, scipy
or matplotlib are imported.
"""

from sims.core.experiment import Experiment, ExperimentRuns, register
from sims.core.sweep import SweepResult, run_sweep

__all__ = ["Experiment", "ExperimentRuns", "SweepResult", "register", "run_sweep"]
