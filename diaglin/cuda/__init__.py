"""The GPU backend (``run_gd(..., backend="cuda")``): batched GD in ``numba.cuda`` kernels.

Two kernel shapes, chosen by the size of the data (``driver.choose_path``) as the CPU side
chooses between its tile kernel and its BLAS path:

- ``per_run``: one thread per run, the run's state in registers / local memory, for small n·d;
- ``gemm``: each step as two matrix–matrix products over the runs (cuBLAS through CuPy when
  installed, else a tiled numba.cuda product), for large n·d.

The final (and averaged) iterates' Hessian statistics are computed where the iterates are
(``spectrum``: the trace in closed form, the sharpness by Lanczos in lockstep with the Krylov
bases on the device, each HVP two matrix–matrix products over the runs).

Both share the model formulas (``diaglin.models._ops``) and the stopping rule
(``diaglin.kernels.stop``) with the CPU kernels, compiled for the GPU from the same source.
Importing this package does not import ``numba.cuda``; the first kernel built does
(``runtime.cuda``, which raises ``CudaUnavailable`` naming what is missing).
"""

from diaglin.cuda.runtime import CudaUnavailable

__all__ = ["CudaUnavailable"]
