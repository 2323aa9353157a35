"""Properties a mutation audit showed the suite did not pin down: a schedule whose last phase is
a ramp (held at the ramp's final step size afterwards, in the schedule, the kernels' view and a
run), the divergence floor of a multi-output network with label noise (L(f ≡ 0) + C σ²/2), the
counter-based random streams (recorded draws and the documented SplitMix64 formula), and s_GF
refined when the largest sampled sharpness is next to the end of the gradient-flow path."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import beta_and_jacobian, sgd_draws

import diaglin as dl
from diaglin import Schedule, Status
from diaglin.kernels import rng
from diaglin.kernels.tile import GAUSSIAN, draw_step
from diaglin.nets import mlp
from diaglin.schedules import Phase, stack_tables

# --- a schedule that ends in a ramp ------------------------------------------------------------

#: a constant phase of 3 steps, then a ramp of 8 steps from 0.4 to 0.1 that is the last phase
HEAD, RAMP, ETA0, ETA1 = 3, 8, 0.4, 0.1


def _ending_in_a_ramp(shape):
    return Schedule((Phase(HEAD, 0.2, noise=0.5), Phase(RAMP, ETA0, ETA1, shape, noise=0.3)))


def _documented_eta(shape, k):
    """η_k written from the module docstring: 0.2 for k < 3, the ramp from 0.4 to 0.1 over steps
    3..10 (fraction (k − 3)/8), then 0.1 for ever."""
    k = np.asarray(k, dtype=float)
    frac = np.clip((k - HEAD) / RAMP, 0.0, 1.0)
    if shape == "linear":
        ramp = ETA0 + (ETA1 - ETA0) * frac
    else:
        ramp = ETA1 + (ETA0 - ETA1) * 0.5 * (1 + np.cos(np.pi * frac))
    return np.where(k < HEAD, 0.2, np.where(k >= HEAD + RAMP, ETA1, ramp))


@pytest.mark.parametrize("shape", ["linear", "cosine"])
def test_a_schedule_ending_in_a_ramp_holds_the_ramps_final_step_size(shape):
    """No constructor leaves a ramp last (each appends its own hold): built from phases, the
    step size past the ramp's end is η_end, not the ramp's first η, and the noise stays the
    ramp's."""
    sched = _ending_in_a_ramp(shape)
    k = np.concatenate([np.arange(40), [10**6, 10**12]])
    np.testing.assert_allclose(sched.eta(k), _documented_eta(shape, k), rtol=1e-14, atol=1e-16)
    np.testing.assert_array_equal(sched.eta([HEAD + RAMP, 10**9]), [ETA1, ETA1])
    np.testing.assert_array_equal(sched.noise([0, HEAD - 1, HEAD, HEAD + RAMP, 10**9]),
                                  [0.5, 0.5, 0.3, 0.3, 0.3])  # fmt: skip
    assert sched.max_noise == 0.5


@pytest.mark.parametrize("shape", ["linear", "cosine"])
def test_the_kernels_read_the_hold_after_a_final_ramp_from_the_table(shape):
    """The stochastic kernels' step sizes (``draw_step``, from ``stack_tables``) past the ramp
    are η_end too, beside a run with a longer table (padded with copies of the last row)."""
    scheds = [_ending_in_a_ramp(shape), Schedule.multistep(0.3, [2, 4, 6, 8, 50], 0.5)]
    table = stack_tables(scheds)
    keys = rng.keys(np.array([0, 1]))
    steps = [0, 2, 3, 7, 10, 11, 12, 60, 10**6]
    got = [draw_step(table, keys, GAUSSIAN, np.array([0]), s, 4, 1, 1)[0][0] for s in steps]
    np.testing.assert_allclose(got, _documented_eta(shape, steps), rtol=1e-14, atol=1e-16)


def test_a_run_on_a_schedule_ending_in_a_ramp_takes_eta_end_after_it():
    """Full-batch, noise-free ``run_sgd`` on such a schedule is GD with the documented η_k: a
    plain loop (closed-form β and Jacobian) with η_k written out reproduces the iterates."""
    ds = dl.data.sparse_regression(6, 8, 2, seed=3)
    X, y = ds.X, ds.y
    m = dl.get_model("pm")
    th0 = m.init(8, 0.5)
    sched = Schedule((Phase(HEAD, 0.02), Phase(RAMP, 0.05, 0.005, "linear")))
    steps = 30
    res = dl.run_sgd(m, X, y, sched, th0, seeds=[4], max_steps=steps, batch_size=6,
                     record_every=1, stats="none")  # fmt: skip
    assert res.status[0] == Status.MAX_STEPS
    th = th0.copy()
    n, d = X.shape
    for k in range(steps + 1):
        np.testing.assert_allclose(res.trajectory.theta[0, k], th, rtol=1e-10, atol=1e-13)
        eta = 0.02 if k < HEAD else 0.05 + (0.005 - 0.05) * min((k - HEAD) / RAMP, 1.0)
        beta, J = beta_and_jacobian("pm", th, d)
        th = th - eta * (J * (X.T @ (X @ beta - y) / n)).reshape(-1)


# --- the divergence floor of a multi-output network --------------------------------------------


@pytest.mark.parametrize("C", [3, 5])
def test_a_multi_output_networks_divergence_floor_counts_every_output(C):
    """The bound is diverge_factor · max(L(θ0), L(f ≡ 0) + C σ²/2) (diaglin.sgd): label noise
    on each of the C targets of a row adds C σ²/2 to the expected loss. From θ0 = 0 the network
    outputs f ≡ 0, so the first noisy batch loss is (1/n) Σ_i ½‖t_i + σ ξ_i‖² (one-hot t_i,
    Rademacher ξ_i from the run's stream): a factor 0.1 % above (below) that loss over the
    floor must keep the run (stop it at step 0 as diverged)."""
    r = np.random.default_rng(2)
    n, d, sigma, seed = 10, 4, 1.5, 21
    X, y = r.standard_normal((n, d)), r.integers(0, C, n).astype(float)
    net = mlp(d, (3,), C, loss="mse")
    th0 = np.zeros(net.init(1.0).size)  # every weight 0: the outputs are exactly 0
    T = np.eye(C)[y.astype(int)]
    _, xi = sgd_draws(rng.keys(np.array([seed]))[0], 0, n, n, sigma, "rademacher", C=C)
    batch_loss = 0.5 * np.mean(np.sum((T + sigma * xi) ** 2, axis=1))
    floor = 0.5 * np.mean(np.sum(T * T, axis=1)) + 0.5 * C * sigma**2  # > L(θ0) = 1/2
    # a floor with the noise of one output only would stop the run at once
    assert batch_loss > 1.5 * (0.5 + 0.5 * sigma**2)
    outcome = {}
    for factor in (1.001 * batch_loss / floor, 0.999 * batch_loss / floor):
        res = dl.run_sgd(net, X, y, Schedule.constant(1e-3, noise=sigma), th0, seeds=[seed],
                         max_steps=0, batch_size=n, label_noise="rademacher",
                         diverge_factor=factor, stats="none")  # fmt: skip
        outcome[factor > batch_loss / floor] = (int(res.status[0]), int(res.steps[0]))
    assert outcome[True] == (Status.MAX_STEPS, 0)
    assert outcome[False] == (Status.DIVERGED, 0)


# --- the counter-based random streams ----------------------------------------------------------

#: seeds of the recorded streams and their keys mix(seed · G + 1)
SEEDS = np.array([0, 1, 2**40 + 7])
KEYS = [0x5692161D100B05E5, 0x910A2DEC89025CC1, 0x0CD1383358365D7F]
#: (seed index, step, draw): uniform, normal, rademacher, recorded from diaglin 2025 streams
RECORDED = [
    ((0, 0, 0), 0.7497482413580301, 0.6736977112341549, -1.0),
    ((0, 0, 1), 0.37239342287916577, -0.3255209284664451, 1.0),
    ((0, 1, 0), 0.01304968854214239, -2.22472988056949, 1.0),
    ((1, 0, 5), 0.7743991716672016, 0.7534131940651771, -1.0),
    ((1, 7, 3), 0.8667569935678229, 1.1111913055523859, -1.0),
    ((2, 2**20, 65535), 0.39398150526464704, -0.26895669102906794, 1.0),
]
#: rademacher draws 0..11 of step 0 of seed 0
RECORDED_SIGNS = [-1, 1, 1, -1, 1, -1, 1, 1, 1, -1, -1, -1]


def test_the_random_streams_reproduce_their_recorded_draws():
    """Recorded constants on purpose: every stochastic result (rows, label noise) is a function
    of these streams, so a change of stream changes every recorded SGD result and must be a
    deliberate one (update these values with it). A shifted counter passes every statistical
    test and the reference loop (which calls the same draws); only recorded draws see it."""
    keys = rng.keys(SEEDS)
    assert [int(k) for k in keys] == KEYS
    for (b, step, draw), u, z, pm in RECORDED:
        assert rng.uniform(keys[b], step, draw) == u, (b, step, draw)
        assert rng.normal(keys[b], step, draw) == pytest.approx(z, rel=1e-14, abs=1e-15)
        assert rng.rademacher(keys[b], step, draw) == pm, (b, step, draw)
    assert [rng.rademacher(keys[0], 0, j) for j in range(12)] == RECORDED_SIGNS


_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _splitmix(z):
    """The SplitMix64 output function on Python integers (mod 2^64)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def test_the_streams_follow_the_documented_splitmix64_formula():
    """key = mix(seed · G + 1) and draw c = step · 2^16 + draw is mix(key + (c + 1) · G)
    (diaglin.kernels.rng), its top 53 bits · 2^-53 the uniform, Φ⁻¹ of the bits + ½ the normal:
    recomputed on Python integers."""
    from scipy.special import ndtri

    keys = rng.keys(SEEDS)
    for seed, key in zip(SEEDS.tolist(), keys):
        assert int(key) == _splitmix((seed * _GOLDEN + 1) & _MASK)
    for b, step, draw in [(0, 0, 0), (0, 0, 1), (0, 3, 0), (1, 1, 9), (2, 2**20, 65535)]:
        c = (step << 16) + draw
        bits = _splitmix((int(keys[b]) + (c + 1) * _GOLDEN) & _MASK) >> 11
        assert rng.uniform(keys[b], step, draw) == bits * 2.0**-53, (b, step, draw)
        z = ndtri((bits + 0.5) * 2.0**-53)
        assert rng.normal(keys[b], step, draw) == pytest.approx(z, rel=1e-13, abs=1e-15)


# --- s_GF next to the end of the path ----------------------------------------------------------


def test_s_gf_is_refined_when_the_largest_sampled_sharpness_is_next_to_the_end():
    """β = w³, one point x = y = 1: on the gradient-flow path w increases from w0, and the
    (scalar) Hessian is H(w) = 15 w⁴ − 6 w, whose modulus peaks at w³ = 1/10 with
    |H| = 4.5 · 10^(−1/3) before it returns to 0 at w³ = 2/5. The path is stopped (through
    eps: L = ½(w³ − 1)² at the end) just inside the solver step after the one that samples the
    largest |H| next to the peak, so the largest sampled value is next to the last point; s_GF
    must still be the peak (the path is 1-D: any point of it is on the curve, whatever the
    integration error)."""
    m = dl.get_model("power", depth=3)
    X, y, th0 = np.array([[1.0]]), np.array([1.0]), np.array([0.3])

    def sharp(w):
        return np.abs(15 * w**4 - 6 * w)

    s_peak, w_peak = 4.5 * 0.1 ** (1 / 3), 0.1 ** (1 / 3)
    # the solver's steps do not depend on eps (it only stops them): take them from a long path
    full = dl.gradient_flow(m, X, y, th0, eps=1e-8)
    w = full.theta[:, 0]
    assert np.all(np.diff(w) > 0) and w[-1] > w_peak
    # the largest sampled |H| before H returns to 0 (at w³ = 2/5; it then grows to 9 at w = 1)
    i = int(np.argmax(np.where(w**3 < 0.4, sharp(w), -1.0)))
    assert 0 < i < w.size - 1 and w[i - 1] < w_peak < w[i + 1]
    # end inside step i → i + 1, past the peak, where |H| is below the sample at i
    w_end = w[i] + 0.99 * (w[i + 1] - w[i])
    assert w_end > w_peak and sharp(w_end) < sharp(w[i])
    gf = dl.gradient_flow(m, X, y, th0, eps=0.5 * (w_end**3 - 1) ** 2)
    assert gf.converged
    np.testing.assert_array_equal(gf.theta[: i + 1, 0], w[: i + 1])  # the same solver steps
    assert gf.theta.shape[0] == i + 2 and int(np.argmax(gf.sharpness)) == i
    assert gf.sharpness[i] < s_peak * (1 - 1e-6)  # the samples miss the peak
    assert gf.s_gf == pytest.approx(s_peak, rel=1e-9)
    assert gf.t[i - 1] < gf.t_s_gf < gf.t[i + 1]
    assert gf.eta_c == pytest.approx(2 / s_peak, rel=1e-9)


@pytest.mark.parametrize("method, fractions", [("dop853", (0.1, 1e-3)), ("dual", (0.3, 0.1))])
def test_s_gf_is_refined_when_the_largest_sampled_sharpness_is_the_last_point(method, fractions):
    """As above, with the path stopped just past the peak, inside the step after the sample
    next to it: the largest sample is then the last point, and the peak lies between it and
    the point before (the refinement once skipped both end points). ``fractions``: where in
    that step the path stops, so that the last sample misses the peak by more than 1e-9
    (the dual integrator's steps are shorter)."""
    m = dl.get_model("power", depth=3)
    X, y, th0 = np.array([[1.0]]), np.array([1.0]), np.array([0.3])
    s_peak, w_peak = 4.5 * 0.1 ** (1 / 3), 0.1 ** (1 / 3)
    w = dl.gradient_flow(m, X, y, th0, eps=1e-8, method=method).theta[:, 0]
    i = int(np.searchsorted(w, w_peak))  # w[i - 1] < w_peak <= w[i]
    for w_end in (w_peak + f * (w[i] - w_peak) for f in fractions):
        gf = dl.gradient_flow(m, X, y, th0, eps=0.5 * (w_end**3 - 1) ** 2, method=method)
        assert gf.converged and int(np.argmax(gf.sharpness)) == gf.t.size - 1
        assert gf.sharpness[-1] < s_peak * (1 - 1e-9)  # the samples miss the peak
        assert gf.s_gf == pytest.approx(s_peak, rel=1e-9)
        assert gf.t[-2] < gf.t_s_gf <= gf.t[-1]
