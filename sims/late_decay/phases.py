"""What a late-decay result says: the phase boundaries of a run, the final test loss per decay
time K, the budget view, and the phase-II time constant (spec 02 §2, our model of the paper's
class).

Phase boundaries of a run with label noise from step 0 (measured on the recorded curves, so to
within ``record_every`` steps):

- phase I ends (T_I) at the first record where the clean train loss of the same seed's run
  WITHOUT label noise is <= ``fit_tol`` x its starting value: the data are fitted (time scale
  ~ (1/eta) log(1/fit_tol)). (With the noise on, the loss stops at a noise floor instead.)
- phase II ends (T_II) at the first record where ||theta||² <= ``(1 + norm_tol)`` x its minimum
  on the minima manifold: the drift along the manifold has reached the min-norm point
  (time scale ~ 1/(eta² sigma²));
- phase III begins at the decay step K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sims.late_decay.config import LATE, NO_DECAY
from sims.late_decay.runs import DecayResult

FIT_TOL = 1e-2  #: phase I ends when train loss <= FIT_TOL x L(theta0)
NORM_TOL = 0.1  #: phase II ends when ||theta||² <= (1 + NORM_TOL) x min on M


def first_step_below(steps: np.ndarray, curve: np.ndarray, level: float) -> float:
    """The first recorded step at which ``curve <= level`` (NaN if never)."""
    hit = np.flatnonzero(np.asarray(curve) <= level)
    return float(steps[hit[0]]) if hit.size else float("nan")


@dataclass(frozen=True)
class Phases:
    """Phase boundaries of one run (steps; NaN: not reached within the budget)."""

    t_fit: float  #: end of phase I
    t_min_norm: float  #: end of phase II
    decay: float  #: start of phase III (NaN: no decay)


def fit_times(r: DecayResult, *, fit_tol: float = FIT_TOL) -> np.ndarray:
    """T_I of every seed (``r.seeds``): its noise-free run's first record with train loss
    <= fit_tol x L(theta0)."""
    return np.array([first_step_below(r.early_steps, f, fit_tol * f[0])
                     for f in r.fit_train_loss])  # fmt: skip


def phases_of(r: DecayResult, run: int, *, fit_tol: float = FIT_TOL,
              norm_tol: float = NORM_TOL) -> Phases:  # fmt: skip
    """The phase boundaries of run ``run`` of ``r``."""
    t1 = fit_times(r, fit_tol=fit_tol)[int(np.flatnonzero(r.seeds == r.seed[run])[0])]
    t2 = first_step_below(*r.curve("norm_sq", run), (1 + norm_tol) * r.norm_sq_min)
    k = float(r.decay_step[run])
    return Phases(t1, t2, k if k >= 0 else float("nan"))


@dataclass(frozen=True)
class KCurve:
    """Final test loss per decay time K over seeds: mean, standard deviation, min and max."""

    K: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def final_loss_by_k(r: DecayResult, variant: int = LATE) -> KCurve:
    """Mean ± std (and range) over seeds of the final test loss ½||beta − beta*||² per K."""
    ks = np.unique(r.decay_step[r.variant == variant])
    vals = [r.final_test_loss[r.runs_of(variant, int(k))] for k in ks]
    return KCurve(ks.astype(float), *(np.array([f(v) for v in vals])
                                      for f in (np.mean, np.std, np.min, np.max)))  # fmt: skip


def no_decay_loss(r: DecayResult) -> np.ndarray:
    """Final test loss of the no-decay control runs (one per seed)."""
    return r.final_test_loss[r.runs_of(NO_DECAY)]


@dataclass(frozen=True)
class Budget:
    """The budget view: for a total number of steps T, the best mean test loss reachable by
    decaying at some K <= T and training on to T (``envelope``), and which K achieves it."""

    steps: np.ndarray
    envelope: np.ndarray
    best_K: np.ndarray
    early: float  #: final test loss of the earliest decay (the baseline to beat)

    def pays_off_at(self, gain: float = 10.0) -> float:
        """The smallest budget at which late decay beats the earliest decay by ``gain``x."""
        return first_step_below(self.steps, self.envelope, self.early / gain)


def budget_view(r: DecayResult) -> Budget:
    """For every recorded step T: min over K <= T of the seed-mean test loss at T of the runs
    that decayed at K (a run decayed at K has test loss curve r.test_loss[run])."""
    ks = np.unique(r.decay_step[r.variant == LATE])
    curves = np.array([r.test_loss[r.runs_of(LATE, int(k))].mean(axis=0) for k in ks])
    curves[r.steps[None, :] < ks[:, None]] = np.inf  # not yet decayed: not a choice at T
    best = np.argmin(curves, axis=0)
    return Budget(r.steps, curves[best, np.arange(r.steps.size)], ks[best].astype(float),
                  float(final_loss_by_k(r).mean[0]))  # fmt: skip


@dataclass(frozen=True)
class PhaseTwoTimes:
    """Phase-II times over an (eta, sigma) grid: per point, the mean over no-decay seeds of
    T_II, and C = T_II eta² sigma² (the predicted time scale is T_II ~ C / (eta² sigma²))."""

    eta: np.ndarray
    sigma: np.ndarray
    t_min_norm: np.ndarray
    constant: np.ndarray

    @property
    def c_mean(self) -> float:
        """Geometric mean of C over the points where phase II ended."""
        c = self.constant[np.isfinite(self.constant)]
        return float(np.exp(np.mean(np.log(c)))) if c.size else float("nan")

    @property
    def c_cv(self) -> float:
        """Coefficient of variation of C (std / mean) over the points where phase II ended."""
        c = self.constant[np.isfinite(self.constant)]
        return float(np.std(c) / np.mean(c)) if c.size > 1 else float("nan")


def phase_two_times(results: list[DecayResult], *, norm_tol: float = NORM_TOL) -> PhaseTwoTimes:
    """T_II and T_II eta² sigma² of every grid point, from its no-decay control runs."""
    eta, sig, t2 = [], [], []
    for r in results:
        runs = r.runs_of(NO_DECAY)
        ts = [phases_of(r, int(b), norm_tol=norm_tol).t_min_norm for b in runs]
        eta.append(r.point.eta)
        sig.append(r.point.sigma)
        t2.append(float(np.mean(ts)) if runs.size and np.isfinite(ts).all() else np.nan)
    eta, sig, t2 = np.array(eta), np.array(sig), np.array(t2)
    return PhaseTwoTimes(eta, sig, t2, t2 * eta**2 * sig**2)


__all__ = ["FIT_TOL", "NORM_TOL", "Budget", "KCurve", "PhaseTwoTimes", "Phases", "budget_view",
           "final_loss_by_k", "first_step_below", "fit_times", "no_decay_loss", "phase_two_times",
           "phases_of"]  # fmt: skip
