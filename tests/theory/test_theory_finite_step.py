"""Finite-step identity against a plain-NumPy GD loop (no diaglin needed)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import theory


def _gd(model, X, y, alpha, gamma, eps=1e-26, max_steps=100_000):
    """Plain GD on L = 1/(2n)||X beta - y||^2 from diaglin's standard init; records g_k."""
    n, d = X.shape
    u = np.full(d, np.sqrt(2) * alpha if model == "uv" else alpha)
    v = np.zeros(d) if model == "uv" else np.full(d, alpha)
    hist = []
    for _ in range(max_steps):
        beta = {"uv": u * v, "pm": u * u - v * v, "ww": u * u}[model]
        r = X @ beta - y
        if 0.5 * np.mean(r**2) < eps:
            break
        g = X.T @ r / n
        hist.append(g)
        if model == "uv":
            u, v = u - gamma * g * v, v - gamma * g * u
        elif model == "pm":
            u, v = u * (1 - 2 * gamma * g), v * (1 + 2 * gamma * g)
        else:
            u = u * (1 - 2 * gamma * g)
    return beta, np.array(hist)


def _problem(seed, model):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 4)), int(rng.integers(4, 8))
    X = rng.normal(size=(n, d))
    beta = np.zeros(d)
    beta[:2] = rng.uniform(0.3, 1.0, 2) * (rng.choice([-1, 1], 2) if model != "ww" else 1)
    if model == "ww":
        beta += 0.02
    return X, X @ beta


@settings(deadline=None, max_examples=20)
@given(
    seed=st.integers(0, 2**31),
    model=st.sampled_from(["uv", "pm", "ww"]),
    frac=st.floats(0.2, 0.6),
)
def test_finite_step_identity_matches_plain_gd(seed, model, frac):
    X, y = _problem(seed, model)
    alpha = 0.1
    # a step well inside the stable range of the GF solution
    s = np.linalg.eigvalsh(X @ X.T)[-1] / X.shape[0]
    gamma = frac / (s * (4.0 if model != "uv" else 2.0) * max(1.0, np.max(np.abs(y))))
    beta, G = _gd(model, X, y, alpha, gamma)
    assume(0.5 * np.mean((X @ beta - y) ** 2) < 1e-26)  # reached the tiny-loss stop
    pred = theory.finite_step_limit(X, y, alpha, gamma, G, model)
    it = theory.finite_step_iterate(alpha, gamma, G, model)
    scale = 1 + np.max(np.abs(beta))
    assert np.max(np.abs(pred.beta - beta)) < 1e-11 * scale
    assert np.max(np.abs(it - beta)) < 1e-11 * scale


def test_dropping_phi_or_alpha_shift_is_detectably_wrong():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2, 6))
    y = X @ np.array([1.0, -0.7, 0, 0, 0, 0])
    alpha, gamma = 0.1, 0.1
    beta, G = _gd("uv", X, y, alpha, gamma)
    pred = theory.finite_step_limit(X, y, alpha, gamma, G, "uv")
    assert np.max(np.abs(pred.beta - beta)) < 1e-12
    pot = theory.get_potential("uv")
    no_phi = theory.solve_dual(X, y, pot, np.sqrt(pred.alpha_eff_sq)).beta
    gf = theory.gf_limit(X, y, "uv", alpha).beta
    assert np.max(np.abs(no_phi - beta)) > 1e-5
    assert np.max(np.abs(gf - beta)) > 1e-4
    assert np.all(pred.alpha_eff_sq < alpha**2)  # a finite step shrinks the effective init


def test_sign_flip_history_rejected():
    G = np.array([[10.0, 0.0]])
    with pytest.raises(ValueError, match="grad_history"):
        theory.effective_init(0.1, 0.2, G, "uv")
    with pytest.raises(ValueError, match="gamma"):
        theory.effective_init(0.1, 0.0, G * 0, "uv")
