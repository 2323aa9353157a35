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

      ∂²L/∂W̃_l[o, j] ∂W̃_m[o', j'] = (1/n) Σ_i [ Σ_{p,p'} (Q^m F^{m,l})[(p', o'), (p, o)] P^l[p, j] P^m[p', j']
                                      + Σ_{p'} e^m[(p', o')] ∂P^m[p', j'] / ∂W̃_l[o, j] ],

  the second term (l < m only) from ∂P^m/∂z^l = gather(σ'^{m−1} F^{m−1,l}). Each block is a
  matrix product over samples: O(n · P_l · P_m) per layer pair, not P Hessian–vector products.
- trace: the diagonal of the same formula, (1/n) Σ_i Σ_{p,p'} Q^l[(p', o), (p, o)] P^l[p, j] P^l[p', j].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from diaglin.nets import losses
from diaglin.nets.activations import activate
from diaglin.nets.arch import Layer

if TYPE_CHECKING:
    from diaglin.nets.model import Network

#: per-chunk budget of the Hessian's per-sample intermediates (float64 entries)
_CHUNK_ENTRIES = 2**22


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


def loss_grad(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray):
    """(L (R,), ∇_θ L (R, P)) for θ (R, P)."""
    fw = forward(net, theta, X, derivatives=1)
    n = X.shape[0]
    f = _samples_last(fw.f)
    L = losses.value(net.criterion, f, T).mean(axis=-1)
    e = _samples_last(losses.gradient(net.criterion, f, T)) / n
    return L, pack(net, backward(net, fw, e))


# --- Hessian-vector products -----------------------------------------------------------------
def batched_hvp(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray
                ) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:  # fmt: skip
    """``matvec(V, rows=None)``: V (R, P) → the rows ∇²L(θ_{rows[r]}) V[r] (default rows: all
    runs of θ (B, P)), exactly, by the R-operator: the forward pass is done once here."""
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


def _curvature_chunks(net: Network, theta: np.ndarray, X: np.ndarray, T: np.ndarray):
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
    pair one accumulator, filled chunk by chunk of samples with matrix products."""
    L, layers = len(net.layers), net.layers
    acc = {(lo, hi): np.zeros((layers[lo].C, layers[lo].J + layers[lo].bias,
                                layers[hi].C * (layers[hi].J + layers[hi].bias)))
           for lo in range(L) for hi in range(lo, L)}  # fmt: skip
    maps, chunks = _curvature_chunks(net, theta, X, T)
    for cv in chunks:
        for lo in range(L):
            F = None  # F^{hi,lo} = ∂z^hi/∂z^lo (None: the identity)
            for hi in range(lo, L):
                G = None
                if hi > lo:
                    G = cv.d1[hi - 1][:, :, None] * F if F is not None else _diag(cv.d1[hi - 1])
                    F = np.matmul(maps[hi], G)
                K = cv.Q[hi] if F is None else np.matmul(cv.Q[hi], F)
                _add_term1(acc[lo, hi], layers[lo], layers[hi], K, cv.patches[lo],
                           cv.patches[hi])  # fmt: skip
                if G is not None:
                    _add_term2(acc[lo, hi], layers[lo], layers[hi], cv.e[hi], G, cv.patches[lo])
    index = [_theta_index(lay) for lay in layers]
    P_all = net.n_params(net.d_in)
    H = np.empty((P_all, P_all))
    for (lo, hi), block in acc.items():
        block = block.reshape(index[lo].size, index[hi].size) / X.shape[0]
        H[np.ix_(index[lo], index[hi])] = block
        if hi > lo:
            H[np.ix_(index[hi], index[lo])] = block.T
    s = net.scale
    return s[:, None] * H * s[None, :]


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
