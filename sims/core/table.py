"""The comparison table every experiment reports its checks in: one :class:`CheckRow` per
quantity (simulated, predicted, errors, the pass condition, the verdict), printed as text and
saved as CSV + markdown (:func:`save_table`)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from sims.core.cache import atomic_write_bytes


@dataclass(frozen=True)
class CheckRow:
    """One line of the table. ``passed`` is None for informational rows; ``criterion`` states
    the pass condition on the tested number (e.g. "rel err <= 1e-05", "<= 1.001", ">= 0.95")."""

    point: str
    quantity: str
    simulated: float
    predicted: float
    abs_err: float
    rel_err: float
    tolerance: float
    passed: bool | None
    note: str = ""
    criterion: str = ""

    @property
    def verdict(self) -> str:
        """ "pass", "FAIL" or "info"."""
        return "info" if self.passed is None else ("pass" if self.passed else "FAIL")


@dataclass(frozen=True)
class ComparisonTable:
    """All rows of a comparison; ``passed`` iff no check failed."""

    rows: tuple[CheckRow, ...]

    @property
    def passed(self) -> bool:
        """True when every non-informational row passed."""
        return all(r.passed is not False for r in self.rows)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        """The rows that failed."""
        return tuple(r for r in self.rows if r.passed is False)

    def row(self, quantity: str) -> CheckRow:
        """The first row whose quantity is ``quantity``."""
        for r in self.rows:
            if r.quantity == quantity:
                return r
        raise KeyError(quantity)

    def _cells(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            out.append([r.point, r.quantity, _fmt(r.simulated), _fmt(r.predicted),
                        _fmt(r.abs_err), _fmt(r.rel_err), r.criterion, r.verdict,
                        r.note])  # fmt: skip
        return out

    HEADER = ("point", "quantity", "simulated", "predicted", "abs err", "rel err", "pass if",
              "result", "note")  # fmt: skip

    def to_markdown(self) -> str:
        """A GitHub-flavoured markdown table."""
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        lines += ["| " + " | ".join(x.replace("|", "\\|") for x in c) + " |"
                  for c in self._cells()]  # fmt: skip
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """CSV text with full-precision numbers."""
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([f.name for f in fields(CheckRow)])
        for r in self.rows:
            w.writerow([repr(v) if isinstance(v, float) else v
                        for v in (getattr(r, f.name) for f in fields(CheckRow))])  # fmt: skip
        return buf.getvalue()

    def __str__(self) -> str:
        cells = [list(self.HEADER)] + self._cells()
        widths = [max(len(c[i]) for c in cells) for i in range(len(self.HEADER))]
        lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(c))).rstrip() for c in cells]
        lines.insert(1, "-" * len(lines[0]))
        summary = "all checks passed" if self.passed else f"{len(self.failures)} check(s) FAILED"
        return "\n".join(lines) + f"\n{summary}\n"


def _fmt(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.6g}"


def check_row(point, quantity, sim, pred, tol, passed=None, note="", rel=None,
              criterion="") -> CheckRow:  # fmt: skip
    """One :class:`CheckRow`: abs_err = |sim − pred| and rel_err = abs_err / |pred| (NaN where
    pred is not finite or zero, unless ``rel`` is given); ``passed`` None = informational."""
    sim, pred = float(sim), float(pred)
    abs_err = abs(sim - pred) if np.isfinite(pred) else float("nan")
    if rel is None:
        rel = abs_err / abs(pred) if np.isfinite(pred) and pred != 0 else float("nan")
    passed = None if passed is None else bool(passed)
    return CheckRow(point, quantity, sim, pred, abs_err, float(rel), float(tol), passed, note,
                    criterion)  # fmt: skip


def save_table(table: ComparisonTable, out_dir: Path, stem: str = "compare") -> list[Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically into ``out_dir``."""
    paths = [Path(out_dir) / f"{stem}.csv", Path(out_dir) / f"{stem}.md"]
    atomic_write_bytes(paths[0], table.to_csv().encode())
    atomic_write_bytes(paths[1], table.to_markdown().encode())
    return paths
