"""Pure-theory checks: each sympy expression agrees with its lambdified / closed-form twin."""

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from theory.gf_potentials import _b, _z

SETTINGS = settings(deadline=None, max_examples=25)


def _point(seed: int, d: int) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.3, 2.0, d), rng.uniform(0.0, 1.5, d), float(rng.uniform(0.1, 3.0))


def test_hessian_expr_is_rank_one_plus_residual_symbolically():
    d = 3
    H = theory.hessian_expr(d)
    x = sp.symbols("x_1:4", real=True)
    w = sp.symbols("w_1:4", real=True)
    y = sp.Symbol("y", real=True)
    g = sp.Matrix([2 * xi * wi for xi, wi in zip(x, w)])
    r = sum(xi * wi**2 for xi, wi in zip(x, w)) - y
    assert sp.simplify(H - (g * g.T + 2 * r * sp.diag(*x))) == sp.zeros(d, d)


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(1, 5))
def test_hessian_lambdified_matches_closed_form(seed, d):
    x, w, y = _point(seed, d)
    W = np.stack([w, 0.5 * w, -w])  # batched
    np.testing.assert_allclose(theory.hessian_formula(d)(x, W, y), theory.hessian(x, W, y),
                               rtol=1e-13, atol=1e-13)  # fmt: skip


@SETTINGS
@given(seed=st.integers(0, 2**31), d=st.integers(1, 5))
def test_sharpness_at_interpolation_is_trace_and_top_eigenvalue(seed, d):
    x, w, _ = _point(seed, d)
    y = float(x @ w**2)  # interpolating
    H = theory.hessian(x, w, y)
    S = theory.sharpness_at_interpolation(x, w**2)
    ev = np.linalg.eigvalsh(H)
    assert np.isclose(S, np.trace(H), rtol=1e-12)
    assert np.isclose(S, ev[-1], rtol=1e-12)
    assert np.allclose(ev[:-1], 0.0, atol=1e-12 * S)  # rank one
    assert np.isclose(theory.sharpness_at_interpolation_formula(d)(x, w**2), S, rtol=1e-13)


def test_sharpness_formula_expression():
    f = theory.sharpness_at_interpolation_formula(2)
    x1, x2 = sp.symbols("x_1 x_2", real=True)
    b1, b2 = sp.symbols("beta_1 beta_2", nonnegative=True)
    assert sp.expand(f.expr - 4 * (x1**2 * b1 + x2**2 * b2)) == 0
    assert "beta_{1}" in f.latex()


def test_potential_gradient_inverts_link_and_conjugate_derivative_is_link():
    for m in ("ww", "uv", "pm"):
        pot = theory.get_potential(m)
        dpsi = sp.diff(pot.psi_expr, _b)
        bpos = sp.Symbol("bb", positive=True)  # link(psi'(beta)) = beta (psi' is the inverse)
        check = sp.simplify(pot.link_expr.subs(_z, dpsi.subs(_b, bpos)) - bpos)
        assert check == 0, m
        assert sp.simplify(sp.diff(pot.conjugate_expr, _z) - pot.link_expr) == 0, m


@SETTINGS
@given(
    z=st.floats(-30, 30),
    alpha=st.floats(1e-3, 1e2),
    model=st.sampled_from(["ww", "uv", "pm"]),
)
def test_stable_link_matches_lambdified_sympy(z, alpha, model):
    pot = theory.get_potential(model)
    want = pot.link_formula(z, alpha)
    link = float(pot.link(np.array(z), alpha))
    assert np.isclose(link, want, rtol=1e-12, atol=1e-300)
    # The link, its derivative and the conjugate are three hand-written log-space functions of
    # (amp, rate); check them against each other and against the potential psi itself (the
    # literature's expression, differentiated by sympy): link = (psi*)', link = (psi')^-1.
    h = 1e-6 * max(1.0, abs(z))
    conj = pot.conjugate
    dconj = (conj(np.array(z + h), alpha) - conj(np.array(z - h), alpha)) / (2 * h)
    # central difference: truncation O(h²) plus rounding ~ eps |conj| / h (conj ~ alpha² is
    # large next to its slope when alpha is large)
    rounding = 8 * np.finfo(float).eps * abs(float(conj(np.array(z), alpha))) / h
    assert np.isclose(dconj, link, rtol=1e-6, atol=1e-9 * alpha**2 + rounding)
    dlink = (pot.link(np.array(z + h), alpha) - pot.link(np.array(z - h), alpha)) / (2 * h)
    assert np.isclose(pot.link_deriv(np.array(z), alpha), dlink, rtol=1e-6, atol=1e-9 * alpha**2)
    if abs(link) > 1e-9 * alpha**2:  # psi' is flat near 0 for sinh links: z is ill-determined
        assert np.isclose(float(pot.gradient(np.array(link), alpha)), z, rtol=1e-9, atol=1e-9)


def test_link_is_overflow_free_in_log_space():
    pot = theory.get_potential("uv")
    # alpha^2 = 1e-400 underflows in float64, but beta = alpha^2 sinh(2 z) is O(1) at z ~ 460.
    z = 0.5 * (np.log(2.0) + 400 * np.log(10.0))
    with np.errstate(all="raise"):
        assert np.isclose(pot.link(np.array(z), 1e-200), 1.0, rtol=1e-10)


def test_potential_limits():
    for m in ("ww", "uv", "pm"):
        lim = theory.potential_limits(m)
        assert sp.simplify(lim.rich - _b) == 0, m
        b = lim.kernel_variable
        want = b**2 / 2 if m == "ww" else b**2 / 4
        assert sp.simplify(lim.kernel - want) == 0, m


@SETTINGS
@given(beta=st.floats(0.05, 5.0), model=st.sampled_from(["ww", "uv", "pm"]))
def test_potential_limits_numerically(beta, model):
    """psi_alpha / (c log 1/alpha^2) -> |beta| as alpha -> 0; alpha^2 Bregman -> k b^2."""
    pot = theory.get_potential(model)
    c = 0.5 if model == "uv" else 1.0
    a = 1e-60
    ratio = pot.value(np.array([beta]), a) / (c * np.log(1 / a**2))
    assert abs(ratio - beta) < 0.05 * beta
    A = 1e2
    b0 = A**2 if model == "ww" else 0.0
    pb = pot.psi(np.array([b0 + beta, b0]), A)
    grad = pot.gradient(np.array(b0), A) if model == "ww" else 0.0
    breg = A**2 * (pb[0] - pb[1] - grad * beta)
    k = 0.5 if model == "ww" else 0.25
    assert np.isclose(breg, k * beta**2, rtol=1e-3)


def test_woodworth_q_values_and_entropy():
    assert theory.woodworth_q(0.0) == 0.0
    t = np.linspace(-5, 5, 11)
    want = 2 - np.sqrt(4 + t**2) + t * np.arcsinh(t / 2)
    np.testing.assert_allclose(theory.woodworth_q(t), want, rtol=1e-14, atol=1e-15)
    b = np.array([0.3, -1.2])
    assert np.isclose(
        theory.hyperbolic_entropy(b, 0.5), 0.25 * np.sum(theory.woodworth_q(b / 0.25))
    )


def test_slice_formulas_match_numeric_and_constraints():
    f = theory.slice_point_formulas()
    x1, x2, y = 1.3, 0.6, 1.0
    etas = np.array([0.4, 0.5, 0.6, 0.8])
    pt = theory.two_coordinate_slice_point([x1, x2], y, etas)
    assert pt.feasible.all()
    np.testing.assert_allclose(pt.beta[:, 0], f["beta1"](x1, x2, y, etas), rtol=1e-13)
    np.testing.assert_allclose(pt.beta[:, 1], f["beta2"](x1, x2, y, etas), rtol=1e-13)
    np.testing.assert_allclose(pt.l1, f["l1"](x1, x2, y, etas), rtol=1e-13)
    np.testing.assert_allclose(pt.beta @ [x1, x2], y, rtol=1e-13)
    np.testing.assert_allclose(theory.sharpness_at_interpolation([x1, x2], pt.beta), 2 / etas)
    assert np.all(np.diff(pt.l1) > 0)  # norm rises with eta
    assert not theory.two_coordinate_slice_point([x1, x2], y, [0.1, 1.0]).feasible.any()


def test_jacobian_weights_dominate_bound_symbolically():
    u, v = sp.symbols("u v", real=True)
    m_uv = theory.jacobian_weight_formula("uv").expr
    assert sp.expand(m_uv - 2 * u * v - (u - v) ** 2) == 0
    m_pm = theory.jacobian_weight_formula("pm").expr
    assert sp.expand(m_pm - 4 * (u**2 - v**2) - 8 * v**2) == 0
