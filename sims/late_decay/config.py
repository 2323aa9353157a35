"""The late-decay experiment declared as data (spec 02, a model of the class the paper studies):
label-noise SGD on a sparse-regression diagonal network, a large step size eta for K steps, then
factor·eta, for several decay times K and seeds, with the two controls on the same data.

A grid point is one (eta, sigma) pair; all of its runs go through ONE ``diaglin.run_sgd`` call:

- "late decay": for every K in ``decay_steps`` and every seed, eta with label noise sigma for
  K steps, then factor·eta with noise ``sigma_after`` (default 0: the iterate settles);
- "no noise" control (``controls``): the same K grid without label noise (two seeds);
- "no decay" control (``controls``): eta with noise sigma for the whole budget (every seed);
  its ||theta||² curve also gives the phase-II time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diaglin import MODEL_NAMES
from sims.core.experiment import Experiment
from sims.core.validate import nonneg_float, number_tuple, positive_float

#: run variants (stored per run as int codes)
LATE, NO_NOISE, NO_DECAY = 0, 1, 2
VARIANTS = {LATE: "late decay", NO_NOISE: "no label noise", NO_DECAY: "no decay"}
#: models whose min-norm point theory computes
DECAY_MODELS = ("ww", "uv", "pm")


@dataclass(frozen=True)
class DecayPoint:
    """One (eta, sigma) point of the grid; ``index`` is its position."""

    index: int
    eta: float
    sigma: float

    @property
    def label(self) -> str:
        """Short name, e.g. ``eta=0.004 sigma=1``."""
        return f"eta={self.eta:g} sigma={self.sigma:g}"


@dataclass(frozen=True)
class DecayConfig(Experiment):
    """Everything that determines the numbers of a late-decay experiment (and its cache keys).

    Data: ``diaglin.data.sparse_regression(n, d, sparsity, seed=data_seed)`` (columns normalised
    to (1/n)Σ x_ij² = 1). Model ``model`` from ``model.init(d, alpha)``. Grid: ``etas`` x
    ``sigmas``. Per run: ``total_steps`` steps of SGD with ``batch_size`` rows and
    ``label_noise`` noise, recorded every ``record_every`` steps.
    """

    model: str = "pm"
    n: int = 30
    d: int = 100
    sparsity: int = 3
    data_seed: int = 0
    alpha: float = 0.5
    etas: tuple[float, ...] = (0.004,)
    sigmas: tuple[float, ...] = (1.0,)
    factor: float = 0.1
    sigma_after: float = 0.0
    decay_steps: tuple[int, ...] = (0, 1_000, 3_000, 10_000, 30_000, 60_000, 100_000, 200_000,
                                    400_000)  # fmt: skip
    total_steps: int = 500_000
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    controls: bool = True
    batch_size: int = 1
    label_noise: str = "gaussian"
    record_every: int = 1000

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        if self.model not in DECAY_MODELS:
            raise ValueError(f"model: must be one of {DECAY_MODELS}, got {self.model!r}")
        assert set(DECAY_MODELS) <= set(MODEL_NAMES)
        for name in ("n", "d", "total_steps", "batch_size", "record_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {v!r}")
            put(name, int(v))
        for name in ("sparsity", "data_seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 0:
                raise ValueError(f"{name}: must be an integer >= 0, got {v!r}")
            put(name, int(v))
        if self.sparsity > self.d:
            raise ValueError(f"sparsity: must be <= d = {self.d}, got {self.sparsity}")
        if self.batch_size > self.n:
            raise ValueError(f"batch_size: must be <= n = {self.n}, got {self.batch_size}")
        for name in ("alpha", "factor"):
            put(name, positive_float(name, getattr(self, name)))
        put("sigma_after", nonneg_float("sigma_after", self.sigma_after))
        put("etas", number_tuple("etas", self.etas))
        put("sigmas", number_tuple("sigmas", self.sigmas))
        put("seeds", number_tuple("seeds", self.seeds, int, strict=False))
        put("decay_steps", tuple(sorted(set(number_tuple("decay_steps", self.decay_steps, int,
                                                         strict=False, empty=True)))))  # fmt: skip
        if self.decay_steps and self.decay_steps[-1] >= self.total_steps:
            raise ValueError(f"decay_steps: every K must be < total_steps = {self.total_steps}")
        if not self.decay_steps and not self.controls:
            raise ValueError("decay_steps: empty and no controls: there is nothing to run")
        if self.label_noise not in ("gaussian", "rademacher"):
            raise ValueError(f"label_noise: must be gaussian or rademacher, "
                             f"got {self.label_noise!r}")  # fmt: skip
        put("controls", bool(self.controls))

    def points(self) -> tuple[DecayPoint, ...]:
        """The grid points, eta slowest."""
        return tuple(DecayPoint(i, e, s) for i, (e, s) in
                     enumerate((e, s) for e in self.etas for s in self.sigmas))  # fmt: skip

    def runs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The runs of every point: (variant, decay step (-1: none), seed) arrays."""
        rows = [(LATE, k, s) for k in self.decay_steps for s in self.seeds]
        if self.controls:
            rows += [(NO_NOISE, k, s) for k in self.decay_steps for s in self.seeds[:2]]
            rows += [(NO_DECAY, -1, s) for s in self.seeds]
        v, k, s = (np.array(c, dtype=np.int64) for c in zip(*rows))
        return v, k, s

    def point_spec(self, point: DecayPoint) -> dict:
        """Everything that determines the point's numbers (what its cache key hashes)."""
        spec = self.to_dict()
        spec.pop("etas")
        spec.pop("sigmas")
        spec.update(eta=point.eta, sigma=point.sigma)
        return spec
