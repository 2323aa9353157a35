"""Exact derivatives of ``diaglin.nets.Network`` on every architecture (MLPs with 1–3 hidden
layers, CNNs with 1–3 convolutions), activation, loss, parameterisation and bias setting:
loss and outputs against an independent NumPy forward pass (``nets_oracle``), the gradient
against central differences of the loss, the Hessian against central differences of the
gradient, HVPs / batched HVPs / the trace against the Hessian, and the end-to-end linear map
``beta`` against the outputs of linear networks.

ReLU is differentiable only away from its kink: its instances are drawn (``assume``) with every
hidden pre-activation at least ``RELU_MARGIN`` from 0, and every finite-difference point is
checked to keep the base point's ReLU sign pattern (so the loss is smooth on the segment the
difference quotient spans).
"""

from __future__ import annotations

from dataclasses import dataclass

import nets_oracle as O
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import diaglin as dl
from diaglin.nets import ACTIVATIONS, Network, cnn, mlp

#: (arch, number of hidden layers): every architecture the package builds
ARCHS = [("mlp", 1), ("mlp", 2), ("mlp", 3), ("cnn", 1), ("cnn", 2), ("cnn", 3)]
IMAGES = [(4, 4, 1), (3, 4, 2), (2, 3, 1), (1, 2, 2)]
#: smallest |pre-activation| of a ReLU instance: far above the FD steps' effect (~1e-5 · 10)
RELU_MARGIN = 1e-3
H_GRAD = 1e-5  # central-difference step of the loss: error ~h²·L''' + 1e-16·L/h
H_HESS = 1e-5  # central-difference step of the gradient: error ~h²·L'''' + 1e-16·|g|/h
#: exact identities (HVP = H v, trace) are checked to 1e-12 of max|H| + ROUND_FLOOR: the
#: entries are sums of terms of order one here (θ, X of order one), each rounded to ~1e-16,
#: also where cancellation makes the Hessian itself small
ROUND_FLOOR = 1e-2


@dataclass(frozen=True)
class Instance:
    net: Network
    X: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    seed: int

    @property
    def spec(self) -> O.Spec:
        return O.Spec.of(self.net)


@st.composite
def instances(draw, arch: str, depth: int, activation: str, criterion=None, bias=None):
    """A network of the given architecture and activation, with the loss, parameterisation,
    bias (unless given), tiny widths, number of samples and θ drawn; θ ~ N(0, scale²) in every
    coordinate (biases too, so they are exercised away from their zero initialisation)."""
    if criterion is None:
        criterion = draw(st.sampled_from(["mse", "ce"]))
    n_out = draw(st.integers(2 if criterion == "ce" else 1, 3))
    param = draw(st.sampled_from(["ntk", "mup"]))
    if bias is None:
        bias = draw(st.booleans())
    widths = tuple(draw(st.lists(st.integers(1, 4 if arch == "mlp" else 3), min_size=depth,
                                 max_size=depth)))  # fmt: skip
    if arch == "mlp":
        d_in = draw(st.integers(1, 4))
        net = mlp(d_in, widths, n_out, activation=activation, loss=criterion, param=param,
                  bias=bias)  # fmt: skip
    else:
        net = cnn(draw(st.sampled_from(IMAGES)), widths, n_out, activation=activation,
                  loss=criterion, param=param, bias=bias)  # fmt: skip
    n = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31))
    scale = draw(st.floats(0.3, 1.5))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, net.d_in))
    if criterion == "mse" and n_out == 1:
        y = rng.standard_normal(n)
    else:
        y = rng.integers(0, n_out, size=n).astype(float)
    theta = scale * rng.standard_normal(net.init().size)
    inst = Instance(net, X, y, theta, seed)
    if activation == "relu":
        _, pre, _ = O.forward(inst.spec, theta, X)
        assume(min(np.abs(z).min() for z in pre) >= RELU_MARGIN)
    return inst


def all_cases(test):
    """Run ``test(inst)`` on instances of every architecture × activation."""
    return pytest.mark.parametrize("arch,depth", ARCHS)(
        pytest.mark.parametrize("activation", ACTIVATIONS)(test)
    )


def relu_patterns(inst: Instance, thetas: np.ndarray) -> np.ndarray:
    """Sign patterns (rows of θ) of every hidden pre-activation, by the oracle."""
    return np.array([np.concatenate([(z > 0).ravel() for z in O.forward(inst.spec, t, inst.X)[1]])
                     for t in thetas])  # fmt: skip


def perturbed(theta: np.ndarray, h: float) -> np.ndarray:
    """(2P, P): θ + h e_k for every k, then θ − h e_k."""
    E = h * np.eye(theta.size)
    return np.concatenate([theta + E, theta - E])


def check_smooth_segment(inst: Instance, points: np.ndarray) -> None:
    """For ReLU: every FD point has the base point's sign pattern (drawn with a margin, so
    this is a consistency check of the instance, not a filter)."""
    if inst.net.activation == "relu":
        base = relu_patterns(inst, inst.theta[None])[0]
        assert (relu_patterns(inst, points) == base).all()


# --- values: the independent forward pass ---------------------------------------------------


@settings(max_examples=4, deadline=None)
@all_cases
@given(data=st.data())
def test_loss_and_outputs_match_an_independent_forward_pass(arch, depth, activation, data):
    inst = data.draw(instances(arch, depth, activation))
    net, X, y, th = inst.net, inst.X, inst.y, inst.theta
    f_ref, _, _ = O.forward(inst.spec, th, X)
    f = net.outputs(th, X)
    assert f.shape == (X.shape[0], net.n_out)
    np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-13 * (1 + np.abs(f_ref).max()))
    # L is rounded relative to the outputs it is computed from (|f| can exceed L ≪ 1)
    L_abs = 1e-14 * (1 + np.abs(f_ref).max())
    L_ref = O.loss(inst.spec, th, X, y)
    assert net.loss(th, X, y) == pytest.approx(L_ref, rel=1e-11, abs=L_abs)
    # a batch of runs: row by row the same numbers as one run at a time
    batch = np.stack([th, 0.5 * th, -th])
    L_batch = net.loss(batch, X, y)
    assert L_batch.shape == (3,)
    for r, t in enumerate(batch):
        assert L_batch[r] == pytest.approx(O.loss(inst.spec, t, X, y), rel=1e-11, abs=L_abs)
    np.testing.assert_allclose(net.outputs(batch, X)[2], O.forward(inst.spec, -th, X)[0],
                               rtol=1e-12, atol=1e-13 * (1 + np.abs(f_ref).max()))  # fmt: skip
    if net.n_out > 1:
        acc = np.mean(f_ref.argmax(axis=1) == y.astype(int))
        assert net.accuracy(th, X, y) == pytest.approx(acc)


# --- gradient and Hessian against finite differences --------------------------------------


@settings(max_examples=4, deadline=None)
@all_cases
@given(data=st.data())
def test_gradient_matches_central_differences_of_the_loss(arch, depth, activation, data):
    inst = data.draw(instances(arch, depth, activation))
    net, X, y, th = inst.net, inst.X, inst.y, inst.theta
    pts = perturbed(th, H_GRAD)
    check_smooth_segment(inst, pts)
    L = net.loss(pts, X, y)  # all 2P perturbed losses in one batched call
    P = th.size
    fd = (L[:P] - L[P:]) / (2 * H_GRAD)
    g = net.grad(th, X, y)
    # truncation ~h²·L''' (≈1e-10 here) plus the rounding of L over 2h: L is computed from
    # outputs of size |f| (cross-entropy as logsumexp(f) − f_y, also when L ≪ |f|), so its
    # rounding is ~1e-16·(L + |f|), i.e. ≈1e-11·(L + |f|) after dividing by h
    f_max = np.abs(net.outputs(th, X)).max()
    L0 = net.loss(th, X, y)
    err = np.abs(g - fd).max()
    assert err <= 1e-7 * np.abs(g).max() + 1e-9 * (1 + L0 + f_max), (err, np.abs(g).max())


@settings(max_examples=3, deadline=None)
@all_cases
@given(data=st.data())
def test_hessian_matches_central_differences_of_the_gradient(arch, depth, activation, data):
    inst = data.draw(instances(arch, depth, activation))
    net, X, y, th = inst.net, inst.X, inst.y, inst.theta
    pts = perturbed(th, H_HESS)
    check_smooth_segment(inst, pts)
    P = th.size
    G = np.array([net.grad(t, X, y) for t in pts])
    fd = (G[:P] - G[P:]) / (2 * H_HESS)  # fd[k] = ∂g/∂θ_k
    H = net.hessian(th, X, y)
    assert H.shape == (P, P)
    scale = np.abs(H).max()
    assert np.abs(H - H.T).max() <= 1e-13 * scale
    err = np.abs(H - fd).max()
    assert err <= 1e-6 * scale + 1e-9 * (1 + np.abs(G).max()), (err, scale)
    # the public entry point returns the same matrix
    np.testing.assert_array_equal(dl.hessian(net, th, X, y), H)


# --- HVPs, batched HVPs and the trace against the Hessian -----------------------------------


@settings(max_examples=3, deadline=None)
@all_cases
@given(data=st.data())
def test_hvp_batched_hvp_and_trace_match_the_hessian(arch, depth, activation, data):
    inst = data.draw(instances(arch, depth, activation))
    net, X, y, th = inst.net, inst.X, inst.y, inst.theta
    rng = np.random.default_rng(inst.seed + 1)
    P = th.size
    batch = np.stack([th, th + 0.3 * rng.standard_normal(P), -0.7 * th])
    Hs = net.hessian(batch, X, y)
    assert Hs.shape == (3, P, P)
    np.testing.assert_allclose(Hs[0], net.hessian(th, X, y), rtol=0, atol=0)
    scale = np.abs(Hs).max(axis=(1, 2)) + ROUND_FLOOR
    V = rng.standard_normal((3, P))
    tol = 1e-12 * scale * np.abs(V).sum(axis=1)
    hv = net.hvp(th, X, y, V[0])
    assert np.abs(hv - Hs[0] @ V[0]).max() <= tol[0]
    matvec = net.batched_hvp(batch, X, y)
    HV = matvec(V)
    for r in range(3):
        assert np.abs(HV[r] - Hs[r] @ V[r]).max() <= tol[r], r
    # rows: pick runs (with repeats) for the vectors
    rows = np.array([2, 0, 2])
    HV = matvec(V, rows)
    for r, k in enumerate(rows):
        assert np.abs(HV[r] - Hs[k] @ V[r]).max() <= 1e-12 * scale[k] * np.abs(V[r]).sum(), r
    tr = net.hessian_trace(batch, X, y)
    assert tr.shape == (3,)
    for r in range(3):
        assert abs(tr[r] - np.trace(Hs[r])) <= 1e-12 * P * scale[r], r
    assert net.hessian_trace(th, X, y) == tr[0]


@settings(max_examples=3, deadline=None)
@all_cases
@given(data=st.data())
def test_sharpness_is_the_extreme_eigenvalue_of_the_hessian(arch, depth, activation, data):
    inst = data.draw(instances(arch, depth, activation))
    net, X, y, th = inst.net, inst.X, inst.y, inst.theta
    ev = np.linalg.eigvalsh(net.hessian(th, X, y))
    s = dl.sharpness(net, th, X, y)
    tol = 1e-10 * np.abs(ev).max()
    assert s.top == pytest.approx(ev[-1], abs=tol)
    assert s.bottom == pytest.approx(ev[0], abs=tol)
    assert s.top_abs == pytest.approx(np.abs(ev).max(), abs=tol)
    assert s.trace == pytest.approx(ev.sum(), abs=1e-10 * np.abs(ev).sum())


# --- the output layer: the curvature of the loss in the outputs --------------------------------


@settings(max_examples=3, deadline=None)
@all_cases
@given(data=st.data())
def test_output_layer_block_is_the_gauss_newton_matrix(arch, depth, activation, data):
    """f is linear in the output layer's weights and biases (θ_L), so ∇²_{θ_L} L is exactly
    (1/n) Σ_i J_iᵀ Λ_i J_i with J_i = ∂f_i/∂θ_L (J_i = m a_i ⊗ I for the weights, I for the
    biases) and Λ_i = ∇²_f ℓ: I for MSE, diag(p) − p pᵀ for cross-entropy — positive
    semidefinite in both cases. Built here from the oracle's last hidden activations."""
    inst = data.draw(instances(arch, depth, activation))
    net, X, y, th = inst.net, inst.X, inst.y, inst.theta
    spec = inst.spec
    f, _, post = O.forward(spec, th, X)
    a = post[-1]  # (n, J) inputs of the output layer
    m = spec.multipliers()[-1]
    C, J = net.n_out, a.shape[1]
    Lam = O.output_curvature(spec, f)
    n = X.shape[0]
    # d f_c / d W[o, j] = m a_j [c = o];  d f_c / d b[o] = [c = o]
    jac = np.zeros((n, C, C * J + (C if net.bias else 0)))
    for o in range(C):
        jac[:, o, o * J : (o + 1) * J] = m * a
        if net.bias:
            jac[:, o, C * J + o] = 1.0
    GN = np.einsum("ncp,ncd,ndq->pq", jac, Lam, jac) / n
    H = net.hessian(th, X, y)
    k = GN.shape[0]
    block = H[-k:, -k:]
    np.testing.assert_allclose(block, GN, rtol=0, atol=1e-12 * (1 + np.abs(GN).max()))
    assert np.linalg.eigvalsh(block)[0] >= -1e-12 * (1 + np.abs(GN).max())


@settings(max_examples=3, deadline=None)
@pytest.mark.parametrize("arch,depth", ARCHS)
@given(data=st.data())
def test_cross_entropy_is_flat_along_a_common_shift_of_the_output_biases(arch, depth, data):
    """Softmax cross-entropy is invariant under f → f + t·1, i.e. under adding t to every
    output bias: the gradient is orthogonal to that direction v and H v = 0 (exactly in
    exact arithmetic)."""
    activation = data.draw(st.sampled_from(ACTIVATIONS))
    inst = data.draw(instances(arch, depth, activation, criterion="ce", bias=True))
    net, X, y, th = inst.net, inst.X, inst.y, inst.theta
    v = np.zeros(th.size)
    v[-net.n_out :] = 1.0
    g = net.grad(th, X, y)
    H = net.hessian(th, X, y)
    assert abs(g @ v) <= 1e-14 * (1 + np.abs(g).sum())
    assert np.abs(net.hvp(th, X, y, v)).max() <= 1e-14 * (1 + np.abs(H).max())
    assert np.abs(H @ v).max() <= 1e-14 * (1 + np.abs(H).max())
    L_abs = 1e-14 * (1 + np.abs(net.outputs(th, X)).max())  # L is rounded relative to |f|
    assert net.loss(th + 3.0 * v, X, y) == pytest.approx(net.loss(th, X, y), abs=L_abs)


# --- beta: the end-to-end linear map -----------------------------------------------------------


@settings(max_examples=4, deadline=None)
@pytest.mark.parametrize("arch,depth", ARCHS)
@given(data=st.data())
def test_beta_of_a_linear_network_gives_its_outputs(arch, depth, data):
    """With the identity activation the network is affine: f(x) = B x + f(0) with
    B = beta.reshape(n_out, d) (f(0) = 0 without biases). ``beta`` does not depend on the
    activation (it is the network with every activation replaced by the identity)."""
    inst = data.draw(instances(arch, depth, "linear"))
    net, X, th = inst.net, inst.X, inst.theta
    beta = net.beta(th)
    assert beta.shape == (net.n_out * net.d_in,)
    Bmat = beta.reshape(net.n_out, net.d_in)
    f = net.outputs(th, X)
    f0 = net.outputs(th, np.zeros((1, net.d_in)))[0]
    if not net.bias:
        assert np.abs(f0).max() == 0.0
    scale = 1 + np.abs(f).max()
    np.testing.assert_allclose(X @ Bmat.T + f0, f, rtol=0, atol=1e-12 * scale)
    # the same against the oracle: the columns of B are the responses to the unit inputs
    E = np.eye(net.d_in)
    f_unit, _, _ = O.forward(inst.spec, th, E)
    f_zero, _, _ = O.forward(inst.spec, th, np.zeros((1, net.d_in)))
    np.testing.assert_allclose(Bmat, (f_unit - f_zero).T, rtol=0, atol=1e-12 * scale)
    # batched, and the same map for every activation
    batch = np.stack([th, 2 * th])
    np.testing.assert_allclose(net.beta(batch), np.stack([beta, net.beta(2 * th)]), rtol=0,
                               atol=0)  # fmt: skip
    for name in ACTIVATIONS:
        other = Network(net.arch, net.in_shape, net.hidden, net.n_out, name, net.criterion,
                        net.param, net.bias)  # fmt: skip
        np.testing.assert_array_equal(other.beta(th), beta)


# --- initialisation -----------------------------------------------------------------------------


INIT_ARCHS = ARCHS


@pytest.mark.parametrize("arch,depth", INIT_ARCHS)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mup_and_ntk_start_as_the_same_function_up_to_the_output_scale(arch, depth, activation):
    """arch.py: at initialisation (same seed) every layer's effective weights m·W have the
    same law under both parameterisations, and the draws are the same standard normals scaled
    by α·s_l, so the μP network is the NTK one with its output layer scaled by 1/√(fan-in)."""
    image = (4, 4, 1) if arch == "cnn" else (1, 1, 5)
    widths = (6, 5, 4)[:depth]
    nets = {p: Network(arch, image, widths, 3, activation, "mse", p, True) for p in ("ntk", "mup")}
    X = np.random.default_rng(0).standard_normal((6, nets["ntk"].d_in))
    fan_in = O.Spec.of(nets["mup"]).shapes()[-1][2]
    for alpha in (0.5, 2.0):
        th = {p: net.init(alpha, seed=11) for p, net in nets.items()}
        f_ntk = nets["ntk"].outputs(th["ntk"], X)
        f_mup = nets["mup"].outputs(th["mup"], X)
        assert np.abs(f_ntk).max() > 1e-3  # not a dead network
        np.testing.assert_allclose(f_mup, f_ntk / np.sqrt(fan_in), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("arch,depth", ARCHS)
@pytest.mark.parametrize("param", ["ntk", "mup"])
def test_init_scales_with_alpha_draws_from_the_seed_and_zeroes_the_biases(arch, depth, param):
    image = (4, 4, 1) if arch == "cnn" else (1, 1, 5)
    net = Network(arch, image, (6, 5, 4)[:depth], 3, "tanh", "mse", param, True)
    spec = O.Spec.of(net)
    th1, th2 = net.init(1.0, seed=3), net.init(2.5, seed=3)
    assert th1.shape == (spec.n_params(),)
    np.testing.assert_allclose(th2, 2.5 * th1, rtol=1e-15)  # weights ∝ α
    np.testing.assert_array_equal(net.init(1.0, seed=3), th1)  # a function of the seed
    assert not np.array_equal(th1, net.init(1.0, seed=4))
    for W, b in spec.unpack(th1):
        assert (b == 0).all()  # biases start at 0
        assert (W != 0).all()
