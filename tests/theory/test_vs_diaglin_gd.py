"""GD at finite step size against theory: stability, the finite-step identity, the EoS slice and
the generalization U-shape."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import diaglin
import theory


def _ww():
    return diaglin.get_model("ww")


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 6), log_alpha=st.floats(-2.5, -1))
def test_final_gd_sharpness_below_two_over_eta(seed, d, log_alpha):
    ds = diaglin.data.one_point(d, seed=seed)
    alpha = 10.0**log_alpha
    x, y = ds.X[0], ds.y[0]
    lo = 0.5 * theory.one_point_gf_path(x, y, alpha).eta_c
    # Beyond 1/(2 y x_min) no interpolator is stable; at it GD can still hit loss < eps
    # transiently near an unstable minimum (an artefact of the eps stop, seen once), so stay below.
    hi = 0.97 / (2 * y * x.min())
    etas = np.linspace(lo, hi, 16)
    r = diaglin.run_gd(_ww(), ds.X, ds.y, etas, _ww().init(d, alpha), eps=1e-12, max_steps=50_000)
    conv = r.status == diaglin.Status.CONVERGED
    assert conv.sum() >= 4
    ok = theory.is_linearly_stable(r.sharpness, etas * (1 - 1e-3))  # S < 2/eta (1 + 1e-3)
    # all converged runs on the lower half of the range; on the upper half the eps stop sometimes
    # catches a transient near an unstable minimum (S well above 2/eta), so "most" there.
    lower = conv & (etas <= 0.5 * (lo + hi))
    assert np.all(ok[lower])
    assert np.mean(ok[conv]) >= 0.85


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 6))
def test_min_norm_interpolator_unstable_above_its_critical_eta(seed, d):
    ds = diaglin.data.one_point(d, seed=seed)
    x, y = ds.X[0], ds.y[0]
    v = theory.min_norm_interpolator(x, y)
    eta_max = theory.min_norm_eta_max(x, y)
    assert np.isclose(eta_max, 1 / (2 * y * x.max()))
    w0 = np.sqrt(v.beta) + 1e-3  # the min-norm point, slightly perturbed
    etas = np.array([0.9, 1.1]) * eta_max
    r = diaglin.run_gd(_ww(), ds.X, ds.y, etas, w0, eps=1e-14, max_steps=100_000)
    # below: converges next to the vertex
    assert r.status[0] == diaglin.Status.CONVERGED
    assert np.max(np.abs(r.beta[0] - v.beta)) < 1e-2 * v.l1
    # above: cannot stay there
    assert (
        r.status[1] != diaglin.Status.CONVERGED or np.max(np.abs(r.beta[1] - v.beta)) > 0.05 * v.l1
    )


@settings(deadline=None, max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 3),
    frac=st.floats(0.1, 0.5),
    model=st.sampled_from(["uv", "pm"]),
)
def test_finite_step_identity_matches_run_gd(seed, n, frac, model):
    ds = diaglin.data.sparse_regression(n, n + 4, 2, seed=seed)
    X, y = ds.X, ds.y
    alpha = 0.1
    m = diaglin.get_model(model)
    c = 2.0 if model == "uv" else 4.0
    gamma = frac / (c * np.linalg.eigvalsh(X @ X.T)[-1] / n * (1 + np.max(np.abs(ds.beta_star))))
    r = diaglin.run_gd(m, X, y, np.array([gamma]), m.init(X.shape[1], alpha), eps=1e-26,
                       max_steps=60_000, record_grads=True)  # fmt: skip
    assume(r.status[0] == diaglin.Status.CONVERGED)
    G = r.grad_history[0, : r.steps[0]]
    assume(np.all(c / 2 * gamma * np.abs(G) < 1))
    beta = r.beta[0]
    pred = theory.finite_step_limit(X, y, alpha, gamma, G, model)
    scale = 1 + np.max(np.abs(beta))
    assert np.max(np.abs(pred.beta - beta)) < 1e-11 * scale
    assert np.max(np.abs(theory.finite_step_iterate(alpha, gamma, G, model) - beta)) < 1e-12 * scale


@settings(deadline=None, max_examples=8)
@given(
    seed=st.integers(0, 10_000),
    x1=st.floats(1.0, 1.5),
    x2=st.floats(0.4, 0.7),
    b1=st.floats(0.2, 1.0),
    b2=st.floats(0.2, 1.0),
)
def test_two_coordinate_eos_slice_and_generalization_u_shape(seed, x1, x2, b1, b2):
    x, bs = np.array([x1, x2]), np.array([b1, b2])
    y = float(x @ bs)
    alpha = 0.05
    path = theory.one_point_gf_path(x, y, alpha)
    S_star = theory.sharpness_at_interpolation(x, bs)
    # theorem's conditions: beta* is an interior point with 4 y x2 < S(beta*) < s_GF
    assume(4 * y * x2 * 1.15 < S_star < path.s_gf / 1.15)
    assert theory.optimum_is_neither_vertex(x, y, bs)
    eta_star = theory.optimal_eta_two_coordinate(x, y, bs)
    assert np.isclose(eta_star, 2 / S_star)
    etas = np.linspace(0.7 * path.eta_c, 0.95 / (2 * y * x2), 32)
    X, Y = x[None, :], np.array([y])
    r = diaglin.run_gd(_ww(), X, Y, etas, _ww().init(2, alpha), eps=1e-14, max_steps=60_000)
    conv = r.status == diaglin.Status.CONVERGED
    eos = conv & (etas > 1.05 * path.eta_c)
    assume(eos.sum() >= 10)
    # EoS branch: GD ends near the S = 2/eta slice point and its l1 norm rises with eta. EoS
    # dynamics are chaotic: a few eta land elsewhere (below 2/eta), so the claims are for most eta.
    # The slice point is a good predictor on the lower half of the EoS range (further up GD ends
    # a few % below 2/eta and the slice moves fast); checked there.
    near = eos & (etas < 0.5 * (path.eta_c + 1 / (2 * y * x2)))
    sl = theory.two_coordinate_slice_point(x, y, etas[near])
    dist = np.linalg.norm(r.beta[near] - sl.beta, axis=1) / np.linalg.norm(sl.beta, axis=1)
    assert np.median(dist) < 0.08 and np.mean(dist < 0.12) >= 0.7
    assert np.mean(np.diff(r.l1_beta[near]) > 0) >= 0.8
    ratio = r.sharpness[eos] * etas[eos] / 2  # S / (2/eta)
    # the eps stop can catch a transient low-loss point near an unstable minimum: "most", not all
    assert np.mean(ratio <= 1 + 1e-3) >= 0.85
    assert np.median(ratio) > 0.95
    # flow-aligned branch: GD ends near beta_GF
    flow = conv & (etas < 0.95 * path.eta_c)
    assert np.allclose(r.beta[flow], path.beta_end, atol=0.1 * np.abs(path.beta_end).max())
    # U-shape: the best eta is strictly inside the EoS range, close to eta* = 2/S(beta*)
    err = theory.expected_test_loss(r.beta[conv], bs)
    k = int(np.argmin(err))
    assert 0 < k < conv.sum() - 1
    assert abs(etas[conv][k] - eta_star) < 0.08 * eta_star
    assert err[k] < 0.2 * min(err[0], err[-1])
