"""Counter-based random numbers for the stochastic kernels: every draw is a pure function of
(the run's key, the step, the draw's index within the step), so a run's randomness does not
depend on its batch, its tile, the thread count or how the steps are chunked.

The generator is SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of Java's
SplittableRandom and of xoshiro) used with random access: the run's stream starts at the state
``key = mix(seed · G + 1)`` and draw c of it is ``mix(key + (c + 1) · G)``, G the golden-ratio
increment, with counter c = step · 2^16 + draw (at most 65 536 draws per step).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11, _S16 = (np.uint64(s) for s in (30, 27, 31, 11, 16))
_ONE = np.uint64(1)
#: 2^-53: turns the top 53 bits into a float in [0, 1)
_UNIT = 1.0 / 9007199254740992.0

_JIT = dict(cache=True, inline="always")


@nb.njit(**_JIT)
def mix(z):
    """The SplitMix64 output function (a bijection of uint64 with full avalanche)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(**_JIT)
def run_key(seed):
    """The stream key of a run with integer ``seed`` >= 0."""
    return mix(np.uint64(seed) * _G + _ONE)


@nb.njit(**_JIT)
def uniform(key, step, draw):
    """A float in [0, 1): draw ``draw`` of step ``step`` of the run with stream ``key``."""
    c = (np.uint64(step) << _S16) + np.uint64(draw) + _ONE
    # (a key typed as int64, e.g. passed from Python, would turn uint64 sums into floats)
    return np.float64(mix(np.uint64(key) + c * _G) >> _S11) * _UNIT


@nb.njit(**_JIT)
def normal(key, step, draw):
    """A standard normal from draws ``draw`` and ``draw + 1`` (Box–Muller)."""
    u1 = 1.0 - uniform(key, step, draw)  # in (0, 1]
    u2 = uniform(key, step, draw + 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@nb.njit(**_JIT)
def rademacher(key, step, draw):
    """+1 or -1 with probability 1/2 each."""
    return 1.0 if uniform(key, step, draw) < 0.5 else -1.0


@nb.njit(cache=True)
def keys(seeds):
    """Stream keys (uint64) of the runs with the given integer seeds."""
    out = np.empty(seeds.size, dtype=np.uint64)
    for b in range(seeds.size):
        out[b] = run_key(seeds[b])
    return out
