"""The process-wide thread pool of the paths that call BLAS: NumPy's BLAS calls and ufuncs and
the ``nogil`` Numba kernels release the GIL, so blocks of work run side by side on threads,
each with a one-thread BLAS (``blas_threads(1)``), instead of one multi-threaded BLAS call
at a time (whose spinning threads fight Numba's OpenMP threads between the calls)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from threadpoolctl import ThreadpoolController

_POOL: ThreadPoolExecutor | None = None


def thread_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of at least ``workers`` threads (grown on demand)."""
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        if _POOL is not None:
            _POOL.shutdown(wait=True)
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diaglin")
    return _POOL


_CONTROLLER: ThreadpoolController | None = None


def blas_threads(limit: int):
    """Context manager: the BLAS libraries limited to ``limit`` threads. One process-wide
    ``ThreadpoolController``, made on first use (NumPy's BLAS is loaded by then): 0.03 ms a
    call, where ``threadpool_limits`` scans the loaded libraries every time (0.8 ms)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=limit, user_api="blas")
