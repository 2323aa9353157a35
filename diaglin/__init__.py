"""diaglin: exact, batched gradient descent and gradient flow on diagonal linear networks.

Loss convention throughout: L(θ) = 1/(2n) ||X β(θ) − y||² (for n = 1: ½(⟨x, β⟩ − y)²).
"""

from diaglin import data
from diaglin._version import __version__
from diaglin.flow import GFResult, gradient_flow
from diaglin.gd import GDResult, IterateStats, Trajectory, run_gd
from diaglin.models import MODEL_NAMES, DiagonalModel, get_model
from diaglin.sharpness import SharpnessResult, hessian, sharpness
from diaglin.status import Status

__all__ = [
    "__version__",
    "data",
    "DiagonalModel",
    "GDResult",
    "GFResult",
    "IterateStats",
    "MODEL_NAMES",
    "SharpnessResult",
    "Status",
    "Trajectory",
    "get_model",
    "gradient_flow",
    "hessian",
    "run_gd",
    "sharpness",
]
