"""Float64 reference estimators for the tests, written without the library's code.

They check :mod:`jaxattr.shapley` (and the scenarios that use it) against the subset
definitions; only the tests need them.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np


def _coalition_value(f, z, b, members):
    x = b.copy()
    idx = list(members)
    x[idx] = z[idx]
    return float(f(jnp.asarray(x)))


def brute_force(f, z, b, kind):
    """Shapley / Banzhaf by their subset definitions, written without the library's code."""
    n = z.shape[0]
    bb = np.broadcast_to(b, z.shape).copy()
    fj = jax.jit(f)
    v = {}
    for r in range(n + 1):
        for s in itertools.combinations(range(n), r):
            v[frozenset(s)] = _coalition_value(fj, z, bb, s)
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for r in range(n):
            w = (
                math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
                if kind == "shapley"
                else 1.0 / 2 ** (n - 1)
            )
            for s in itertools.combinations(others, r):
                phi[i] += w * (v[frozenset(s) | {i}] - v[frozenset(s)])
    return phi
