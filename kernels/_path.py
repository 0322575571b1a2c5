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
from jaxtyping import Array, Float, Shaped

from ._sums import count, feature_means


def _chunked_nodes(alpha, w, chunk: int, dtype, multiple: int = 1):
    k = len(alpha)
    # at most K points per chunk, rounded up to a multiple of `multiple` (a SIMD width)
    chunk = -(-max(1, min(int(chunk), k)) // multiple) * multiple
    n_chunks = -(-k // chunk)
    pad = n_chunks * chunk - k
    # Padded nodes carry weight 0: they cost a gradient but add nothing.
    a = np.concatenate([np.asarray(alpha), np.full(pad, 0.5)]).reshape(n_chunks, chunk)
    ww = np.concatenate([np.asarray(w), np.zeros(pad)]).reshape(n_chunks, chunk)
    return jnp.asarray(a, dtype), jnp.asarray(ww, dtype)


def path_gradient(
    f: Callable[[Float[Array, "d N"]], Float[Array, ""]],
    z: Float[Array, "d N"],
    b: Float[Array, "d N"] | Float[Array, "d 1"],
    alpha: Float[np.ndarray, " K"],
    w: Float[np.ndarray, " K"],
    *,
    chunk: int = 1,
    vectorize: bool = False,
) -> Float[Array, "d N"]:
    """Path-averaged gradient of any ``f: (d, N) -> scalar`` by ``jax.grad``.

    ``G[k, i] = sum_j w_j df/dz[k, i](b + alpha_j (z - b))``, so that
    ``phi_i = sum_k (z[k, i] - b[k, i]) G[k, i]`` is the Aumann–Shapley value of agent i
    under the quadrature rule ``(alpha, w)``.

    Args:
        f: scalar value function on a feature-major step ``(d, N)``.
        z: ``Float[Array, "d N"]`` features of one step.
        b: ``Float[Array, "d N"]`` per-agent baseline or ``Float[Array, "d 1"]`` one
            baseline vector for every agent.
        alpha: ``Float[np.ndarray, " K"]`` quadrature nodes in [0, 1] (NumPy, static).
        w: ``Float[np.ndarray, " K"]`` quadrature weights.
        chunk: path points per scan iteration. 1 is the default: on XLA CPU (N = 1e6,
            K = 30) one point per iteration was fastest for heat among unrolled chunks
            (19 ms vs 22-24 ms for 10-30); it also bounds scratch to one gradient.
        vectorize: evaluate the chunk's points as one batch, ``jax.vmap`` over a trailing
            (minor) axis, and get their weighted gradient sum from ONE reverse pass with
            respect to a perturbation ``y`` shared by every point:
            ``grad_y sum_j w_j f(b + alpha_j (z - b) + y) = sum_j w_j grad f(...)``.
            For value functions whose reductions are plain means (heat, linear) XLA then
            reads z once per chunk instead of once per point, with no ``chunk × d × N``
            scratch (N = 1e6, K = 30, chunk 32: 8.4 ms against 14 ms). Others (variance's
            centred square) materialise the batch: leave it off for them.
            Known XLA CPU bug (jax 0.10.2): a YNNPACK reduce fusion returns garbage for
            ``sum_j a[j] * m[i]`` reduced over j when the broadcast operands leave a middle
            axis uncovered, which is what a per-point *scalar* cotangent times a mask
            gives (linear with a mask). Heat's cotangent is per point and feature, which
            compiles correctly; the tests compare this mode with the unrolled one.

    Returns:
        ``G``, ``Float[Array, "d N"]``.

    Raises:
        ValueError: ``alpha`` and ``w`` differ in length (from NumPy).
        TypeError: ``b`` does not broadcast against ``z`` (from ``jax.numpy``), or ``f``
            does not return a scalar (from ``jax.grad``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # d = 2, N = 3
        >>> b = jnp.zeros((2, 1))
        >>> alpha, w = kernels.quadrature("midpoint", 4)
        >>> g = kernels.path_gradient(kernels.variance_value, z, b, alpha, w)
        >>> phi = jnp.sum((z - b) * g, axis=0)  # variance: exact for any K
        >>> print([round(float(p), 4) for p in phi], round(float(kernels.variance_value(z)), 4))
        [-0.4444, 0.6667, 0.6667] 0.8889
    """
    dz = z - b
    # The batch axis of a vectorised chunk is minor: XLA CPU reduces it well at 32 lanes
    # (N = 1e6, heat: 8 points per chunk 30 ms, 16: 14 ms, 32: 7 ms for K = 30), so chunks
    # are rounded up to multiples of 32 (zero-weight padding points); below 16 points the
    # padding would cost more than the unrolled loop saves.
    if vectorize and len(alpha) < 16:
        vectorize, chunk = False, 1
    a, ww = _chunked_nodes(alpha, w, chunk, z.dtype, multiple=32 if vectorize else 1)
    acc0 = jnp.zeros(jnp.broadcast_shapes(z.shape, b.shape), z.dtype)

    if vectorize:
        batched = jax.vmap(f, in_axes=-1)

        def point_sum(y, ac, wc):  # y: (d, N) or (d, 1); the chunk's points on axis -1
            lanes = ac.reshape((1,) * dz.ndim + ac.shape)
            return batched((b + y)[..., None] + dz[..., None] * lanes) @ wc

        grad_y = jax.grad(point_sum)

        def body(acc, aw):
            return acc + grad_y(jnp.zeros_like(acc), *aw), None
    else:
        grad_f = jax.grad(f)

        def body(acc, aw):
            ac, wc = aw
            for j in range(ac.shape[0]):  # unrolled: see meanfield_path_gradient
                acc = acc + wc[j] * grad_f(b + ac[j] * dz)
            return acc, None

    acc, _ = lax.scan(body, acc0, (a, ww))
    return acc


def meanfield_path_gradient(
    g: Callable[[Float[Array, "d n"]], Float[Array, "m n"]],
    h: Callable[[Float[Array, " m"]], Float[Array, ""]],
    z: Float[Array, "d N"],
    b: Float[Array, "d N"] | Float[Array, "d 1"],
    alpha: Float[np.ndarray, " K"],
    w: Float[np.ndarray, " K"],
    mask: Shaped[Array, " N"] | None = None,
    *,
    chunk: int = 1,
    agent_chunk: int | None = None,
) -> Float[Array, "d N"]:
    """Path-averaged gradient of a mean-field ``f(z) = h(mean_i g(z_i))``.

    Along the ray only the m aggregates ``M(alpha) = mean_i g(z_i(alpha))`` couple the
    agents, so the gradient of agent i at ``alpha`` is ``J_g(z_i(alpha))^T grad h(M) / W``.
    Pass 1 computes the K aggregates, pass 2 accumulates the per-agent vector–Jacobian
    products over the K points with a running sum. With ``agent_chunk`` both passes stream
    over agent chunks (N is padded with zero-weight agents to a multiple), so scratch is
    ``chunk × d × agent_chunk`` whatever N is: the route for large learned value networks.

    Args:
        g: per-agent map, feature-major and vectorised: ``(d, n) -> (m, n)``.
        h: ``(m,) -> scalar``.
        z: ``Float[Array, "d N"]`` features of one step.
        b: ``Float[Array, "d N"]`` or ``Float[Array, "d 1"]`` baseline.
        alpha: ``Float[np.ndarray, " K"]`` quadrature nodes (NumPy, static).
        w: ``Float[np.ndarray, " K"]`` quadrature weights.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents get G = 0).
        chunk: path points per iteration of pass 2 (1 is fastest on XLA CPU: vmapping K
            points of variance's VJP was measured 12x slower than a scan over points).
        agent_chunk: stream agents in chunks of this size, or None.

    Returns:
        ``G``, ``Float[Array, "d N"]``.

    Raises:
        ValueError: ``z`` is not 2-D, or ``g`` does not map ``(d, n)`` to ``(m, n)`` (from
            ``jax.vjp``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # d = 2, N = 3
        >>> b = jnp.zeros((2, 1))
        >>> alpha, w = kernels.quadrature("midpoint", 4)
        >>> g_, h_ = kernels.variance_g, kernels.variance_h  # f = h(mean_i g(z_i))
        >>> g = kernels.meanfield_path_gradient(g_, h_, z, b, alpha, w)
        >>> print([round(float(p), 4) for p in jnp.sum((z - b) * g, axis=0)])
        [-0.4444, 0.6667, 0.6667]
    """
    d, n = z.shape
    per_agent_b = b.shape[-1] != 1
    a, ww = _chunked_nodes(alpha, w, chunk, z.dtype)
    alphas, weights = a.reshape(-1), ww.reshape(-1)
    msk = jnp.ones((n,), z.dtype) if mask is None else mask.astype(z.dtype)
    total = jnp.sum(msk)

    ac = n if agent_chunk is None or agent_chunk >= n else int(agent_chunk)
    n_ac = -(-n // ac)
    pad = n_ac * ac - n
    if pad:  # zero-weight padding agents: no aggregate, no gradient
        z = jnp.concatenate([z, jnp.zeros((d, pad), z.dtype)], axis=1)
        msk = jnp.concatenate([msk, jnp.zeros((pad,), z.dtype)])
        if per_agent_b:
            b = jnp.concatenate([b, jnp.zeros((d, pad), z.dtype)], axis=1)

    def split(x):  # (..., n_ac * ac) -> (n_ac, ..., ac)
        return jnp.moveaxis(x.reshape(*x.shape[:-1], n_ac, ac), -2, 0)

    zs, ms = split(z), split(msk)
    bs = split(b) if per_agent_b else None
    m_dim = jax.eval_shape(g, jax.ShapeDtypeStruct((d, 1), z.dtype)).shape[0]

    def chunk_b(i):
        return b if bs is None else bs[i]

    # Pass 1: aggregates at every path point, (K, m); one sequential pass per point.
    def agg_chunk(carry, i):
        zc, mc, bc = zs[i], ms[i], chunk_b(i)
        dzc = zc - bc

        def at(aj):
            return jnp.sum(g(bc + aj * dzc) * mc[None, :], axis=-1)

        return carry + lax.map(at, alphas), None

    sums, _ = lax.scan(agg_chunk, jnp.zeros((alphas.shape[0], m_dim), z.dtype), jnp.arange(n_ac))
    u = jax.vmap(jax.grad(h))(sums / total) * (weights / total)[:, None]  # (K, m)
    uc = u.reshape(a.shape[0], a.shape[1], m_dim)

    # Pass 2: per-agent VJPs, a running sum over path points.
    def grad_chunk(i):
        zc, mc, bc = zs[i], ms[i], chunk_b(i)
        dzc = zc - bc

        def vjp_at(aj, uj):
            _, vjp = jax.vjp(g, bc + aj * dzc)
            return vjp(jnp.broadcast_to(uj[:, None], (m_dim, ac)))[0]

        def body(acc, au):
            ac_, ucc = au
            # Unrolled, not vmapped: the chunk's VJPs fuse into one elementwise pass over
            # the agents (one read of z, one write of acc); vmapping them materialised
            # (chunk, d, N) and was 12x slower for variance.
            for j in range(ac_.shape[0]):
                acc = acc + vjp_at(ac_[j], ucc[j])
            return acc, None

        acc, _ = lax.scan(body, jnp.zeros((d, ac), z.dtype), (a, uc))
        return acc * mc[None, :]

    if n_ac == 1:
        return grad_chunk(0)[:, :n]
    out = lax.map(grad_chunk, jnp.arange(n_ac))  # (n_ac, d, ac)
    return jnp.moveaxis(out, 0, -2).reshape(d, n_ac * ac)[:, :n]


def affine_path_gradient(
    g: Callable[[Float[Array, "d n"]], Float[Array, "m n"]],
    h: Callable[[Float[Array, " m"]], Float[Array, ""]],
    z: Float[Array, "d N"],
    b: Float[Array, "d N"] | Float[Array, "d 1"],
    alpha: Float[np.ndarray, " K"],
    w: Float[np.ndarray, " K"],
    mask: Shaped[Array, " N"] | None = None,
) -> Float[Array, "d 1"]:
    """Path-averaged gradient of a mean-field ``f = h(mean_i g(z_i))`` with *affine* g.

    For affine g the aggregates along the ray are affine in ``a`` too,
    ``M(a) = M^b + a (M^z - M^b)``, so the K path points need the two end aggregates only
    (one pass over the agents) and g's Jacobian is the same for every agent and point:
    ``G = J_g^T sum_j w_j grad h(M(a_j)) / W``, one ``(d, 1)`` vector. The same quadrature
    of the same integrand as :func:`path_gradient`, without K passes over the agents.

    Args:
        g: per-agent *affine* map, feature-major and vectorised: ``(d, n) -> (m, n)`` (not
            checked: a non-affine g gives a wrong G).
        h: ``(m,) -> scalar``.
        z: ``Float[Array, "d N"]`` features of one step.
        b: ``Float[Array, "d N"]`` or ``Float[Array, "d 1"]`` baseline.
        alpha: ``Float[np.ndarray, " K"]`` quadrature nodes.
        w: ``Float[np.ndarray, " K"]`` quadrature weights.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights: padding agents leave the
            aggregates and W unchanged.

    Returns:
        ``G``, ``Float[Array, "d 1"]`` (broadcasts against ``(d, N)``); zero weight for
        padding is applied by the caller's mask.

    Raises:
        TypeError: ``alpha`` and ``w`` differ in length, or ``g``'s output does not
            broadcast (shape errors from ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # d = 2, N = 3
        >>> alpha, w = kernels.quadrature("midpoint", 4)
        >>> g = kernels.affine_path_gradient(
        ...     kernels.linear_g, kernels.linear_h, z, jnp.zeros((2, 1)), alpha, w
        ... )
        >>> print(g.shape, [round(float(x), 4) for x in g[:, 0]])  # linear: 1/N
        (2, 1) [0.3333, 0.3333]
    """
    wn = count(z, mask)
    mz = feature_means(g(z), mask)
    mb = g(b)[:, 0] if b.shape[-1] == 1 else feature_means(g(b), mask)
    a = jnp.asarray(alpha, z.dtype)
    u = jnp.sum(
        jnp.asarray(w, z.dtype)[:, None]
        * jax.vmap(jax.grad(h))(mb[None, :] + a[:, None] * (mz - mb)[None, :]),
        axis=0,
    )
    _, vjp = jax.vjp(g, jnp.zeros((z.shape[0], 1), z.dtype))
    return vjp((u / wn)[:, None].astype(z.dtype))[0]
