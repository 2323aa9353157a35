"""The network step of the one driver loop: full-batch GD over the live runs, each step one
forward and one backward pass as matrix products across the runs; or stochastic steps
(mini-batch / label-noise SGD with schedules, ``diaglin.run_sgd``), each run on its own rows.

It follows the tile kernel's contract (``diaglin.kernels.tile._make_drive``) on the same arrays: the
state of a ``GDState`` in the layout (1, P, B), the same stopping rule (``kernels.stop``:
``stop_status``, and ``finish_run`` writing a stopped run's outputs, its last finite iterate and
its averaged window), the same recording of θ every ``record_every`` steps. At step k the loss
L(θ_k) and ∇L(θ_k) come from one pass; if the run goes on, θ_{k+1} = θ_k − η ∇L(θ_k).

Speed (``benchmarks/bench_nets.py``): the live runs are split into one contiguous part per
thread (``numba.get_num_threads()`` Python threads; NumPy's BLAS calls and the Numba kernels
release the GIL), each part evaluated in blocks of runs small enough for their per-sample
buffers to stay in cache, every block in buffers allocated once (``numerics.DenseWork`` for
fully connected networks; a CNN block calls ``numerics.loss_grad``). BLAS runs on one thread
meanwhile. A run's arithmetic does not depend on the other runs of its block, nor on the
blocks or threads, so neither do its results (``tests/nets/test_nets_gd.py``): they are
bitwise the same whatever the batch, ``NUMBA_NUM_THREADS`` and the BLAS thread setting.
(``Network.grad`` alone uses the BLAS threads as configured; with several, OpenBLAS may round
a long product differently in the last bit.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numba
import numpy as np

from diaglin._threads import blas_threads, thread_pool
from diaglin.kernels.stop import RUNNING, finish_run, stop_status
from diaglin.kernels.tile import GDState, draw_step
from diaglin.nets import numerics as nn
from diaglin.nets.model import Network

#: per-thread budget of a block's per-sample buffers (bytes): blocks of runs stay in cache
BLOCK_BYTES = 2**22
#: fewest runs per thread: smaller batches use fewer threads
MIN_RUNS_PER_THREAD = 2
#: least work per thread and step (runs × samples × parameters) worth a thread's dispatch
MIN_THREAD_WORK = 2**22


class BatchLossGrad:
    """``(θ (W, P), L (W,), G (W, P))``: L ← L(θ_r), G ← ∇L(θ_r) for every row, in blocks of at
    most ``block`` consecutive runs that ``n_threads`` threads take in turn (a thread slowed by
    another process takes fewer blocks)."""

    def __init__(self, net: Network, X: np.ndarray, T: np.ndarray, n_threads: int) -> None:
        self.n_threads = max(1, int(n_threads))
        self.net, self.X, self.T = net, X, T
        per_run = 8 * X.shape[0] * sum(lay.units for lay in net.layers) * 3
        self.block = max(1, BLOCK_BYTES // per_run)
        self.work: list[nn.DenseWork] | None = None
        if nn.is_dense(net):
            data = nn.DenseData(net, X, T)
            self.work = [nn.DenseWork(net, data, self.block) for _ in range(self.n_threads)]

    def _blocks(self, t: int, theta, L, G, edges, taken) -> None:
        """Evaluate blocks [edges[i], edges[i + 1]) for the next free i until none is left."""
        while (i := next(taken)) < edges.size - 1:
            sl = slice(edges[i], edges[i + 1])
            if self.work is not None:
                self.work[t].loss_grad(theta[sl], L[sl], G[sl])
            else:
                L[sl], G[sl] = nn.loss_grad(self.net, theta[sl], self.X, self.T)

    def __call__(self, theta: np.ndarray, L: np.ndarray, G: np.ndarray) -> None:
        W = theta.shape[0]
        work = W * self.X.shape[0] * theta.shape[1]
        threads = max(1, min(self.n_threads, W // MIN_RUNS_PER_THREAD, work // MIN_THREAD_WORK))
        n_blocks = -(-W // self.block)
        if threads > 1:  # at least two blocks per thread, so the threads can balance
            n_blocks = max(n_blocks, min(2 * threads, W // MIN_RUNS_PER_THREAD))
        edges = np.linspace(0, W, n_blocks + 1).round().astype(int)
        taken = itertools.count()  # next() is atomic under the GIL
        futures = [thread_pool(threads - 1).submit(self._blocks, t, theta, L, G, edges, taken)
                   for t in range(1, threads)]  # fmt: skip
        self._blocks(0, theta, L, G, edges, taken)
        for f in futures:
            f.result()


class SampledLossGrad:
    """``(step, run, θ (W, P), L (W,), G (W, P)) -> η (W,)``: for each run its step-``step``
    batch — ``batch`` distinct rows and label noise σξ on each target entry, drawn from its
    counter-based stream exactly as the diagonal models' kernel draws them
    (``kernels.tile.draw_step``) — L ← the noisy batch loss (1/m) Σ_i ℓ(f(x_i), t_i + σξ_i),
    G ← its gradient; returns the runs' step sizes at ``step`` (their schedules)."""

    def __init__(self, net: Network, X: np.ndarray, T: np.ndarray, sgd: tuple) -> None:
        self.net, self.X, self.T = net, X, T
        self.sched, self.keys, self.batch, self.noise_kind = sgd

    def __call__(self, step: int, run: np.ndarray, theta, L, G) -> np.ndarray:
        (n, C), m = self.T.shape, self.batch
        eta, idx, noise = draw_step(self.sched, self.keys, self.noise_kind, run, step, n, m, C)
        for s in range(run.size):  # one run's rows at a time: runs share no rows
            rows = idx[:, s]
            Tb = self.T[rows] + noise[:, s].reshape(m, C)
            L[s : s + 1], G[s : s + 1] = nn.loss_grad(self.net, theta[s : s + 1], self.X[rows], Tb)
        return eta


def stepper(net: Network, X: np.ndarray, y: np.ndarray, etas: np.ndarray, rule: tuple,
            state: GDState, record_every: int, rec: np.ndarray, avg_k: int,
            outputs: tuple, sgd: tuple | None = None) -> Callable[[int, int], None]:  # fmt: skip
    """``advance(step0, step_end)`` for ``diaglin.chunks.in_chunks``: moves every run still
    going (out_status = RUNNING) from step0 until it stops or reaches step_end, then saves it
    in ``state``. Arrays are in kernel run order; rec (B, T, 1, P), outputs as those of
    ``tile._make_drive``.
    Full-batch GD with step sizes ``etas``, or stochastic steps when ``sgd`` = (schedule table,
    keys, batch, noise kind) as ``run_sgd`` passes it to the kernels (etas then unused); the
    divergence bound is set by the full training loss at step 0 either way."""
    eps, max_steps, diverge_factor, floor = rule
    out_theta, out_loss, out_steps, out_status, out_avg = outputs
    T = net.targets(y)
    loss_grad = BatchLossGrad(net, X, T, numba.get_num_threads())
    sampled = SampledLossGrad(net, X, T, sgd) if sgd is not None else None

    def advance(step0: int, step_end: int) -> None:
        run = np.flatnonzero(out_status == RUNNING)
        cur = state.theta[0][:, run].T.copy()  # (W, P)
        prev = state.prev[0][:, run].T.copy()
        nxt, grad = np.empty_like(cur), np.empty_like(cur)
        loss, prev_loss = np.empty(run.size), state.prev_loss[run].copy()
        bound = state.bound[run].copy()
        ring = state.ring[:, 0][:, :, run].transpose(0, 2, 1).copy() if avg_k else None
        eta = etas[run][:, None]
        step = step0
        with blas_threads(1):
            while run.size and step < step_end:
                if sampled is None or step == 0:
                    loss_grad(cur, loss, grad)
                if step == 0:
                    bound = diverge_factor * np.maximum(loss, floor[run])
                if sampled is not None:
                    eta = sampled(step, run, cur, loss, grad)[:, None]
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
                            finish_run(status, loss[s], prev_loss[s], step, tiles[0], tiles[1],
                                       s, tiles[2], s, avg_k, run[s], out_theta, out_loss,
                                       out_steps, out_status, out_avg)  # fmt: skip
                            keep[s] = False
                    if not keep.all():
                        run, cur, loss, grad = run[keep], cur[keep], loss[keep], grad[keep]
                        prev, prev_loss, nxt = prev[keep], prev_loss[keep], nxt[keep]
                        bound, eta = bound[keep], eta[keep]
                        ring = ring[:, keep] if avg_k else None
                        if not run.size:
                            break
                np.copyto(prev_loss, loss)
                np.multiply(eta, grad, out=grad)
                np.subtract(cur, grad, out=nxt)  # θ − η ∇L, as cur - eta * grad
                prev, cur, nxt = cur, nxt, prev
                step += 1
        state.theta[0][:, run] = cur.T
        state.prev[0][:, run] = prev.T
        state.prev_loss[run] = prev_loss
        state.bound[run] = bound
        if avg_k:
            state.ring[:, 0][:, :, run] = ring.transpose(0, 2, 1)

    return advance
