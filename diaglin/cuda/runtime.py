"""Access to ``numba.cuda`` (and, where installed, CuPy's cuBLAS) for the GPU backend.

Nothing here is imported by ``import diaglin``: ``numba.cuda`` is loaded on the first
``backend="cuda"`` call, so the CPU package never needs a GPU, a CUDA driver or the ``[cuda]``
extra. Under ``NUMBA_ENABLE_CUDASIM=1`` numba's CUDA simulator stands in for the GPU (the
kernels then run as Python on the CPU: how CI tests them).
"""

from __future__ import annotations

import functools

import numpy as np


class CudaUnavailable(RuntimeError):
    """``backend="cuda"`` was asked for where no usable GPU (or no numba-cuda) is found."""


@functools.cache
def cuda():
    """The ``numba.cuda`` module, checked to have a usable GPU (or to be the simulator).

    Raises:
        CudaUnavailable: naming what is missing (numba's CUDA support, the driver, a GPU).
    """
    if not hasattr(np, "row_stack"):
        # numba-cuda (0.2x) still calls np.row_stack, which NumPy 2.5 removed; alias it
        # before the import, or importing numba.cuda fails with an AttributeError.
        np.row_stack = np.vstack  # noqa: NPY201 (ruff --fix would rewrite it away)
    try:
        from numba import cuda as numba_cuda
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise CudaUnavailable(
            f"backend='cuda' needs numba's CUDA support ({exc}); install it with "
            "pip install -e '.[cuda]'"
        ) from None
    if simulated():
        return numba_cuda
    try:
        numba_cuda.get_current_device()
    except Exception as exc:  # CudaSupportError, CudaDriverError, ...: numba words the cause
        reason = " ".join(str(exc).split()).rstrip(" :")
        raise CudaUnavailable(
            f"backend='cuda' needs an NVIDIA GPU with a working driver: {reason}"
        ) from None
    return numba_cuda


def simulated() -> bool:
    """True when numba's CUDA simulator stands in for a GPU (NUMBA_ENABLE_CUDASIM=1)."""
    from numba.core import config

    return bool(config.ENABLE_CUDASIM)


def gpu_name() -> str:
    """The GPU's name ("CUDA simulator" under the simulator)."""
    if simulated():
        return "CUDA simulator"
    name = cuda().get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


@functools.cache
def cupy_or_none():
    """CuPy, when it is installed and sees the GPU (its cuBLAS does the GEMMs of the large-n·d
    kernel shape); None otherwise, and always under the simulator."""
    if simulated():
        return None
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
    except Exception:  # not installed, or built for another CUDA: the numba GEMM is used
        return None
    return cupy


@functools.cache
def device_function(fn):
    """``fn`` (a ``numba.njit`` scalar function of diaglin's kernels) compiled for the GPU from
    the same Python source, so the CPU and GPU kernels share one definition of each formula."""
    simulator_safe(fn.py_func.__globals__)
    return cuda().jit(device=True)(fn.py_func)


def simulator_safe(module_globals: dict) -> None:
    """Under the simulator, give the module of simulated code its ``__warningregistry__`` now.

    The simulator runs each GPU thread as a Python thread and, on every device-function call,
    iterates over the function's module globals; the first NumPy RuntimeWarning raised in that
    module (an overflow of a diverging run) makes ``warnings`` insert ``__warningregistry__``
    there, and a thread iterating at that moment fails with "dictionary changed size during
    iteration" (seen as a rare failure of the simulator tests)."""
    if simulated():
        module_globals.setdefault("__warningregistry__", {})
