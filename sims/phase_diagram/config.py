"""A sweep declared as data: the frozen :class:`SweepConfig` and its :class:`GridPoint` s.

A sweep is a grid over (alpha, eps, d, n); at every grid point one batched ``diaglin.run_gd``
call runs all step sizes eta of that point together. The eta grid is given either in absolute
units or in units of the point's critical step eta_c = 2 / s_GF (``eta_units="eta_c"``, the
default: the grid then brackets the transition whatever alpha, eps, d or n are).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diaglin._names import BACKENDS, DEPTH_MODELS, MODEL_NAMES
from sims.core.experiment import Experiment
from sims.core.validate import nonneg_float, nonneg_int, positive_float, positive_tuple

ETA_UNITS = ("eta_c", "absolute")
ETA_GRIDS = ("log", "linear")


class EtaGrid:
    """The eta grid of a learning-rate sweep, shared by the sweep configs (frozen dataclasses
    with the fields eta_min, eta_max, n_etas, eta_grid and eta_units)."""

    def _check_eta_grid(self, put) -> None:
        """Validate the eta fields in ``__post_init__`` (``put(name, value)`` stores one)."""
        n_etas = self.n_etas
        if isinstance(n_etas, bool) or int(n_etas) != n_etas or n_etas < 1:
            raise ValueError(f"n_etas: need at least one step size, got {n_etas!r}")
        put("n_etas", int(n_etas))
        for name in ("eta_min", "eta_max"):
            put(name, positive_float(name, getattr(self, name)))
        if not self.eta_min < self.eta_max and self.n_etas > 1:
            raise ValueError(f"eta_min ({self.eta_min}) must be < eta_max ({self.eta_max})")
        if self.eta_grid not in ETA_GRIDS:
            raise ValueError(f"eta_grid: must be one of {ETA_GRIDS}, got {self.eta_grid!r}")
        if self.eta_units not in ETA_UNITS:
            raise ValueError(f"eta_units: must be one of {ETA_UNITS}, got {self.eta_units!r}")

    def etas(self, eta_c: float) -> np.ndarray:
        """The point's step sizes: ``n_etas`` values from eta_min to eta_max (times eta_c when
        ``eta_units == "eta_c"``), log- or linearly spaced."""
        scale = float(eta_c) if self.eta_units == "eta_c" else 1.0
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"eta_c: must be finite and > 0 to scale the eta grid, got {eta_c}")
        space = np.geomspace if self.eta_grid == "log" else np.linspace
        return scale * space(self.eta_min, self.eta_max, self.n_etas)


def check_decay_tail(value) -> tuple[float, int] | None:
    """``value`` = (factor, steps) as (float, int), with 0 < factor <= 1 and an integer steps
    >= 1, or None; ValueError naming decay_tail otherwise."""
    if value is None:
        return None
    try:
        factor, steps = value
        factor = float(factor)
    except (TypeError, ValueError):
        raise ValueError(f"decay_tail: expected (factor, steps) or None, got {value!r}") from None
    if not (np.isfinite(factor) and 0 < factor <= 1):
        raise ValueError(f"decay_tail: factor must be in (0, 1], got {factor!r}")
    number = isinstance(steps, (int, np.integer, float)) and not isinstance(steps, bool)
    if not (number and np.isfinite(steps) and int(steps) == steps and steps >= 1):
        raise ValueError(f"decay_tail: steps must be an integer >= 1, got {steps!r}")
    return factor, int(steps)


@dataclass(frozen=True)
class GridPoint:
    """One (alpha, eps, d, n) point of a sweep; ``index`` is its position in the grid."""

    index: int
    alpha: float
    eps: float
    d: int
    n: int

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``alpha=0.01 eps=1e-12 d=5 n=1``."""
        return f"alpha={self.alpha:g} eps={self.eps:g} d={self.d} n={self.n}"


@dataclass(frozen=True)
class SweepConfig(EtaGrid, Experiment):
    """Everything that determines a sweep's numbers (and hence its cache keys).

    Model: ``model`` (a ``diaglin.MODEL_NAMES`` entry) and ``model_kwargs`` (e.g.
    ``(("depth", 3),)`` for "prod"/"power"). Data: n = 1 uses ``diaglin.data.one_point(d,
    seed=data_seed)``, n > 1 ``diaglin.data.sparse_regression(n, d, sparsity, seed=data_seed,
    nonneg=nonneg)``. Grid: ``alphas`` x ``epsilons`` x ``dims`` x ``n_samples``; per point,
    ``n_etas`` step sizes from ``eta_min`` to ``eta_max`` (``eta_grid`` "log" or "linear", in
    ``eta_units``). Stopping rule: L < eps or ``max_steps``. ``average_last`` = K > 0 also keeps
    statistics of the mean of the last K iterates. ``reference_eta`` > 0 adds one extra run at
    reference_eta * eta_c (a "tiny step" run that should match gradient flow; 0 disables).
    ``decay_tail`` = (factor, steps): after the sweep, every run that did not diverge goes on
    from its final iterate with GD at factor * eta (0 < factor <= 1) for ``steps`` >= 1 steps
    (a short learning-rate decay at the end), and the statistics at the tail's end are kept;
    None (the default) runs no tail and leaves the cache keys as they were.
    """

    model: str = "ww"
    model_kwargs: tuple[tuple[str, int], ...] = ()
    alphas: tuple[float, ...] = (0.01,)
    epsilons: tuple[float, ...] = (1e-12,)
    dims: tuple[int, ...] = (5,)
    n_samples: tuple[int, ...] = (1,)
    sparsity: int = 3
    nonneg: bool = True
    data_seed: int = 0
    eta_min: float = 0.05
    eta_max: float = 3.0
    n_etas: int = 80
    eta_grid: str = "log"
    eta_units: str = "eta_c"
    reference_eta: float = 1e-3
    max_steps: int = 100_000
    average_last: int = 0
    diverge_factor: float = 1e8
    backend: str = "cpu"
    decay_tail: tuple[float, int] | None = None

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        if self.model not in MODEL_NAMES:
            raise ValueError(f"model: must be one of {MODEL_NAMES}, got {self.model!r}")
        kw = dict(self.model_kwargs)
        allowed = {"depth"} if self.model in DEPTH_MODELS else set()
        if set(kw) - allowed:
            raise ValueError(f"model_kwargs: model {self.model!r} takes "
                             f"{sorted(allowed) or 'no options'}, got {sorted(kw)}")  # fmt: skip
        put("model_kwargs", tuple(sorted((str(k), int(v)) for k, v in kw.items())))
        if int(kw.get("depth", 2)) < 1:
            raise ValueError(f"depth: must be >= 1, got {kw['depth']}")
        put("alphas", positive_tuple("alpha", self.alphas))
        put("epsilons", positive_tuple("eps", self.epsilons))
        put("dims", positive_tuple("d", self.dims, int))
        put("n_samples", positive_tuple("n", self.n_samples, int))
        for name in ("sparsity", "data_seed", "max_steps", "average_last"):
            put(name, nonneg_int(name, getattr(self, name)))
        if self.max_steps < 1:
            raise ValueError(f"max_steps: must be >= 1, got {self.max_steps}")
        if any(self.sparsity > d for d in self.dims) and any(n > 1 for n in self.n_samples):
            raise ValueError(f"sparsity: must be <= d, got {self.sparsity} with d={self.dims}")
        put("diverge_factor", positive_float("diverge_factor", self.diverge_factor))
        self._check_eta_grid(put)
        put("reference_eta", nonneg_float("reference_eta", self.reference_eta))
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: must be one of {BACKENDS}, got {self.backend!r}")
        put("nonneg", bool(self.nonneg))
        put("decay_tail", check_decay_tail(self.decay_tail))

    # ----------------------------------------------------------------------------------
    def points(self) -> tuple[GridPoint, ...]:
        """The grid points, alpha slowest, then eps, d, n."""
        combos = [
            (a, e, d, n)
            for a in self.alphas
            for e in self.epsilons
            for d in self.dims
            for n in self.n_samples
        ]
        return tuple(GridPoint(i, *c) for i, c in enumerate(combos))

    def model_options(self) -> dict:
        """Keyword arguments for ``diaglin.get_model``."""
        return dict(self.model_kwargs)

    def point_spec(self, point: GridPoint) -> dict:
        """The full description of one grid point's computation (what its cache key hashes):
        every field, with the grid axes replaced by this point's values."""
        spec = self.to_dict()
        for axis in ("alphas", "epsilons", "dims", "n_samples"):
            spec.pop(axis)
        spec.update(alpha=point.alpha, eps=point.eps, d=point.d, n=point.n)
        spec["data"] = "one_point" if point.n == 1 else "sparse_regression"
        if spec["decay_tail"] is None:
            del spec["decay_tail"]  # no tail: the key of the sweeps before the option existed
        return spec
