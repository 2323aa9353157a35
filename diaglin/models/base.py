"""The model object: a small frozen dataclass naming a coordinate-separable parameterisation.

It holds no arrays. Its methods validate their input, move it to the tile layout of
``_ops`` and call the shared Numba numerics; the kernels use ``kind``/``depth`` directly.
Parameters of one run are a vector of length P = K d made of K blocks of length d.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from diaglin import _validate as V
from diaglin._threads import blas_threads
from diaglin.models import _numerics as nm


@dataclass(frozen=True)
class DiagonalModel:
    """beta_j = f(theta_1j, ..., theta_Kj) with loss L = 1/(2n) ||X beta - y||²."""

    name: str
    kind: int
    n_blocks: int
    depth: int = 1
    init_scales: tuple[float, ...] = (1.0,)

    def n_params(self, d: int) -> int:
        """P = K d."""
        return self.n_blocks * d

    def n_features(self, n_params: int) -> int:
        """d = P / K."""
        if n_params % self.n_blocks:
            raise ValueError(f"theta length {n_params} is not a multiple of K={self.n_blocks}")
        return n_params // self.n_blocks

    def init(self, d: int, alpha: float) -> np.ndarray:
        """The standard initialisation of scale alpha: block k = init_scales[k] · alpha · 1."""
        V.check_int("d", d, 1)
        V.check_positive("alpha", alpha)
        return np.repeat(np.asarray(self.init_scales) * float(alpha), d)

    # --- layout -------------------------------------------------------------------------
    def to_tile(self, theta: np.ndarray) -> np.ndarray:
        """(P,) or (B, P) -> tile layout (K, d, B), C-contiguous."""
        th = np.atleast_2d(theta)
        B, P = th.shape
        d = self.n_features(P)
        return np.ascontiguousarray(th.reshape(B, self.n_blocks, d).transpose(1, 2, 0))

    def from_tile(self, th: np.ndarray) -> np.ndarray:
        """Tile layout (K, d, B) -> (B, P)."""
        K, d, B = th.shape
        return np.ascontiguousarray(th.transpose(2, 0, 1).reshape(B, K * d))

    def _prepare(self, theta, X, y):
        X, y = V.check_data(X, y)
        th = V.check_theta(theta, self.n_params(X.shape[1]))
        return th, X, y

    # --- numerics (theta of shape (P,) or (B, P)) ----------------------------------------
    def beta(self, theta) -> np.ndarray:
        """beta(theta): (d,) for theta (P,), (B, d) for (B, P)."""
        th = V.as_finite_array("theta", theta, (1, 2))
        rows = np.atleast_2d(th)
        B, d = rows.shape[0], self.n_features(rows.shape[1])
        out = np.empty((B, d))
        # the rows seen in tile layout without a copy: read in memory order
        nm.beta_batch(self.kind, self.depth, rows.reshape(B, self.n_blocks, d).transpose(1, 2, 0),
                      out)  # fmt: skip
        return out[0] if th.ndim == 1 else out

    def loss(self, theta, X, y):
        """L(theta) = 1/(2n) ||X beta(theta) - y||²: a float, or (B,) for a batch."""
        th, X, y = self._prepare(theta, X, y)
        tile = self.to_tile(th)
        out = np.empty(tile.shape[2])
        nm.loss_batch(self.kind, self.depth, tile, X, y, out)
        return float(out[0]) if th.ndim == 1 else out

    def grad(self, theta, X, y) -> np.ndarray:
        """dL/dθ_kj = (d beta_j/dθ_kj) · [Xᵀ(X beta - y)/n]_j, shape (P,)."""
        th, X, y = self._prepare(theta, X, y)
        if th.ndim != 1:
            raise ValueError("theta must be 1-D for grad")
        tile = self.to_tile(th)
        out = np.empty(tile.shape[:2])
        nm.grad_run(self.kind, self.depth, tile, 0, X, y, out)
        return out.reshape(-1)

    def hessian(self, theta, X, y) -> np.ndarray:
        """Exact Hessian Jᵀ (XᵀX/n) J + blockdiag_j(g_j d² beta_j): (P, P), or (B, P, P)."""
        th, X, y = self._prepare(theta, X, y)
        tile = self.to_tile(th)
        P = tile.shape[0] * tile.shape[1]
        out = np.empty((tile.shape[2], P, P))
        nm.hessian_batch(self.kind, self.depth, tile, X, y, X.T @ X / X.shape[0], out)
        return out[0] if th.ndim == 1 else out

    def hessian_trace(self, theta, X, y):
        """tr ∇²L = Σ_kj (∂β_j/∂θ_kj)² (XᵀX/n)_jj + Σ_j g_j Σ_k ∂²β_j/∂θ_kj² in O(P + n d):
        a float, or (B,) for a batch."""
        th, X, y = self._prepare(theta, X, y)
        tile = self.to_tile(th)
        out = np.empty(tile.shape[2])
        nm.trace_batch(self.kind, self.depth, tile, self._gbeta(tile, X, y), (X * X).mean(axis=0),
                       out)  # fmt: skip
        return float(out[0]) if th.ndim == 1 else out

    def _gbeta(self, tile: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """g = Xᵀ(X β − y)/n (d, B) of every run of ``tile`` (K, d, B): two GEMMs across runs
        (one BLAS thread: these follow Numba's parallel regions, 03_performance.md lesson 4)."""
        beta = np.empty((tile.shape[2], tile.shape[1]))
        nm.beta_batch(self.kind, self.depth, tile, beta)
        with blas_threads(1):
            return ((beta @ X.T - y) @ X / X.shape[0]).T

    def hessian_floor(self, theta, X, y) -> np.ndarray:
        """A lower bound on λ_min(∇²L) per row of θ (B, P): the Gauss–Newton part
        Jᵀ (XᵀX/n) J is positive semi-definite, so (Weyl) λ_min ≥ λ_min(blockdiag_j(g_j ∂²β_j))
        ≥ min_{j,k} (g_j ∂²β_j/∂θ_kj² − |g_j| Σ_{l≠k} |∂²β_j/∂θ_kj∂θ_lj|) (Gershgorin on each
        K×K coordinate block; g = Xᵀr/n). Near a minimum g → 0 and the bound → 0."""
        th, X, y = self._prepare(theta, X, y)
        tile = self.to_tile(np.atleast_2d(th))
        K, d, B = tile.shape
        J, D2 = np.empty((K, d, B)), np.empty((K, K, d, B))
        nm.derivatives_batch(self.kind, self.depth, tile, J, D2)
        gD = self._gbeta(tile, X, y) * D2  # (K, K, d, B)
        diag = np.einsum("kkjb->kjb", gD)
        off = np.abs(gD).sum(axis=1) - np.abs(diag)
        return (diag - off).min(axis=(0, 1))

    def hvp(self, theta, X, y, v) -> np.ndarray:
        """(d²L) v without forming the Hessian; theta and v of shape (P,)."""
        th, X, y = self._prepare(theta, X, y)
        if th.ndim != 1:
            raise ValueError("theta must be 1-D for hvp")
        v = V.as_finite_array("v", v, 1)
        if v.shape != th.shape:
            raise ValueError(f"v must have shape {th.shape}, got {v.shape}")
        tile = self.to_tile(th)
        out = np.empty(tile.shape[:2])
        g = np.empty(X.shape[1])
        nm.gbeta_at(self.kind, self.depth, tile, 0, X, y, g)
        nm.hvp_run(self.kind, self.depth, tile, 0, X, g, v.reshape(tile.shape[:2]), out)
        return out.reshape(-1)

    def batched_hvp(
        self, theta: np.ndarray, X: np.ndarray, y: np.ndarray
    ) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
        """``matvec(V, rows=None)``: V (R, P) → the rows ∇²L(θ_{rows[r]}) V[r] for runs ``rows``
        (default: all) of θ (B, P) (validated), exactly:

            H v = J ⊙ (Xᵀ X (J·v) / n) + g ⊙ (∂²β · v),   J·v = Σ_k J_k ⊙ v_k,

        with J the per-coordinate derivatives of β, g = Xᵀ r / n and ∂²β the K×K second
        derivatives of β_j: two matrix–matrix products over the runs (X is n×d) per application.
        """
        th = self.to_tile(theta)
        K, d, B = th.shape
        n = X.shape[0]
        J, D2 = np.empty((K, d, B)), np.empty((K, K, d, B))
        nm.derivatives_batch(self.kind, self.depth, th, J, D2)
        g = self._gbeta(th, X, y)

        def matvec(Vm: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
            Jr, D2r, gr = (J, D2, g) if rows is None else (J[..., rows], D2[..., rows], g[:, rows])
            R = Vm.shape[0]
            V3 = Vm.T.reshape(K, d, R)
            jv = np.einsum("kjb,kjb->jb", Jr, V3)
            ajv = X.T @ (X @ jv) / n
            out = Jr * ajv + gr * np.einsum("kljb,ljb->kjb", D2r, V3)
            return out.reshape(K * d, R).T

        return matvec
