"""Counter-based random numbers for the stochastic kernels: every draw is a pure function of
(the run's key, the step, the draw's index within the step), so a run's randomness does not
depend on its batch, its tile, the thread count or how the steps are chunked.

The generator is SplitMix64 (Steele, Lea, Flood 2014; the seeding generator of Java's
SplittableRandom and of xoshiro) used with random access: the run's stream starts at the state
``key = mix(seed · G + 1)`` and draw c of it is ``mix(key + (c + 1) · G)``, G the golden-ratio
increment, with counter c = step · 2^16 + draw (at most 65 536 draws per step).

Normals are the inverse normal CDF of one draw (Wichura's algorithm AS 241, ``PPND16``: relative
error below 1e-15; about half the cost of Box–Muller's log, sqrt and cos on two draws).
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


# AS 241 (Wichura 1988, Appl. Statist. 37, 477): Φ⁻¹(p) as rational functions, numerator and
# denominator coefficients from the constant term up; central |p − ½| ≤ 0.425, then r = √−log
# of the nearer tail p, r ≤ 5 and beyond.
_CENTRAL = ((3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
             1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
             3.3430575583588128105e4, 2.5090809287301226727e3),
            (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
             2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
             5.2264952788528545610e3))  # fmt: skip
_NEAR = ((1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
          3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
          2.27238449892691845833e-2, 7.74545014278341407640e-4),
         (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
          1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
          1.05075007164441684324e-9))  # fmt: skip
_FAR = ((6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
         2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
         2.71155556874348757815e-5, 2.01033439929228813265e-7),
        (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
         7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
         2.04426310338993978564e-15))  # fmt: skip


@nb.njit(**_JIT)
def _ratio(c, x):
    """(Σ_i c[0][i] xⁱ) / (Σ_i c[1][i] xⁱ), degree 7 each (Horner)."""
    a, b = c
    num = (((((a[7] * x + a[6]) * x + a[5]) * x + a[4]) * x + a[3]) * x + a[2]) * x + a[1]
    den = (((((b[7] * x + b[6]) * x + b[5]) * x + b[4]) * x + b[3]) * x + b[2]) * x + b[1]
    return (num * x + a[0]) / (den * x + b[0])


@nb.njit(**_JIT)
def normal_quantile(p):
    """Φ⁻¹(p) for p in (0, 1) (AS 241)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        return q * _ratio(_CENTRAL, 0.180625 - q * q)
    r = np.sqrt(-np.log(p if q < 0.0 else 1.0 - p))
    v = _ratio(_NEAR, r - 1.6) if r <= 5.0 else _ratio(_FAR, r - 5.0)
    return -v if q < 0.0 else v


@nb.njit(**_JIT)
def normal(key, step, draw):
    """A standard normal from draw ``draw``: Φ⁻¹ of its top 53 bits as a point of (0, 1)."""
    c = (np.uint64(step) << _S16) + np.uint64(draw) + _ONE
    bits = mix(np.uint64(key) + c * _G) >> _S11
    return normal_quantile((np.float64(bits) + 0.5) * _UNIT)


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
