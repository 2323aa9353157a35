"""The paper-1 phenomenon on real data, as properties: a one-hidden-layer tanh MLP on 50
standardised digits with MSE, every run from the same initialisation, GD until L < eps.

Below eta_c = 2/s_GF (gradient flow) the final sharpness and the parameter norm do not depend on
eta; every converged run is linearly stable (S <= 2/eta, up to the overshoot of stopping at
L < eps while the iterate oscillates); above eta_c some runs end on the edge S ~ 2/eta with a
larger norm; at the top of the range GD diverges.
"""

from __future__ import annotations

import numpy as np
import pytest

from diaglin import Status, data, gradient_flow, run_gd
from diaglin.nets import mlp

EPS = 0.05
FLOW = np.array([0.25, 0.5, 0.75, 0.9])  # eta / eta_c below the transition
EDGE = np.array([1.25, 1.4, 1.6, 1.8])  # above it, below divergence
TOP = 6.0
#: stopping at L < eps in mid-oscillation may end a hair above the edge: S eta/2 <= 1 + this.
EDGE_OVERSHOOT = 0.05


@pytest.fixture(scope="module")
def sweep():
    ds = data.digits(50, n_test=0, seed=0)
    net = mlp(64, (16,), 10, activation="tanh", loss="mse")
    theta0 = net.init(1.0, seed=0)
    gf = gradient_flow(net, ds.X, ds.y, theta0, eps=EPS, rtol=1e-8, atol=1e-10,
                       sharpness_points=100)  # fmt: skip
    assert gf.converged
    ratios = np.concatenate([FLOW, EDGE, [TOP]])
    res = run_gd(net, ds.X, ds.y, ratios * gf.eta_c, theta0, eps=EPS, max_steps=20_000)
    return ratios, gf, res


def test_below_eta_c_sharpness_and_norm_do_not_depend_on_eta(sweep):
    ratios, _gf, res = sweep
    flow = ratios < 1
    assert np.all(res.status[flow] == Status.CONVERGED)
    for stat in (res.final.sharpness[flow], res.final.l1_theta[flow]):
        assert np.ptp(stat) <= 0.01 * stat.mean()


def test_every_converged_run_is_linearly_stable(sweep):
    ratios, gf, res = sweep
    conv = res.status == Status.CONVERGED
    edge = res.final.sharpness[conv] * ratios[conv] * gf.eta_c / 2
    assert conv.sum() >= FLOW.size + 2
    assert np.all(edge <= 1 + EDGE_OVERSHOOT)


def test_above_eta_c_runs_sit_at_the_edge_with_a_larger_norm(sweep):
    ratios, gf, res = sweep
    conv = res.status == Status.CONVERGED
    at_edge = conv & (ratios > 1) & (res.final.sharpness * ratios * gf.eta_c / 2 >= 0.95)
    assert at_edge.sum() >= 2
    flow_norm = res.final.l1_theta[ratios < 1].max()
    assert res.final.l1_theta[at_edge].max() >= 1.01 * flow_norm
    flow_sharpness = res.final.sharpness[ratios < 1].min()
    assert np.all(res.final.sharpness[at_edge] < flow_sharpness)


def test_gd_diverges_at_the_top_of_the_range(sweep):
    ratios, _gf, res = sweep
    assert res.status[ratios == TOP][0] == Status.DIVERGED
