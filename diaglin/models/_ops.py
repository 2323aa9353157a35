"""Numerical pieces of the coordinate-separable ("diagonal") parameterisations.

Every model here writes beta_j as a function of the j-th entry of each of its K parameter
blocks only: beta_j = f(theta[0, j], ..., theta[K-1, j]). A model therefore supplies four
scalar pieces, each written once and used by every kernel (GD tiles, GEMM path, Hessian, HVP,
the EoS flows):

    beta_j           f(theta[:, j])
    dbeta_j / dθ_kj  first derivative w.r.t. block k
    d²beta_j / dθ_kj dθ_lj   second derivative (the K x K block of coordinate j)
    d³beta_j / dθ_kj dθ_lj dθ_mj   third derivative (the EoS flows: gradients of Hessian entries)

Arrays use the *tile layout* ``th[k, j, t]``: block k, coordinate j, run t. A single run is a
tile of width 1. Models are identified by an integer ``kind`` so that the kernels stay cacheable
(Numba cannot cache functions that take other jitted functions as arguments); ``depth`` is the
D of the depth-D models and ignored by the others.
"""

from __future__ import annotations

import numba as nb

WW = 0  # beta = w * w
UV = 1  # beta = u * v
PM = 2  # beta = u * u - v * v
PROD = 3  # beta = w_1 * ... * w_D
POWER = 4  # beta = w ** D
KINDS = (WW, UV, PM, PROD, POWER)

_JIT = dict(cache=True, inline="always")


@nb.njit(**_JIT)
def n_blocks(kind, depth):
    """K, the number of parameter blocks: a literal for every kind but PROD (so that, with
    ``kind`` a compile-time constant, loops over the blocks unroll)."""
    if kind == WW or kind == POWER:
        return 1
    if kind == UV or kind == PM:
        return 2
    return depth


@nb.njit(**_JIT)
def beta_jt(kind, depth, th, j, t):
    """beta_j of run t."""
    if kind == WW:
        return th[0, j, t] * th[0, j, t]
    if kind == UV:
        return th[0, j, t] * th[1, j, t]
    if kind == PM:
        return th[0, j, t] * th[0, j, t] - th[1, j, t] * th[1, j, t]
    if kind == PROD:
        p = 1.0
        for k in range(depth):
            p *= th[k, j, t]
        return p
    # POWER
    return th[0, j, t] ** depth


@nb.njit(**_JIT)
def dbeta_jt(kind, depth, th, k, j, t):
    """d beta_j / d theta[k, j] of run t."""
    if kind == WW:
        return 2.0 * th[0, j, t]
    if kind == UV:
        return th[1 - k, j, t]
    if kind == PM:
        return 2.0 * th[0, j, t] if k == 0 else -2.0 * th[1, j, t]
    if kind == PROD:
        p = 1.0
        for m in range(depth):
            if m != k:
                p *= th[m, j, t]
        return p
    return depth * th[0, j, t] ** (depth - 1)


@nb.njit(**_JIT)
def d2beta_jt(kind, depth, th, k, l, j, t):
    """d² beta_j / d theta[k, j] d theta[l, j] of run t."""
    if kind == WW:
        return 2.0
    if kind == UV:
        return 0.0 if k == l else 1.0
    if kind == PM:
        if k != l:
            return 0.0
        return 2.0 if k == 0 else -2.0
    if kind == PROD:
        if k == l:
            return 0.0
        p = 1.0
        for m in range(depth):
            if m != k and m != l:
                p *= th[m, j, t]
        return p
    if depth == 1:
        return 0.0
    return depth * (depth - 1) * th[0, j, t] ** (depth - 2)


@nb.njit(**_JIT)
def d3beta_jt(kind, depth, th, k, l, m, j, t):
    """d³ beta_j / d theta[k, j] d theta[l, j] d theta[m, j] of run t (zero for the quadratic
    models ww, uv, pm)."""
    if kind == PROD:
        if k == l or k == m or l == m:
            return 0.0
        p = 1.0
        for q in range(depth):
            if q != k and q != l and q != m:
                p *= th[q, j, t]
        return p
    if kind == POWER and depth >= 3:
        return depth * (depth - 1) * (depth - 2) * th[0, j, t] ** (depth - 3)
    return 0.0
