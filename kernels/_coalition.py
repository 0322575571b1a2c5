"""Coalition values of mean-field games by O(m) updates of the aggregates.

The coalition game of the Shapley family is baseline replacement (see docs/shapley.md):
for ``f(Z) = h(mean_i g(z_i))`` and ``v(S) = f(z_S, b_{N∖S})``,
``v(S) = h(A_0 + sum_{i in S} D_i)`` with ``D_i = (g(z_i) - g(b_i)) / N`` and
``A_0 = mean_i g(b_i)``. A coalition, every prefix of a permutation, or every leave-one-out
set is then an update of the m aggregates, not an evaluation of f on (N, d). Feature-major
like every kernel: ``zt``, ``bt`` are ``(d, N)``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Shaped

#: ``g``: the per-agent map of a mean-field value, vectorised over agents, ``(d, n) -> (m, n)``.
PerAgentMap = Callable[[Float[Array, "d n"]], Float[Array, "m n"]]
#: ``h``: the readout of a mean-field value, ``(m,) -> scalar``.
Readout = Callable[[Float[Array, " m"]], Float[Array, ""]]


def meanfield_parts(
    g: PerAgentMap, zt: Float[Array, "d N"], bt: Float[Array, "d N"]
) -> tuple[Float[Array, "m N"], Float[Array, " m"]]:
    """The per-agent aggregate updates ``D`` and the empty coalition's aggregates ``A_0``.

    ``D_i = (g(z_i) - g(b_i)) / N`` and ``A_0 = mean_i g(b_i)``, so that
    ``v(S) = h(A_0 + sum_{i in S} D_i)``.

    Args:
        g: the per-agent map, feature-major and vectorised: ``(d, n) -> (m, n)``.
        zt: ``Float[Array, "d N"]`` features of one step.
        bt: ``Float[Array, "d N"]`` the baseline of every agent (broadcast a common one).

    Returns:
        ``(D, A_0)``: ``Float[Array, "m N"]`` and ``Float[Array, " m"]``.

    Raises:
        TypeError: ``zt`` and ``bt`` map to arrays of different shapes (raised by
            ``jax.numpy`` on the subtraction).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # d = 2, N = 3
        >>> d, a0 = kernels.meanfield_parts(kernels.linear_g, z, jnp.zeros_like(z))
        >>> print(d.shape, [round(float(x), 4) for x in d[0]], a0.tolist())
        (1, 3) [0.3333, 1.0, 1.0] [0.0]
    """
    n = zt.shape[1]
    gz, gb = g(zt), g(bt)
    return (gz - gb) / n, jnp.mean(gb, axis=1)


def meanfield_coalition_value(
    h: Readout, d: Float[Array, "m N"], a0: Float[Array, " m"], member: Shaped[Array, " N"]
) -> Float[Array, ""]:
    """``v(S) = h(A_0 + sum_{i in S} D_i)`` for a 0/1 membership vector of coalition S.

    Args:
        h: the readout ``(m,) -> scalar``.
        d: ``Float[Array, "m N"]`` the updates ``D`` of :func:`meanfield_parts`.
        a0: ``Float[Array, " m"]`` the aggregates ``A_0`` of the empty coalition.
        member: ``Shaped[Array, " N"]`` 1 (or True) for the agents in S, 0 otherwise.

    Returns:
        ``Float[Array, ""]`` the coalition's value.

    Raises:
        TypeError: ``member`` does not have length N (a matmul shape error from
            ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> d, a0 = kernels.meanfield_parts(kernels.linear_g, z, jnp.zeros_like(z))
        >>> v = kernels.meanfield_coalition_value(kernels.linear_h, d, a0, jnp.array([1, 0, 1]))
        >>> print(round(float(v), 4))  # (1 + 3) / 3
        1.3333
    """
    return h(a0 + d @ member.astype(d.dtype))


def meanfield_prefix_values(
    h: Readout, d: Float[Array, "m N"], a0: Float[Array, " m"], perm: Int[Array, " N"]
) -> Float[Array, " N+1"]:
    """``v`` of the first k agents of a permutation for k = 0..N, in O(N·m).

    The prefix aggregates are the cumulative sums of ``D`` in the order ``perm``, so the
    N + 1 values cost one pass; their differences are the agents' marginal contributions
    along the permutation (sampled Shapley).

    Args:
        h: the readout ``(m,) -> scalar``.
        d: ``Float[Array, "m N"]`` the updates ``D`` of :func:`meanfield_parts`.
        a0: ``Float[Array, " m"]`` the aggregates of the empty coalition.
        perm: ``Int[Array, " N"]`` a permutation of the agents.

    Returns:
        ``Float[Array, " N+1"]``: ``v(∅), v({perm[0]}), ..., v(N)``.

    Raises:
        TypeError: ``perm`` is not an integer array (from jax indexing). Entries outside
            ``[0, N)`` are not caught: jax clamps gather indices.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> d, a0 = kernels.meanfield_parts(kernels.linear_g, z, jnp.zeros_like(z))
        >>> v = kernels.meanfield_prefix_values(kernels.linear_h, d, a0, jnp.array([2, 0, 1]))
        >>> print([round(float(x), 4) for x in v])
        [0.0, 1.0, 1.3333, 2.3333]
    """
    a = a0[:, None] + jnp.cumsum(d[:, perm], axis=1)
    head = jnp.reshape(h(a0), (1,)).astype(d.dtype)
    return jnp.concatenate([head, jax.vmap(h, in_axes=1)(a).astype(d.dtype)])


def meanfield_leave_one_out(
    h: Readout, d: Float[Array, "m N"], a0: Float[Array, " m"]
) -> tuple[Float[Array, " N"], Float[Array, ""]]:
    """Every agent left out: ``v(N) - v(N ∖ {i})`` for all i, and ``v(N) - v(∅)``, in O(N·m).

    Args:
        h: the readout ``(m,) -> scalar``.
        d: ``Float[Array, "m N"]`` the updates ``D`` of :func:`meanfield_parts`.
        a0: ``Float[Array, " m"]`` the aggregates of the empty coalition.

    Returns:
        ``(loo, delta)``: ``Float[Array, " N"]`` the leave-one-out values and
        ``Float[Array, ""]`` ``f(z) - f(b)``.

    Raises:
        TypeError: ``a0`` and the rows of ``d`` have shapes that do not broadcast (from
            ``jax.numpy``; shapes that do broadcast are not caught).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> d, a0 = kernels.meanfield_parts(kernels.linear_g, z, jnp.zeros_like(z))
        >>> loo, delta = kernels.meanfield_leave_one_out(kernels.linear_h, d, a0)
        >>> print([round(float(x), 4) for x in loo], round(float(delta), 4))
        [0.3333, 1.0, 1.0] 2.3333
    """
    a_full = a0 + jnp.sum(d, axis=1)
    full = h(a_full)
    return full - jax.vmap(h, in_axes=1)(a_full[:, None] - d), full - h(a0)


def meanfield_marginals(
    h: Readout, d: Float[Array, "m N"], a0: Float[Array, " m"], member: Shaped[Array, " N"]
) -> Float[Array, " N"]:
    """``v(S ∪ {i}) - v(S ∖ {i})`` for every agent i and one coalition S, in O(N·m).

    The marginal estimator of sampled Banzhaf: one sampled coalition gives every agent's
    marginal contribution.

    Args:
        h: the readout ``(m,) -> scalar``.
        d: ``Float[Array, "m N"]`` the updates ``D`` of :func:`meanfield_parts`.
        a0: ``Float[Array, " m"]`` the aggregates of the empty coalition.
        member: ``Shaped[Array, " N"]`` 0/1 (or boolean) membership of S.

    Returns:
        ``Float[Array, " N"]`` the marginals, in ``d.dtype``.

    Raises:
        TypeError: ``member`` does not have length N (a matmul shape error from
            ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> d, a0 = kernels.meanfield_parts(kernels.variance_g, z, jnp.zeros_like(z))
        >>> m = kernels.meanfield_marginals(kernels.variance_h, d, a0, jnp.array([1, 0, 0]))
        >>> print([round(float(x), 4) for x in m])
        [0.2222, 1.3333, 1.3333]
    """
    x = member.astype(d.dtype)
    a = a0 + d @ x
    hv = jax.vmap(h, in_axes=1)
    return (hv(a[:, None] + (1.0 - x)[None, :] * d) - hv(a[:, None] - x[None, :] * d)).astype(
        d.dtype
    )
