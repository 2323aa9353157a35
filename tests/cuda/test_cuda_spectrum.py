"""The Hessian statistics on the GPU (``diaglin.cuda.spectrum``) against dense ``eigvalsh`` of
the closed-form Hessian, and ``run_gd(backend="cuda")``'s statistics against the CPU's.

Under the CUDA simulator in CI (tests/conftest.py). The claim: S = max|λ|, λ_max and the
trace agree with the dense solver to 1e-10 of the spectral scale, on instances where either
extreme eigenvalue can be the largest in modulus; λ_min, where it is computed, too; chunking the
runs, masking or compacting the columns of converged runs and ARPACK's fallback change nothing
beyond rounding.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import diaglin as dl
from diaglin import spectrum
from diaglin.cuda import spectrum as device_spectrum
from diaglin.cuda.runtime import cuda

MODELS = [("ww", {}), ("uv", {}), ("pm", {}), ("prod", {"depth": 3}), ("power", {"depth": 3})]
RTOL = 1e-10


def _instance(name, kw, seed, B=6, n=5, d=5):
    """Iterates away from any minimum (large residuals), so that the second-order part
    g ⊙ ∂²β is large and of either sign: λ_min or λ_max can be the largest in modulus."""
    rng = np.random.default_rng(seed)
    model = dl.get_model(name, **kw)
    X = rng.standard_normal((n, d))
    y = 3.0 * rng.standard_normal(n)
    theta = model.init(d, 0.5) + 0.4 * rng.standard_normal((B, model.n_params(d)))
    return model, X, y, theta


def _on_device(model, X, y, theta, *, sharpness=True):
    cu = cuda()
    B, P = theta.shape
    data = SimpleNamespace(
        X=cu.to_device(X), Xt=cu.to_device(np.ascontiguousarray(X.T)), y=cu.to_device(y),
        a_diag=cu.to_device((X * X).mean(axis=0)),
    )  # fmt: skip
    thetas = cu.to_device(np.ascontiguousarray(theta.reshape(B, model.n_blocks, -1)))
    return device_spectrum.hessian_stats(model, thetas, X, y, data, sharpness=sharpness)


def _assert_close(got, want, scale, what):
    err = np.abs(np.asarray(got) - want) / scale
    assert err.max(initial=0.0) <= RTOL, f"{what}: {err.max(initial=0.0):.2e} of the spectral scale"


@pytest.mark.parametrize("name,kw", MODELS, ids=[m for m, _ in MODELS])
def test_device_statistics_match_dense_eigvalsh(name, kw):
    model, X, y, theta = _instance(name, kw, seed=3)
    got = _on_device(model, X, y, theta)
    H = model.hessian(theta, X, y)
    ev = np.linalg.eigvalsh(H)
    scale = np.abs(ev).max(axis=1)
    _assert_close(got.top_abs, scale, scale, "sharpness")
    _assert_close(got.top, ev[:, -1], scale, "lambda_max")
    _assert_close(got.trace, np.trace(H, axis1=1, axis2=2), scale, "trace")
    lo = ~np.isnan(got.bottom)
    _assert_close(got.bottom[lo], ev[lo, 0], scale[lo], "lambda_min")
    # the floor spares λ_min only where it cannot be the largest in modulus
    assert np.all(-ev[~lo, 0] <= ev[~lo, -1] * (1 + RTOL))
    if name == "ww":  # the instance covers both cases
        assert (-ev[:, 0] > ev[:, -1]).any() and (-ev[:, 0] < ev[:, -1]).any()


def test_chunks_masks_compaction_and_fallback_change_nothing_but_rounding(monkeypatch):
    """Runs in chunks of 3 (a small basis budget), columns masked or gathered as runs converge
    at different steps, and runs left unconverged by a short Lanczos redone by ARPACK on the
    host: the statistics of dense eigvalsh all the same."""
    # P = 24 > FIRST_CHECK: runs converge before their Krylov space is the whole space, after
    # different numbers of steps
    model, X, y, theta = _instance("ww", {}, seed=5, B=6, n=20, d=24)
    ev = np.linalg.eigvalsh(model.hessian(theta, X, y))
    scale = np.abs(ev).max(axis=1)
    P = theta.shape[1]
    monkeypatch.setattr(device_spectrum, "BASIS_BYTES", 3 * 8 * (P + 1) * P)
    monkeypatch.setattr(device_spectrum, "COMPACT_BELOW", 0.5)
    kept = []  # (columns held before, rows kept, columns held after)
    real_keep = device_spectrum.DeviceKrylov.keep

    def keep(self, rows):
        held = self.w.shape[1]
        real_keep(self, rows)
        kept.append((held, int(rows.sum()), self.w.shape[1]))

    monkeypatch.setattr(device_spectrum.DeviceKrylov, "keep", keep)
    chunked = _on_device(model, X, y, theta)
    assert any(after == held for held, _, after in kept), "no columns were masked"
    assert any(after == k < held for held, k, after in kept), "no columns were gathered"
    _assert_close(chunked.top_abs, scale, scale, "sharpness")
    _assert_close(chunked.top, ev[:, -1], scale, "lambda_max")
    monkeypatch.setattr(device_spectrum, "LANCZOS_MAX_ITER", 3)
    redone = []
    real_fallback = device_spectrum.arpack_fallback
    monkeypatch.setattr(device_spectrum, "arpack_fallback",
                        lambda *a, **k: redone.append(1) or real_fallback(*a, **k))  # fmt: skip
    short = _on_device(model, X, y, theta)
    assert redone, "Lanczos converged in 3 steps: the fallback was not exercised"
    _assert_close(short.top_abs, scale, scale, "sharpness after ARPACK")


def test_norms_only_computes_the_trace_and_no_sharpness(monkeypatch):
    model, X, y, theta = _instance("uv", {}, seed=7)
    monkeypatch.setattr(device_spectrum, "lockstep", None)  # must not be called
    got = _on_device(model, X, y, theta, sharpness=False)
    assert np.isnan(got.top_abs).all() and np.isnan(got.top).all()
    want = spectrum.sharpness(model, theta, X, y).trace
    _assert_close(got.trace, want, np.abs(want), "trace")


@pytest.mark.parametrize("path", ["tile", "blas"])
def test_run_gd_statistics_are_computed_on_the_device_and_match_the_cpu(path, monkeypatch):
    """``run_gd(backend="cuda")``: the final and averaged iterates' sharpness and trace come
    from the device (stats="all"; the trace alone for "norms") and equal the CPU backend's."""
    rng = np.random.default_rng(11)
    model = dl.get_model("pm")
    X = rng.standard_normal((6, 4)) / 2
    y = X @ np.array([1.0, -0.5, 0.0, 0.7])
    theta0 = model.init(4, 0.4) + 0.05 * rng.standard_normal((5, 8))
    etas = np.geomspace(0.1, 0.8, 5)
    calls = []
    real = device_spectrum.hessian_stats
    monkeypatch.setattr(device_spectrum, "hessian_stats",
                        lambda *a, **k: calls.append(k["sharpness"]) or real(*a, **k))  # fmt: skip
    opts = dict(eps=1e-4, max_steps=120, average_last=6)
    for stats in ("all", "norms"):
        calls.clear()
        cpu = dl.run_gd(model, X, y, etas, theta0, stats=stats, **opts)
        gpu = dl.run_gd(model, X, y, etas, theta0, stats=stats, backend="cuda", path=path, **opts)
        assert calls == [stats == "all"] * 2, "final and averaged statistics on the device"
        assert np.array_equal(gpu.status, cpu.status) and np.array_equal(gpu.steps, cpu.steps)
        for res_g, res_c in ((gpu.final, cpu.final), (gpu.averaged, cpu.averaged)):
            scale = np.maximum(np.abs(res_c.hessian_trace), 1.0)
            _assert_close(res_g.hessian_trace, res_c.hessian_trace, scale, f"{stats} trace")
            for field in ("sharpness", "sharpness_max"):
                got, want = getattr(res_g, field), getattr(res_c, field)
                if stats == "all":
                    _assert_close(got, want, np.abs(res_c.sharpness), f"{field}")
                else:
                    assert np.isnan(got).all() and np.isnan(want).all()
