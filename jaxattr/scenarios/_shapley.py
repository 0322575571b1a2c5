"""Coalition-game references for the faithfulness checks (baseline-replacement game).

``v(S) = f(Z with the agents outside S set to their baseline)``. The references come from
:mod:`jaxattr.shapley`; the small private estimators below (same game, float64) are an
independent cross-check of it in the tests. Mean-field value
functions get O(1) coalition updates: a permutation costs O(N) instead of O(N²).
The private estimators compute in float64; references from :mod:`jaxattr.shapley` are in
the dtype JAX computes in (float32 unless x64 is enabled globally), which is ample for the
rank and deletion comparisons they serve (their sampling error dominates).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxattr.values import ValueFunction, as_value


# ----------------------------------------------------------------- private estimators
def _prefix_values_mf(g, h, zt, bt, perms):
    """``v`` of every prefix of each permutation, mean-field: ``(P, N + 1)``."""
    n = zt.shape[1]
    gz, gb = g(zt), g(bt)  # (m, N)
    base = jnp.mean(gb, axis=1)  # (m,)
    diff = (gz - gb) / n

    def one(perm):
        steps = jnp.cumsum(diff[:, perm], axis=1)  # (m, N)
        aggs = jnp.concatenate([base[:, None], base[:, None] + steps], axis=1)
        return jax.vmap(h, in_axes=1)(aggs)

    return jax.lax.map(one, perms)


def _prefix_values_generic(f, zt, bt, perms):
    """``v`` of every prefix of each permutation by N + 1 evaluations: ``(P, N + 1)``."""
    n = zt.shape[1]

    def one(perm):
        rank = jnp.zeros((n,), jnp.int32).at[perm].set(jnp.arange(n, dtype=jnp.int32))

        def at(k):
            return f(jnp.where(rank[None, :] < k, zt, bt))

        return jax.lax.map(at, jnp.arange(n + 1, dtype=jnp.int32))

    return jax.lax.map(one, perms)


@functools.partial(jax.jit, static_argnames=("value",))
def _marginals(value, zt, bt, perms):
    """Marginal contribution of every agent in each permutation: ``(P, N)``."""
    mf = value.mean_field
    if mf is not None:
        v = _prefix_values_mf(mf[0], mf[1], zt, bt, perms)
    else:
        v = _prefix_values_generic(value.fm, zt, bt, perms)
    dv = v[:, 1:] - v[:, :-1]  # dv[p, k] belongs to agent perms[p, k]
    rows = jnp.arange(perms.shape[0])[:, None]
    return jnp.zeros_like(dv).at[rows, perms].set(dv)


def permutation_marginals(value, z, baseline, perms) -> np.ndarray:
    """Marginal contributions ``v(P_i ∪ {i}) - v(P_i)`` per permutation, ``(P, N)``.

    Args:
        value: value function on ``(N, d)``. z, baseline: ``(N, d)``.
        perms: ``(P, N)`` integer permutations of the agents.

    Returns:
        ``(P, N)`` float64: row p is the attribution along the coordinate path that fades
        the agents in following ``perms[p]``.
    """
    value = as_value(value)
    with jax.enable_x64(True):
        zt = jnp.asarray(np.asarray(z, np.float64).T)
        bt = jnp.asarray(np.asarray(baseline, np.float64).T)
        out = _marginals(value, zt, bt, jnp.asarray(np.asarray(perms), jnp.int32))
        return np.asarray(out)


def sampled_shapley_private(value, z, baseline, *, key, n_permutations: int = 1000,
                            batch: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """Permutation-sampled Shapley values and their standard errors, ``(N,)`` each.

    ``phi_i = mean_p [v(P_i^p ∪ {i}) - v(P_i^p)]`` over ``n_permutations`` uniform random
    permutations; ``se_i = std_p / sqrt(M)``.
    """
    n = np.asarray(z).shape[0]
    s1 = np.zeros(n)
    s2 = np.zeros(n)
    done = 0
    while done < n_permutations:
        b = min(batch, n_permutations - done)
        key, sub = jax.random.split(key)
        perms = np.asarray(jax.vmap(lambda k: jax.random.permutation(k, n))(
            jax.random.split(sub, b)))
        m = permutation_marginals(value, z, baseline, perms)
        s1 += m.sum(axis=0)
        s2 += (m * m).sum(axis=0)
        done += b
    mean = s1 / done
    var = np.maximum(s2 / done - mean * mean, 0.0)
    return mean, np.sqrt(var / max(done - 1, 1))


def leave_one_out_private(value, z, baseline) -> np.ndarray:
    """``phi_i = v(N) - v(N \\ {i})``, ``(N,)`` float64."""
    value = as_value(value)
    z = np.asarray(z, np.float64)
    b = np.asarray(baseline, np.float64)
    with jax.enable_x64(True):
        zt, bt = jnp.asarray(z.T), jnp.asarray(b.T)
        n = zt.shape[1]
        mf = value.mean_field
        if mf is not None:
            g, h = mf
            gz, gb = g(zt), g(bt)
            full = jnp.mean(gz, axis=1)
            without = full[:, None] - (gz - gb) / n
            out = h(full) - jax.vmap(h, in_axes=1)(without)
        else:
            eye = jnp.eye(n, dtype=bool)
            out = value.fm(zt) - jax.lax.map(
                lambda row: value.fm(jnp.where(row[None, :], bt, zt)), eye)
        return np.asarray(out)


def exact_shapley_private(value, z, baseline, *, chunk: int = 1 << 16) -> np.ndarray:
    """Exact Shapley values by enumerating all ``2^N`` coalitions (N <= 22), ``(N,)``."""
    value = as_value(value)
    z = np.asarray(z, np.float64)
    b = np.asarray(baseline, np.float64)
    n = z.shape[0]
    if n > 22:
        raise ValueError(f"exact Shapley enumerates 2^N coalitions; N={n} is too many "
                         "(N <= 22); use the sampled estimator")
    with jax.enable_x64(True):
        zt, bt = jnp.asarray(z.T), jnp.asarray(b.T)
        bits = jnp.asarray(1 << np.arange(n), jnp.int64)

        @jax.jit
        def values_of(masks):
            member = (masks[:, None] & bits[None, :]) != 0  # (C, N)
            mf = value.mean_field
            if mf is not None:
                g, h = mf
                gz, gb = g(zt), g(bt)
                aggs = jnp.mean(gb, axis=1)[None, :] + member.astype(zt.dtype) @ (gz - gb).T / n
                return jax.vmap(h)(aggs)
            return jax.lax.map(lambda m: value.fm(jnp.where(m[None, :], zt, bt)), member,
                               batch_size=256)

        total = 1 << n
        v = np.concatenate([np.asarray(values_of(jnp.arange(s, min(s + chunk, total),
                                                            dtype=jnp.int64)))
                            for s in range(0, total, chunk)])
    masks = np.arange(total, dtype=np.int64)
    size = np.zeros(total, np.int64)
    for i in range(n):
        size += (masks >> i) & 1
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                       for s in range(n)])
    phi = np.zeros(n)
    for i in range(n):
        without = masks[((masks >> i) & 1) == 0]
        phi[i] = np.sum(weight[size[without]] * (v[without | (1 << i)] - v[without]))
    return phi


# ----------------------------------------------------------------- project references
def shapley_reference(value, z, baseline, *, key, n_permutations: int = 2000) -> dict:
    """Sampled Shapley values with their standard error, from :mod:`jaxattr.shapley`.

    Returns:
        ``{"phi": (N,), "se": (N,), "source": "jaxattr.shapley", "n_permutations": M}``.
    """
    from jaxattr import shapley

    res = shapley.sampled_shapley(as_value(value), np.asarray(z), np.asarray(baseline),
                                  key=key, n_permutations=n_permutations, return_result=True)
    return {"phi": np.asarray(res.phi, np.float64), "se": np.asarray(res.stderr, np.float64),
            "source": "jaxattr.shapley", "n_permutations": n_permutations}


def loo_reference(value, z, baseline) -> tuple[np.ndarray, str]:
    """Leave-one-out values ``(N,)`` from :mod:`jaxattr.shapley`, and their source."""
    from jaxattr import shapley

    return (np.asarray(shapley.leave_one_out(as_value(value), np.asarray(z),
                                             np.asarray(baseline)), np.float64),
            "jaxattr.shapley")


def exact_reference(value, z, baseline) -> tuple[np.ndarray, str]:
    """Exact Shapley values ``(N,)`` (N <= 20) from :mod:`jaxattr.shapley`, and their source."""
    from jaxattr import shapley

    return (np.asarray(shapley.exact_shapley(as_value(value), np.asarray(z),
                                             np.asarray(baseline)), np.float64),
            "jaxattr.shapley")


__all__ = ["ValueFunction", "exact_reference", "exact_shapley_private", "leave_one_out_private",
           "loo_reference", "permutation_marginals", "sampled_shapley_private",
           "shapley_reference"]
