"""The memory guard of ``run_gd`` / ``run_sgd``: a batch larger than the available memory runs in
blocks of runs (bitwise the same result), and one whose results alone would not fit is refused
up front with the estimate, the memory available and what to do (instead of being killed by the
operating system)."""

from __future__ import annotations

import numpy as np
import pytest

import diaglin as dl
from diaglin import driver
from diaglin.schedules import Schedule

B, N, D = 150, 3, 5
SIZES = dict(max_steps=300, record_every=50, record_grads=True, average_last=4)


def _memory_for_blocks_of(block: int, n_blocks: int = 1) -> int:
    """Available memory at which a batch of B runs is cut into blocks of ``block`` runs."""
    kept = driver.result_bytes(B, D, n_blocks, **SIZES)
    need = kept + driver.memory_bytes(block, N, D, n_blocks, **SIZES)
    return int(np.ceil(need / driver.MEMORY_SHARE))


def _same(a, b, where="result"):
    """Every array of two results (nested dataclasses) equal bitwise (NaN where NaN)."""
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif hasattr(a, "__dataclass_fields__"):
        for name in a.__dataclass_fields__:
            _same(getattr(a, name), getattr(b, name), f"{where}.{name}")
    else:
        assert a == b, where


def _batch(name="pm"):
    m = dl.get_model(name)
    ds = dl.data.sparse_regression(N, D, 1, seed=3)
    rng = np.random.default_rng(0)
    theta0 = m.init(D, 0.5) * rng.uniform(0.5, 1.5, (B, 2 * D))  # one start per run
    etas = rng.permutation(np.geomspace(0.01, 3.0, B))  # converge, hit max_steps, diverge
    return m, ds.X, ds.y, theta0, etas


def test_a_batch_too_large_for_memory_runs_in_blocks_with_bitwise_the_same_result(monkeypatch, spy):
    m, X, y, theta0, etas = _batch()
    kw = dict(eps=1e-9, path="tile", stats="norms", **SIZES)
    monkeypatch.setattr(driver, "available_memory", lambda: None)  # unknown: one call
    whole = dl.run_gd(m, X, y, etas, theta0, **kw)
    assert spy == [B]
    monkeypatch.setattr(driver, "available_memory", lambda: _memory_for_blocks_of(64, 2))
    blocked = dl.run_gd(m, X, y, etas, theta0, **kw)
    assert spy[1:] == [64, 64, 22]
    assert {0, 1, 2} <= set(whole.status.tolist())
    _same(blocked, whole)


def test_stochastic_runs_in_blocks_are_bitwise_the_runs_of_one_call(monkeypatch, spy):
    m, X, y, theta0, etas = _batch()
    scheds = [Schedule.step_decay(float(e) / 10, at=100, factor=0.1, noise=0.2, noise_after=0.0)
              for e in etas]  # fmt: skip
    kw = dict(seeds=np.arange(B), max_steps=SIZES["max_steps"], batch_size=2, stats="none",
              record_every=50, average_last=4)  # fmt: skip
    monkeypatch.setattr(driver, "available_memory", lambda: None)
    whole = dl.run_sgd(m, X, y, scheds, theta0, **kw)
    sizes = {**SIZES, "record_grads": False}
    kept = driver.result_bytes(B, D, 2, **sizes)
    need = kept + driver.memory_bytes(100, N, D, 2, **sizes)
    monkeypatch.setattr(driver, "available_memory",
                        lambda: int(np.ceil(need / driver.MEMORY_SHARE)))  # fmt: skip
    blocked = dl.run_sgd(m, X, y, scheds, theta0, **kw)
    assert spy[0] == B and spy[1:] == [100, 50]
    _same(blocked, whole)


def test_a_batch_whose_results_do_not_fit_is_refused_before_any_work(monkeypatch, spy):
    m, X, y, theta0, etas = _batch()
    kept = driver.result_bytes(B, D, 2, **SIZES)
    monkeypatch.setattr(driver, "available_memory", lambda: kept)  # results only, no room
    with pytest.raises(driver.BatchTooLarge, match=r"need an estimated .* GiB .* available"):
        dl.run_gd(m, X, y, etas, theta0, eps=1e-9, **SIZES)
    assert spy == []
    assert issubclass(driver.BatchTooLarge, ValueError)


def test_a_hundred_million_runs_on_a_23_gb_machine_are_refused_not_killed(monkeypatch):
    """The issue's case (10⁸ runs at d = 5 were killed by the OS), with 23 GB available: their
    results alone would not fit, so the call is refused; 5·10⁷ runs go in the largest blocks
    that fit beside their results; 10⁷ runs fit whole."""
    monkeypatch.setattr(driver, "available_memory", lambda: 23 * 10**9)
    budget = driver.MEMORY_SHARE * 23 * 10**9

    def fits(runs, block):
        kept = driver.result_bytes(runs, 5, 2, max_steps=1000)
        return kept + driver.memory_bytes(block, 6, 5, 2, max_steps=1000) <= budget

    with pytest.raises(driver.BatchTooLarge, match=r"results alone .* GiB.* available"):
        driver.runs_per_block(10**8, 6, 5, 2, max_steps=1000)
    assert driver.result_bytes(10**8, 5, 2, max_steps=1000) > budget
    block = driver.runs_per_block(5 * 10**7, 6, 5, 2, max_steps=1000)
    assert driver.MIN_BLOCK_RUNS <= block < 5 * 10**7
    assert fits(5 * 10**7, block) and not fits(5 * 10**7, block + 1)
    assert driver.runs_per_block(10**7, 6, 5, 2, max_steps=1000) == 10**7
    assert driver.memory_bytes(10**7, 6, 5, 2, max_steps=1000) <= budget


def test_result_bytes_bounds_what_a_result_holds():
    """``result_bytes`` counts every array a GDResult keeps (measured on a real result)."""
    m, X, y, theta0, etas = _batch()
    r = dl.run_gd(m, X, y, etas, theta0, eps=1e-9, path="tile", stats="none", **SIZES)

    def nbytes(v):
        if isinstance(v, np.ndarray):
            return v.nbytes
        if hasattr(v, "__dataclass_fields__"):
            return sum(nbytes(getattr(v, f)) for f in v.__dataclass_fields__)
        return 0

    est = driver.result_bytes(B, D, 2, **SIZES)
    assert nbytes(r) <= est <= 1.1 * nbytes(r)
