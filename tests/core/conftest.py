"""Fixtures of the core tests."""

from __future__ import annotations

import pytest

from diaglin import driver


@pytest.fixture
def spy(monkeypatch):
    """The blocks of runs each call computes (their sizes)."""
    sizes = []
    inner = driver._run_all

    def counting(model, X, y, theta0, *, etas, **kw):
        sizes.append(etas.size)
        return inner(model, X, y, theta0, etas=etas, **kw)

    monkeypatch.setattr(driver, "_run_all", counting)
    return sizes
