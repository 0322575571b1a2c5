"""Straight-line path integral of gradients (Aumann–Shapley), memory-bounded.

All kernels work on ONE time step in feature-major layout: ``z`` is ``(d, N)``, the
baseline ``b`` is ``(d, N)`` (per agent) or ``(d, 1)`` (one vector for every agent).
They return the *path-averaged gradient* ``G`` with

    G[k, i] = sum_j w_j  df/dz[k, i] (b + alpha_j (z - b)),     phi_features = (z - b) * G

so that ``phi_features`` never has to be materialised by a kernel that only needs ``phi``.
The K path points are processed in chunks of ``chunk`` points inside one ``lax.scan``
with a running sum: scratch is ``chunk × d × N``, never ``K × d × N``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def _chunked_nodes(alpha, w, chunk: int, dtype):
    k = len(alpha)
    chunk = max(1, min(int(chunk), k))
    n_chunks = -(-k // chunk)
    pad = n_chunks * chunk - k
    # Padded nodes carry weight 0: they cost a gradient but add nothing.
    a = np.concatenate([np.asarray(alpha), np.full(pad, 0.5)]).reshape(n_chunks, chunk)
    ww = np.concatenate([np.asarray(w), np.zeros(pad)]).reshape(n_chunks, chunk)
    return jnp.asarray(a, dtype), jnp.asarray(ww, dtype)


def path_gradient(f: Callable, z, b, alpha, w, *, chunk: int = 8):
    """Path-averaged gradient of any ``f: (d, N) -> scalar`` by ``jax.grad``.

    Args:
        f: scalar value function on a feature-major step ``(d, N)``.
        z: ``(d, N)`` features; b: ``(d, N)`` or ``(d, 1)`` baseline.
        alpha, w: quadrature nodes and weights (NumPy, ``(K,)``).
        chunk: path points per scan iteration (vmapped together).

    Returns:
        ``G`` of shape ``(d, N)``.
    """
    dz = z - b
    grad_f = jax.grad(f)
    a, ww = _chunked_nodes(alpha, w, chunk, z.dtype)

    def body(acc, aw):
        ac, wc = aw
        if ac.shape[0] == 1:
            return acc + wc[0] * grad_f(b + ac[0] * dz), None
        g = jax.vmap(lambda aj: grad_f(b + aj * dz))(ac)
        return acc + jnp.tensordot(wc, g, axes=1), None

    acc, _ = lax.scan(body, jnp.zeros(jnp.broadcast_shapes(z.shape, b.shape), z.dtype), (a, ww))
    return acc


def meanfield_path_gradient(g: Callable, h: Callable, z, b, alpha, w, mask=None, *,
                            chunk: int = 8, agent_chunk: int | None = None):
    """Path-averaged gradient of a mean-field ``f(z) = h(mean_i g(z_i))``.

    Along the ray only the m aggregates ``M(alpha) = mean_i g(z_i(alpha))`` couple the
    agents, so the gradient of agent i at ``alpha`` is ``J_g(z_i(alpha))^T grad h(M) / W``.
    Pass 1 computes the K aggregates, pass 2 the per-agent vector–Jacobian products;
    with ``agent_chunk`` both passes stream over agent chunks, so scratch is
    ``chunk × d × agent_chunk`` whatever N is.

    Args:
        g: per-agent map, feature-major and vectorised: ``(d, n) -> (m, n)``.
        h: ``(m,) -> scalar``.
        z, b: as in :func:`path_gradient`; mask: optional ``(N,)`` 0/1 weights (padding).
        agent_chunk: stream agents in chunks of this size (must divide N), or None.

    Returns:
        ``G`` of shape ``(d, N)``.
    """
    d, n = z.shape
    b = jnp.broadcast_to(b, z.shape)
    dz = z - b
    a, ww = _chunked_nodes(alpha, w, chunk, z.dtype)
    alphas = a.reshape(-1)
    weights = ww.reshape(-1)
    msk = jnp.ones((n,), z.dtype) if mask is None else mask.astype(z.dtype)
    total = jnp.sum(msk)

    if agent_chunk is None or agent_chunk >= n:
        n_ac = 1
        agent_chunk = n
    else:
        if n % agent_chunk:
            raise ValueError(f"agent_chunk={agent_chunk} must divide N={n}")
        n_ac = n // agent_chunk

    def split(x):  # (..., N) -> (n_ac, ..., agent_chunk)
        return jnp.moveaxis(x.reshape(*x.shape[:-1], n_ac, agent_chunk), -2, 0)

    bs, dzs, ms = split(b), split(dz), split(msk)

    # Pass 1: aggregates at every path point, (K, m).
    def agg_chunk(carry, xs):
        bc, dzc, mc = xs

        def at(aj):
            return jnp.sum(g(bc + aj * dzc) * mc[None, :], axis=-1)

        return carry + lax.map(at, alphas, batch_size=a.shape[1]), None

    m_dim = jax.eval_shape(g, jax.ShapeDtypeStruct((d, 1), z.dtype)).shape[0]
    sums, _ = lax.scan(agg_chunk, jnp.zeros((alphas.shape[0], m_dim), z.dtype), (bs, dzs, ms))
    u = jax.vmap(jax.grad(h))(sums / total) * (weights / total)[:, None]  # (K, m)

    # Pass 2: per-agent VJPs, summed over path points with a running sum.
    uc = u.reshape(a.shape[0], a.shape[1], m_dim)

    def grad_chunk(xs):
        bc, dzc, mc = xs

        def body(acc, au):
            ac, ucc = au

            def one(aj, uj):
                _, vjp = jax.vjp(g, bc + aj * dzc)
                return vjp(jnp.broadcast_to(uj[:, None], (m_dim, bc.shape[-1])))[0]

            return acc + jnp.sum(jax.vmap(one)(ac, ucc), axis=0), None

        acc, _ = lax.scan(body, jnp.zeros_like(bc), (a, uc))
        return acc * mc[None, :]

    out = lax.map(grad_chunk, (bs, dzs, ms))  # (n_ac, d, agent_chunk)
    return jnp.moveaxis(out, 0, -2).reshape(d, n)
