"""Late-decay simulations against theory (spec 02 §2): a :class:`sims.core.table.ComparisonTable`.

For the main (eta, sigma) point:

- late-decay benefit: the mean final test loss at the latest decay is <= ``benefit`` x that of
  the earliest decay;
- min-norm reached: at the latest decay, mean final ||theta||² is within ``norm`` (relative) of
  its minimum on the manifold (theory's LP);
- no-noise control: without label noise the decay time makes (almost) no difference:
  (max − min) / mean over K of the mean final test loss <= ``control_spread``;
- no run diverged;
- regulariser: on the manifold (final train loss <= 1e-12), diaglin's exact tr ∇²L equals
  theory's label-noise regulariser 4 Σ_j c_j (u_j² + v_j²) (= 4||theta||² for unit columns);
- informational: the no-decay control's final test loss, the phase-I constant
  T_I eta / log(1/FIT_TOL), and whether the min-norm interpolator is beta*.

Over the (eta, sigma) scaling grid: phase II lasts T_II ~ C / (eta² sigma²): the constant C (its
geometric mean, informational) and its coefficient of variation <= ``phase_two_cv``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.core.table import CheckRow, ComparisonTable, check_row
from sims.late_decay.config import LATE, NO_NOISE
from sims.late_decay.phases import (
    FIT_TOL,
    final_loss_by_k,
    fit_times,
    no_decay_loss,
    phase_two_times,
)
from sims.late_decay.runs import DecayResult
from theory import label_noise_regularizer


@dataclass(frozen=True)
class DecayTolerances:
    """Pass thresholds."""

    benefit: float = 0.1  #: late / early final test loss <= this
    norm: float = 0.1  #: |mean final ||theta||² / min − 1| at the latest decay <= this
    control_spread: float = 0.05  #: no-noise: (max − min) / mean over K <= this
    regularizer: float = 1e-6  #: relative error of tr ∇²L vs the regulariser on M
    phase_two_cv: float = 0.3  #: std / mean of T_II eta² sigma² over the grid <= this


def decay_rows(r: DecayResult, model: str, tol: DecayTolerances = DecayTolerances(),
               label: str = "") -> list[CheckRow]:  # fmt: skip
    """The rows of one late-decay point (see the module docstring)."""
    rows = []
    late = final_loss_by_k(r, LATE)
    if late.K.size >= 2:
        ratio = late.mean[-1] / late.mean[0]
        rows.append(check_row(label, "test loss: latest / earliest decay", ratio, 0.0, tol.benefit,
                              ratio <= tol.benefit, f"K = {late.K[-1]:g} vs K = {late.K[0]:g}",
                              rel=float("nan"), criterion=f"<= {tol.benefit:g}"))  # fmt: skip
        kmax = r.runs_of(LATE, int(late.K[-1]))
        norm = float(np.mean(r.final_norm_sq[kmax]))
        rel = abs(norm / r.norm_sq_min - 1)
        rows.append(check_row(label, "||theta||² at latest decay vs min on M", norm, r.norm_sq_min,
                              tol.norm, rel <= tol.norm, "theory: LP min-norm point",
                              criterion=f"rel err <= {tol.norm:g}"))  # fmt: skip
    control = final_loss_by_k(r, NO_NOISE)
    if control.K.size >= 2:
        spread = float(np.ptp(control.mean) / np.mean(control.mean))
        rows.append(check_row(label, "no-noise control: spread over K", spread, 0.0,
                              tol.control_spread, spread <= tol.control_spread,
                              "(max - min) / mean of the final test loss", rel=float("nan"),
                              criterion=f"<= {tol.control_spread:g}"))  # fmt: skip
    n_div = int(np.sum(r.status == 1))
    rows.append(check_row(label, "runs diverged", n_div, 0, 0, n_div == 0, rel=float("nan"),
                          criterion="= 0"))  # fmt: skip
    on_m = r.final_train_loss <= 1e-12
    if on_m.any():
        pred = label_noise_regularizer(r.final_theta[on_m], r.X, model)
        err = float(np.max(np.abs(r.final_trace[on_m] - pred) / pred))
        rows.append(check_row(label, "tr Hessian on M vs label-noise regulariser",
                              float(np.mean(r.final_trace[on_m])), float(np.mean(pred)),
                              tol.regularizer, err <= tol.regularizer,
                              f"{int(on_m.sum())} runs on M; = 4||theta||² for unit columns",
                              rel=err, criterion=f"rel err <= {tol.regularizer:g}"))  # fmt: skip
    nd = no_decay_loss(r)
    if nd.size:
        rows.append(check_row(label, "no-decay control: final test loss", float(np.mean(nd)),
                              float("nan"), float("nan"), None, "mean over seeds"))  # fmt: skip
    t1 = fit_times(r)
    if np.isfinite(t1).all():
        c1 = float(np.mean(t1)) * r.point.eta / np.log(1 / FIT_TOL)
        rows.append(check_row(label, "phase I: T_I eta / log(1/eps)", c1, float("nan"),
                              float("nan"), None,
                              f"eps = {FIT_TOL:g}; T_I = {np.mean(t1):.0f} steps"))  # fmt: skip
    gap = float(np.max(np.abs(r.beta_min_norm - r.beta_star)) / np.max(np.abs(r.beta_star)))
    rows.append(check_row(label, "min-norm interpolator = beta*", gap, 0.0, float("nan"), None,
                          "max |beta_mn - beta*| / max |beta*| (sparse recovery)",
                          rel=float("nan")))  # fmt: skip
    return rows


def scaling_rows(results: list[DecayResult], tol: DecayTolerances = DecayTolerances()
                 ) -> list[CheckRow]:  # fmt: skip
    """Phase-II time constant over the (eta, sigma) grid."""
    p2 = phase_two_times(results)
    reached = int(np.isfinite(p2.constant).sum())
    note = f"{reached} of {p2.constant.size} grid points reached min norm"
    rows = [check_row("scaling", "phase II: C = T_II eta² sigma²", p2.c_mean, float("nan"),
                      float("nan"), None, note + " (geometric mean)")]  # fmt: skip
    if reached >= 2:
        rows.append(check_row("scaling", "phase II: CV of C over the grid", p2.c_cv, 0.0,
                              tol.phase_two_cv, p2.c_cv <= tol.phase_two_cv, note, rel=float("nan"),
                              criterion=f"<= {tol.phase_two_cv:g}"))  # fmt: skip
    return rows


def compare_decay(main: DecayResult, scaling: list[DecayResult], model: str,
                  tol: DecayTolerances = DecayTolerances()) -> ComparisonTable:  # fmt: skip
    """The table of the main point and, if given, the scaling grid."""
    rows = decay_rows(main, model, tol, main.point.label)
    if scaling:
        rows += scaling_rows(scaling, tol)
    return ComparisonTable(tuple(rows))
