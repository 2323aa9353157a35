"""Paper 1's ablations on networks in ONE sweep: ``python -m sims.phase_diagram --model mlp
--ablate``.

An ablation varies one axis at a time from a base network: the base is the FIRST value of
every axis of a :class:`~sims.phase_diagram.net_config.NetSweepConfig`; every other value of an
axis gives one more grid point, equal to the base but for that axis (a star in the grid, not its
product). Each point is computed and cached exactly as in a network sweep (gradient flow, one
batched GD call over eta); :func:`ablation_row` reads off what the ablation figure draws per
point: eta_c, the EoS range (from eta_c to the largest swept eta that did not diverge), the eta
with the lowest test loss, and the test loss there and on the flow-aligned branch.

Light: numpy and the config only (the figure is ``plotting.ablation_figure``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from diaglin.status import Status
from sims.phase_diagram.net_config import AXES, NetPoint, NetSweepConfig
from sims.phase_diagram.regimes import Regime, classify, u_shape

#: the values of each axis when ``--ablate`` is given without them (the base first): the
#: default network (one hidden tanh layer of width 32, MSE, NTK, 100 digits) and its ablations.
#: Width 8 cannot interpolate 100 one-hot targets (610 parameters for 1 000 equations), and
#: width 128 costs as much as the rest together; the ReLU network's gradient flow does not reach
#: eps within the integrator's 50 000 steps (its kinks), so GELU stands in for a ReLU-like
#: activation (``--activation tanh relu`` still asks for it).
ABLATION_AXES = {
    "widths": (32, 16, 64),
    "depths": (1, 2, 3),
    "activations": ("tanh", "gelu"),
    "params": ("ntk", "mup"),
    "n_samples": (100, 50, 200),
}
#: the eta grid and gradient-flow sampling of an ablation (16 eta from 0.5 to 2.5 eta_c; the
#: GF sharpness at 40 points of the path, refined at the largest: 5x fewer dense-path
#: Lanczos solves than a single network sweep, which dominate a point's cost).
ABLATION_GRID = {"eta_min": 0.5, "eta_max": 2.5, "n_etas": 16, "gf_sharpness_points": 40}


@dataclass(frozen=True)
class AblationConfig(NetSweepConfig):
    """A network sweep whose grid is the base network (the first value of every axis) plus,
    for every other value of an axis, the base with that one axis changed (fields, meaning and
    per-point cache spec as in :class:`NetSweepConfig`)."""

    @classmethod
    def of(cls, config: NetSweepConfig) -> AblationConfig:
        """The ablation of ``config``'s axes (same fields)."""
        return cls(**{f.name: getattr(config, f.name) for f in fields(config)})

    def base(self) -> dict:
        """The base network: {point field: the first value of its axis}."""
        return {name: getattr(self, axis)[0] for axis, name in AXES}

    def points(self) -> tuple[NetPoint, ...]:
        """The base first, then per axis (in ``AXES`` order) each further value of it."""
        base = self.base()
        combos = [base]
        for axis, name in AXES:
            for value in getattr(self, axis)[1:]:
                combo = {**base, name: value}
                if combo not in combos:
                    combos.append(combo)
        return tuple(NetPoint(i, **c) for i, c in enumerate(combos))

    def panels(self) -> tuple[tuple[str, tuple[NetPoint, ...]], ...]:
        """(point field, its points sorted by value, the base included) for every axis with
        more than one value: one panel each."""
        pts = self.points()
        base = pts[0]
        out = []
        for axis, name in AXES:
            values = tuple(dict.fromkeys(getattr(self, axis)))
            if len(values) < 2:
                continue
            row = [p for p in pts if _differs_only_in(p, base, name)]
            ordered = sorted(values) if isinstance(values[0], (int, float)) else values
            out.append((name, tuple(sorted(row, key=lambda p: ordered.index(getattr(p, name))))))
        return tuple(out)


def _differs_only_in(p: NetPoint, base: NetPoint, name: str) -> bool:
    return all(getattr(p, n) == getattr(base, n) for _, n in AXES if n != name)


@dataclass(frozen=True)
class AblationRow:
    """What the ablation figure draws for one point (etas absolute; NaN where none):

    eta_c = 2/s_GF; the EoS range [eos_lo, eos_hi] = [eta_c, the largest swept eta whose run did
    not diverge] (NaN both when no run above eta_c survived); ``capped``: the largest swept eta
    did not diverge (the range may go on beyond the grid); first_diverged: the smallest eta that
    diverged; edge_lo / edge_hi: the smallest / largest eta of the runs that ended at the edge
    (S·eta/2 >= 0.95); eta_best: the converged run with the lowest test loss, loss_best that
    loss; loss_flow: the lowest test loss of the converged runs with eta <= eta_c; is_u: the
    test loss is U-shaped (``regimes.u_shape``)."""

    point: NetPoint
    eta_c: float
    eos_lo: float
    eos_hi: float
    capped: bool
    first_diverged: float
    edge_lo: float
    edge_hi: float
    eta_best: float
    loss_best: float
    loss_flow: float
    is_u: bool

    CSV_FIELDS = ("eta_c", "eos_lo", "eos_hi", "capped", "first_diverged", "edge_lo", "edge_hi",
                  "eta_best", "loss_best", "loss_flow", "is_u")  # fmt: skip


def ablation_row(p) -> AblationRow:
    """The :class:`AblationRow` of a network point result (``NetPointResult``)."""
    nan = float("nan")
    etas, status, eta_c = np.asarray(p.etas), np.asarray(p.status), float(p.eta_c)
    alive = etas[status != Status.DIVERGED]
    top = float(alive.max()) if alive.size else nan
    has_range = bool(alive.size) and top > eta_c
    diverged = etas[status == Status.DIVERGED]
    edge = etas[classify(status, p.final.sharpness, etas, eta_c) == Regime.EOS]
    conv = status == Status.CONVERGED
    loss = np.asarray(p.gen_error())
    flow = conv & (etas <= eta_c)
    shape = u_shape(etas, loss, status, eta_c)
    best, loss_best = nan, nan
    if conv.any():
        i = int(np.flatnonzero(conv)[np.argmin(loss[conv])])
        best, loss_best = float(etas[i]), float(loss[i])
    return AblationRow(
        point=p.point, eta_c=eta_c, eos_lo=eta_c if has_range else nan,
        eos_hi=top if has_range else nan,
        capped=bool(alive.size) and bool(status[np.argmax(etas)] != Status.DIVERGED),
        first_diverged=float(diverged.min()) if diverged.size else nan,
        edge_lo=float(edge.min()) if edge.size else nan,
        edge_hi=float(edge.max()) if edge.size else nan, eta_best=best, loss_best=loss_best,
        loss_flow=float(loss[flow].min()) if flow.any() else nan,
        is_u=bool(shape.is_u) if shape is not None else False,
    )  # fmt: skip


def describe(row: AblationRow, axis: str | None) -> str:
    """One line per point for the user."""
    head = f"{axis}={getattr(row.point, axis)}" if axis else "base"
    rng = (f"EoS range eta in [{row.eos_lo:.4g}, {row.eos_hi:.4g}]"
           f"{'+' if row.capped else ''} = [1, {row.eos_hi / row.eta_c:.3g}] eta_c"
           if np.isfinite(row.eos_hi) else "no EoS range")  # fmt: skip
    return (f"{head} ({row.point.label}): eta_c = {row.eta_c:.4g}; {rng}; lowest test loss "
            f"{row.loss_best:.4g} at eta = {row.eta_best:.4g} = {row.eta_best / row.eta_c:.3g} "
            f"eta_c (flow-aligned best {row.loss_flow:.4g})")  # fmt: skip


def write_ablation_csv(rows, axes, path: Path) -> Path:
    """``path``: one line per point — the varied axis (``base`` for the base), every point
    field, then the :class:`AblationRow` numbers."""
    from sims.core.cache import atomic_write_bytes

    names = [n for _, n in AXES]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["varied", *names, *AblationRow.CSV_FIELDS])
    for row, axis in zip(rows, axes):
        w.writerow([axis or "base", *(getattr(row.point, n) for n in names),
                    *(repr(getattr(row, f)) for f in AblationRow.CSV_FIELDS)])  # fmt: skip
    atomic_write_bytes(Path(path), buf.getvalue().encode())
    return Path(path)


def varied_axis(config: AblationConfig, point: NetPoint) -> str | None:
    """The point field in which ``point`` differs from the base (None for the base)."""
    base = config.points()[0]
    for _, name in AXES:
        if getattr(point, name) != getattr(base, name):
            return name
    return None
