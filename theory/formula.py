"""A derivation held twice: as a sympy expression (for LaTeX and symbolic checks) and as a
lambdified, vectorised NumPy function (for predictions).

Arguments are either scalar symbols or tuples of symbols ("vector" arguments, one symbol per
coordinate). A vector argument is passed to the numeric function as an array whose LAST axis runs
over the coordinates; leading axes broadcast (so a batch ``(B, d)`` of parameter vectors works).
Matrix-valued expressions return arrays of shape ``batch + (rows, cols)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

__all__ = ["Formula", "vector_symbols"]

Arg = sp.Symbol | tuple[sp.Symbol, ...]


@dataclass(frozen=True)
class Formula:
    """A named sympy expression with its NumPy twin.

    Attributes
    ----------
    name: short identifier.
    expr: the sympy expression (scalar ``sp.Expr`` or ``sp.Matrix``).
    args: the arguments, in call order; a tuple of symbols is a vector argument.
    assumptions: the conditions under which the formula holds (plain text).
    tag: ``"[paper]"`` when the paper states the result, ``"[derived]"`` when this project
        derived it.
    """

    name: str
    expr: sp.Expr | sp.MatrixBase
    args: tuple[Arg, ...]
    assumptions: str = ""
    tag: str = "[derived]"
    _func: Callable = field(init=False, repr=False, compare=False)
    _shape: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lam_args = [list(a) if isinstance(a, tuple) else a for a in self.args]
        if isinstance(self.expr, sp.MatrixBase):
            shape = tuple(self.expr.shape)
            entries = list(self.expr)
        else:
            shape = ()
            entries = [self.expr]
        func = sp.lambdify(lam_args, entries, modules="numpy", cse=True)
        object.__setattr__(self, "_func", func)
        object.__setattr__(self, "_shape", shape)

    def latex(self) -> str:
        """LaTeX source of the expression."""
        return sp.latex(self.expr)

    def __call__(self, *values: float | np.ndarray) -> np.ndarray:
        """Evaluate numerically (float64). Vector arguments take arrays with coordinates last."""
        if len(values) != len(self.args):
            raise ValueError(
                f"values: {self.name} takes {len(self.args)} arguments, got {len(values)}"
            )
        prepared: list[object] = []
        for a, v in zip(self.args, values):
            arr = np.asarray(v, dtype=np.float64)
            if isinstance(a, tuple):
                if arr.ndim == 0 or arr.shape[-1] != len(a):
                    raise ValueError(
                        f"values: argument of {self.name} must have last axis {len(a)}, "
                        f"got shape {arr.shape}"
                    )
                prepared.append(list(np.moveaxis(arr, -1, 0)))
            else:
                prepared.append(arr)
        out = self._func(*prepared)
        parts = np.broadcast_arrays(*[np.asarray(o, dtype=np.float64) for o in out])
        stacked = np.stack(parts, axis=-1)
        return stacked.reshape(stacked.shape[:-1] + self._shape) if self._shape else stacked[..., 0]


def vector_symbols(prefix: str, d: int, **assumptions: bool) -> tuple[sp.Symbol, ...]:
    """``d`` symbols ``prefix_1 .. prefix_d`` (1-based names, as in the paper)."""
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    return tuple(sp.Symbol(f"{prefix}_{i + 1}", **assumptions) for i in range(d))
