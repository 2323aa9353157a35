"""The geometry of a small network's layers (``build_layers``), from the architecture a
``diaglin.nets.Network`` names.

Every layer is a weight-shared affine map followed by the activation (none after the last):

    z[i, p, o] = m_l Σ_j W[o, j] · patch[i, p, j] + b[o],     patch[i, p, j] = a[i, idx[p, j]],

over positions p (1 for a fully connected layer, the pixels for a 3×3 "same" convolution), with
the previous layer's units a[i, u] (u = p·C + o: position-major, channels last) gathered by a
fixed index table (−1 reads the zero padding). m_l is the layer's multiplier from the
parameterisation; W has ``C × J`` entries, b ``C`` (when ``bias``).

Parameterisations (W initialised N(0, s²) · init scale α; biases start at 0; n = fan-in J of the
layer: the input dimension d for a fully connected first layer, 9·c for a 3×3 convolution over
c channels; w = fan-out C of the first layer):

| param  | first layer m, s     | hidden layers m, s | output layer m, s  |
|--------|----------------------|--------------------|--------------------|
| "ntk"  | 1/√n, 1              | 1/√n, 1            | 1/√n, 1            |
| "mup"  | √w/√n, 1/√w          | 1, 1/√n            | 1/√n, 1/√n         |

"ntk" is the standard (NTK) parameterisation; "mup" is the maximal-update parameterisation
written with one global learning rate (Yang & Hu 2021, Table 3, abc = (−½, ½, 0), (0, ½, 0),
(½, ½, 0)): the same function at initialisation up to an output scale 1/√n, features that move
by O(1) under GD as the width grows.

θ of one network is a vector of length P: layer by layer, W row-major then b.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diaglin._names import NET_PARAMS

PARAMETERISATIONS = NET_PARAMS
ARCHITECTURES = ("mlp", "cnn")


@dataclass(frozen=True)
class Layer:
    """One layer's geometry: ``npos`` positions, ``J`` inputs per position (fan-in), ``C``
    outputs per position; ``idx`` (npos, J) into the previous layer's units (−1: zero padding;
    None: the identity, a fully connected layer); ``rev`` (U_in, k) the transpose table (for each
    input unit the flat (p·J + j) slots that read it, −1 padded); parameter offsets into θ."""

    npos: int
    J: int
    C: int
    idx: np.ndarray | None
    rev: np.ndarray | None
    multiplier: float
    init_std: float
    offset: int
    bias: bool

    @property
    def units(self) -> int:
        return self.npos * self.C

    @property
    def n_weights(self) -> int:
        return self.C * self.J

    @property
    def n_params(self) -> int:
        return self.n_weights + (self.C if self.bias else 0)


def build_layers(arch: str, in_shape: tuple[int, int, int], hidden: tuple[int, ...],
                 n_out: int, param: str, bias: bool) -> tuple[Layer, ...]:  # fmt: skip
    """The layers of an MLP (``hidden``: units of each fully connected layer) or a CNN
    (``hidden``: channels of each 3×3 'same' convolution) on (h, w, c) inputs, each followed by
    a fully connected output layer of ``n_out`` units."""
    h, w, c = in_shape
    d = h * w * c
    specs = [("conv", ch) for ch in hidden] if arch == "cnn" else [("dense", u) for u in hidden]
    specs.append(("dense", n_out))
    out, offset, units = [], 0, d
    for k, (kind, C) in enumerate(specs):
        if kind == "conv":
            idx = _conv_index(h, w, c)
            npos, J = h * w, idx.shape[1]
            rev = _transpose_index(idx, units)
            c = C
        else:
            idx = rev = None
            npos, J = 1, units
        m, s = _scales(param, k, len(specs), J, C)
        layer = Layer(npos, J, C, idx, rev, m, s, offset, bias)
        out.append(layer)
        offset += layer.n_params
        units = layer.units
    return tuple(out)


def _scales(param: str, k: int, n_layers: int, J: int, C: int) -> tuple[float, float]:
    """(multiplier, init std) of layer k of n_layers with fan-in J and fan-out C per position
    (see the module table)."""
    if param == "ntk":
        return 1.0 / np.sqrt(J), 1.0
    if k == 0:
        return np.sqrt(C) / np.sqrt(J), 1.0 / np.sqrt(C)
    if k < n_layers - 1:
        return 1.0, 1.0 / np.sqrt(J)
    return 1.0 / np.sqrt(J), 1.0 / np.sqrt(J)


def _conv_index(h: int, w: int, c: int) -> np.ndarray:
    """idx (h·w, 9·c) of a 3×3 'same' convolution over an (h, w, c) channels-last input:
    idx[p, (dr·3 + dc)·c + ci] = unit of pixel (r + dr − 1, col + dc − 1), channel ci;
    −1 outside."""
    r, col = np.divmod(np.arange(h * w), w)
    dr, dc = np.divmod(np.arange(9), 3)
    rr = r[:, None] + dr[None, :] - 1
    cc = col[:, None] + dc[None, :] - 1
    inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    base = (rr * w + cc) * c
    idx = base[:, :, None] + np.arange(c)[None, None, :]
    return np.where(inside[:, :, None], idx, -1).reshape(h * w, 9 * c)


def _transpose_index(idx: np.ndarray, units: int) -> np.ndarray:
    """rev (units, k): the flat slots p·J + j with idx[p, j] = u, padded with −1."""
    flat = idx.reshape(-1)
    slots = np.flatnonzero(flat >= 0)
    order = np.argsort(flat[slots], kind="stable")
    counts = np.bincount(flat[slots], minlength=units)
    rev = np.full((units, counts.max()), -1, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(slots.size) - np.repeat(starts, counts)
    rev[flat[slots][order], rank] = slots[order]
    return rev
