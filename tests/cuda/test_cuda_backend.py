"""``run_gd(..., backend="cuda")`` against the CPU backend, kernel shape by kernel shape.

CI has no GPU: these run under numba's CUDA simulator (tests/conftest.py sets
NUMBA_ENABLE_CUDASIM=1 unless it is set); ``NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/cuda``
runs them on a GPU. The claim: same statuses and step counts as the CPU tile kernel, and every
iterate-derived output (final, averaged and recorded iterates, losses, gradient history) equal
to 1e-10 relative — on instances away from the stopping thresholds, whose outcomes a rounding
difference cannot flip.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import diaglin as dl
from diaglin import chunks
from tests.subprocess_env import subprocess_env

MODELS = [("ww", {}), ("uv", {}), ("pm", {}), ("prod", {"depth": 3}), ("power", {"depth": 3})]
#: the GPU kernel shapes: one thread per run, and two GEMMs per step
PATHS = ("tile", "blas")
RTOL = 1e-10


def _problem(name, kw, seed=0, n=6, d=4):
    """Data, a start, and step sizes that converge, stall at max_steps and diverge (one of them
    to a non-finite loss, which reports the previous iterate)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    beta_star = np.abs(rng.standard_normal(d)) * (rng.random(d) < 0.7)
    model = dl.get_model(name, **kw)
    theta0 = model.init(d, 0.4) + 0.05 * rng.standard_normal(model.n_params(d))
    etas = np.array([1e-3, 0.1, 0.3, 0.6, 20.0, 1e150])
    return model, X, X @ beta_star, theta0, etas


def _close(a, b, what):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.array_equal(np.isfinite(a), np.isfinite(b)), what
    fin = np.isfinite(a)
    scale = np.maximum(np.abs(b[fin]), 1e-300)
    err = np.abs(a[fin] - b[fin]) / np.maximum(scale, 1.0)
    assert err.max(initial=0.0) <= RTOL, f"{what}: rel. diff {err.max():.2e}"


def _compare(gpu, cpu):
    assert np.array_equal(gpu.status, cpu.status)
    assert np.array_equal(gpu.steps, cpu.steps)
    _close(gpu.theta, cpu.theta, "final theta")
    _close(gpu.loss, cpu.loss, "final loss")
    if cpu.averaged is not None:
        _close(gpu.averaged.theta, cpu.averaged.theta, "averaged theta")
    if cpu.trajectory is not None:
        _close(gpu.trajectory.theta, cpu.trajectory.theta, "trajectory")
    if cpu.grad_history is not None:
        _close(gpu.grad_history, cpu.grad_history, "gradient history")


@pytest.mark.warm_cache
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name,kw", MODELS, ids=[m for m, _ in MODELS])
def test_cuda_matches_cpu_on_every_model(name, kw, path):
    model, X, y, theta0, etas = _problem(name, kw)
    opts = dict(eps=1e-4, max_steps=200, record_every=7, average_last=4, record_grads=True,
                stats="none")  # fmt: skip
    cpu = dl.run_gd(model, X, y, etas, theta0, path="tile", **opts)
    gpu = dl.run_gd(model, X, y, etas, theta0, backend="cuda", path=path, **opts)
    assert {0, 1, 2} <= set(cpu.status.tolist()), "the instance must show every outcome"
    assert cpu.steps[-1] == 0 and cpu.status[-1] == 1, "and a divergence to a non-finite loss"
    _compare(gpu, cpu)
    assert gpu.config["backend"] == "cuda" and gpu.config["path"] == path


@pytest.mark.parametrize("path", PATHS)
def test_per_run_starts_and_statistics_match(path):
    """Per-run θ0, the default statistics (exact sharpness etc. of the final iterates, computed
    on the host) and runs of one batch stopping at many different steps."""
    model, X, y, _, _ = _problem("pm", {})
    rng = np.random.default_rng(4)
    B = 11
    theta0 = model.init(X.shape[1], 0.4) + 0.05 * rng.standard_normal((B, model.n_params(4)))
    etas = np.geomspace(0.1, 0.8, B)
    cpu = dl.run_gd(model, X, y, etas, theta0, eps=1e-4, max_steps=400)
    gpu = dl.run_gd(model, X, y, etas, theta0, eps=1e-4, max_steps=400, backend="cuda", path=path)
    assert len(set(cpu.steps.tolist())) > 3
    _compare(gpu, cpu)
    _close(gpu.final.sharpness, cpu.final.sharpness, "sharpness")
    _close(gpu.final.hessian_trace, cpu.final.hessian_trace, "Hessian trace")


@pytest.mark.parametrize("path", PATHS)
def test_device_layout_shared_start_run_order_and_beta(path):
    """The start state is built on the device from θ0 as given (one shared vector, or a row per
    run), the kernels' η order is undone there and β of the final iterates computed there: a
    shared θ0 gives bitwise the results of its rows tiled, in the caller's (unsorted) order,
    and β agrees with the host's ``model.beta`` of the returned θ."""
    for name, kw in MODELS:
        model, X, y, theta0, etas = _problem(name, kw)
        etas = etas[[3, 0, 5, 1, 4, 2]]  # neither sorted nor reverse-sorted
        opts = dict(eps=1e-4, max_steps=40, stats="none", backend="cuda", path=path)
        shared = dl.run_gd(model, X, y, etas, theta0, **opts)
        rows = dl.run_gd(model, X, y, etas, np.tile(theta0, (etas.size, 1)), **opts)
        for field in ("status", "steps", "theta", "loss", "beta"):
            assert np.array_equal(getattr(shared, field), getattr(rows, field)), (name, field)
        one = dl.run_gd(model, X, y, etas[1:2], theta0, **opts)  # the run alone
        assert np.array_equal(one.theta[0], shared.theta[1]), name
        assert shared.theta.flags.c_contiguous and shared.beta.flags.c_contiguous
        # bitwise: computed on the device for the product models, on the host for the others
        assert np.array_equal(shared.beta, model.beta(shared.theta)), name


@pytest.mark.parametrize("path", PATHS)
def test_chunking_and_compaction_change_nothing(path, monkeypatch):
    """One step per kernel call (the GEMM shape then compacts its columns as runs stop) gives
    bitwise the results of one long call. For the GEMM shape this holds for diaglin's own
    products (``matmul_kernel``, NumPy under the simulator), whose sum for an entry does not
    depend on the number of columns; cuBLAS picks its algorithm by the matrix shape, so when
    it is the engine its results are compared to those of the own product within RTOL."""
    from diaglin.cuda import gemm

    model, X, y, theta0, etas = _problem("ww", {})
    etas = np.geomspace(0.1, 1.0, 9)
    opts = dict(eps=1e-4, max_steps=150, average_last=3, stats="none", backend="cuda", path=path)
    cublas = gemm.engine().startswith("cublas")
    with monkeypatch.context() as own_gemm:
        own_gemm.setattr(gemm, "cupy_or_none", lambda: None)
        whole = dl.run_gd(model, X, y, etas, theta0, **opts)
        own_gemm.setattr(chunks, "_FIRST_CHUNK_WORK", 1)
        own_gemm.setattr(chunks, "CHUNK_SECONDS", 1e-9)
        chunked = dl.run_gd(model, X, y, etas, theta0, **opts)
    assert len(set(whole.steps.tolist())) > 3
    for field in ("status", "steps", "theta", "loss"):
        assert np.array_equal(getattr(chunked, field), getattr(whole, field)), field
    assert np.array_equal(chunked.averaged.theta, whole.averaged.theta)
    if path == "blas" and cublas:  # only on a GPU with CuPy
        assert chunked.config["cuda"]["gemm"] != "cublas (cupy)"
        monkeypatch.setattr(chunks, "_FIRST_CHUNK_WORK", 1)
        monkeypatch.setattr(chunks, "CHUNK_SECONDS", 1e-9)
        on_cublas = dl.run_gd(model, X, y, etas, theta0, **opts)
        assert on_cublas.config["cuda"]["gemm"] == "cublas (cupy)"
        _compare(on_cublas, whole)


def test_auto_path_follows_the_data_size():
    from diaglin.cuda.driver import GEMM_MIN_ND, choose_path

    assert choose_path(1, GEMM_MIN_ND) == "tile"
    assert choose_path(2, GEMM_MIN_ND) == "blas"
    model, X, y, theta0, etas = _problem("ww", {})
    r = dl.run_gd(model, X, y, etas, theta0, max_steps=5, stats="none", backend="cuda")
    assert r.config["path"] == "tile"


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 7), (9, 10, 6)])
def test_matmul_kernel_matches_numpy(shape):
    """The numba GEMM that the large-n·d shape uses where CuPy is not installed."""
    from diaglin.cuda import gemm

    cuda = gemm.cuda
    M, L, N = shape
    rng = np.random.default_rng(M * L * N)
    A, B = rng.standard_normal((M, L)), rng.standard_normal((L, N))
    C = cuda.device_array((M, N))
    tpb = 4  # a small tile keeps the simulator (a Python thread per GPU thread) quick
    grid = (-(-N // tpb), -(-M // tpb))
    gemm.matmul_kernel(tpb)[grid, (tpb, tpb)](cuda.to_device(A), cuda.to_device(B), C)
    np.testing.assert_allclose(C.copy_to_host(), A @ B, rtol=1e-13, atol=1e-13)


def test_stochastic_steps_are_refused_on_cuda():
    X, y = np.eye(3), np.ones(3)
    with pytest.raises(ValueError, match="backend"):
        dl.driver.run_batch(
            dl.get_model("ww"), X, y, np.ones(3), etas=np.array([0.1]), eps=1e-9, max_steps=3,
            diverge_factor=1e8, record_every=0, record_grads=False, average_last=0,
            path="auto", stats="none", progress=None, config={},
            sgd=(np.zeros((1, 1, 6)), np.zeros(1, np.uint64), 1, 0), backend="cuda",
        )  # fmt: skip


_NO_GPU_SCRIPT = """
import sys, numpy as np, diaglin as dl
r = dl.run_gd("ww", np.eye(2), np.ones(2), [0.1], np.ones(2), max_steps=3)
assert "numba.cuda" not in sys.modules, "the CPU backend imported numba.cuda"
from numba import cuda
if cuda.is_available():
    print("HAS-GPU")
    sys.exit(0)
try:
    dl.run_gd("ww", np.eye(2), np.ones(2), [0.1], np.ones(2), max_steps=3, backend="cuda")
except dl.CudaUnavailable as exc:
    print("ERROR:", exc)
"""


def test_without_a_gpu_cuda_is_one_clear_error_and_cpu_never_loads_it():
    env = {**subprocess_env(), "NUMBA_ENABLE_CUDASIM": "0"}
    out = subprocess.run([sys.executable, "-c", _NO_GPU_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    if "HAS-GPU" in out.stdout:
        pytest.skip("this machine has a GPU")
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("ERROR: backend='cuda' needs"), line


def test_a_sweep_on_cuda_reproduces_the_cpu_sweep():
    """The sweep machinery passes backend="cuda" through (its own cache key): same statuses,
    steps and final statistics as the CPU sweep on a small phase-diagram grid."""
    from sims.core.sweep import run_sweep
    from sims.phase_diagram.config import SweepConfig

    base = dict(dims=(5,), n_samples=(3,), sparsity=2, n_etas=6, eta_min=0.1, eta_max=0.9,
                epsilons=(1e-5,), max_steps=3000)  # fmt: skip
    cpu = run_sweep(SweepConfig(**base), cache_dir=None, progress=False).first()
    gpu = run_sweep(SweepConfig(**base, backend="cuda"), cache_dir=None, progress=False).first()
    assert np.array_equal(gpu.status, cpu.status) and np.array_equal(gpu.steps, cpu.steps)
    assert (cpu.status == 0).sum() >= 3
    _close(gpu.final.beta, cpu.final.beta, "final beta")
    _close(gpu.final.sharpness, cpu.final.sharpness, "final sharpness")


def test_numpy_without_row_stack_is_patched_before_numba_cuda_loads(monkeypatch):
    """numba-cuda (0.30) still calls np.row_stack, which NumPy 2.5 removed; ``runtime.cuda``
    aliases it to np.vstack before numba.cuda is used (seen failing on the GPU machine)."""
    from diaglin.cuda import runtime

    monkeypatch.delattr(np, "row_stack", raising=False)
    runtime.cuda.__wrapped__()
    assert np.row_stack is np.vstack  # noqa: NPY201
