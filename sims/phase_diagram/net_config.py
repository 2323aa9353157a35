"""The paper-1 protocol on small networks, declared as data: the frozen :class:`NetSweepConfig`
and its :class:`NetPoint` s.

A grid point is one network and data set: (init scale alpha, threshold eps, hidden width,
depth, activation, loss, parameterisation, training-set size n) — every ablation axis of the
paper at the scale where Hessians are exact. At each point: one fixed initialisation, gradient
flow from it (s_GF = max sharpness on its path until L = eps, eta_c = 2/s_GF), then full-batch
GD for every eta of the point in ONE batched ``diaglin.run_gd`` call, each run until L < eps
(or max_steps), with exact final sharpness, norms, and held-out test loss and accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from diaglin._names import NET_ACTIVATIONS, NET_DATASETS, NET_LOSSES, NET_MODELS, NET_PARAMS
from diaglin.data import DIGITS_TOTAL
from sims.core.experiment import Experiment
from sims.core.validate import nonneg_int, positive_float, positive_tuple
from sims.phase_diagram.config import EtaGrid

#: the axes of the grid, slowest first: (config field, point field).
AXES = (("alphas", "alpha"), ("epsilons", "eps"), ("widths", "width"), ("depths", "depth"),
        ("activations", "activation"), ("losses", "loss"), ("params", "param"),
        ("n_samples", "n"))  # fmt: skip


@dataclass(frozen=True)
class NetPoint:
    """One network and data set of a sweep; ``index`` is its position in the grid."""

    index: int
    alpha: float
    eps: float
    width: int
    depth: int
    activation: str
    loss: str
    param: str
    n: int

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``tanh width=32 depth=1 mse ntk alpha=1 ...``."""
        return (f"{self.activation} width={self.width} depth={self.depth} {self.loss} "
                f"{self.param} alpha={self.alpha:g} eps={self.eps:g} n={self.n}")  # fmt: skip


def _names(name: str, values, allowed: tuple[str, ...]) -> tuple[str, ...]:
    out = tuple(str(v) for v in np.atleast_1d(values).tolist())
    if not out:
        raise ValueError(f"{name}: needs at least one value")
    bad = [v for v in out if v not in allowed]
    if bad:
        raise ValueError(f"{name}: must be among {allowed}, got {bad}")
    return out


@dataclass(frozen=True)
class NetSweepConfig(EtaGrid, Experiment):
    """Everything that determines a network sweep's numbers (and hence its cache keys).

    Network: ``model`` "mlp" (fully connected; ``widths`` = units per hidden layer) or "cnn"
    (3×3 'same' convolutions on the 8×8 digit images; ``widths`` = channels per conv layer),
    ``depths`` hidden layers (1 to 3), with ``bias``. Data: ``dataset`` "digits"
    (``diaglin.data.digits(n, n_test=n_test, seed=data_seed)``, 10 classes) or "teacher"
    (``diaglin.data.teacher_student(n, teacher_dim, width=teacher_width, n_test=n_test,
    n_classes=10 for loss "ce" else 1, seed=data_seed)``). Initialisation:
    ``Network.init(alpha, seed=init_seed)``, the same for every eta. Gradient flow: DOP853 at
    ``gf_rtol`` (absolute tolerance gf_rtol · 1e-2), its sharpness evaluated at
    ``gf_sharpness_points`` steps spread over the path and refined at the largest (see
    ``diaglin.gradient_flow``). The eta grid and the stopping rule are as
    in ``SweepConfig``.
    """

    model: str = "mlp"
    dataset: str = "digits"
    alphas: tuple[float, ...] = (1.0,)
    epsilons: tuple[float, ...] = (1e-2,)
    widths: tuple[int, ...] = (32,)
    depths: tuple[int, ...] = (1,)
    activations: tuple[str, ...] = ("tanh",)
    losses: tuple[str, ...] = ("mse",)
    params: tuple[str, ...] = ("ntk",)
    n_samples: tuple[int, ...] = (100,)
    n_test: int = 500
    bias: bool = True
    teacher_dim: int = 16
    teacher_width: int = 8
    data_seed: int = 0
    init_seed: int = 0
    eta_min: float = 0.25
    eta_max: float = 2.5
    n_etas: int = 32
    eta_grid: str = "log"
    eta_units: str = "eta_c"
    max_steps: int = 20_000
    average_last: int = 0
    diverge_factor: float = 1e8
    gf_rtol: float = 1e-8
    gf_sharpness_points: int = 200
    backend: str = "cpu"

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        if self.model not in NET_MODELS:
            raise ValueError(f"model: must be one of {NET_MODELS}, got {self.model!r}")
        if self.dataset not in NET_DATASETS:
            raise ValueError(f"dataset: must be one of {NET_DATASETS}, got {self.dataset!r}")
        if self.model == "cnn" and self.dataset != "digits":
            raise ValueError("dataset: the cnn model takes images (dataset 'digits')")
        put("alphas", positive_tuple("alpha", self.alphas))
        put("epsilons", positive_tuple("eps", self.epsilons))
        put("widths", positive_tuple("width", self.widths, int))
        put("depths", positive_tuple("depth", self.depths, int))
        if max(self.depths) > 3:
            raise ValueError(f"depth: 1 to 3 hidden layers, got {self.depths}")
        put("n_samples", positive_tuple("n", self.n_samples, int))
        put("activations", _names("activation", self.activations, NET_ACTIVATIONS))
        put("losses", _names("loss", self.losses, NET_LOSSES))
        put("params", _names("param", self.params, NET_PARAMS))
        for name in ("n_test", "teacher_dim", "teacher_width", "data_seed", "init_seed",
                     "max_steps", "average_last", "gf_sharpness_points"):  # fmt: skip
            put(name, nonneg_int(name, getattr(self, name)))
        if self.gf_sharpness_points < 3:
            raise ValueError(f"gf_sharpness_points: must be >= 3, got {self.gf_sharpness_points}")
        if self.n_test < 1:
            raise ValueError(f"n_test: the test loss needs a test split, got {self.n_test}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps: must be >= 1, got {self.max_steps}")
        if self.dataset == "digits" and min(self.n_samples) < 10:
            raise ValueError(f"n: digits needs at least one sample per class, got {self.n_samples}")
        if self.dataset == "digits" and max(self.n_samples) + self.n_test > DIGITS_TOTAL:
            raise ValueError(f"n: n + n_test must be <= {DIGITS_TOTAL} (the size of digits), got "
                             f"{max(self.n_samples)} + {self.n_test}")  # fmt: skip
        for name in ("diverge_factor", "gf_rtol"):
            put(name, positive_float(name, getattr(self, name)))
        if self.backend != "cpu":
            raise ValueError(f"backend: networks run on the cpu backend, got {self.backend!r}")
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ValueError(f"bias: must be True or False, got {self.bias!r}")
        put("bias", bool(self.bias))
        self._check_eta_grid(put)

    # ----------------------------------------------------------------------------------
    def points(self) -> tuple[NetPoint, ...]:
        """The grid points, in the order of ``AXES`` (alpha slowest, n fastest)."""
        combos = product(*(getattr(self, axis) for axis, _ in AXES))
        return tuple(NetPoint(i, *c) for i, c in enumerate(combos))

    def point_spec(self, point: NetPoint) -> dict:
        """Every field, with the grid axes replaced by this point's values."""
        spec = self.to_dict()
        for axis, name in AXES:
            spec.pop(axis)
            spec[name] = getattr(point, name)
        return spec
