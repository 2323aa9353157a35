"""Exact loss, gradient, Hessian–vector products, Hessian and its trace of a ``Network``,
batched over runs, written out layer by layer (no autodiff).

Loss convention: L(θ) = (1/n) Σ_i ℓ(f(x_i; θ), t_i) with ℓ of ``losses`` (MSE: ½‖f − t‖²).
All formulas act on the effective weights W̃_l = m_l W_l (and biases); for θ they are rescaled
by the parameterisation's s = ∂W̃/∂θ: ∇_θ L = s ⊙ ∇_W̃ L, ∇²_θ L = diag(s) ∇²_W̃ L diag(s).

Notation per layer l (``arch.Layer``): patches P^l[i, p, j] (with a column of ones for the bias),
pre-activations z^l, activations a^l = σ(z^l) (the output f = z^L), σ'^l, σ''^l, and per
sample e^l = ∂ℓ/∂z^l (backpropagation: e^{l−1} = σ'^{l−1} ⊙ T_lᵀ e^l, T_l = ∂z^l/∂a^{l−1}).

- gradient: ∂L/∂W̃_l[o, j] = (1/n) Σ_i Σ_p e^l[i, (p, o)] P^l[i, p, j]  (matrix products).
- HVP: the forward-mode derivative of the gradient along v (Pearlmutter's R-operator),
  two passes over the data per product.
- Hessian: with Q^l = ∂²ℓ/∂z^l² (Q^L = Λ = ∇²_f ℓ; Q^{l−1} = diag(σ''^{l−1} ⊙ T_lᵀ e^l) +
  σ'^{l−1} T_lᵀ Q^l T_l σ'^{l−1}) and F^{m,l} = ∂z^m/∂z^l, for layers l ≤ m

      ∂²L/∂W̃_l[o, j] ∂W̃_m[o', j']
          = (1/n) Σ_i [ Σ_{p,p'} (Q^m F^{m,l})[(p', o'), (p, o)] P^l[p, j] P^m[p', j']
                        + Σ_{p'} e^m[(p', o')] ∂P^m[p', j'] / ∂W̃_l[o, j] ],

  the second term (l < m only) from ∂P^m/∂z^l = gather(σ'^{m−1} F^{m−1,l}). Each block is a
  matrix product over samples: O(n · P_l · P_m) per layer pair, not P Hessian–vector products.
- trace: the diagonal of the same formula,
  (1/n) Σ_i Σ_{p,p'} Q^l[(p', o), (p, o)] P^l[p, j] P^l[p', j].

Fully connected networks (every layer one position) take faster routes with the same formulas
(``benchmarks/bench_nets.py``): the gradient and the HVP in buffers allocated once, each bias
folded into its layer's product as a column of W̃ against a row of ones (``DenseWork``,
``DenseHVP``); the Hessian's blocks as one GEMM per layer pair over the samples, a diagonal
block by its symmetric pairs only (``hessian_one``); the trace from the diagonal of Q alone
(``_dense_trace``). Fresh large temporaries are avoided on purpose: allocating one costs page
faults comparable to the arithmetic on it here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba as nb
import numpy as np

from diaglin._threads import thread_pool
from diaglin.nets import losses
from diaglin.nets.activations import activate, activate_into, times_tanh_prime
from diaglin.nets.arch import Layer

if TYPE_CHECKING:
    from diaglin.nets.model import Network

#: per-chunk budget of the Hessian's per-sample intermediates (float64 entries)
_CHUNK_ENTRIES = 2**22
#: OpenBLAS (0.3.31, measured here) computes a product with M·N·K <= 100³ in a "small-matrix"
#: kernel that sums over K in another order than its blocked kernel (and NumPy calls gemv for
#: M = 1): a product stacked over runs (M = runs × units) would round a run's rows differently
#: with the batch size. Above the bound the rows of a product do not depend on M, at a fixed
#: BLAS thread count. ``DenseWork`` stacks the runs only above it.
_SMALL_GEMM = 100**3


# --- pieces (arrays laid out (runs, units, samples): every product is one GEMM per run) ---------
def weights(net: Network, theta: np.ndarray, lay: Layer) -> tuple[np.ndarray, np.ndarray]:
    """Effective (W̃ (R, C, J), b (R, C)) of layer ``lay`` for θ (R, P); b = 0 without bias."""
    R = theta.shape[0]
    W = lay.multiplier * theta[:, lay.offset : lay.offset + lay.n_weights].reshape(R, lay.C, lay.J)
    if lay.bias:
        b = theta[:, lay.offset + lay.n_weights : lay.offset + lay.n_params]
    else:
        b = np.zeros((R, lay.C))
    return W, b


def _padded(a: np.ndarray) -> np.ndarray:
    """a (..., U, n) with a row of zeros appended (index −1 reads it)."""
    return np.concatenate([a, np.zeros((*a.shape[:-2], 1, a.shape[-1]))], axis=-2)


def gather(lay: Layer, a: np.ndarray) -> np.ndarray:
    """Patches (..., npos·J, n) of units a (..., U, n): a itself for a fully connected layer."""
    if lay.idx is None:
        return a
    return _padded(a)[..., lay.idx.reshape(-1), :]


def scatter(lay: Layer, e: np.ndarray) -> np.ndarray:
    """The transpose of ``gather``: units (..., U, n) summing the patch entries (..., npos·J, n)."""
    if lay.idx is None:
        return e
    U, k = lay.rev.shape
    return _padded(e)[..., lay.rev.reshape(-1), :].reshape(*e.shape[:-2], U, k, -1).sum(-2)


def _per_position(lay: Layer, a: np.ndarray) -> np.ndarray:
    """(R, npos·X, n) -> (R, npos, X, n)."""
    return a.reshape(a.shape[0], lay.npos, -1, a.shape[-1])


def affine(lay: Layer, patches: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """z (R, U, n): z[(p, o), i] = Σ_j W̃[o, j] patches[(p, j), i] + b[o];
    patches (R or 1 — shared by every run —, npos·J, n)."""
    R, n = W.shape[0], patches.shape[-1]
    if lay.npos == 1 and patches.shape[0] == 1:  # shared input: one product for all runs
        z = (W.reshape(R * lay.C, lay.J) @ patches[0]).reshape(R, lay.C, n)
    elif lay.npos == 1:
        z = np.matmul(W, patches)
    else:
        z = np.matmul(W[:, None], _per_position(lay, patches))  # (R, npos, C, n)
    if b is not None:
        z = z.reshape(R, lay.npos, lay.C, n)
        z += b[:, None, :, None]
    return z.reshape(R, lay.units, n)


def weight_grad(lay: Layer, e: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """Σ_{p,i} e[(p, o), i] patches[(p, j), i] → (R, C, J); e (R, U, n)."""
    R, n = e.shape[0], e.shape[-1]
    if lay.npos == 1 and patches.shape[0] == 1:
        return (e.reshape(R * lay.C, n) @ patches[0].T).reshape(R, lay.C, lay.J)
    if lay.npos == 1:
        return np.matmul(e, patches.transpose(0, 2, 1))
    Pt = _per_position(lay, patches).transpose(0, 1, 3, 2)
    return np.matmul(_per_position(lay, e), Pt).sum(axis=1)


def bias_grad(lay: Layer, e: np.ndarray) -> np.ndarray:
    """Σ_{p,i} e[(p, o), i] → (R, C)."""
    return _per_position(lay, e).sum(axis=(1, 3))


def back(lay: Layer, e: np.ndarray, W: np.ndarray) -> np.ndarray:
    """T_lᵀ e: the previous layer's units (R, U_in, n) from e (R, U, n) of this one."""
    R, n = e.shape[0], e.shape[-1]
    if lay.npos == 1:
        return np.matmul(W.transpose(0, 2, 1), e)
    ep = np.matmul(W.transpose(0, 2, 1)[:, None], _per_position(lay, e))  # (R, npos, J, n)
    return scatter(lay, ep.reshape(R, lay.npos * lay.J, n))


def pack(net: Network, grads: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """θ-space vector (R, P) of per-layer (∂/∂W̃ (R, C, J), ∂/∂b (R, C)), times s."""
    R = grads[0][0].shape[0]
    out = np.empty((R, net.n_params(net.d_in)))
    for lay, (gW, gb) in zip(net.layers, grads):
        out[:, lay.offset : lay.offset + lay.n_weights] = lay.multiplier * gW.reshape(R, -1)
        if lay.bias:
            out[:, lay.offset + lay.n_weights : lay.offset + lay.n_params] = gb
    return out


# --- forward, loss, gradient ------------------------------------------------------------------
@dataclass(frozen=True)
class Forward:
    """One forward pass of R runs on n samples, laid out (runs, units, samples): per layer the
    patches (R or 1, npos·J, n), the effective (W̃, b), σ'(z), σ''(z) of the hidden layers
    (None where not asked for), and the outputs f (R, C, n)."""

    patches: list[np.ndarray]
    params: list[tuple[np.ndarray, np.ndarray]]
    d1: list[np.ndarray | None]
    d2: list[np.ndarray | None]
    f: np.ndarray


def forward(net: Network, theta: np.ndarray, X: np.ndarray, *, derivatives: int = 2) -> Forward:
    """The forward pass of θ (R, P) on X (n, d)."""
    a = np.ascontiguousarray(X.T)[None]
    patches, params, d1s, d2s = [], [], [], []
    for k, lay in enumerate(net.layers):
        P = gather(lay, a)
        W, b = weights(net, theta, lay)
        z = affine(lay, P, W, b if lay.bias else None)
        patches.append(P)
        params.append((W, b))
        if k < len(net.layers) - 1:
            a, *ds = activate(net.activation, z, derivatives=derivatives)
            d1s.append(ds[0] if ds else None)
            d2s.append(ds[1] if len(ds) > 1 else None)
        else:
            a = z
    return Forward(patches, params, d1s, d2s, a)


def _samples_last(f: np.ndarray) -> np.ndarray:
    """(R, C, n) <-> (R, n, C) (the losses act on the last axis)."""
    return np.ascontiguousarray(f.transpose(0, 2, 1))


def outputs(net: Network, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """f(x_i; θ_r): (R, n, n_out)."""
    return _samples_last(forward(net, theta, X, derivatives=0).f)


def loss(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """L (R,) = (1/n) Σ_i ℓ(f(x_i), t_i); T (n, C) from ``losses.targets``."""
    return losses.value(net.criterion, outputs(net, theta, X), T).mean(axis=-1)


def backward(net: Network, fw: Forward, e_out: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-layer (Σ eᵀP, Σ e) for output errors e_out (R, C, n) backpropagated through fw."""
    grads = [None] * len(net.layers)
    e = e_out
    for k in range(len(net.layers) - 1, -1, -1):
        lay = net.layers[k]
        grads[k] = (weight_grad(lay, e, fw.patches[k]), bias_grad(lay, e))
        if k:
            e = back(lay, e, fw.params[k][0])
            e *= fw.d1[k - 1]
    return grads


def is_dense(net: Network) -> bool:
    """Whether every layer is fully connected (``DenseWork`` applies)."""
    return all(lay.idx is None for lay in net.layers)


def loss_grad(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray):
    """(L (R,), ∇_θ L (R, P)) for θ (R, P)."""
    if is_dense(net):
        R = theta.shape[0]
        L, G = np.empty(R), np.empty(theta.shape)
        DenseWork(net, DenseData(net, X, T), R).loss_grad(theta, L, G)
        return L, G
    fw = forward(net, theta, X, derivatives=1)
    n = X.shape[0]
    f = _samples_last(fw.f)
    L = losses.value(net.criterion, f, T).mean(axis=-1)
    e = _samples_last(losses.gradient(net.criterion, f, T)) / n
    return L, pack(net, backward(net, fw, e))


# --- the same for fully connected networks, in preallocated buffers --------------------------
class DenseData:
    """The data of ``DenseWork`` (read-only, shared by every workspace): Xa (d [+1], n) = Xᵀ
    with a row of ones under it when the network has biases, Xn = Xaᵀ (a view), the
    targets Tt (C, n) = Tᵀ, and whether the first layer's products are stacked over the runs."""

    def __init__(self, net: Network, X: np.ndarray, T: np.ndarray) -> None:
        n, d = X.shape
        b = int(bool(net.bias))
        self.Xa = np.empty((d + b, n))
        self.Xa[:d] = X.T
        if b:
            self.Xa[d] = 1.0
        self.Xn = self.Xa.T  # a view: one copy of X in the cache (BLAS reads it transposed)
        self.Tt = np.ascontiguousarray(T.T)
        lay = net.layers[0]
        self.stacked = lay.C >= 2 and lay.C * (lay.J + b) * n > _SMALL_GEMM


class DenseWork:
    """L and ∇_θ L of a fully connected network for up to ``capacity`` runs at a time, in
    buffers allocated once, laid out (runs, units, samples). Each layer's bias is folded into
    its matrix product as one more input column: W̃ₐ = [W̃ | b] (R, C, J+1) times the layer's
    input with a row of ones under it (X: ``DenseData.Xa``; a hidden layer's activations: the
    last row of its buffer A stays 1), so the bias gradient is the last column of the weight
    gradient's product. Per layer the products are those of ``forward``/``backward``:

        z = W̃ₐ aₐ;  a = σ(z) (in A);  e_out = ∇_f ℓ / n (``losses.residual_into``, in z's place);
        ∂L/∂W̃ₐ = e aₐᵀ;  e_prev = (W̃ᵀ e) ⊙ σ'(z_prev) (tanh: ⊙ (1 − a_prev²), one fused pass)

    The first layer's products are one GEMM over all the runs (W̃ₐ stacked: (R·C, d+1) @ Xa)
    where ``DenseData.stacked``, else one per run (see ``_SMALL_GEMM``); every other product is
    one GEMM per run. A run's results do not depend on the other runs in the call (at a fixed
    BLAS thread count). Not thread-safe: one workspace per thread."""

    def __init__(self, net: Network, data: DenseData, capacity: int) -> None:
        self.net, self.data, self.capacity = net, data, int(capacity)
        n, b, cap, layers = data.Xa.shape[1], int(bool(net.bias)), int(capacity), net.layers
        self.W = [np.empty((cap, lay.C, lay.J + b)) for lay in layers]
        self.G = [np.empty((cap, lay.C, lay.J + b)) for lay in layers]
        # z of each layer, then (backward) its e: z is dead once σ(z) (and σ'(z)) are taken
        self.Z = [np.empty((cap, lay.C, n)) for lay in layers]
        self.A = [np.empty((cap, lay.C + b, n)) for lay in layers[:-1]]
        for A in self.A:
            A[:, -1] = 1.0  # the ones row (no-op without biases: overwritten by a)
        tanh = net.activation == "tanh"
        self.D = [None if tanh else np.empty((cap, lay.C, n)) for lay in layers[:-1]]

    def loss_grad(self, theta: np.ndarray, L: np.ndarray, G: np.ndarray) -> None:
        """L (R,) ← L(θ_r), G (R, P) ← ∇_θ L(θ_r) for θ (R, P), R <= capacity (θ, G: rows
        with unit column stride, e.g. row slices of C-contiguous arrays)."""
        R, net, data, b = theta.shape[0], self.net, self.data, int(bool(self.net.bias))
        layers, last = net.layers, len(net.layers) - 1
        for k, lay in enumerate(layers):  # forward
            W, Z = self.W[k][:R], self.Z[k][:R]
            o, CJ = lay.offset, lay.n_weights
            np.multiply(lay.multiplier, theta[:, o : o + CJ].reshape(R, lay.C, lay.J),
                        out=W[:, :, : lay.J])  # fmt: skip
            if b:
                W[:, :, lay.J] = theta[:, o + CJ : o + CJ + lay.C]
            if k == 0 and data.stacked:
                np.matmul(W.reshape(R * lay.C, -1), data.Xa, out=Z.reshape(R * lay.C, -1))
            else:
                np.matmul(W, data.Xa if k == 0 else self.A[k - 1][:R], out=Z)
            if k < last:
                A = self.A[k][:R, : lay.C]
                if self.D[k] is None:
                    np.tanh(Z, out=A)
                else:
                    activate_into(net.activation, Z, A, self.D[k][:R])
        losses.residual_into(net.criterion, Z, data.Tt, Z, L)
        for k in range(last, -1, -1):  # backward: e of layer k in Z[k]
            lay, E, Gk = layers[k], self.Z[k][:R], self.G[k][:R]
            if k == 0 and data.stacked:
                np.matmul(E.reshape(R * lay.C, -1), data.Xn, out=Gk.reshape(R * lay.C, -1))
            elif k == 0:
                np.matmul(E, data.Xn, out=Gk)
            else:
                np.matmul(E, self.A[k - 1][:R].transpose(0, 2, 1), out=Gk)
            o, CJ = lay.offset, lay.n_weights
            np.multiply(lay.multiplier, Gk[:, :, : lay.J],
                        out=G[:, o : o + CJ].reshape(R, lay.C, lay.J))  # fmt: skip
            if b:
                G[:, o + CJ : o + CJ + lay.C] = Gk[:, :, lay.J]
            if k:
                prev = self.Z[k - 1][:R]
                Wt = self.W[k][:R, :, : layers[k - 1].C].transpose(0, 2, 1)
                np.matmul(Wt, E, out=prev)
                if self.D[k - 1] is None:
                    times_tanh_prime(prev, self.A[k - 1][:R])
                else:
                    np.multiply(prev, self.D[k - 1][:R], out=prev)


# --- Hessian-vector products -----------------------------------------------------------------
def batched_hvp(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray
                ) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:  # fmt: skip
    """``matvec(V, rows=None)``: V (R, P) → the rows ∇²L(θ_{rows[r]}) V[r] (default rows: all
    runs of θ (B, P)), exactly, by the R-operator: the forward pass is done once here."""
    if is_dense(net):
        return DenseHVP(net, theta, X, T)
    fw = forward(net, theta, X)
    n = X.shape[0]
    f_all = _samples_last(fw.f)
    e_all = _samples_last(losses.gradient(net.criterion, f_all, T)) / n
    L = len(net.layers)

    def matvec(Vm: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        def pick(a):
            return a if rows is None or a.shape[0] == 1 else a[rows]

        Pats = [pick(p) for p in fw.patches]
        Ws = [pick(W) for W, _ in fw.params]
        d1, d2 = [pick(a) for a in fw.d1], [pick(a) for a in fw.d2]
        dW = [weights(net, Vm, lay) for lay in net.layers]  # R{W̃} = s ⊙ v
        # forward: Rz^l = R{P^l} W̃ᵀ + P^l R{W̃}ᵀ + R{b};  R{a^l} = σ'^l Rz^l
        Rz, RP, Ra = [], [], None
        for k, lay in enumerate(net.layers):
            rz = affine(lay, Pats[k], dW[k][0], dW[k][1] if lay.bias else None)
            RPk = None if Ra is None else gather(lay, Ra)
            if RPk is not None:
                rz = rz + affine(lay, RPk, Ws[k], None)
            RP.append(RPk)
            Rz.append(rz)
            if k < L - 1:
                Ra = d1[k] * rz
        # backward: e = ∂L/∂z; R{e^L} = Λ Rf / n; through layer l:
        # R{g_W} = R{e}ᵀ P + eᵀ R{P};  R{e^{l−1}} = σ'' Rz ⊙ T̃ᵀe + σ' ⊙ (T̃ᵀ R{e} + R{T̃}ᵀ e)
        f, e = pick(f_all), pick(e_all)
        Re = _samples_last(losses.curvature_times(net.criterion, f, _samples_last(Rz[-1]))) / n
        grads = [None] * L
        for k in range(L - 1, -1, -1):
            lay = net.layers[k]
            gW = weight_grad(lay, Re, Pats[k])
            if RP[k] is not None:
                gW += weight_grad(lay, e, RP[k])
            grads[k] = (gW, bias_grad(lay, Re))
            if k:
                ea = back(lay, e, Ws[k])
                Rea = back(lay, Re, Ws[k]) + back(lay, e, dW[k][0])
                e, Re = ea * d1[k - 1], d2[k - 1] * Rz[k - 1] * ea + d1[k - 1] * Rea
        return pack(net, grads)

    return matvec


#: samples per block of a Hessian-vector product (blocks run on separate threads; a block's
#: per-sample arrays of one run stay in the L2 cache)
HVP_BLOCK = 512
#: least work (runs × samples × parameters) for which a product uses several threads (one
#: run's product is too fine-grained: the threads' GIL hand-offs ate most of the gain here)
HVP_THREAD_WORK = 2**23


class DenseHVP:
    """``batched_hvp`` of a fully connected network, in ``DenseWork``'s layout (biases folded
    into the products). The pass over θ done once keeps, per hidden layer k, a_k (with the ones
    row), σ'(z_k) and g_k = σ''(z_k) ⊙ W̃_{k+1}ᵀ e_{k+1}, and e_k = ∂L/∂z_k of every layer
    but the first (and softmax(f) for cross-entropy); a product along V is then

        R{z_0} = V₀ₐ Xa;  R{a_k} = σ'_k ⊙ R{z_k};  R{z_k} = Vₖₐ a_{k−1} + W̃_k R{a_{k−1}};
        R{e_out} = Λ R{f} / n;  R{g_W̃ₐ} = R{e_k} a_{k−1}ₐᵀ + [e_k R{a_{k−1}}ᵀ | 0];
        R{e_{k−1}} = g_{k−1} ⊙ R{z_{k−1}} + σ'_{k−1} ⊙ [W̃_kᵀ | V_kᵀ] [R{e_k}; e_k]

    (Vₐ = [s ⊙ v of the weights | v of the biases]), every product one GEMM per run (the first
    layer's stacked over the runs where ``DenseWork``'s rule allows). Everything but the sums
    over the samples is per sample, so the samples are cut into fixed blocks of about
    HVP_BLOCK, each block's gradient sums computed apart (the blocks shared out over
    ``numba.get_num_threads()`` threads) and added in block order: the result depends on n
    alone, not on the threads."""

    def __init__(self, net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray) -> None:
        self.net, self.data = net, DenseData(net, X, T)
        B, n, layers = theta.shape[0], X.shape[0], net.layers
        self.b, last = int(bool(net.bias)), len(layers) - 1
        self.W = _effective(net, theta, self.b)
        a, d1, d2, z = [], [], [], None
        for k in range(last + 1):
            z = np.matmul(self.W[k], self.data.Xa if k == 0 else a[-1])
            if k < last:
                A = np.ones((B, layers[k].C + self.b, n))
                out = activate(net.activation, z, derivatives=2)
                A[:, : layers[k].C] = out[0]
                a.append(A)
                d1.append(out[1])
                d2.append(out[2])
        p = None
        if net.criterion == "ce":
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        e = np.empty_like(z)
        losses.residual_into(net.criterion, z, self.data.Tt, e, np.empty(B))
        es, gs = [None] * (last + 1), [None] * last
        es[last] = e
        for k in range(last, 0, -1):
            ea = np.matmul(self.W[k][:, :, : layers[k - 1].C].transpose(0, 2, 1), es[k])
            gs[k - 1] = d2[k - 1] * ea
            es[k - 1] = d1[k - 1] * ea
        self.full = (a, d1, gs, es, p)
        blocks = max(1, round(n / HVP_BLOCK))
        self.edges = np.linspace(0, n, blocks + 1).round().astype(int)
        self.threads = min(nb.get_num_threads(), blocks)
        if B * n * theta.shape[1] < HVP_THREAD_WORK:
            self.threads = 1
        self._picked: tuple[bytes, tuple] | None = None

    def _pick(self, rows: np.ndarray | None) -> tuple:
        """The weights of the runs ``rows``, buffers for the products along V and, per block of
        samples, that block's stored arrays (C-contiguous copies) and buffers (all made once
        per distinct rows)."""
        B = self.W[0].shape[0]
        if rows is None:
            rows = np.arange(B)
        key = np.asarray(rows, np.int64).tobytes()
        if self._picked is not None and self._picked[0] == key:
            return self._picked[1]
        every = rows.size == B and np.array_equal(rows, np.arange(B))
        pick = (lambda x: x) if every else (lambda x: None if x is None else x[rows])  # noqa: E731
        a, d1, gs, es, p = self.full
        W, R, b, layers = [pick(w) for w in self.W], rows.size, self.b, self.net.layers
        # per layer k >= 1: WE = [W̃_kᵀ | V_kᵀ] (R, J, 2C), the second half written per product
        WE = [None] + [np.empty((R, layers[k - 1].C, 2 * layers[k].C)) for k in range(1, len(W))]
        for k in range(1, len(W)):
            WE[k][:, :, : layers[k].C] = W[k][:, :, : layers[k - 1].C].transpose(0, 2, 1)
        dW = [np.empty((R, lay.C, lay.J + b)) for lay in layers]
        blocks = []
        for i0, i1 in zip(self.edges[:-1], self.edges[1:]):
            m = i1 - i0

            def cut(x, i0=i0, i1=i1):
                return None if x is None else np.ascontiguousarray(pick(x)[..., i0:i1])

            blk = dict(
                Xa=np.ascontiguousarray(self.data.Xa[:, i0:i1]),
                a=[cut(x) for x in a], d1=[cut(x) for x in d1], gs=[cut(x) for x in gs],
                p=cut(p),
                # [R{e_k}; e_k] (R, 2C, m): the first half written per product
                RE=[np.concatenate([np.empty_like(cut(es[k])), cut(es[k])], axis=1)
                    for k in range(len(layers))],
                gW=[np.empty((R, lay.C, lay.J + b)) for lay in layers],
                gW2=[np.empty((R, lay.C, lay.J)) for lay in layers],
                Rz=[np.empty((R, lay.C, m)) for lay in layers],
                Rz2=[np.empty((R, lay.C, m)) for lay in layers],
                Ra=[np.empty((R, lay.C, m)) for lay in layers[:-1]],
                Rea=[np.empty((R, lay.C, m)) for lay in layers[:-1]],
            )  # fmt: skip
            lay = layers[0]
            blk["stacked"] = lay.C >= 2 and lay.C * (lay.J + b) * m > _SMALL_GEMM
            blocks.append(blk)
        self._picked = (key, (W, WE, dW, blocks))
        return self._picked[1]

    def __call__(self, V: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        b, layers = self.b, self.net.layers
        W, WE, dW, blocks = self._pick(rows)
        R = V.shape[0]
        for k, lay in enumerate(layers):
            o, CJ = lay.offset, lay.n_weights
            np.multiply(lay.multiplier, V[:, o : o + CJ].reshape(R, lay.C, lay.J),
                        out=dW[k][:, :, : lay.J])  # fmt: skip
            if b:
                dW[k][:, :, lay.J] = V[:, o + CJ : o + CJ + lay.C]
            if k:
                WE[k][:, :, lay.C :] = dW[k][:, :, : layers[k - 1].C].transpose(0, 2, 1)
        threads = self.threads
        if threads < 2 or R * self.data.Xa.shape[1] * V.shape[1] < HVP_THREAD_WORK:
            for blk in blocks:
                self._block(blk, W, WE, dW)
        else:
            taken = itertools.count()  # next() is atomic under the GIL

            def work() -> None:
                while (i := next(taken)) < len(blocks):
                    self._block(blocks[i], W, WE, dW)

            futures = [thread_pool(threads - 1).submit(work) for _ in range(threads - 1)]
            work()
            for f in futures:
                f.result()
        out = np.empty(V.shape)
        for k, lay in enumerate(layers):
            gW = blocks[0]["gW"][k]
            for blk in blocks[1:]:  # the blocks' sums, in block order
                gW += blk["gW"][k]
            o, CJ = lay.offset, lay.n_weights
            np.multiply(lay.multiplier, gW[:, :, : lay.J],
                        out=out[:, o : o + CJ].reshape(R, lay.C, lay.J))  # fmt: skip
            if b:
                out[:, o + CJ : o + CJ + lay.C] = gW[:, :, lay.J]
        return out

    def _block(self, blk: dict, W: list, WE: list, dW: list) -> None:
        """One block of samples: its sums of R{g_W̃ₐ} into blk["gW"] (R{e} over the total n)."""
        layers, last = self.net.layers, len(self.net.layers) - 1
        a, d1, gs, p, RE = blk["a"], blk["d1"], blk["gs"], blk["p"], blk["RE"]
        Rz, Ra = blk["Rz"], blk["Ra"]
        R, m, n = dW[0].shape[0], blk["Xa"].shape[1], self.data.Xa.shape[1]
        for k, lay in enumerate(layers):
            if k == 0 and blk["stacked"]:
                np.matmul(dW[0].reshape(R * lay.C, -1), blk["Xa"], out=Rz[0].reshape(R * lay.C, m))
            elif k == 0:
                np.matmul(dW[0], blk["Xa"], out=Rz[0])
            else:
                np.matmul(dW[k], a[k - 1], out=Rz[k])
                np.matmul(W[k][:, :, : layers[k - 1].C], Ra[k - 1], out=blk["Rz2"][k])
                Rz[k] += blk["Rz2"][k]
            if k < last:
                np.multiply(d1[k], Rz[k], out=Ra[k])
        Re = RE[last][:, : layers[last].C]
        if p is not None:
            Rf = Rz[last]
            Rf -= (p * Rf).sum(axis=1, keepdims=True)
            Rf *= p
        np.divide(Rz[last], n, out=Re)
        for k in range(last, -1, -1):
            lay, gW = layers[k], blk["gW"][k]
            if k == 0 and blk["stacked"]:
                np.matmul(Re.reshape(R * lay.C, m), blk["Xa"].T, out=gW.reshape(R * lay.C, -1))
            elif k == 0:
                np.matmul(Re, blk["Xa"].T, out=gW)
            else:
                np.matmul(Re, a[k - 1].transpose(0, 2, 1), out=gW)
                np.matmul(RE[k][:, lay.C :], Ra[k - 1].transpose(0, 2, 1), out=blk["gW2"][k])
                gW[:, :, : lay.J] += blk["gW2"][k]
                Rea = blk["Rea"][k - 1]
                np.matmul(WE[k], RE[k], out=Rea)  # W̃ᵀ R{e} + Vᵀ e
                _fma_into(Rea, gs[k - 1], Rz[k - 1], d1[k - 1])
                if k - 1:
                    Re = RE[k - 1][:, : layers[k - 1].C]
                    Re[...] = Rea
                else:
                    Re = Rea


def _effective(net: Network, theta: np.ndarray, b: int) -> list[np.ndarray]:
    """Per layer [m θ_W | θ_b] (R, C, J + b) of θ (R, P)."""
    R, out = theta.shape[0], []
    for lay in net.layers:
        Wa = np.empty((R, lay.C, lay.J + b))
        o, CJ = lay.offset, lay.n_weights
        np.multiply(lay.multiplier, theta[:, o : o + CJ].reshape(R, lay.C, lay.J),
                    out=Wa[:, :, : lay.J])  # fmt: skip
        if b:
            Wa[:, :, lay.J] = theta[:, o + CJ : o + CJ + lay.C]
        out.append(Wa)
    return out


@nb.njit(cache=True, nogil=True)
def _fma_into(out, g, z, d1):
    """out = g ⊙ z + d1 ⊙ out elementwise (arrays of one shape, C-contiguous)."""
    o, gg, zz, dd = out.reshape(-1), g.reshape(-1), z.reshape(-1), d1.reshape(-1)
    for i in range(o.size):
        o[i] = gg[i] * zz[i] + dd[i] * o[i]


# --- the exact Hessian ------------------------------------------------------------------------
def dense_map(lay: Layer, W: np.ndarray) -> np.ndarray:
    """T (U_out, U_in) = ∂z/∂a of one run (W̃ (C, J)): W̃ itself for a fully connected layer."""
    if lay.idx is None:
        return W
    U_in = int(lay.rev.shape[0])
    T = np.zeros((lay.npos, lay.C, U_in + 1))
    p = np.repeat(np.arange(lay.npos), lay.J)
    cols = np.where(lay.idx < 0, U_in, lay.idx).reshape(-1)
    np.add.at(T, (p, slice(None), cols), np.tile(W.T, (lay.npos, 1)))
    return T[:, :, :U_in].reshape(lay.units, U_in)


def _with_ones(lay: Layer, P: np.ndarray) -> np.ndarray:
    """Per-sample patches (c, npos·J) as (c, npos, J [+ 1]), the bias column of ones appended."""
    P = P.reshape(P.shape[0], lay.npos, lay.J)
    if lay.bias:
        P = np.concatenate([P, np.ones((*P.shape[:2], 1))], axis=-1)
    return P


def _theta_index(lay: Layer) -> np.ndarray:
    """θ indices of the layer's (o, j) entries, j = J meaning the bias of o."""
    W = lay.offset + np.arange(lay.n_weights).reshape(lay.C, lay.J)
    if lay.bias:
        W = np.concatenate([W, (lay.offset + lay.n_weights + np.arange(lay.C))[:, None]], 1)
    return W.reshape(-1)


@dataclass(frozen=True)
class _Curvature:
    """Per-sample quantities of one run on a chunk of samples (samples first): patches with the
    bias column (c, npos, J[+1]), σ' of the hidden layers (c, U), e^l (c, U_l) and
    Q^l = ∂²ℓ/∂z^l² (c, U_l, U_l)."""

    patches: list[np.ndarray]
    d1: list[np.ndarray]
    e: list[np.ndarray]
    Q: list[np.ndarray]


def _curvature_chunks(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray,
                      chunk: int | None = None):  # fmt: skip
    """The dense maps T_l of run θ (P,) and a generator of ``_Curvature`` over chunks of the
    samples: e^L = ∇_f ℓ, Q^L = Λ; e^{l−1} = σ' ⊙ T_lᵀ e^l,
    Q^{l−1} = diag(σ'' ⊙ T_lᵀ e^l) + σ' T_lᵀ Q^l T_l σ'."""
    fw = forward(net, theta[None], X)
    n, L, layers = X.shape[0], len(net.layers), net.layers
    maps = [dense_map(lay, fw.params[k][0][0]) for k, lay in enumerate(layers)]
    f_all = fw.f[0].T  # per sample: (n, ...)
    pat_all = [_with_ones(lay, p[0].T) for lay, p in zip(layers, fw.patches)]
    d1_all = [a[0].T for a in fw.d1]
    d2_all = [a[0].T for a in fw.d2]
    widest = max(lay.units for lay in layers)
    if chunk is None:
        chunk = max(1, _CHUNK_ENTRIES // (widest * widest * (L + 2)))

    def chunks():
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            f, d1, d2 = f_all[sl], [a[sl] for a in d1_all], [a[sl] for a in d2_all]
            es, Qs = [None] * L, [None] * L
            es[-1] = losses.gradient(net.criterion, f, T[sl])
            Qs[-1] = losses.curvature(net.criterion, f)
            for k in range(L - 1, 0, -1):
                ea = es[k] @ maps[k]
                es[k - 1] = d1[k - 1] * ea
                TQT = np.matmul(maps[k].T, np.matmul(Qs[k], maps[k]))
                Q = d1[k - 1][:, :, None] * TQT * d1[k - 1][:, None, :]
                diag = np.arange(Q.shape[1])
                Q[:, diag, diag] += d2[k - 1] * ea
                Qs[k - 1] = Q
            yield _Curvature([p[sl] for p in pat_all], d1, es, Qs)

    return maps, chunks()


def hessian_one(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The exact Hessian ∇²_θ L (P, P) of one run θ (P,) (module docstring formula): per layer
    pair one accumulator, filled chunk by chunk of samples with matrix products.

    A pair of fully connected layers (l <= m) takes one GEMM over the samples per chunk: the
    first term is Σ_i K_i[o', o] · (P^l_i[j] P^m_i[j']) = (K as (samples, o·o'))ᵀ @ (the
    samples' products P^l[j] P^m[j'] as (samples, j·j')); on a diagonal block (l = m) K = Q^l
    and the products are symmetric in (o, o') and in (j, j'), so only the pairs o <= o' and
    j <= j' are computed (a quarter of the work). Blocks with a convolution use ``_add_term1``
    and ``_add_term2``. The blocks are written into H (θ order, scaled by s) by slices."""
    L, layers = len(net.layers), net.layers
    b = int(bool(net.bias))
    fc = [lay.npos == 1 for lay in layers]
    acc, sym = {}, {}
    per_sample = max(lay.units for lay in layers) ** 2 * (L + 2)
    for lo in range(L):
        for hi in range(lo, L):
            Cl, Jl, Cm, Jm = layers[lo].C, layers[lo].J + b, layers[hi].C, layers[hi].J + b
            if fc[lo] and fc[hi] and lo == hi:
                sym[lo] = (np.triu_indices(Cl), np.triu_indices(Jl))
                shape = (sym[lo][0][0].size, sym[lo][1][0].size)
            elif fc[lo] and fc[hi]:
                shape = (Cl * Cm, Jl * Jm)
            else:
                shape = (Cl, Jl, Cm * Jm)
            acc[lo, hi] = np.zeros(shape)
            per_sample = max(per_sample, shape[0] + shape[-1] if fc[lo] and fc[hi] else 0)
    chunk = max(1, _CHUNK_ENTRIES // per_sample)
    maps, chunks = _curvature_chunks(net, theta, X, T, chunk)
    for cv in chunks:
        c = cv.e[0].shape[0]
        for lo in range(L):
            F = None  # F^{hi,lo} = ∂z^hi/∂z^lo (None: the identity)
            Pl = cv.patches[lo]
            for hi in range(lo, L):
                G = None
                if hi > lo:
                    G = cv.d1[hi - 1][:, :, None] * F if F is not None else None
                    F = np.matmul(maps[hi], G if G is not None else _diag(cv.d1[hi - 1]))
                K = cv.Q[hi] if F is None else np.matmul(cv.Q[hi], F)
                Pm = cv.patches[hi]
                if not (fc[lo] and fc[hi]):
                    if hi > lo and G is None:
                        G = _diag(cv.d1[hi - 1])
                    _add_term1(acc[lo, hi], layers[lo], layers[hi], K, Pl, Pm)
                    if G is not None:
                        _add_term2(acc[lo, hi], layers[lo], layers[hi], cv.e[hi], G, Pl)
                    continue
                if lo == hi:
                    (po, qo), _ = sym[lo]
                    acc[lo, hi] += K[:, po, qo].T @ _upper_products(Pl[:, 0])
                    continue
                S = (Pl[:, 0, :, None] * Pm[:, 0, None, :]).reshape(c, -1)
                Kt = K.transpose(0, 2, 1).reshape(c, -1)  # (samples, (o, o'))
                acc[lo, hi] += Kt.T @ S
                _add_term2_fc(acc[lo, hi], layers[lo], layers[hi], cv.e[hi], G,
                              cv.d1[hi - 1], Pl)  # fmt: skip
    P_all = net.n_params(net.d_in)
    H = np.empty((P_all, P_all))
    for (lo, hi), block in acc.items():
        ll, lm = layers[lo], layers[hi]
        Cl, Jl, Cm, Jm = ll.C, ll.J + b, lm.C, lm.J + b
        if lo == hi and lo in sym:  # (o <= o', j <= j') -> H
            (po, qo), (pj, qj) = sym[lo]
            tri = np.empty((Jl, Jl), np.int64)
            tri[pj, qj] = tri[qj, pj] = np.arange(pj.size)
            rows, scale = _theta_rows(ll, b)
            _place_sym(H, block, po.astype(np.int64), qo.astype(np.int64), tri, rows, scale,
                       float(X.shape[0]))  # fmt: skip
            continue
        if fc[lo] and fc[hi]:
            R4 = block.reshape(Cl, Cm, Jl, Jm)
        else:
            R4 = block.reshape(Cl, Jl, Cm, Jm).transpose(0, 2, 1, 3)
        R4 = R4 / X.shape[0]
        _place(H, ll, lm, R4, b)
        if hi > lo:
            _place_transposed(H, ll, lm, b)
    return H


def _upper_products(P: np.ndarray) -> np.ndarray:
    """(c, J(J+1)/2): the products P[:, j] P[:, j'] of the pairs j <= j' (``np.triu_indices``
    order) of P (c, J)."""
    c, J = P.shape
    S = np.empty((c, J * (J + 1) // 2))
    t = 0
    for j in range(J):
        np.multiply(P[:, j, None], P[:, j:], out=S[:, t : t + J - j])
        t += J - j
    return S


def _theta_rows(lay: Layer, b: int) -> tuple[np.ndarray, np.ndarray]:
    """(θ index (C, J[+1]) of the layer's entries W̃ₐ[o, j] (j = J: the bias of o), s (J[+1],))."""
    idx = lay.offset + np.arange(lay.n_weights, dtype=np.int64).reshape(lay.C, lay.J)
    scale = np.full(lay.J + b, lay.multiplier)
    if b:
        bias = lay.offset + lay.n_weights + np.arange(lay.C, dtype=np.int64)
        idx = np.concatenate([idx, bias[:, None]], axis=1)
        scale[-1] = 1.0
    return idx, scale


@nb.njit(cache=True)
def _place_sym(H, block, po, qo, tri, rows, scale, n):
    """H[rows[o, j], rows[o', j']] = block[pair (o, o'), tri[j, j']] / n · s_j s_j' for both
    orders of o ≠ o' (a diagonal block stored by pairs o <= o', j <= j')."""
    J = tri.shape[0]
    full = np.empty((J, J))
    for p in range(po.size):
        o, o2 = po[p], qo[p]
        for j in range(J):
            for j2 in range(J):
                full[j, j2] = block[p, tri[j, j2]] / n * (scale[j] * scale[j2])
        for j in range(J):
            r, r2 = rows[o, j], rows[o2, j]
            for j2 in range(J):
                H[r, rows[o2, j2]] = full[j, j2]
                H[r2, rows[o, j2]] = full[j, j2]


def _place(H: np.ndarray, ll: Layer, lm: Layer, R4: np.ndarray, b: int) -> None:
    """Write the block R4[o, o', j, j'] = ∂²L/∂W̃ₐ_l[o, j] ∂W̃ₐ_m[o', j'] (j = J: the bias) of
    layers l, m into the rows of l and the columns of m of H, times s (the multipliers)."""
    Cl, Jl, Cm, Jm, ml, mm = ll.C, ll.J, lm.C, lm.J, ll.multiplier, lm.multiplier
    WW = _view(H, ll.offset, Cl, Jl, lm.offset, Cm, Jm)  # (o, j, o', j')
    np.multiply(R4[:, :, :Jl, :Jm].transpose(0, 2, 1, 3), ml * mm, out=WW)
    if not b:
        return
    bl, bm = ll.offset + ll.n_weights, lm.offset + lm.n_weights
    Wb = _view(H, ll.offset, Cl, Jl, bm, Cm, 1)[..., 0]  # (o, j, o')
    np.multiply(R4[:, :, :Jl, Jm].transpose(0, 2, 1), ml, out=Wb)
    bW = _view(H, bl, Cl, 1, lm.offset, Cm, Jm)[:, 0]  # (o, o', j')
    np.multiply(R4[:, :, Jl, :Jm], mm, out=bW)
    H[bl : bl + Cl, bm : bm + Cm] = R4[:, :, Jl, Jm]


def _place_transposed(H: np.ndarray, ll: Layer, lm: Layer, b: int) -> None:
    """H[rows of m, columns of l] = H[rows of l, columns of m]ᵀ."""
    rl = slice(ll.offset, ll.offset + ll.n_params)
    rm = slice(lm.offset, lm.offset + lm.n_params)
    H[rm, rl] = H[rl, rm].T


def _view(H: np.ndarray, r0: int, C: int, J: int, c0: int, C2: int, J2: int) -> np.ndarray:
    """The block H[r0 : r0 + C·J, c0 : c0 + C2·J2] as a (C, J, C2, J2) view."""
    s0, s1 = H.strides
    return np.lib.stride_tricks.as_strided(H[r0:, c0:], (C, J, C2, J2),
                                           (J * s0, s0, J2 * s1, s1))  # fmt: skip


def _add_term2_fc(acc, lo: Layer, hi: Layer, e: np.ndarray, G: np.ndarray | None,
                  d1: np.ndarray, Pl: np.ndarray) -> None:  # fmt: skip
    """``_add_term2`` for fully connected layers, acc ((o, o'), (j, j')): Σ_i e[i, o'] G[i, j', o]
    Pl[i, j] for j' < J_hi; G = ∂a^{hi−1}/∂z^lo, None for hi = lo + 1 (then diag(σ'^lo): only
    j' = o, one product over the samples)."""
    c, Jl = Pl.shape[0], Pl.shape[-1]
    acc4 = acc.reshape(lo.C, hi.C, Jl, -1)
    if G is None:
        U = (d1[:, :, None] * Pl[:, 0, None, :]).reshape(c, -1)  # (samples, (o, j))
        t = (U.T @ e).reshape(lo.C, Jl, hi.C).transpose(0, 2, 1)  # (o, o', j)
        o = np.arange(lo.C)
        acc4[o, :, :, o] += t
    else:
        acc4[..., : hi.J] += np.einsum("iO,iJo,ij->oOjJ", e, G, Pl[:, 0], optimize=True)


def _diag(v: np.ndarray) -> np.ndarray:
    """(c, U) -> (c, U, U) diagonal matrices."""
    out = np.zeros((*v.shape, v.shape[-1]))
    i = np.arange(v.shape[-1])
    out[:, i, i] = v
    return out


def _add_term1(acc, lo: Layer, hi: Layer, K: np.ndarray, Pl: np.ndarray, Pm: np.ndarray) -> None:
    """acc[o, j, (o', j')] += Σ_i Σ_{p,p'} K[i, (p', o'), (p, o)] Pl[i, p, j] Pm[i, p', j']:
    for each o one product over (samples × positions)."""
    c = K.shape[0]
    K5 = K.reshape(c, hi.npos, hi.C, lo.npos, lo.C)
    Jl, Jm = Pl.shape[-1], Pm.shape[-1]
    Pl2 = Pl.reshape(c * lo.npos, Jl)
    for o in range(lo.C):
        Ko = K5[..., o]  # (c, q, O, p)
        if hi.npos == 1:
            left = Ko[:, 0].transpose(0, 2, 1)[..., None] * Pm[:, 0, None, None, :]
        else:
            left = np.einsum("iqOp,iqJ->ipOJ", Ko, Pm, optimize=True)
        acc[o] += Pl2.T @ left.reshape(c * lo.npos, hi.C * Jm)


def _add_term2(acc, lo: Layer, hi: Layer, e: np.ndarray, G: np.ndarray, Pl: np.ndarray) -> None:
    """acc[o, j, (o', j')] += Σ_i Σ_{p'} e[i, (p', o')] ∂P^hi[i, p', j'] / ∂W̃_lo[o, j], with
    G = ∂a^{hi−1}/∂z^lo (c, U_{hi−1}, U_lo) and ∂P^hi/∂z^lo its gather (bias column: 0)."""
    c = e.shape[0]
    if hi.idx is None:
        A = G[:, None, :, :]  # (c, 1, J, U_lo)
    else:
        pad = np.concatenate([G, np.zeros((c, 1, G.shape[2]))], axis=1)
        A = pad[:, hi.idx, :]  # (c, npos, J, U_lo)
    A = A.reshape(c, hi.npos, hi.J, lo.npos, lo.C)
    e3 = e.reshape(c, hi.npos, hi.C)
    out = np.einsum("iqO,iqJpo,ipj->ojOJ", e3, A, Pl, optimize=True)
    acc4 = acc.reshape(lo.C, Pl.shape[-1], hi.C, hi.J + hi.bias)
    acc4[..., : hi.J] += out


def hessian_trace(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """tr ∇²_θ L (R,) for θ (R, P), the diagonal of the Hessian formula only:
    Σ_l Σ_{o,j} s_{l,o,j}² (1/n) Σ_i Σ_{p,p'} Q^l[i, (p', o), (p, o)] P^l[i, p, j] P^l[i, p', j]."""
    if is_dense(net):
        return _dense_trace(net, theta, X, T)
    out = np.empty(theta.shape[0])
    s2 = [np.concatenate([np.full(lay.J, lay.multiplier**2), [1.0]])[: lay.J + lay.bias]
          for lay in net.layers]  # fmt: skip
    for r, th in enumerate(theta):
        total = 0.0
        for cv in _curvature_chunks(net, th, X, T)[1]:
            for k, lay in enumerate(net.layers):
                c, P = cv.Q[k].shape[0], cv.patches[k]
                Qd = cv.Q[k].reshape(c, lay.npos, lay.C, lay.npos, lay.C)
                Qd = np.diagonal(Qd, axis1=2, axis2=4)  # (c, q, p, o)
                diag = np.einsum("iqpo,ipj,iqj->j", Qd, P, P, optimize=True)
                total += float(diag @ s2[k])
        out[r] = total / X.shape[0]
    return out


def _dense_trace(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``hessian_trace`` of a fully connected network: with one position per layer the trace
    formula factorises per sample, Σ_l (1/n) Σ_i (Σ_o Q^l[i, o, o]) (Σ_j s_j² P^l[i, j]²), and
    only the diagonal of the first layer's Q is needed (the layers above need their full Q,
    C × C per sample: Q^{l−1} = diag(σ'' ⊙ T_lᵀ e^l) + σ' T_lᵀ Q^l T_l σ')."""
    layers, n, b = net.layers, X.shape[0], int(bool(net.bias))
    last = len(layers) - 1
    data = DenseData(net, X, T)
    Ws = _effective(net, theta, b)
    out = np.empty(theta.shape[0])
    for r in range(theta.shape[0]):
        P, d1, d2 = [data.Xn], [], []  # P: each layer's input (n, J [+1]), ones column last
        for k in range(last + 1):
            z = Ws[k][r] @ P[k].T  # (C, n)
            if k == last:
                break
            a, g1, g2 = activate(net.activation, z, derivatives=2)
            Pk = np.ones((n, layers[k].C + b))
            Pk[:, : layers[k].C] = a.T
            P.append(Pk)
            d1.append(g1.T)
            d2.append(g2.T)
        f = z.T  # (n, C)
        e = losses.gradient(net.criterion, f, T)
        Q = None if net.criterion == "mse" else losses.curvature(net.criterion, f)  # None: I
        total = 0.0
        for k in range(last, -1, -1):
            if Q is None:
                qsum = np.full(n, float(layers[k].C))
            else:
                qsum = np.einsum("ioo->i", Q)
            s2 = np.full(layers[k].J + b, layers[k].multiplier ** 2)
            s2[layers[k].J :] = 1.0
            total += float(qsum @ (P[k] * P[k]) @ s2)
            if k == 0:
                break
            Tk = Ws[k][r, :, : layers[k].J]  # (C_k, C_{k−1})
            ea = e @ Tk
            e = d1[k - 1] * ea
            if Q is None:
                M = np.broadcast_to(Tk, (n, *Tk.shape))
            else:
                M = np.matmul(Q, Tk)  # (n, C_k, C_{k−1})
            if k - 1 == 0:  # only the diagonal of Q^0
                diag = np.einsum("co,ico->io", Tk, M)
                Q = None
                qd = d2[0] * ea + d1[0] * d1[0] * diag
                q0 = qd.sum(axis=1)
                s2 = np.full(layers[0].J + b, layers[0].multiplier ** 2)
                s2[layers[0].J :] = 1.0
                total += float(q0 @ (P[0] * P[0]) @ s2)
                break
            TQT = np.matmul(Tk.T, M)
            Q = d1[k - 1][:, :, None] * TQT * d1[k - 1][:, None, :]
            i = np.arange(Q.shape[1])
            Q[:, i, i] += d2[k - 1] * ea
        out[r] = total / n
    return out
