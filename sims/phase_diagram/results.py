"""Result dataclasses of a sweep, and their flat-array form for the on-disk cache.

A :class:`PointResult` holds one grid point: the data, the gradient-flow reference
(s_GF, eta_c = 2/s_GF, its final beta), and per step size eta the GD status, steps and
exact statistics at the final iterate (and, optionally, at the mean of the last K iterates and
at the end of a short learning-rate decay tail).
A :class:`NetPointResult` is the same for a network sweep, with held-out test loss and accuracy
in place of the linear ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from diaglin import IterateStats
from sims.phase_diagram.config import GridPoint
from sims.phase_diagram.net_config import NetPoint


@dataclass(frozen=True)
class FlowSummary:
    """Gradient flow from the same start: s_gf = max_t S(theta(t)), eta_c = 2 / s_gf, the final
    beta (where the loss first reached eps), and whether it got there."""

    s_gf: float
    eta_c: float
    beta: np.ndarray
    converged: bool


@dataclass(frozen=True)
class ReferenceRun:
    """One extra GD run at a tiny step eta (a check of the gradient-flow limit)."""

    eta: float
    beta: np.ndarray
    status: int
    steps: int


@dataclass(frozen=True)
class DecayTail:
    """A short learning-rate decay at the end of every run: GD from the run's final iterate at
    ``factor`` * eta for ``steps`` steps. Per run: the tail's ``status`` (MAX_STEPS: all
    ``steps`` steps taken; CONVERGED: the loss reached exactly 0 (below the smallest normal
    float), a fixed point, earlier; DIVERGED; -1: no tail, the run itself diverged) and
    ``taken``, the steps it took (the statistics at its end are ``PointResult.decayed``)."""

    factor: float
    steps: int
    status: np.ndarray
    taken: np.ndarray

    #: the status of a run that had no tail (its main run diverged)
    NO_TAIL = -1


@dataclass(frozen=True)
class PointResult:
    """One grid point of a sweep. X (n, d), y (n,), beta_star (d,) are its data."""

    point: GridPoint
    X: np.ndarray
    y: np.ndarray
    beta_star: np.ndarray
    etas: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    final: IterateStats
    flow: FlowSummary
    averaged: IterateStats | None = None
    reference: ReferenceRun | None = None
    decay: DecayTail | None = None
    decayed: IterateStats | None = None

    @property
    def eta_c(self) -> float:
        """The critical step size 2 / s_GF of this point (from gradient flow)."""
        return self.flow.eta_c

    #: what the phase diagram's middle panel shows (IterateStats field, axis label).
    NORM = ("l1_beta", "‖β‖₁")
    ERROR_LABEL = "generalization error ‖β − β*‖₂²"

    def title(self, model: str) -> str:
        """The figure's title."""
        pt = self.point
        return (
            f"Phase diagram of GD on a diagonal linear network ({model}): d = {pt.d}, "
            f"n = {pt.n}, α = {pt.alpha:g}, ε = {pt.eps:g}; η_c = {self.eta_c:.4g}"
        )

    def gen_error(self, averaged: bool = False) -> np.ndarray:
        """||beta - beta*||_2^2 per run (at the final iterate, or the averaged one)."""
        stats = self.averaged if averaged and self.averaged is not None else self.final
        return self.error_of(stats)

    def error_of(self, stats: IterateStats) -> np.ndarray:
        """||beta - beta*||_2^2 per run of ``stats`` (e.g. ``self.decayed``)."""
        return np.sum((stats.beta - self.beta_star) ** 2, axis=1)

    # --- flat array form (cache) ---------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """All numbers as a flat ``{name: ndarray}`` (nested dataclasses become ``a.b`` keys)."""
        return _flatten(self, ("X", "y", "beta_star", "etas", "status", "steps"),
                        ("final", "flow", "averaged", "reference", "decay",
                         "decayed"))  # fmt: skip

    @classmethod
    def from_arrays(cls, point: GridPoint, arrays: dict[str, np.ndarray]) -> PointResult:
        """Inverse of :meth:`to_arrays`."""
        return cls(point=point, **{k: arrays[k] for k in ("X", "y", "beta_star", "etas",
                                                          "status", "steps")},
                   final=_part(IterateStats, "final", arrays),
                   flow=_part(FlowSummary, "flow", arrays),
                   averaged=_part(IterateStats, "averaged", arrays),
                   reference=_part(ReferenceRun, "reference", arrays),
                   decay=_part(DecayTail, "decay", arrays),
                   decayed=_part(IterateStats, "decayed", arrays))  # fmt: skip


@dataclass(frozen=True)
class HeldOut:
    """Per run: the loss on the held-out test split, the test accuracy and the training
    accuracy (fraction of samples whose largest output is the label; NaN for regression)."""

    loss: np.ndarray
    accuracy: np.ndarray
    train_accuracy: np.ndarray


@dataclass(frozen=True)
class NetPointResult:
    """One grid point of a network sweep (``sims.phase_diagram.net_config``): per step size
    eta the GD status, steps and exact statistics at the final iterate (θ, the end-to-end
    linear map as β, sharpness, norms), the held-out ``test`` loss and accuracy, the same for
    the mean of the last K iterates when asked, and the gradient-flow reference; P =
    ``n_params``."""

    point: NetPoint
    etas: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    final: IterateStats
    flow: FlowSummary
    test: HeldOut
    averaged: IterateStats | None = None
    test_averaged: HeldOut | None = None
    n_params: int = 0

    #: what the phase diagram's middle panel shows: the paper's ℓ1 norm of the parameters.
    NORM = ("l1_theta", "‖θ‖₁ (parameters)")
    ERROR_LABEL = "test loss (held-out split)"

    @property
    def eta_c(self) -> float:
        """The critical step size 2 / s_GF of this point (from gradient flow)."""
        return self.flow.eta_c

    def gen_error(self, averaged: bool = False) -> np.ndarray:
        """The held-out test loss per run (final iterate, or the averaged one)."""
        held = self.test_averaged if averaged and self.test_averaged is not None else self.test
        return held.loss

    def title(self, model: str) -> str:
        """The figure's title."""
        pt = self.point
        return (f"Phase diagram of GD on a {pt.depth}-hidden-layer {model.upper()} "
                f"({pt.activation}, width {pt.width}, {pt.loss.upper()}, {pt.param}, "
                f"P = {self.n_params}): n = {pt.n}, α = {pt.alpha:g}, ε = {pt.eps:g}; "
                f"η_c = {self.eta_c:.4g}")  # fmt: skip

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All numbers as a flat ``{name: ndarray}`` (nested dataclasses become ``a.b`` keys)."""
        return _flatten(self, ("etas", "status", "steps", "n_params"),
                        ("final", "flow", "test", "averaged", "test_averaged"))  # fmt: skip

    @classmethod
    def from_arrays(cls, point: NetPoint, arrays: dict[str, np.ndarray]) -> NetPointResult:
        """Inverse of :meth:`to_arrays`."""
        return cls(point=point, etas=arrays["etas"], status=arrays["status"],
                   steps=arrays["steps"], final=_part(IterateStats, "final", arrays),
                   flow=_part(FlowSummary, "flow", arrays), test=_part(HeldOut, "test", arrays),
                   averaged=_part(IterateStats, "averaged", arrays),
                   test_averaged=_part(HeldOut, "test_averaged", arrays),
                   n_params=int(arrays["n_params"]))  # fmt: skip


def _flatten(result, plain: tuple[str, ...], parts: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``{name: array}`` of the ``plain`` fields and ``{part.field: array}`` of every field of
    each present dataclass in ``parts``."""
    out = {k: np.asarray(getattr(result, k)) for k in plain}
    for name in parts:
        part = getattr(result, name)
        if part is not None:
            for f in fields(part):
                out[f"{name}.{f.name}"] = np.asarray(getattr(part, f.name))
    return out


def _part(kind, name: str, arrays: dict[str, np.ndarray]):
    """The dataclass ``kind`` stored under ``name.*`` in ``arrays`` (None when absent); the
    fields of a scalar summary (not per-run arrays) come back as Python scalars."""
    keys = [f.name for f in fields(kind)]
    if f"{name}.{keys[0]}" not in arrays:
        return None
    vals = {k: arrays[f"{name}.{k}"] for k in keys}
    if kind in (FlowSummary, ReferenceRun, DecayTail):
        vals = {k: v.item() if v.ndim == 0 else v for k, v in vals.items()}
    return kind(**vals)
