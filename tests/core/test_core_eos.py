"""The one-point shared-weight experiment of spec 01 §4, asserted as properties."""

import numpy as np
import pytest
from scipy.optimize import brentq

import diaglin as dl


@pytest.fixture(scope="module")
def sweep():
    ds = dl.data.one_point(5, seed=0)
    m = dl.get_model("ww")
    th0 = m.init(5, 0.01)
    gf = dl.gradient_flow(m, ds.X, ds.y, th0)
    etas = np.geomspace(0.1 * gf.eta_c, 5 * gf.eta_c, 90)
    r = dl.run_gd(m, ds.X, ds.y, etas, th0, eps=1e-12, max_steps=400_000)
    return ds, gf, etas, r


def test_flow_aligned_regime_is_flat_in_eta(sweep):
    ds, gf, etas, r = sweep
    low = r.converged & (etas < 0.8 * gf.eta_c)
    assert low.sum() > 20
    # the GF limit in closed form: beta_i = alpha² exp(lam x_i), sum_i x_i beta_i = y (spec 01
    # §3), where the Hessian is rank one with S = 4 sum_i x_i² beta_i
    x, y, a2 = ds.X[0], ds.y[0], 0.01**2
    lam = brentq(lambda t: np.sum(x * a2 * np.exp(t * x)) - y, 0, 100, xtol=1e-14)
    beta_gf = a2 * np.exp(lam * x)
    assert np.allclose(r.sharpness[low], 4 * np.sum(x**2 * beta_gf), rtol=0.02)
    assert np.allclose(r.l1_beta[low], beta_gf.sum(), rtol=0.02)


def test_eos_regime_hugs_two_over_eta_and_norm_grows(sweep):
    ds, gf, etas, r = sweep
    high = r.converged & (etas > 1.05 * gf.eta_c)
    assert high.sum() > 5
    s, bound = r.sharpness[high], 2 / etas[high]
    assert np.all(s <= bound * (1 + 1e-6))
    # Most EoS runs end just below 2/η; an occasional catapult lands on a flatter point.
    hug = s >= 0.9 * bound
    assert hug.mean() >= 0.75, s / bound
    l1 = r.l1_beta[high][hug]
    assert np.all(np.diff(l1) > 0)  # ℓ1 rises with η along the 2/η branch
    assert l1.max() > 1.2 * np.abs(gf.beta_final).sum()


def test_divergence_is_recorded_beyond_the_stable_range(sweep):
    ds, gf, etas, r = sweep
    assert r.diverged[-5:].all()
    assert not r.diverged[etas < gf.eta_c].any()
    # the largest η that converged is below the threshold where even the flattest
    # interpolator (S = 4 y x_min) is unstable
    flattest = 4 * ds.y[0] * ds.X[0].min()
    assert etas[r.converged].max() <= 2 / flattest * (1 + 1e-9)
