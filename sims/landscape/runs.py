"""Train and test loss landscapes around label-noise SGD paths (paper 2's pictures; spec 02 §1).

- :func:`exact_two_coordinate` — the exact picture for a model with two live coordinates:
  beta = u⊙u − v⊙v with d = 2, one sample x = (1, 1), y = 1, and u_2 = v_1 = 0 (their gradients
  vanish, so they stay 0): theta lives in the (u_1, v_2) plane, the minima manifold is the
  hyperbola u_1² − v_2² = 1, and its min-norm point (1, 0) gives beta = (1, 0) = beta* (the
  test loss is ½||beta − beta*||²). Every (u_1, v_2) is a point of the picture: no projection.
- :func:`pca_surface` — the paper's method for any model (diagonal or network): checkpoints of
  a main run and of its decayed branches, PCA, the third component fitted as a quadratic in the
  first so that the surface follows the curved valley,
  theta(a, b) = mean + a pc1 + b pc2 + (c2 a² + c1 a + c0) pc3, and train / test loss on a
  grid of (a, b).
- :func:`branch_runs` — the main run (label noise, step size eta throughout) and branches that
  decay to factor·eta (noise off) at the given steps, in one ``run_sgd`` call with one seed: a
  branch is bitwise the main run up to its decay step (counter-based random streams).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from diaglin import Schedule, get_model, run_sgd


@dataclass(frozen=True)
class Branches:
    """Recorded paths (R, T, P) at ``steps`` (T,): row 0 the main run, row j its branch that
    decays at ``decay_steps[j - 1]``; ``final`` (R, P) the runs' last iterates (the last record
    unless the step count is not a multiple of the recording interval)."""

    steps: np.ndarray
    theta: np.ndarray
    decay_steps: tuple[int, ...]
    final: np.ndarray

    def checkpoints(self) -> np.ndarray:
        """Every distinct recorded iterate (main run, then each branch after its decay): (N, P)."""
        rows = [self.theta[0]]
        for j, k in enumerate(self.decay_steps, start=1):
            rows.append(self.theta[j][self.steps > k])
        return np.concatenate(rows)


def branch_runs(model, X, y, theta0, *, eta: float, sigma: float, decay_steps: Sequence[int],
                total_steps: int, factor: float = 0.1, seed: int = 0, record_every: int = 100,
                batch_size: int = 1) -> Branches:  # fmt: skip
    """The main run and its decayed branches (see the module docstring)."""
    ks = tuple(int(k) for k in decay_steps)
    scheds = [Schedule.constant(eta, noise=sigma)]
    scheds += [Schedule.step_decay(eta, at=k, factor=factor, noise=sigma, noise_after=0.0)
               for k in ks]  # fmt: skip
    res = run_sgd(model, X, y, scheds, theta0, seeds=np.full(len(scheds), seed),
                  max_steps=total_steps, record_every=record_every, batch_size=batch_size,
                  stats="none")  # fmt: skip
    return Branches(res.trajectory.steps, res.trajectory.theta, ks, res.theta)


@dataclass(frozen=True)
class TwoCoordinate:
    """The exact (u_1, v_2) picture: losses on a grid and the paths of the runs."""

    u: np.ndarray  #: grid (G,)
    v: np.ndarray  #: grid (G,)
    train: np.ndarray  #: (G, G) train loss, [i, j] at (u[j], v[i])
    test: np.ndarray  #: (G, G) test loss
    branches: Branches
    eta: float
    sigma: float
    theta0: tuple[float, float]


def two_coordinate_theta(u1, v2) -> np.ndarray:
    """theta = (u_1, u_2 = 0, v_1 = 0, v_2) of the pm model with d = 2, for arrays u1, v2."""
    u1, v2 = np.broadcast_arrays(np.asarray(u1, float), np.asarray(v2, float))
    z = np.zeros_like(u1)
    return np.stack([u1, z, z, v2], axis=-1)


def exact_two_coordinate(*, eta: float = 0.02, sigma: float = 0.3, theta0=(1.5, 1.5),
                         decay_steps: Sequence[int] = (0, 5_000, 60_000),
                         total_steps: int = 80_000, seed: int = 0, record_every: int = 50,
                         grid: int = 241) -> TwoCoordinate:  # fmt: skip
    """Label-noise SGD in the (u_1, v_2) plane: L = ½(u_1² − v_2² − 1)², test loss
    ½((u_1² − 1)² + v_2⁴); the main run and branches decaying at ``decay_steps``."""
    model = get_model("pm")
    X, y = np.array([[1.0, 1.0]]), np.array([1.0])
    br = branch_runs(model, X, y, two_coordinate_theta(*theta0), eta=eta, sigma=sigma,
                     decay_steps=decay_steps, total_steps=total_steps, seed=seed,
                     record_every=record_every)  # fmt: skip
    hi = 1.3 * max(abs(theta0[0]), abs(theta0[1]), 1.0)
    u = np.linspace(-0.15 * hi, hi, grid)
    v = np.linspace(-0.15 * hi, hi, grid)
    uu, vv = np.meshgrid(u, v)
    train = 0.5 * (uu**2 - vv**2 - 1.0) ** 2
    test = 0.5 * ((uu**2 - 1.0) ** 2 + vv**4)
    return TwoCoordinate(u, v, train, test, br, eta, sigma, tuple(map(float, theta0)))


@dataclass(frozen=True)
class PCASurface:
    """The curved PCA surface and the losses on it.

    theta(a, b) = mean + a·pcs[0] + b·pcs[1] + (c[0] a² + c[1] a + c[2])·pcs[2]; ``explained``
    the variance fractions of the three components; ``train`` / ``test`` (G, G) with [i, j] at
    (a[j], b[i]); ``paths`` the (a, b) coordinates of each run's recorded iterates (R, T, 2)."""

    mean: np.ndarray
    pcs: np.ndarray
    c: np.ndarray
    explained: np.ndarray
    a: np.ndarray
    b: np.ndarray
    train: np.ndarray
    test: np.ndarray
    paths: np.ndarray

    def theta(self, a, b) -> np.ndarray:
        """Points of the surface for arrays a, b (broadcast): (..., P)."""
        a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
        lift = np.polyval(self.c, a)
        return (self.mean + a[..., None] * self.pcs[0] + b[..., None] * self.pcs[1]
                + lift[..., None] * self.pcs[2])  # fmt: skip


def pca_surface(branches: Branches, train_loss: Callable[[np.ndarray], np.ndarray],
                test_loss: Callable[[np.ndarray], np.ndarray], *, grid: int = 121,
                margin: float = 0.25, chunk: int = 512) -> PCASurface:  # fmt: skip
    """Fit the surface to the checkpoints and evaluate the losses on a grid of (a, b) covering
    the paths with ``margin`` of their range on each side. ``train_loss`` / ``test_loss`` map
    thetas (N, P) to losses (N,); they get ``chunk`` grid points at a time (a network's loss
    holds every sample's activations of every point it is given)."""
    pts = branches.checkpoints()
    pts = pts[np.isfinite(pts).all(axis=1)]
    if pts.shape[0] < 4:
        raise ValueError(f"need at least 4 finite checkpoints for the PCA, got {pts.shape[0]}")
    mean = pts.mean(axis=0)
    _, s, vt = np.linalg.svd(pts - mean, full_matrices=False)
    k = min(3, vt.shape[0])
    pcs = np.zeros((3, pts.shape[1]))
    pcs[:k] = vt[:k]
    explained = np.zeros(3)
    explained[:k] = s[:k] ** 2 / np.sum(s**2)
    coords = (pts - mean) @ pcs.T
    c = np.polyfit(coords[:, 0], coords[:, 2], 2)
    paths = (branches.theta - mean) @ pcs[:2].T
    lo, hi = coords[:, :2].min(axis=0), coords[:, :2].max(axis=0)
    pad = margin * np.maximum(hi - lo, 1e-12)
    a = np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid)
    b = np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid)
    surf = PCASurface(mean, pcs, c, explained, a, b, np.empty(0), np.empty(0), paths)
    th = surf.theta(*np.meshgrid(a, b)).reshape(-1, pts.shape[1])

    def on_grid(loss: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        parts = [loss(th[i : i + chunk]) for i in range(0, th.shape[0], chunk)]
        return np.concatenate(parts).reshape(grid, grid)

    return PCASurface(mean, pcs, c, explained, a, b, on_grid(train_loss), on_grid(test_loss),
                      paths)  # fmt: skip
