"""Parameterisations beta(theta) of a diagonal linear network, and ``get_model``.

| name    | class                  | beta(theta)       | K | ``init(d, alpha)``           |
|---------|------------------------|-------------------|---|------------------------------|
| "ww"    | ``SharedWeights()``    | w ⊙ w             | 1 | w = alpha                    |
| "uv"    | ``UV()``               | u ⊙ v             | 2 | u = sqrt(2) alpha, v = 0     |
| "pm"    | ``PlusMinus()``        | u ⊙ u − v ⊙ v     | 2 | u = v = alpha (beta0 = 0)    |
| "prod"  | ``DeepProduct(D)``     | w_1 ⊙ … ⊙ w_D     | D | w_k = alpha                  |
| "power" | ``DeepPower(D)``       | w^D               | 1 | w = alpha                    |
"""

from __future__ import annotations

import numpy as np

from diaglin import _validate as V
from diaglin._names import MODEL_NAMES
from diaglin.models import _ops
from diaglin.models.base import DiagonalModel

__all__ = [
    "DiagonalModel",
    "SharedWeights",
    "UV",
    "PlusMinus",
    "DeepProduct",
    "DeepPower",
    "MODEL_NAMES",
    "get_model",
]


def SharedWeights() -> DiagonalModel:
    """beta = w ⊙ w (the paper's shared-weight DLN; beta >= 0)."""
    return DiagonalModel("ww", _ops.WW, 1, 1, (1.0,))


def UV() -> DiagonalModel:
    """beta = u ⊙ v; init u = sqrt(2) alpha, v = 0 (that of the exact finite-step identity)."""
    return DiagonalModel("uv", _ops.UV, 2, 1, (np.sqrt(2.0), 0.0))


def PlusMinus() -> DiagonalModel:
    """beta = u ⊙ u − v ⊙ v (signed beta)."""
    return DiagonalModel("pm", _ops.PM, 2, 1, (1.0, 1.0))


def DeepProduct(depth: int = 2) -> DiagonalModel:
    """beta = w_1 ⊙ … ⊙ w_D with D independent blocks."""
    depth = V.check_int("depth", depth, 1)
    return DiagonalModel("prod", _ops.PROD, depth, depth, (1.0,) * depth)


def DeepPower(depth: int = 2) -> DiagonalModel:
    """beta = w^D (shared weights, depth D)."""
    depth = V.check_int("depth", depth, 1)
    return DiagonalModel("power", _ops.POWER, 1, depth, (1.0,))


_FACTORIES = {
    "ww": SharedWeights,
    "uv": UV,
    "pm": PlusMinus,
    "prod": DeepProduct,
    "power": DeepPower,
}
assert tuple(_FACTORIES) == MODEL_NAMES, "diaglin._names.MODEL_NAMES is out of date"


def get_model(name, **kwargs):
    """The model called ``name`` (one of ``MODEL_NAMES``); ``depth=D`` for "prod"/"power".
    A model object (a ``DiagonalModel`` or a ``diaglin.nets.Network``) is returned as is."""
    from diaglin.nets import Network

    if isinstance(name, (DiagonalModel, Network)):
        return name
    try:
        factory = _FACTORIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {name!r}") from None
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad options for model {name!r}: {exc}") from None
