"""sims: sweeps over the learning rate (and alpha, eps, d, n), their on-disk cache, the
comparison with theory (:mod:`sims.compare`) and the CLIs ``python -m sims.phase_diagram`` and
``python -m sims.compare``. Depends on diaglin and theory; neither depends on sims."""
