"""``Network``: a small fully connected or convolutional network as a model of the toolkit —
the same interface as the diagonal models (``beta``, ``loss``, ``grad``, ``hessian``, ``hvp``,
``hessian_trace``, ``init``, the kernels' layout), so ``run_gd``, ``sharpness``, the sweeps and
``GDResult`` take it unchanged.

Data: X (n, d) with d = h·w·c (images flattened channels-last), y (n,): class labels 0..C−1
(cross-entropy, or MSE on one-hot targets when n_out > 1) or real targets (MSE, n_out = 1).
Loss: L(θ) = (1/n) Σ_i ℓ(f(x_i; θ), t_i) (``losses``); exact derivatives in ``numerics``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from diaglin import _validate as V
from diaglin.nets import losses
from diaglin.nets import numerics as nn
from diaglin.nets.activations import ACTIVATIONS
from diaglin.nets.arch import ARCHITECTURES, PARAMETERISATIONS, Layer, build_layers
from diaglin.nets.losses import LOSSES


@dataclass(frozen=True)
class Network:
    """A fully connected (``arch="mlp"``) or convolutional (``"cnn"``) network on inputs of
    ``in_shape`` (h, w, channels) — (1, 1, d) for an MLP on d features — with hidden layers
    ``hidden`` (1 to 3: units of each fully connected layer, or channels of each 3×3 'same'
    convolution, then a fully connected head), ``n_out`` outputs, the activation after every
    hidden layer, the per-sample loss ``criterion`` ("mse" or "ce"), the parameterisation
    ("ntk" or "mup", see ``arch``) and optional biases. Holds no arrays: its layer geometry
    is derived once (``layers``)."""

    arch: str = "mlp"
    in_shape: tuple[int, int, int] = (1, 1, 64)
    hidden: tuple[int, ...] = (28,)
    n_out: int = 10
    activation: str = "tanh"
    criterion: str = "mse"
    param: str = "ntk"
    bias: bool = True

    def __post_init__(self) -> None:
        for name, value, allowed in (("arch", self.arch, ARCHITECTURES),
                                     ("activation", self.activation, ACTIVATIONS),
                                     ("criterion", self.criterion, LOSSES),
                                     ("param", self.param, PARAMETERISATIONS)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "in_shape", tuple(self.in_shape))
        if not 1 <= len(self.hidden) <= 3:
            raise ValueError(f"hidden must name 1 to 3 hidden layers, got {self.hidden!r}")
        if len(self.in_shape) != 3:
            raise ValueError(f"in_shape must be (h, w, channels), got {self.in_shape!r}")
        for name, vals in (("hidden", self.hidden), ("in_shape", self.in_shape)):
            for v in vals:
                V.check_int(name, v, 1)
        V.check_int("n_out", self.n_out, 1)
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ValueError(f"bias must be True or False, got {self.bias!r}")
        object.__setattr__(self, "bias", bool(self.bias))
        if self.criterion == "ce" and self.n_out < 2:
            raise ValueError("criterion='ce' needs n_out >= 2 classes")

    # --- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.arch

    @property
    def depth(self) -> int:
        """Layers with weights: the hidden layers and the output layer."""
        return len(self.hidden) + 1

    @property
    def d_in(self) -> int:
        h, w, c = self.in_shape
        return h * w * c

    def options(self) -> dict:
        """Everything that defines the network, as plain values (for configs and caches)."""
        return dict(arch=self.arch, in_shape=list(self.in_shape), hidden=list(self.hidden),
                    n_out=self.n_out, activation=self.activation, criterion=self.criterion,
                    param=self.param, bias=self.bias)  # fmt: skip

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        """The layers' geometry, first to last (``arch.Layer``)."""
        return build_layers(self.arch, self.in_shape, self.hidden, self.n_out, self.param,
                            self.bias)  # fmt: skip

    @cached_property
    def scale(self) -> np.ndarray:
        """s (P,) = ∂(effective parameter)/∂θ: each layer's multiplier on its weights, 1 on
        its biases."""
        s = np.ones(self.layers[-1].offset + self.layers[-1].n_params)
        for lay in self.layers:
            s[lay.offset : lay.offset + lay.n_weights] = lay.multiplier
        return s

    def n_params(self, d: int) -> int:
        """P, checking that the data have d = ``d_in`` features."""
        if d != self.d_in:
            raise ValueError(f"X has {d} features but the network takes {self.d_in} inputs")
        return self.scale.size

    def n_features(self, n_params: int) -> int:
        """Width of ``beta``, the end-to-end linear map: n_out · d_in."""
        return self.n_out * self.d_in

    def init(self, alpha: float = 1.0, *, seed: int = 0) -> np.ndarray:
        """θ0 (P,): weights N(0, (α s_l)²) from ``np.random.default_rng(seed)`` (s_l: the
        parameterisation's init std), biases 0."""
        alpha = V.check_positive("alpha", alpha)
        rng = np.random.default_rng(V.check_int("seed", seed, 0))
        theta = np.zeros(self.scale.size)
        for lay in self.layers:
            theta[lay.offset : lay.offset + lay.n_weights] = (
                alpha * lay.init_std * rng.standard_normal(lay.n_weights))  # fmt: skip
        return theta

    # --- the kernels' layout ----------------------------------------------------------------
    def to_tile(self, theta: np.ndarray) -> np.ndarray:
        """(P,) or (B, P) -> (1, P, B), C-contiguous (one block of P coordinates, runs last)."""
        return np.ascontiguousarray(np.atleast_2d(theta).T[None])

    def from_tile(self, th: np.ndarray) -> np.ndarray:
        """(1, P, B) -> (B, P)."""
        return np.ascontiguousarray(th[0].T)

    # --- numerics (θ of shape (P,) or (B, P)) ----------------------------------------------
    def _prepare(self, theta, X, y):
        X, y = V.check_data(X, y)
        th = V.check_theta(theta, self.n_params(X.shape[1]))
        return np.atleast_2d(th), X, self.targets(y), th.ndim == 1

    def targets(self, y: np.ndarray) -> np.ndarray:
        """T (n, n_out): one-hot rows of the labels y, or y as a column (MSE, n_out = 1)."""
        return losses.targets(self.criterion, y, self.n_out)

    def beta(self, theta) -> np.ndarray:
        """The end-to-end linear map T_L ⋯ T_1 (the network with every activation replaced by
        the identity; the network itself when activation="linear"), flattened (n_out · d_in):
        (n_out·d,) for θ (P,), (B, n_out·d) for (B, P)."""
        th = V.check_theta(theta, self.scale.size)
        rows = np.atleast_2d(th)
        out = np.empty((rows.shape[0], self.n_out * self.d_in))
        for r, t in enumerate(rows):
            M = np.eye(self.d_in)
            for lay in self.layers:
                M = nn.dense_map(lay, nn.weights(self, t[None], lay)[0][0]) @ M
            out[r] = M.reshape(-1)
        return out[0] if th.ndim == 1 else out

    def outputs(self, theta, X) -> np.ndarray:
        """f(x_i; θ): (n, n_out) for θ (P,), (B, n, n_out) for (B, P)."""
        X = V.as_finite_array("X", X, 2)
        th = V.check_theta(theta, self.n_params(X.shape[1]))
        f = nn.outputs(self, np.atleast_2d(th), X)
        return f[0] if th.ndim == 1 else f

    def loss(self, theta, X, y):
        """L(θ) = (1/n) Σ_i ℓ(f(x_i; θ), t_i): a float, or (B,) for a batch."""
        th, X, T, one = self._prepare(theta, X, y)
        L = nn.loss(self, th, X, T)
        return float(L[0]) if one else L

    def accuracy(self, theta, X, y):
        """Fraction of samples whose largest output is the label y (classification)."""
        X, y = V.check_data(X, y)
        labels = losses.targets("ce", y, self.n_out).argmax(axis=1)  # validates the labels
        f = self.outputs(theta, X)
        acc = (f.argmax(axis=-1) == labels).mean(axis=-1)
        return float(acc) if np.ndim(acc) == 0 else acc

    def grad(self, theta, X, y) -> np.ndarray:
        """∇_θ L, shape (P,) (backpropagation, ``numerics.loss_grad``)."""
        th, X, T, one = self._prepare(theta, X, y)
        if not one:
            raise ValueError("theta must be 1-D for grad")
        return nn.loss_grad(self, th, X, T)[1][0]

    def hessian(self, theta, X, y) -> np.ndarray:
        """The exact Hessian ∇²L: (P, P), or (B, P, P) (``numerics.hessian_one``)."""
        th, X, T, one = self._prepare(theta, X, y)
        H = np.stack([nn.hessian_one(self, t, X, T) for t in th])
        return H[0] if one else H

    def hessian_trace(self, theta, X, y):
        """tr ∇²L without forming the Hessian: a float, or (B,) for a batch."""
        th, X, T, one = self._prepare(theta, X, y)
        tr = nn.hessian_trace(self, th, X, T)
        return float(tr[0]) if one else tr

    def hvp(self, theta, X, y, v) -> np.ndarray:
        """∇²L(θ) v without forming the Hessian; θ and v of shape (P,)."""
        th, X, T, one = self._prepare(theta, X, y)
        if not one:
            raise ValueError("theta must be 1-D for hvp")
        v = V.as_finite_array("v", v, 1)
        if v.shape != (th.shape[1],):
            raise ValueError(f"v must have shape ({th.shape[1]},), got {v.shape}")
        return nn.batched_hvp(self, th, X, T)(v[None])[0]

    def batched_hvp(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray):
        """``matvec(V, rows=None)`` of the exact Hessians of the runs θ (B, P) (validated
        inputs; ``numerics.batched_hvp``)."""
        return nn.batched_hvp(self, theta, X, self.targets(y))


def mlp(d_in: int, hidden=(28,), n_out: int = 10, *, activation: str = "tanh",
        loss: str = "mse", param: str = "ntk", bias: bool = True) -> Network:  # fmt: skip
    """A fully connected network d_in → hidden[0] → … → n_out."""
    return Network("mlp", (1, 1, int(d_in)), tuple(hidden), n_out, activation, loss, param, bias)


def cnn(image_shape=(8, 8, 1), channels=(8,), n_out: int = 10, *, activation: str = "tanh",
        loss: str = "mse", param: str = "ntk", bias: bool = True) -> Network:  # fmt: skip
    """3×3 'same' convolutions with ``channels`` on (h, w, c) images (flattened channels-last
    in X), then a fully connected layer to n_out."""
    return Network("cnn", tuple(image_shape), tuple(channels), n_out, activation, loss, param,
                   bias)  # fmt: skip
