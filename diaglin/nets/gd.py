"""The network step of the one driver loop: full-batch GD over the live runs, each step one
forward and one backward pass as matrix products across the runs (``numerics.loss_grad``).

It follows the tile kernel's contract (``diaglin.kernels.tile._drive``) on the same arrays: the
state of a ``GDState`` in the layout (1, P, B), the same stopping rule (``kernels.stop``:
``stop_status``, and ``finish_run`` writing a stopped run's outputs, its last finite iterate and
its averaged window), the same recording of θ every ``record_every`` steps. At step k the loss
L(θ_k) and ∇L(θ_k) come from one pass; if the run goes on, θ_{k+1} = θ_k − η ∇L(θ_k).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from diaglin.kernels.stop import RUNNING, finish_run, stop_status
from diaglin.kernels.tile import GDState
from diaglin.nets import numerics as nn
from diaglin.nets.model import Network


def stepper(net: Network, X: np.ndarray, y: np.ndarray, etas: np.ndarray, rule: tuple,
            state: GDState, record_every: int, rec: np.ndarray, avg_k: int,
            outputs: tuple) -> Callable[[int, int], None]:  # fmt: skip
    """``advance(step0, step_end)`` for ``diaglin.driver.in_chunks``: moves every run still
    going (out_status = RUNNING) from step0 until it stops or reaches step_end, then saves it
    in ``state``. Arrays are in kernel run order; rec (B, T, 1, P), outputs as ``_drive``'s."""
    eps, max_steps, diverge_factor, floor = rule
    out_theta, out_loss, out_steps, out_status, out_avg = outputs
    T = net.targets(y)

    def advance(step0: int, step_end: int) -> None:
        run = np.flatnonzero(out_status == RUNNING)
        cur = state.theta[0][:, run].T.copy()  # (W, P)
        prev = state.prev[0][:, run].T.copy()
        prev_loss = state.prev_loss[run].copy()
        bound = state.bound[run].copy()
        ring = state.ring[:, 0][:, :, run].transpose(0, 2, 1).copy() if avg_k else None
        eta = etas[run][:, None]
        step = step0
        while run.size and step < step_end:
            loss, grad = nn.loss_grad(net, cur, X, T)
            if step == 0:
                bound = diverge_factor * np.maximum(loss, floor[run])
            if record_every and step % record_every == 0:
                rec[run, step // record_every, 0] = cur
            if avg_k:
                ring[step % avg_k] = cur
            stopping = (loss < eps) | ~(loss <= bound) | (step >= max_steps)
            if stopping.any():
                keep = np.ones(run.size, bool)
                tiles = (cur.T[None], prev.T[None], ring.transpose(0, 2, 1)[:, None]
                         if avg_k else np.empty((1, 1, 1, 1)))  # fmt: skip
                for s in np.flatnonzero(stopping):
                    status = stop_status(loss[s], eps, bound[s], step, max_steps)
                    if status != RUNNING:
                        finish_run(status, loss[s], prev_loss[s], step, tiles[0], tiles[1], s,
                                   tiles[2], s, avg_k, run[s], out_theta, out_loss, out_steps,
                                   out_status, out_avg)  # fmt: skip
                        keep[s] = False
                if not keep.all():
                    run, cur, loss, grad = run[keep], cur[keep], loss[keep], grad[keep]
                    prev, prev_loss = prev[keep], prev_loss[keep]
                    bound, eta = bound[keep], eta[keep]
                    ring = ring[:, keep] if avg_k else None
                    if not run.size:
                        break
            prev, prev_loss = cur, loss
            cur = cur - eta * grad
            step += 1
        state.theta[0][:, run] = cur.T
        state.prev[0][:, run] = prev.T
        state.prev_loss[run] = prev_loss
        state.bound[run] = bound
        if avg_k:
            state.ring[:, 0][:, :, run] = ring.transpose(0, 2, 1)

    return advance
