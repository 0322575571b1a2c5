"""Coalition values of mean-field games by O(m) updates of the aggregates (DESIGN §1).

For ``f(Z) = h(mean_i g(z_i))`` and the baseline-replacement game
``v(S) = f(z_S, b_{N∖S})``: ``v(S) = h(A_0 + sum_{i in S} D_i)`` with
``D_i = (g(z_i) - g(b_i)) / N`` and ``A_0 = mean_i g(b_i)``. A coalition, every prefix of a
permutation, or every leave-one-out set is then an update of the m aggregates, not an
evaluation of f on (N, d). Feature-major like every kernel: ``zt``, ``bt`` are ``(d, N)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def meanfield_parts(g, zt, bt):
    """``D = (g(z) - g(b)) / N`` ``(m, N)`` and ``A_0 = mean_i g(b_i)`` ``(m,)``."""
    n = zt.shape[1]
    gz, gb = g(zt), g(bt)
    return (gz - gb) / n, jnp.mean(gb, axis=1)


def meanfield_coalition_value(h, d, a0, member):
    """``v(S)`` for a 0/1 membership vector ``member`` ``(N,)``."""
    return h(a0 + d @ member.astype(d.dtype))


def meanfield_prefix_values(h, d, a0, perm):
    """``v`` of the first k agents of ``perm`` for k = 0..N: ``(N + 1,)``, O(N·m)."""
    a = a0[:, None] + jnp.cumsum(d[:, perm], axis=1)
    head = jnp.reshape(h(a0), (1,)).astype(d.dtype)
    return jnp.concatenate([head, jax.vmap(h, in_axes=1)(a).astype(d.dtype)])


def meanfield_leave_one_out(h, d, a0):
    """``(v(N) - v(N ∖ {i}) (N,), v(N) - v(∅))``: every agent left out in O(N·m)."""
    a_full = a0 + jnp.sum(d, axis=1)
    full = h(a_full)
    return full - jax.vmap(h, in_axes=1)(a_full[:, None] - d), full - h(a0)


def meanfield_marginals(h, d, a0, member):
    """``v(S ∪ {i}) - v(S ∖ {i})`` for every agent i, S given by ``member`` ``(N,)`` 0/1:
    ``(N,)`` in O(N·m)."""
    x = member.astype(d.dtype)
    a = a0 + d @ x
    hv = jax.vmap(h, in_axes=1)
    return (hv(a[:, None] + (1.0 - x)[None, :] * d) - hv(a[:, None] - x[None, :] * d)).astype(
        d.dtype
    )
