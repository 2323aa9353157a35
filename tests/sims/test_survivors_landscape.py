"""Landscape runs against independent computations: the PCA surface's explained-variance
fractions are those of the centred checkpoints (numpy's SVD, and the variance along each
component), and a decayed branch has no label noise after its decay — it is then plain GD at
factor·eta from its iterate at the decay step (one sample: full batch), so it does not depend on
the seed once the decay happened."""

from __future__ import annotations

import numpy as np
import pytest

from diaglin import Schedule, get_model, run_sgd
from sims.landscape.runs import Branches, branch_runs, pca_surface, two_coordinate_theta

# --- 5. explained variance ------------------------------------------------------------------


def test_pca_explained_variance_is_that_of_the_centred_checkpoints():
    rng = np.random.default_rng(3)
    steps = np.arange(0, 200, 10)
    # anisotropic cloud: the three leading variances are well separated, the rest are small
    scales = np.array([5.0, 2.0, 1.0, 0.3, 0.1, 0.05])
    theta = rng.normal(size=(3, steps.size, scales.size)) * scales + 7.0
    br = Branches(steps, theta, (40, 120), theta[:, -1])
    pts = np.concatenate([theta[0], theta[1][steps > 40], theta[2][steps > 120]])
    assert pts.shape[0] == steps.size + 15 + 7

    def sq(th):
        return np.sum(th**2, axis=-1)

    surf = pca_surface(br, sq, sq, grid=5)
    centred = pts - pts.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    np.testing.assert_allclose(surf.explained, s[:3] ** 2 / np.sum(s**2), rtol=1e-12)
    # the same as a variance fraction: variance along each component / total variance
    along = np.var(centred @ surf.pcs.T, axis=0)
    np.testing.assert_allclose(surf.explained, along / np.var(centred, axis=0).sum(), rtol=1e-10)
    assert 0 < surf.explained.sum() < 1 and (np.diff(surf.explained) < 0).all()


def test_pca_explained_variance_of_a_planar_cloud_is_exact():
    """Six checkpoints in a tilted plane, at (±3, ±1) and (0, ±1) in its own axes: variances
    6 and 1 along the axes, none across them, so the fractions are 6/7, 1/7, 0 (known answer)."""
    corners = np.array([[3.0, 1.0], [3.0, -1.0], [-3.0, 1.0], [-3.0, -1.0], [0.0, 1.0],
                        [0.0, -1.0]])  # fmt: skip
    basis = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0][:2]
    theta = (corners @ basis + 2.0)[None]  # one run (the main one), 6 records
    br = Branches(np.arange(6), theta, (), theta[:, -1])

    def sq(th):
        return np.sum(th**2, axis=-1)

    surf = pca_surface(br, sq, sq, grid=3)
    np.testing.assert_allclose(surf.explained, [6 / 7, 1 / 7, 0.0], atol=1e-12)


# --- 6. decayed branches have no label noise after the decay --------------------------------

ETA, SIGMA, FACTOR, TOTAL, EVERY = 0.02, 0.3, 0.1, 3000, 50
DECAYS = (0, 500, 1500)


@pytest.fixture(scope="module")
def plane():
    """The two-coordinate picture's data (one sample) and its branch runs for two seeds."""
    model = get_model("pm")
    X, y = np.array([[1.0, 1.0]]), np.array([1.0])
    theta0 = two_coordinate_theta(1.5, 1.5)
    runs = {seed: branch_runs(model, X, y, theta0, eta=ETA, sigma=SIGMA, decay_steps=DECAYS,
                              total_steps=TOTAL, factor=FACTOR, seed=seed, record_every=EVERY)
            for seed in (0, 1)}  # fmt: skip
    return model, X, y, runs


def test_a_branch_decayed_at_step_zero_does_not_depend_on_the_seed(plane):
    *_, runs = plane
    a, b = runs[0], runs[1]
    assert np.abs(a.theta[0] - b.theta[0]).max() > 1e-3  # the noisy main runs differ
    np.testing.assert_array_equal(a.theta[1], b.theta[1])
    np.testing.assert_array_equal(a.final[1], b.final[1])


def test_every_decayed_branch_is_noise_free_gd_after_its_decay(plane):
    model, X, y, runs = plane
    for seed, br in runs.items():
        for j, k in enumerate(DECAYS, start=1):
            before, after = br.steps <= k, br.steps >= k
            # up to its decay the branch is the main run (same noise)
            np.testing.assert_array_equal(br.theta[j][before], br.theta[0][before])
            start = br.theta[j][br.steps == k][0]
            gd = run_sgd(model, X, y, Schedule.constant(FACTOR * ETA), start, seeds=seed + 7,
                         max_steps=TOTAL - k, record_every=EVERY, stats="none")  # fmt: skip
            np.testing.assert_array_equal(gd.trajectory.steps + k, br.steps[after])
            np.testing.assert_allclose(
                br.theta[j][after],
                gd.trajectory.theta[0],
                rtol=1e-12,
                atol=1e-14,
                err_msg=f"seed {seed}, decay at {k}",
            )
            np.testing.assert_allclose(br.final[j], gd.theta[0], rtol=1e-12, atol=1e-14)
