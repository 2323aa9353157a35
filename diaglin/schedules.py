"""Learning-rate schedules as data: a run's step size (and label-noise level) as a function of
the step k, made of phases — constant, linear or cosine in k — one after another.

    Schedule.constant(0.1)                         eta_k = 0.1
    Schedule.step_decay(0.1, at=1000, factor=0.1)  0.1 for k < 1000, then 0.01
    Schedule.multistep(0.1, [1000, 5000], 0.1)     0.1, 0.01 from k = 1000, 0.001 from k = 5000
    Schedule.cosine(0.1, 10_000)                   0.1 · (1 + cos(pi k / 10_000)) / 2, then 0
    Schedule.linear(0.1, 10_000)                   0.1 → 0 linearly over 10 000 steps, then 0
    Schedule.warmup(500, Schedule.cosine(...))     0 → 0.1 linearly over 500 steps, then cosine

Each phase also carries the label-noise standard deviation ``noise`` used while it lasts, so
"large step with label noise, then decay without noise" is one schedule. The kernels read a
schedule as a table (``Schedule.table``): one row (start, end, eta_start, eta_end, shape, noise)
per phase, the last phase lasting for ever.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: shape codes of the kernel's table
CONSTANT, LINEAR, COSINE = 0, 1, 2
SHAPES = {"constant": CONSTANT, "linear": LINEAR, "cosine": COSINE}
#: table columns
START, END, ETA0, ETA1, SHAPE, NOISE = range(6)
#: "for ever": the end step of a last phase
FOREVER = float(2**62)


@dataclass(frozen=True)
class Phase:
    """``steps`` steps (None: until the run ends) of step size going from ``eta`` to
    ``eta_end`` (None: constant) along ``shape`` ("constant", "linear" or "cosine"), with
    label noise of standard deviation ``noise``."""

    steps: int | None
    eta: float
    eta_end: float | None = None
    shape: str = "constant"
    noise: float = 0.0

    def __post_init__(self) -> None:
        if self.steps is not None and (isinstance(self.steps, bool) or int(self.steps) != self.steps
                                       or self.steps < 1):  # fmt: skip
            raise ValueError(f"steps: a phase lasts at least one step, got {self.steps!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape: must be one of {tuple(SHAPES)}, got {self.shape!r}")
        for name in ("eta", "noise") + (("eta_end",) if self.eta_end is not None else ()):
            v = getattr(self, name)
            if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")
        if self.shape != "constant" and self.eta_end is None:
            raise ValueError(f"eta_end: a {self.shape} phase needs its final step size")
        if self.shape != "constant" and self.steps is None:
            raise ValueError(f"steps: a {self.shape} phase needs a length")


@dataclass(frozen=True)
class Schedule:
    """Phases in order; the last one lasts until the run ends (its ``steps`` is ignored)."""

    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        phases = tuple(self.phases)
        if not phases or not all(isinstance(p, Phase) for p in phases):
            raise ValueError("phases: need at least one Phase")
        if any(p.steps is None for p in phases[:-1]):
            raise ValueError("phases: only the last phase may have steps=None")
        if phases[0].eta <= 0 and phases[0].shape == "constant":
            raise ValueError(f"eta: the first step size must be > 0, got {phases[0].eta!r}")
        last = phases[-1]
        if last.shape != "constant":  # a ramp that ends: hold its final step size afterwards
            phases = (*phases, Phase(None, last.eta_end, noise=last.noise))
        object.__setattr__(self, "phases", phases)

    # --- constructors -----------------------------------------------------------------
    @classmethod
    def constant(cls, eta: float, *, noise: float = 0.0) -> Schedule:
        """eta_k = eta for every k."""
        return cls((Phase(None, eta, noise=noise),))

    @classmethod
    def step_decay(
        cls, eta: float, at: int, factor: float = 0.1, *, noise: float = 0.0,
        noise_after: float | None = None,
    ) -> Schedule:  # fmt: skip
        """eta for k < at, then factor·eta; label noise ``noise`` before the decay and
        ``noise_after`` (default: the same) after it. at = 0 decays at once."""
        after = Phase(None, factor * eta, noise=noise if noise_after is None else noise_after)
        if at == 0:
            return cls((after,))
        return cls((Phase(at, eta, noise=noise), after))

    @classmethod
    def multistep(
        cls, eta: float, milestones: Sequence[int], factor: float = 0.1, *, noise: float = 0.0
    ) -> Schedule:
        """eta · factor^m from the m-th milestone on (milestones strictly increasing, > 0)."""
        ms = [int(m) for m in milestones]
        if any(b <= a for a, b in zip([0, *ms], ms)):
            raise ValueError(f"milestones: must be increasing and > 0, got {list(milestones)}")
        lengths = [b - a for a, b in zip([0, *ms], ms)]
        phases = [Phase(n, eta * factor**m, noise=noise) for m, n in enumerate(lengths)]
        return cls((*phases, Phase(None, eta * factor ** len(ms), noise=noise)))

    @classmethod
    def cosine(cls, eta: float, steps: int, eta_min: float = 0.0, *, noise: float = 0.0):
        """eta_min + (eta - eta_min)(1 + cos(pi k / steps))/2 for k < steps, then eta_min."""
        return cls((Phase(steps, eta, eta_min, "cosine", noise), Phase(None, eta_min, noise=noise)))

    @classmethod
    def linear(cls, eta: float, steps: int, eta_end: float = 0.0, *, noise: float = 0.0):
        """eta → eta_end linearly over ``steps`` steps, then eta_end."""
        return cls((Phase(steps, eta, eta_end, "linear", noise), Phase(None, eta_end, noise=noise)))

    @classmethod
    def warmup(cls, steps: int, then: Schedule) -> Schedule:
        """A linear ramp from 0 to ``then``'s first step size over ``steps`` steps, then
        ``then`` (shifted by ``steps``)."""
        first = then.phases[0]
        return cls((Phase(steps, 0.0, first.eta, "linear", first.noise), *then.phases))

    # --- evaluation -------------------------------------------------------------------
    def table(self) -> np.ndarray:
        """(S, 6) float array, one row per phase: START, END, ETA0, ETA1, SHAPE, NOISE."""
        rows, start = [], 0
        for i, p in enumerate(self.phases):
            last = i == len(self.phases) - 1
            end = FOREVER if last else start + p.steps
            eta1 = p.eta if p.eta_end is None else p.eta_end
            rows.append((start, end, p.eta, eta1, SHAPES[p.shape], p.noise))
            start = end
        return np.array(rows, dtype=np.float64)

    def eta(self, k) -> np.ndarray:
        """The step size at step(s) k (the kernels' formula, vectorised)."""
        return self._at(np.asarray(k), ETA0)

    def noise(self, k) -> np.ndarray:
        """The label-noise standard deviation at step(s) k."""
        return self._at(np.asarray(k), NOISE)

    def _at(self, k: np.ndarray, column: int) -> np.ndarray:
        t = self.table()
        k = k.astype(np.float64)
        i = np.clip(np.searchsorted(t[:, END], k, side="right"), 0, len(t) - 1)
        row = t[i]
        if column == NOISE:
            return row[..., NOISE]
        frac = np.where(
            np.isinf(row[..., END]) | (row[..., END] >= FOREVER),
            0.0,
            (k - row[..., START]) / np.maximum(row[..., END] - row[..., START], 1),
        )
        lin = row[..., ETA0] + (row[..., ETA1] - row[..., ETA0]) * frac
        cos = row[..., ETA1] + (row[..., ETA0] - row[..., ETA1]) * 0.5 * (1 + np.cos(np.pi * frac))
        return np.where(row[..., SHAPE] == LINEAR, lin,
                        np.where(row[..., SHAPE] == COSINE, cos, row[..., ETA0]))  # fmt: skip

    @property
    def max_noise(self) -> float:
        """The largest label-noise level of any phase."""
        return max(p.noise for p in self.phases)


def stack_tables(schedules: Sequence[Schedule]) -> np.ndarray:
    """(B, S, 6): the tables of B schedules, padded with copies of each one's last phase."""
    tables = [s.table() for s in schedules]
    S = max(len(t) for t in tables)
    out = np.empty((len(tables), S, 6))
    for b, t in enumerate(tables):
        out[b, : len(t)] = t
        out[b, len(t) :] = t[-1]
    return out
