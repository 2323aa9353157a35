"""The flows comparison declared as data: instances of the diagonal models, and a grid of step
sizes in units of each instance's critical step eta_c = 2/s_GF (light: no numerics here).

A grid point is one instance (model, n, d, alpha): n = 1 is ``diaglin.data.one_point(d)`` (the
paper's setting), n > 1 ``diaglin.data.sparse_regression(n, d, sparsity)`` (nonnegative for the
models whose β is ≥ 0). At every point GD and each flow run all step sizes in one batched call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diaglin._names import MODEL_NAMES
from sims.core.experiment import Experiment
from sims.core.validate import nonneg_int, positive_float

#: models whose β is ≥ 0 (their sparse-regression data are drawn nonnegative)
NONNEG_MODELS = ("ww", "power")


@dataclass(frozen=True)
class FlowsPoint:
    """One instance: ``model`` (a ``diaglin.MODEL_NAMES`` entry, default depth), ``n`` samples,
    dimension ``d``, init scale ``alpha``; ``index`` is its position."""

    index: int
    model: str
    n: int
    d: int
    alpha: float

    @property
    def label(self) -> str:
        """Short name, e.g. ``ww n=1 d=5 alpha=0.01``."""
        return f"{self.model} n={self.n} d={self.d} alpha={self.alpha:g}"


def instance(value) -> tuple[str, int, int, float]:
    """(model, n, d, alpha) checked: a known model, n ≥ 1, d ≥ 1, finite alpha > 0."""
    try:
        model, n, d, alpha = value
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"instances: expected (model, n, d, alpha), got {value!r}") from None
    if model not in MODEL_NAMES:
        raise ValueError(f"instances: model must be one of {MODEL_NAMES}, got {model!r}")
    n, d = nonneg_int("instances: n", n), nonneg_int("instances: d", d)
    if n < 1 or d < 1:
        raise ValueError(f"instances: n and d must be >= 1, got n={n}, d={d}")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"instances: alpha must be finite and > 0, got {alpha!r}")
    return (str(model), n, d, alpha)


@dataclass(frozen=True)
class FlowsConfig(Experiment):
    """Everything that determines the comparison's numbers (and its cache keys).

    ``instances``: (model, n, d, alpha) per grid point. Step sizes: ``n_etas`` values
    eta_c·linspace(``eta_min``, ``eta_max``). GD and the flows stop when (the modelled) GD loss
    < ``eps``, on divergence (> ``diverge_factor``·L(θ0)) or at step (time) ``max_steps``. GD
    also reports the mean of its last ``average_last`` iterates; GD and the flows are recorded
    every ``record_every`` steps. The flows take ``substeps`` integrator steps per GD step; the
    central flow treats η λ > ``threshold`` as critical (``diaglin.eos_flows``).
    """

    instances: tuple[tuple[str, int, int, float], ...] = (
        ("ww", 1, 5, 0.01),
        ("ww", 3, 8, 0.1),
        ("pm", 4, 8, 0.1),
    )
    sparsity: int = 2
    eps: float = 1e-12
    eta_min: float = 0.4
    eta_max: float = 2.0
    n_etas: int = 9
    max_steps: int = 20_000
    average_last: int = 20
    record_every: int = 5
    substeps: int = 4
    threshold: float = 1.95
    diverge_factor: float = 1e8
    data_seed: int = 0

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        if not self.instances:
            raise ValueError("instances: need at least one (model, n, d, alpha)")
        put("instances", tuple(instance(v) for v in self.instances))
        for name in ("eps", "eta_min", "eta_max", "diverge_factor"):
            put(name, positive_float(name, getattr(self, name)))
        if not self.eta_min < self.eta_max:
            raise ValueError(f"eta_min ({self.eta_min}) must be < eta_max ({self.eta_max})")
        threshold = float(self.threshold)
        if not 0 < threshold < 2:
            raise ValueError(f"threshold: must be in (0, 2), got {threshold!r}")
        put("threshold", threshold)
        for name in ("sparsity", "n_etas", "max_steps", "average_last", "record_every",
                     "substeps", "data_seed"):  # fmt: skip
            put(name, nonneg_int(name, getattr(self, name)))
        for name in ("n_etas", "max_steps", "record_every", "substeps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        for _model, n, d, _alpha in self.instances:
            if n > 1 and self.sparsity > d:
                raise ValueError(f"sparsity: must be <= d, got {self.sparsity} with d={d}")

    def points(self) -> tuple[FlowsPoint, ...]:
        """One point per instance, in order."""
        return tuple(FlowsPoint(i, *v) for i, v in enumerate(self.instances))

    def etas(self, eta_c: float) -> np.ndarray:
        """The point's step sizes: eta_c · linspace(eta_min, eta_max, n_etas)."""
        return float(eta_c) * np.linspace(self.eta_min, self.eta_max, self.n_etas)

    def point_spec(self, point: FlowsPoint) -> dict:
        """Every field, with the instances replaced by this point's."""
        spec = self.to_dict()
        spec.pop("instances")
        spec.update(model=point.model, n=point.n, d=point.d, alpha=point.alpha)
        if point.n == 1:
            spec.pop("sparsity")
        return spec
