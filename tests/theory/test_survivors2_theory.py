"""Second mutation audit: theory quantities against closed forms and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theory.late_decay import phase_one_steps


def test_phase_one_steps_is_log_of_the_loss_ratio_over_eta_times_curvature():
    """Linear convergence at rate eta·c per step from loss0 to eps = loss0·e^-3 takes
    3 / (eta c) steps: 300 at eta = 0.01, c = 1; 150 at c = 2; and none when eps = loss0."""
    assert phase_one_steps(0.01, 1.0, math.exp(-3.0)) == pytest.approx(300.0, rel=1e-12)
    assert phase_one_steps(0.01, 5.0, 5.0 * math.exp(-3.0), 2.0) == pytest.approx(150.0, rel=1e-12)
    assert phase_one_steps(0.1, 2.0, 2.0) == pytest.approx(0.0, abs=1e-12)


# --- the exact one-point GF path --------------------------------------------------------------


def test_gf_path_loss_is_half_the_squared_residual_and_ends_at_eps():
    """L = ½(<x, beta> − y)²: at lambda = 0 beta = alpha² 1, and the path stops where L first
    reaches eps (the dual target y ∓ sqrt(2 eps))."""
    from theory.stability import one_point_gf_path

    x, y, alpha, eps = np.array([1.0, 0.5, 0.25]), 2.0, 0.3, 1e-8
    path = one_point_gf_path(x, y, alpha, eps=eps, num=201)
    assert path.loss[0] == pytest.approx(0.5 * (alpha**2 * x.sum() - y) ** 2, rel=1e-12)
    np.testing.assert_allclose(path.loss, 0.5 * (path.beta @ x - y) ** 2, rtol=1e-12)
    assert path.loss[-1] == pytest.approx(eps, rel=1e-6)
    assert (np.diff(path.loss) < 0).all()


# --- edge-of-stability slice candidates --------------------------------------------------------

X3, Y3 = np.array([3.0, 2.0, 1.0]), 1.0


def test_slice_l1_extremes_are_the_two_ends_of_a_hand_solved_segment():
    """x = (3, 2, 1), y = 1, S = 2/eta = 8: 3b1 + 2b2 + b3 = 1 and 9b1 + 4b2 + b3 = 2 give
    b2 = (1 − 6 b1)/2, b3 = 3 b1, b1 in [0, 1/6], ||beta||_1 = 1/2 + b1: the min-l1 point is
    (0, 1/2, 0), the max-l1 point (1/6, 0, 1/2)."""
    from theory.eos_slice import slice_candidates

    c = slice_candidates(X3, Y3, np.array([0.25]), 0.1)
    np.testing.assert_allclose(c.min_l1[0], [0.0, 0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(c.max_l1[0], [1 / 6, 0.0, 0.5], atol=1e-9)
    assert c.l1("max_l1")[0] == pytest.approx(2 / 3, rel=1e-9)
    assert c.l1("min_l1")[0] == pytest.approx(0.5, rel=1e-9)


def test_the_gf_limit_is_kept_only_when_its_sharpness_4_sum_x2_beta_is_stable():
    """S(beta_GF) = 4 Σ x_i² beta_GF,i. At 2/eta = 0.75 S(beta_GF) the GF limit is unstable:
    the entropy candidate lies on the slice (S = 2/eta, <x, beta> = y); at 2/eta = 1.25 S it
    is stable and the candidate is the GF limit itself."""
    from theory.eos_slice import slice_candidates
    from theory.gf_potentials import gf_limit

    alpha = 0.1
    gf = np.asarray(gf_limit(X3[None, :], np.array([Y3]), "ww", alpha).beta).ravel()
    s_gf = 4.0 * np.sum(X3**2 * gf)
    unstable = 0.75 * s_gf
    assert 4 * Y3 * X3.min() < unstable < 4 * Y3 * X3.max()  # the slice is not empty
    etas = 2.0 / np.array([unstable, 1.25 * s_gf])
    c = slice_candidates(X3, Y3, etas, alpha)
    assert c.on_slice.tolist() == [True, False]
    e = c.entropy[0]
    assert (e >= 0).all() and e @ X3 == pytest.approx(Y3, rel=1e-8)
    assert 4.0 * np.sum(X3**2 * e) == pytest.approx(unstable, rel=1e-8)
    np.testing.assert_allclose(c.entropy[1], gf, rtol=1e-12)


# --- one-point interpolators ------------------------------------------------------------------


def test_a_zero_feature_cannot_interpolate_and_is_never_the_flattest_vertex():
    """ww, x = (2, 0, 1), y = 1: coordinate 2 (x = 0) cannot carry y, so the vertices are
    (1/2, 0, 0) and (0, 0, 1); the flattest is (0, 0, 1) with S = 4·1²·1 = 4, the min-norm one
    (1/2, 0, 0) with S = 4·2²·(1/2) = 8."""
    from theory.one_point import (
        interpolating_vertices,
        min_norm_interpolator,
        min_sharpness_interpolator,
    )

    x = np.array([2.0, 0.0, 1.0])
    flat = min_sharpness_interpolator(x, 1.0, "ww")
    assert flat.index == 2 and flat.sharpness == pytest.approx(4.0)
    np.testing.assert_array_equal(flat.beta, [0.0, 0.0, 1.0])
    mn = min_norm_interpolator(x, 1.0, "ww")
    assert mn.index == 0 and mn.sharpness == pytest.approx(8.0) and mn.l1 == pytest.approx(0.5)
    V = interpolating_vertices(x, 1.0, "ww")
    assert np.isnan(V[1]).all()
    np.testing.assert_array_equal(V[[0, 2]], [[0.5, 0.0, 0.0], [0.0, 0.0, 1.0]])


def test_the_flattest_vertex_has_the_sign_of_y_for_ww():
    """ww, x = (−0.5, 2, 1), y = 1: beta = w⊙w >= 0 can only use x_j > 0; the flattest
    admissible vertex is (0, 0, 1) (|x| = 1), not y/x_0 = −2 on the smallest |x_j|."""
    from theory.one_point import min_sharpness_interpolator

    flat = min_sharpness_interpolator(np.array([-0.5, 2.0, 1.0]), 1.0, "ww")
    assert flat.index == 2
    np.testing.assert_array_equal(flat.beta, [0.0, 0.0, 1.0])
    assert flat.sharpness == pytest.approx(4.0)


def test_uv_sharpness_at_interpolation_is_the_balanced_realisations_top_eigenvalue():
    """beta = u⊙v, one point: at interpolation hess L = g gᵀ with g = (x⊙v, x⊙u), so
    S = Σ x_i² (u_i² + v_i²), which with |u_i| = |v_i| = sqrt|beta_i| is 2 Σ x_i² |beta_i|."""
    from theory.one_point import min_norm_interpolator, sharpness_at_interpolation

    x = np.array([1.5, -0.5, 2.0])
    beta = np.array([0.4, -0.2, 0.1])
    u = np.sqrt(np.abs(beta))
    v = np.sign(beta) * u
    g = np.concatenate([x * v, x * u])
    top = np.linalg.eigvalsh(np.outer(g, g))[-1]
    assert top == pytest.approx(2 * np.sum(x**2 * np.abs(beta)), rel=1e-12)
    assert sharpness_at_interpolation(x, beta, "uv") == pytest.approx(top, rel=1e-12)
    mn = min_norm_interpolator(x, 3.0, "uv")  # vertex on |x| max = 2: beta = 1.5 e_2
    assert mn.index == 2 and mn.sharpness == pytest.approx(2 * 3.0 * 2.0, rel=1e-12)
