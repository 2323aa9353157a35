"""``diaglin.run_sgd`` on small networks: mini-batch and label-noise SGD with schedules against a
plain loop over the network's own loss and gradient given the same random streams, label noise
on every target entry of a multi-output MSE network (against finite differences of an
independent forward pass), and batch independence."""

from __future__ import annotations

import numpy as np
import pytest
from nets_oracle import Spec, forward
from oracles import net_sgd_reference, sgd_draws
from test_nets_gd import WIDTH, D, N, classification, regression

import diaglin as dl
from diaglin import Schedule, Status
from diaglin.kernels import rng
from diaglin.nets import mlp

SCHEDULES = [Schedule.step_decay(0.2, at=40, factor=0.1, noise=0.3, noise_after=0.0),
             Schedule.cosine(0.3, 100, 0.01, noise=0.2),
             Schedule.warmup(20, Schedule.constant(0.25, noise=0.1)),
             Schedule.constant(1e4, noise=0.1)]  # the last one diverges  # fmt: skip


@pytest.mark.parametrize(("batch", "noise"), [(1, "gaussian"), (4, "rademacher"), (N, "gaussian")])
def test_every_run_follows_the_plain_loop_given_the_same_streams(batch, noise):
    net, X, y, th0 = regression()
    seeds = np.array([3, 4, 5, 6])
    r = dl.run_sgd(net, X, y, SCHEDULES, th0, seeds=seeds, max_steps=150, batch_size=batch,
                   label_noise=noise, stats="none")  # fmt: skip
    assert r.status[-1] == Status.DIVERGED and (r.status[:3] == Status.MAX_STEPS).all()
    for b in range(4):
        ref = net_sgd_reference(net, X, y, SCHEDULES[b], th0, int(seeds[b]), max_steps=150,
                                batch=batch, label_noise=noise)  # fmt: skip
        assert (r.status[b], r.steps[b]) == (ref.status, ref.steps), b
        np.testing.assert_allclose(r.theta[b], ref.theta, rtol=1e-9, atol=1e-12)
        # the reported loss is the clean full-batch loss of the reported iterate
        assert r.loss[b] == pytest.approx(net.loss(r.theta[b], X, y), rel=1e-12)


def test_label_noise_shifts_every_target_entry_of_a_multi_output_network():
    """One step of an MSE classifier (3 outputs, one-hot targets) with Gaussian label noise:
    θ1 = θ0 − η ∇ (1/m) Σ_i ½‖f(x_i) − t_i − σξ_i‖², the gradient by central differences of an
    independent forward pass, the rows and ξ (m, 3) from the run's stream."""
    r = np.random.default_rng(1)
    X, y = r.standard_normal((N, D)), r.integers(0, 3, N).astype(float)
    net = mlp(D, (WIDTH,), 3, loss="mse")
    th0 = net.init(1.0, seed=2)
    eta, sigma, m, seed = 0.3, 0.7, 5, 11
    res = dl.run_sgd(net, X, y, Schedule.constant(eta, noise=sigma), th0, seeds=[seed],
                     max_steps=1, batch_size=m, stats="none")  # fmt: skip
    rows, xi = sgd_draws(rng.keys(np.array([seed]))[0], 0, N, m, sigma, "gaussian", C=3)
    assert np.abs(xi).min() > 0 and len(set(rows.tolist())) == m
    T = np.eye(3)[y[rows].astype(int)] + sigma * xi
    spec = Spec.of(net)

    def batch_loss(th):
        f, _, _ = forward(spec, th, X[rows])
        return 0.5 * np.mean(np.sum((f - T) ** 2, axis=1))

    h, P = 1e-6, th0.size
    grad = np.array([(batch_loss(th0 + h * e) - batch_loss(th0 - h * e)) / (2 * h)
                     for e in np.eye(P)])  # fmt: skip
    np.testing.assert_allclose(res.theta[0], th0 - eta * grad, rtol=1e-7, atol=1e-9)
    # without the noise the step is a different one: the test sees the noise
    assert np.abs(res.theta[0] - (th0 - eta * net.grad(th0, X[rows], y[rows]))).max() > 1e-4


def test_a_network_run_is_bitwise_identical_alone_and_in_any_batch():
    net, X, y, th0 = regression()
    kw = dict(max_steps=300, batch_size=3, record_every=50, average_last=4, stats="none")
    batch = dl.run_sgd(net, X, y, SCHEDULES[:3], th0, seeds=[7, 8, 9], **kw)
    for i in range(3):
        alone = dl.run_sgd(net, X, y, SCHEDULES[i], th0, seeds=[7 + i], **kw)
        np.testing.assert_array_equal(alone.theta[0], batch.theta[i])
        np.testing.assert_array_equal(alone.averaged.theta[0], batch.averaged.theta[i])
        np.testing.assert_array_equal(alone.trajectory.theta[0], batch.trajectory.theta[i])


def test_label_noise_needs_an_mse_network():
    net, X, y, th0 = classification()  # softmax cross-entropy
    with pytest.raises(ValueError, match="label noise"):
        dl.run_sgd(net, X, y, Schedule.constant(0.1, noise=0.1), th0, seeds=[0], max_steps=5)
    # mini-batch SGD without label noise is fine for cross-entropy
    res = dl.run_sgd(net, X, y, Schedule.constant(0.1), th0, seeds=[0], max_steps=5,
                     batch_size=4, stats="none")  # fmt: skip
    assert res.status[0] == Status.MAX_STEPS
