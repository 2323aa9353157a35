"""``run_sgd``: B independent stochastic runs — mini-batch SGD, label-noise SGD (or GD) with a
learning-rate schedule — on one data set, in the same batched kernel as ``run_gd`` (a
``diaglin.nets.Network``: in the same stepper as its GD).

At step k run b draws ``batch_size`` distinct rows B_k of X uniformly, adds label noise
σ_k ξ_i to their targets (ξ Gaussian or Rademacher, fresh every step; σ_k from the schedule's
phase) and steps on that batch's loss:

    θ_{k+1} = θ_k − η_k ∇_θ 1/(2m) Σ_{i∈B_k} (⟨x_i, β(θ_k)⟩ − y_i − σ_k ξ_i)²,   m = batch_size,

η_k from the run's ``Schedule``. A run goes to ``max_steps`` (there is no convergence stop: the
noisy batch loss does not measure convergence) unless it diverges: its batch loss turns
non-finite or exceeds diverge_factor · max(L(θ0), L(0) + σ_max²/2) (L the full clean loss,
σ_max the run's own largest noise).

A network (MSE on targets t_i ∈ R^C) gets label noise σ_k ξ_ic on every entry of t_i and
steps on (1/m) Σ_{i∈B_k} ½‖f(x_i; θ) − t_i − σ_k ξ_i‖²; its bound uses
L(f ≡ 0) + C σ_max²/2. Cross-entropy networks take mini-batch SGD without label noise.

The randomness is counter-based, keyed by the run's seed: a run's result is bitwise the same
alone, in any batch, with any thread count and however the steps are chunked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from diaglin import _validate as V
from diaglin._version import __version__
from diaglin.driver import run_batch
from diaglin.kernels import rng
from diaglin.kernels.tile import GAUSSIAN, RADEMACHER
from diaglin.models import get_model
from diaglin.nets import Network, losses
from diaglin.results import STATS, GDResult
from diaglin.schedules import Schedule, stack_tables

#: label-noise distributions
NOISES = {"gaussian": GAUSSIAN, "rademacher": RADEMACHER}
#: counter-based draws per step and run (2^16); a sampled row takes 1 + C (index, C noises)
_DRAWS_PER_STEP = 65_536


def run_sgd(
    model,
    X,
    y,
    schedules: Schedule | Sequence[Schedule],
    theta0,
    *,
    seeds,
    max_steps: int,
    batch_size: int = 1,
    label_noise: str = "gaussian",
    record_every: int = 0,
    record_grads: bool = False,
    average_last: int = 0,
    diverge_factor: float = 1e8,
    stats: str = "all",
    progress: Callable[[int], None] | None = None,
) -> GDResult:
    """Run B stochastic runs in one batched kernel (see the module docstring).

    Args:
        model: a ``DiagonalModel`` or its name, or a ``diaglin.nets.Network``.
        X, y: clean training data (n, d), (n,) (a network's labels or targets).
        schedules: one ``Schedule`` for every run, or one per run (B).
        theta0: start (P,) shared by every run, or (B, P) one per run.
        seeds: one integer >= 0 per run (B,), or one for a single run. B is the common length
            of schedules, seeds and theta0's rows (any of them may be shared).
        max_steps: every run that does not diverge does exactly this many steps.
        batch_size: rows per step, drawn without replacement (batch_size = n: full batch).
        label_noise: "gaussian" (ξ ~ N(0, 1)) or "rademacher" (ξ = ±1).
        record_every, record_grads, average_last, diverge_factor, stats, progress: as in
            ``run_gd``; the recorded gradient is that of the noisy batch.

    Returns a ``GDResult``: status MAX_STEPS or DIVERGED; ``etas`` are the step sizes at step 0;
    ``final`` (and the trajectory) measure the clean full-batch loss. Memory: as ``run_gd`` (a
    batch too large for the available memory runs in blocks of runs, bitwise the same).
    """
    model = get_model(model)
    X, y = V.check_data(X, y)
    n, d = X.shape
    scheds = [schedules] if isinstance(schedules, Schedule) else list(schedules)
    if not scheds or not all(isinstance(s, Schedule) for s in scheds):
        raise ValueError("schedules must be a Schedule or a non-empty sequence of them")
    seeds = np.atleast_1d(np.asarray(seeds))
    if seeds.ndim != 1 or seeds.dtype.kind not in "iu" or (seeds < 0).any():
        raise ValueError(f"seeds must be integers >= 0, one per run, got {seeds!r}")
    th = V.as_finite_array("theta0", theta0, (1, 2))
    sizes = {len(scheds), seeds.size, th.shape[0] if th.ndim == 2 else 1} - {1}
    if len(sizes) > 1:
        raise ValueError(f"schedules ({len(scheds)}), seeds ({seeds.size}) and theta0 rows "
                         "must have one common length (or 1)")  # fmt: skip
    B = sizes.pop() if sizes else 1
    theta0 = V.check_theta(th, model.n_params(d), n_runs=B)
    scheds = scheds * B if len(scheds) == 1 else scheds
    seeds = np.broadcast_to(seeds, (B,)).astype(np.int64)
    max_steps = V.check_int("max_steps", max_steps, 0)
    record_every = V.check_int("record_every", record_every, 0)
    average_last = V.check_int("average_last", average_last, 0)
    network = isinstance(model, Network)
    T = model.targets(y) if network else y[:, None]  # (n, C): C noisy targets a row
    C = T.shape[1]
    batch_size = V.check_int("batch_size", batch_size, 1)
    max_batch = _DRAWS_PER_STEP // (1 + C)
    if batch_size > min(n, max_batch):
        raise ValueError(f"batch_size must be <= n = {n} (and <= {max_batch}), got {batch_size}")
    V.check_choice("label_noise", label_noise, NOISES)
    if network and record_grads:
        raise ValueError("record_grads records gradients in β space: diagonal models only")
    noisy = any(sc.max_noise > 0 for sc in scheds)
    if network and noisy and model.criterion != "mse":
        raise ValueError("label noise (a schedule with noise > 0) needs a network with "
                         f"criterion='mse', got {model.criterion!r}")  # fmt: skip
    V.check_choice("stats", stats, STATS)
    diverge_factor = V.check_positive("diverge_factor", diverge_factor)
    # per run: the loss of a zero output plus that of its own largest label noise (not the
    # batch's: a run's result must not depend on the other runs)
    zero = float(np.mean(losses.value(model.criterion if network else "mse", 0.0 * T, T)))
    floor = np.array([zero + 0.5 * C * sc.max_noise**2 for sc in scheds])
    etas = np.array([float(s.eta(0)) for s in scheds])
    config = dict(
        model=model.name, depth=model.depth, n=n, d=d, max_steps=max_steps,
        batch_size=batch_size, label_noise=label_noise, seeds=seeds.tolist(),
        schedules=[[vars(p) for p in s.phases] for s in scheds],
        diverge_factor=diverge_factor, record_every=record_every, average_last=average_last,
        backend="cpu", version=__version__,
    )  # fmt: skip
    if network:
        config["network"] = model.options()
    sgd = (stack_tables(scheds), rng.keys(seeds), batch_size, NOISES[label_noise])
    return run_batch(
        model, X, y, theta0, etas=etas, eps=0.0, max_steps=max_steps,
        diverge_factor=diverge_factor, record_every=record_every,
        record_grads=record_grads, average_last=average_last,
        path="auto", stats=stats, progress=progress, config=config, loss_floor=floor, sgd=sgd,
    )  # fmt: skip
