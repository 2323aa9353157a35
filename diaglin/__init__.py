"""diaglin: exact, batched gradient descent, SGD and gradient flow on diagonal linear networks
and small networks, with closed-form gradients, Hessians and sharpness.

- diagonal linear networks (:func:`get_model`: w⊙w, u⊙v, u⊙u − v⊙v, depth-D products and
  powers): loss L(θ) = 1/(2n) ||X β(θ) − y||² (for n = 1: ½(⟨x, β⟩ − y)²);
- small networks (:mod:`diaglin.nets`: MLPs and CNNs, NTK or μP), with the mean squared error
  or the cross-entropy (``diaglin.nets.losses``);
- :func:`run_gd` / :func:`run_sgd` (schedules, label noise) run a batch of runs in one call on
  the CPU (Numba) or an NVIDIA GPU (``backend="cuda"``); :func:`gradient_flow`; exact
  :func:`hessian` and :func:`sharpness`.

Submodules load on first use (PEP 562), so ``import diaglin`` and the model names cost no
numba/scipy import: a command line can check its arguments first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from diaglin._names import DEPTH_MODELS, MODEL_NAMES
from diaglin._version import __version__

#: public name -> the module that defines it.
_LAZY = {
    "data": "diaglin.data",
    "DiagonalModel": "diaglin.models",
    "get_model": "diaglin.models",
    "GDResult": "diaglin.results",
    "IterateStats": "diaglin.results",
    "Trajectory": "diaglin.results",
    "run_gd": "diaglin.gd",
    "run_sgd": "diaglin.sgd",
    "Phase": "diaglin.schedules",
    "Schedule": "diaglin.schedules",
    "GFResult": "diaglin.flow",
    "gradient_flow": "diaglin.flow",
    "GFBatch": "diaglin.flow",
    "gradient_flow_batch": "diaglin.flow",
    "SharpnessResult": "diaglin.spectrum",
    "hessian": "diaglin.spectrum",
    "sharpness": "diaglin.spectrum",
    "FlowStatus": "diaglin.status",
    "Status": "diaglin.status",
    "CudaUnavailable": "diaglin.cuda.runtime",
}

__all__ = [
    "__version__", "DEPTH_MODELS", "MODEL_NAMES", "data", "DiagonalModel", "get_model",
    "GDResult", "IterateStats", "Trajectory", "run_gd", "run_sgd", "Phase", "Schedule",
    "GFResult", "gradient_flow", "GFBatch", "gradient_flow_batch",
    "SharpnessResult", "hessian", "sharpness", "FlowStatus", "Status", "CudaUnavailable",
]  # fmt: skip
assert set(__all__) == {"__version__", "DEPTH_MODELS", "MODEL_NAMES", *_LAZY}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'diaglin' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__ == f"diaglin.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from diaglin import data
    from diaglin.cuda.runtime import CudaUnavailable
    from diaglin.flow import GFBatch, GFResult, gradient_flow, gradient_flow_batch
    from diaglin.gd import run_gd
    from diaglin.models import DiagonalModel, get_model
    from diaglin.results import GDResult, IterateStats, Trajectory
    from diaglin.schedules import Phase, Schedule
    from diaglin.sgd import run_sgd
    from diaglin.spectrum import SharpnessResult, hessian, sharpness
    from diaglin.status import FlowStatus, Status
