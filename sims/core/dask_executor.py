"""Run a sweep's grid points on a Dask cluster (the optional ``[dask]`` extra).

``dask_executor(address)`` is an executor for ``sims.core.sweep.run_sweep``: every grid point to
compute becomes one task — a grid point is already a block sized for the Numba kernels (all
learning rates of one point run in one batched kernel call) — and the results come back to the
client as they finish, where ``run_sweep`` caches each at once (atomic, idempotent writes), so an
interrupted sweep resumes from the cache. A worker that dies mid-task loses nothing finished: the
scheduler runs its tasks again on the remaining workers, and since a point's numbers depend
only on its config (the sweeps' runs are bitwise independent of batch, threads and chunking:
``provenance.gd_path``) the results are identical to the in-process ones.

Addresses: ``tcp://host:port`` (a running ``dask scheduler``), or ``local:N`` for a
``LocalCluster`` of N worker processes on this machine, each with (cores // N) Numba threads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence

#: seconds to wait for a scheduler (and, for local:N, for the workers to start)
CONNECT_TIMEOUT = 20


class SchedulerError(OSError):
    """The Dask scheduler cannot be reached, or the extra is not installed."""


def _require_dask():
    try:
        import distributed
    except ImportError:
        raise SchedulerError(
            "--scheduler needs Dask distributed, which is not installed: pip install -e '.[dask]'"
        ) from None
    return distributed


def parse_local(address: str) -> int | None:
    """N for ``local:N`` (N >= 1); None for any other address."""
    if not address.startswith("local:"):
        return None
    try:
        n = int(address.split(":", 1)[1])
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"--scheduler: local:N needs an integer N >= 1, got {address!r}")
    return n


@contextlib.contextmanager
def dask_client(address: str, *, timeout: float | None = None):
    """A connected ``distributed.Client`` for ``address`` (starting a LocalCluster for
    ``local:N``, closed on exit); :class:`SchedulerError` if it cannot be reached within
    ``timeout`` seconds (default ``CONNECT_TIMEOUT``)."""
    distributed = _require_dask()
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    n_local = parse_local(address)
    cluster = None
    try:
        if n_local is not None:
            threads = max(1, (os.cpu_count() or 1) // n_local)
            cluster = distributed.LocalCluster(
                n_workers=n_local, threads_per_worker=1, processes=True,
                dashboard_address=None, worker_dashboard_address=None,
                env={"NUMBA_NUM_THREADS": str(threads)},
            )  # fmt: skip
            address = cluster.scheduler_address
        client = distributed.Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dask_executor(client) -> Callable[..., Iterator]:
    """An executor (``sims.core.sweep.Executor``) that runs each point as a task on ``client``'s
    cluster and yields (point, result) in completion order."""
    distributed = _require_dask()

    def execute(runner, config, points: Sequence, say: Callable[[str], None]) -> Iterator:
        futures = {}
        for p in points:
            fut = client.submit(runner, config, p, pure=False, retries=2)
            futures[fut] = p
        workers = len(client.scheduler_info().get("workers", {}))
        say(f"{len(futures)} grid points on {workers} Dask workers")
        try:
            for fut in distributed.as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:  # interrupted: do not leave work queued on the cluster
                fut.cancel()

    return execute


__all__ = ["CONNECT_TIMEOUT", "SchedulerError", "dask_client", "dask_executor", "parse_local"]
