"""Boundaries a mutation audit showed the suite did not test: linear stability exactly at
S = 2/η (not stable: the linearised iteration oscillates without decay), the one-point GF path's
endpoint certificate 2|r(0)| x_max <= λ_top(end) on paths whose maximum is at the start (the
certificate must refuse them), and σ = 0 refused by the phase-two time scale."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import one_point_gf_path_sharpness
from scipy.optimize import brentq

import theory

# --- linear stability at S = 2/η -----------------------------------------------------------------

#: (S, η) with 2/η = S exactly in binary floating point
BOUNDARY = [(4.0, 0.5), (2.0, 1.0), (8.0, 0.25), (0.5, 4.0), (1.0, 2.0)]


def _linearised_gd(S, eta, steps=200):
    """|x_k| of GD on ½ S x² from x_0 = 1: x_{k+1} = (1 − ηS) x_k."""
    x = np.empty(steps + 1)
    x[0] = 1.0
    for k in range(steps):
        x[k + 1] = x[k] - eta * S * x[k]
    return np.abs(x)


@pytest.mark.parametrize("S, eta", BOUNDARY)
def test_a_minimum_with_sharpness_exactly_two_over_eta_is_not_linearly_stable(S, eta):
    """At S = 2/η the linearisation x ↦ (1 − ηS) x = −x oscillates with constant amplitude, so
    GD does not converge: not stable; a hair below 2/η it contracts: stable."""
    assert 2.0 / eta == S  # the boundary itself, no rounding
    at = _linearised_gd(S, eta)
    np.testing.assert_array_equal(at, 1.0)  # no decay at all
    assert not theory.is_linearly_stable(S, eta)
    below = np.nextafter(S, 0.0)
    assert theory.is_linearly_stable(below, eta)
    assert _linearised_gd(below, eta, steps=10)[-1] < 1.0
    # element-wise on arrays: below, at and above the boundary
    got = theory.is_linearly_stable(np.array([0.9 * S, below, S, np.nextafter(S, np.inf)]), eta)
    np.testing.assert_array_equal(got, [True, True, False, False])
    assert not theory.is_linearly_stable(S, np.array([eta]))[0]
    assert theory.eta_max(S) == eta and not theory.is_linearly_stable(S, theory.eta_max(S))


# --- the endpoint certificate -----------------------------------------------------------------


def _path_end_top(x, y, alpha, eps):
    """λ_top of the Hessian g gᵀ + 2 r diag(x) (g = 2 x⊙w) where the exact path β_i = α² e^{λ x_i}
    first reaches L = eps (r = −√(2 eps), from below)."""
    r_end = -np.sqrt(2 * eps)
    lam = brentq(lambda t: np.sum(x * alpha**2 * np.exp(t * x)) - y - r_end, 0.0, 100.0,
                 xtol=1e-15)  # fmt: skip
    w = alpha * np.exp(lam * x / 2)
    g = 2 * x * w
    return np.linalg.eigvalsh(np.outer(g, g) + 2 * r_end * np.diag(x))[-1]


@pytest.mark.parametrize("x", [[1.0], [1.0, 0.5], [1.0, 0.6, 0.3]])
def test_the_endpoint_certificate_refuses_a_path_whose_maximum_is_at_its_start(x):
    """x > 0 and r(0) < 0, stopped early (eps large): the sharpness at the start, ≈ 2|r(0)| x_max,
    exceeds λ_top at the end, so s_GF is not attained at the end and the certificate (whenever
    2|r(0)| x_max <= λ_top(end)) must not claim it. Here |r(0)| x_max <= λ_top(end): only the
    factor 2 of the bound refuses it. d = 1 in closed form: H = 6 x² β − 2 x y, s_GF = |H(α²)|."""
    x, y, alpha, eps = np.array(x), 1.0, 0.1, 0.08
    r0 = alpha**2 * x.sum() - y
    top_end = _path_end_top(x, y, alpha, eps)
    assert abs(r0) * x.max() <= top_end < 2 * abs(r0) * x.max()  # the factor 2 decides
    s_ref = one_point_gf_path_sharpness(x, y, alpha, eps)
    assert s_ref > 1.2 * top_end  # the maximum is not at the end
    path = theory.one_point_gf_path(x, y, alpha, eps=eps)
    assert not path.endpoint_certified
    assert path.s_gf == pytest.approx(s_ref, rel=1e-9)
    assert path.sharpness[-1] == pytest.approx(top_end, rel=1e-9)
    if x.size == 1:
        assert s_ref == pytest.approx(abs(6 * alpha**2 - 2 * y), rel=1e-12)
        assert top_end == pytest.approx(6 * (y - np.sqrt(2 * eps)) - 2 * y, rel=1e-12)


def test_the_endpoint_certificate_accepts_a_path_once_the_bound_holds():
    """The same point run to L = 1e-12: 2|r(0)| x_max <= λ_top(end) ≈ 4 y x_max, the certificate
    holds and the maximum is at the end of the path."""
    x, y, alpha, eps = np.array([1.0, 0.5]), 1.0, 0.1, 1e-12
    r0 = alpha**2 * x.sum() - y
    top_end = _path_end_top(x, y, alpha, eps)
    assert 2 * abs(r0) * x.max() <= top_end
    path = theory.one_point_gf_path(x, y, alpha, eps=eps)
    assert path.endpoint_certified
    assert path.s_gf == pytest.approx(top_end, rel=1e-9)
    assert path.s_gf == pytest.approx(one_point_gf_path_sharpness(x, y, alpha, eps), rel=1e-9)


# --- σ = 0 in the phase-two time scale ---------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, [0.1, 0.0], -0.0])
def test_phase_two_steps_refuses_zero_noise_naming_sigma(sigma):
    """Without label noise there is no noise-driven drift (constant / (η² σ²) would be ∞): σ = 0
    is refused like σ < 0, with a ValueError naming the argument."""
    with pytest.raises(ValueError, match="sigma"):
        theory.phase_two_steps(0.1, sigma)
    with pytest.raises(ValueError, match="sigma"):
        theory.phase_two_steps(np.array([0.1, 0.2]), sigma, constant=1.5)
    # positive σ is accepted: constant / (η² σ²)
    assert theory.phase_two_steps(0.1, 0.5, constant=1.5) == pytest.approx(1.5 / (0.01 * 0.25))
