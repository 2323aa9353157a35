"""sims: the experiments of the two papers, one package each, over a shared core.

- :mod:`sims.core`: what every experiment uses — the ``Experiment`` base class (with the recipe
  for adding one), the sweep executor with its on-disk cache, provenance and Dask executor,
  config checks, the shared command-line plumbing, the comparison table and figure saving;
- :mod:`sims.phase_diagram`: learning-rate sweeps on DLNs and small networks
  (``python -m sims.phase_diagram``; ``python -m sims.compare``, simulation vs theory);
- :mod:`sims.late_decay`: label-noise SGD decayed early or late (``python -m sims.late_decay``);
- :mod:`sims.landscape`: loss landscapes around SGD paths (``python -m sims.landscape``).

Depends on diaglin and theory; neither depends on sims; ``sims.core`` imports no experiment.
"""
