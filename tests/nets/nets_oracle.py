"""An independent plain-NumPy reference for ``diaglin.nets``: the forward pass, loss and
pre-activations of one network, one run at a time, written from the documented contract
(``diaglin/nets/arch.py`` and ``model.py`` docstrings) and sharing no code with the package.

Contract used (nothing else):
- θ is laid out layer by layer, each layer's weights W (C, J) row-major, then its biases (C,)
  when ``bias``;
- a layer computes z = m W a + b (fully connected) or a 3×3 'same' convolution with zero
  padding whose weight W[o, (dr·3 + dc)·c + ci] multiplies input pixel (r + dr − 1,
  col + dc − 1), channel ci; the activation follows every hidden layer, none the last;
- images are flattened channels-last (h, w, c), the units of a convolution likewise, and the
  head is fully connected on those flattened units;
- multipliers m (fan-in J: d for a dense first layer, 9c for a 3×3 convolution over c
  channels; first layer's fan-out w): ntk: 1/√J everywhere; mup: √w/√J (first), 1 (hidden),
  1/√J (output);
- loss L = (1/n) Σ_i ℓ_i, MSE ℓ = ½‖f − t‖² (t = y for one output, one-hot(y) otherwise),
  cross-entropy ℓ = log Σ_c exp f_c − f_y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf


def act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "softplus":
        return np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0.0)
    if name == "gelu":
        return 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))
    if name == "linear":
        return z
    raise ValueError(name)


@dataclass(frozen=True)
class Spec:
    """What defines a network (the fields of ``diaglin.nets.Network``)."""

    arch: str
    in_shape: tuple
    hidden: tuple
    n_out: int
    activation: str
    criterion: str
    param: str
    bias: bool

    @classmethod
    def of(cls, net) -> Spec:
        return cls(net.arch, tuple(net.in_shape), tuple(net.hidden), net.n_out, net.activation,
                   net.criterion, net.param, net.bias)  # fmt: skip

    def shapes(self) -> list[tuple[str, int, int]]:
        """(kind, C, J) of every layer, first to last."""
        h, w, c = self.in_shape
        out = []
        if self.arch == "mlp":
            units = h * w * c
            for C in self.hidden:
                out.append(("dense", C, units))
                units = C
        else:
            for C in self.hidden:
                out.append(("conv", C, 9 * c))
                c = C
            units = h * w * c
        out.append(("dense", self.n_out, units))
        return out

    def multipliers(self) -> list[float]:
        shapes = self.shapes()
        if self.param == "ntk":
            return [1 / np.sqrt(J) for _, _, J in shapes]
        first_fan_out = shapes[0][1]
        mid = [1.0] * (len(shapes) - 2)
        return [np.sqrt(first_fan_out / shapes[0][2]), *mid, 1 / np.sqrt(shapes[-1][2])]

    def n_params(self) -> int:
        return sum(C * J + (C if self.bias else 0) for _, C, J in self.shapes())

    def unpack(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(W (C, J), b (C,)) per layer, raw (without the multiplier); b = 0 without bias."""
        assert theta.shape == (self.n_params(),)
        out, k = [], 0
        for _, C, J in self.shapes():
            W = theta[k : k + C * J].reshape(C, J)
            k += C * J
            if self.bias:
                b = theta[k : k + C]
                k += C
            else:
                b = np.zeros(C)
            out.append((W, b))
        assert k == theta.size
        return out


def conv3x3(img: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'same' 3×3 convolution (cross-correlation) of img (n, h, w, c) with W (C, 9c):
    (n, h, w, C)."""
    n, h, w, c = img.shape
    pad = np.zeros((n, h + 2, w + 2, c))
    pad[:, 1:-1, 1:-1] = img
    Wk = W.reshape(W.shape[0], 3, 3, c)
    out = np.zeros((n, h, w, W.shape[0]))
    for dr in range(3):
        for dc in range(3):
            out += np.einsum("nrsc,oc->nrso", pad[:, dr : dr + h, dc : dc + w], Wk[:, dr, dc])
    return out + b


def forward(spec: Spec, theta: np.ndarray, X: np.ndarray):
    """(outputs f (n, n_out), [pre-activations of each hidden layer, (n, units)],
    [activations of each hidden layer (n, units)])."""
    h, w, c = spec.in_shape
    n = X.shape[0]
    a = X.reshape(n, h, w, c) if spec.arch == "cnn" else X
    pre, post = [], []
    layers = spec.unpack(theta)
    for (kind, _, _), m, (W, b) in zip(spec.shapes(), spec.multipliers(), layers):
        if kind == "conv":
            z = conv3x3(a, m * W, b)
        else:
            z = a.reshape(n, -1) @ (m * W).T + b
        if len(pre) == len(layers) - 1:
            return z, pre, post
        pre.append(z.reshape(n, -1))
        a = act(spec.activation, z)
        post.append(a.reshape(n, -1))
    raise AssertionError("unreachable")


def target_matrix(spec: Spec, y: np.ndarray) -> np.ndarray:
    if spec.criterion == "mse" and spec.n_out == 1:
        return y[:, None]
    return np.eye(spec.n_out)[y.astype(int)]


def per_sample_loss(spec: Spec, f: np.ndarray, y: np.ndarray) -> np.ndarray:
    T = target_matrix(spec, y)
    if spec.criterion == "mse":
        return 0.5 * ((f - T) ** 2).sum(axis=1)
    top = f.max(axis=1)
    lse = top + np.log(np.exp(f - top[:, None]).sum(axis=1))
    return lse - (f * T).sum(axis=1)


def loss(spec: Spec, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    f, _, _ = forward(spec, theta, X)
    return float(per_sample_loss(spec, f, y).mean())


def output_curvature(spec: Spec, f: np.ndarray) -> np.ndarray:
    """∇²_f ℓ per sample (n, C, C): the identity (MSE), diag(p) − p pᵀ (cross-entropy)."""
    n, C = f.shape
    if spec.criterion == "mse":
        return np.broadcast_to(np.eye(C), (n, C, C))
    p = np.exp(f - f.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.einsum("nc,cd->ncd", p, np.eye(C)) - p[:, :, None] * p[:, None, :]
