"""The four macro indicators of the paper and their closed-form attributions.

Every function works on one time step in logical feature-major layout: ``z`` ``(d, N)``
(physically feature-major, or a free transpose of an agent-major ``(N, d)`` array; see
``_sums``), baseline ``b`` ``(d, 1)`` (one vector for all agents) or ``(d, N)`` (per agent),
optional ``mask`` ``(N,)`` of 0/1 weights (zero-weight agents are padding: they leave every
value and every other agent's attribution unchanged and get phi = 0). ``s_i = sum_k z[k, i]``
is the additive composite, ``W = sum_i mask_i`` the population size.

Closed forms come in streaming form, so that one definition serves the in-memory,
sharded, multi-process and out-of-core runners:

1. ``<name>_aggregates(z, b, mask, ref, c)``: a tuple of sums over agents; sums of chunks,
   devices or processes add up to the sums of the whole population;
2. ``<name>_finish(agg, w, b, kind)``: ``(f(Z), f(B), params)`` from the totals, W agents,
   ``kind`` the baseline's shape (``"zero"``, ``"common"``, ``"per_agent"``); ``b`` is the
   common baseline ``(d, 1)`` (its values are not used for a per-agent kind);
3. ``<name>_gradient(z, b, mask, ref, params, w, c)``: the path-averaged gradient ``G`` per
   agent, in a compact shape that broadcasts against ``(d, N)``:
   ``phi_features = (z - b) * G``.

``ref = (ref_z, ref_b)`` are per-feature reference points (``reference_point``) that
variance and gini subtract before combining features, so that features with a large common
offset (means of 1e6 with unit spread) lose nothing to cancellation. Any fixed ``ref``
gives the same exact result; a typical one keeps float32 rounding small. ``c`` are the
centered ranks of gini's composite over the whole population (None for the others).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Shaped

from ._quadrature import composite_gauss_legendre
from ._ranks import centered_ranks_checked
from ._sums import agent_sums, count, feature_means, reference_point

__all__ = [
    "gini_aggregates",
    "gini_coefficient_aggregates",
    "gini_coefficient_finish",
    "gini_coefficient_gradient",
    "gini_coefficient_phi",
    "gini_coefficient_sorted_value",
    "gini_coefficient_value",
    "gini_finish",
    "gini_gradient",
    "gini_rank_key",
    "gini_sorted_value",
    "gini_value",
    "population_ranks",
    "heat_aggregates",
    "heat_finish",
    "heat_g",
    "heat_gradient",
    "heat_h",
    "heat_value",
    "linear_aggregates",
    "linear_finish",
    "linear_g",
    "linear_gradient",
    "linear_h",
    "linear_value",
    "variance_aggregates",
    "variance_finish",
    "variance_g",
    "variance_gradient",
    "variance_h",
    "variance_phi",
    "variance_value",
]


# Shapes shared by the streaming forms (see the module docstring).
Step = Float[Array, "d N"]
Baseline = Float[Array, "d N"] | Float[Array, "d 1"]
Mask = Shaped[Array, " N"] | None
Ref = tuple[Float[Array, " d"], Float[Array, " d"] | None] | None
Ranks = Float[Array, " N"] | None
Count = Float[ArrayLike, ""]
Aggregates = tuple[Float[Array, ""], ...]
Params = tuple[Any, ...]

_REF_HINT = "pass ref = (kernels.reference_point(z), kernels.reference_point(b) or None)"
_C_HINT = (
    "pass c, the centered ranks of kernels.population_ranks(kernels.gini_rank_key(z, ref), "
    "mask, w)[0]"
)


def _need(x, what: str, fname: str, hint: str):
    """``x``, or a ValueError naming the function and the missing argument."""
    if x is None:
        raise ValueError(f"{fname}: {what} is required (got None); {hint}")
    return x


def _rows(x):
    return [x[k] for k in range(x.shape[0])]


def _per_agent(b) -> bool:
    return b.shape[-1] != 1


def _masked(g, mask):
    """``G`` (any rank, agents last) zero at padding agents."""
    if mask is None:
        return g
    return g * mask.astype(g.dtype).reshape((1,) * (g.ndim - 1) + mask.shape)


def _shifted_composite(x, ref):
    """``sum_k (x[k] - ref[k])``: exact per feature for values near ``ref`` (no cancellation
    between a large offset and the spread, as ``sum_k x[k] - sum_k ref[k]`` would have)."""
    out = x[0] - ref[0]
    for k in range(1, x.shape[0]):
        out = out + (x[k] - ref[k])
    return out


# --------------------------------------------------------------------------- values
# ``blocked=True`` (the default) sums with the accurate blocked reduce: the values every
# runner reports. The path integral differentiates them with ``blocked=False`` (plain sums,
# which XLA fuses well under vmap and grad; see ``agent_sums``).


def linear_value(z: Step, mask: Mask = None, *, blocked: bool = True) -> Float[Array, ""]:
    """The linear indicator ``f = mean_i s_i = sum_k m_k`` (per-feature means: one read of z).

    Args:
        z: ``Float[Array, "d N"]`` one step, feature-major.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents are left out).
        blocked: sum with the accurate blocked reduce (False: plain sums, for the path
            integral, which differentiates f many times).

    Returns:
        ``Float[Array, ""]`` the value.

    Raises:
        TypeError: ``mask`` does not have shape ``(N,)`` (a broadcast error from
            ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> print(round(float(kernels.linear_value(z)), 4))
        2.3333
    """
    return jnp.sum(feature_means(z, mask, blocked=blocked))


def heat_value(z: Step, mask: Mask = None, *, blocked: bool = True) -> Float[Array, ""]:
    """The heat indicator ``f = log(1 + prod_k m_k)`` with ``m_k = mean_i z[k, i]``.

    The paper's heat has d = 3 features (reach, activity, resonance); any d works.

    Args:
        z: ``Float[Array, "d N"]`` one step, feature-major.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents are left out).
        blocked: sum with the accurate blocked reduce (False: plain sums).

    Returns:
        ``Float[Array, ""]`` the value (NaN when ``prod_k m_k <= -1``).

    Raises:
        TypeError: ``mask`` does not have shape ``(N,)`` (a broadcast error from
            ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # means 2 and 1/3
        >>> print(round(float(kernels.heat_value(z)), 4))  # log(1 + 2/3)
        0.5108
    """
    return jnp.log1p(jnp.prod(feature_means(z, mask, blocked=blocked)))


def variance_value(z: Step, mask: Mask = None, *, blocked: bool = True) -> Float[Array, ""]:
    """The variance indicator ``f = mean_i (s_i - s̄)²`` of the composites ``s_i = sum_k z[k, i]``.

    Computed from the moments of the composite shifted by :func:`reference_point`, so a
    large common offset of the features costs no precision.

    Args:
        z: ``Float[Array, "d N"]`` one step, feature-major.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents are left out).
        blocked: sum with the accurate blocked reduce (False: plain sums).

    Returns:
        ``Float[Array, ""]`` the (population) variance.

    Raises:
        TypeError: ``mask`` does not have shape ``(N,)`` (a broadcast error from
            ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> print(round(float(kernels.variance_value(z)), 4))  # 19/3 - (7/3)**2
        0.8889
    """
    w = count(z, mask)
    u = _shifted_composite(z, reference_point(z))
    u1, u2 = agent_sums([u, u * u], mask, blocked=blocked)
    mean = u1 / w
    return u2 / w - mean * mean


def gini_value(z: Step, mask: Mask = None, *, blocked: bool = True) -> Float[Array, ""]:
    """The gini indicator ``f = (1/W²) sum_i sum_j |s_i - s_j| = (2/W²) sum_i c_i s_i``.

    ``c_i = 2 r_i - W - 1`` are the centered ranks of the composites (:func:`centered_ranks`).
    The ranks are constant almost everywhere, so ``grad f = (2/W²) c``.

    Args:
        z: ``Float[Array, "d N"]`` one step, feature-major.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents are left out).
        blocked: sum with the accurate blocked reduce (False: plain sums).

    Returns:
        ``Float[Array, ""]`` the mean absolute difference of the composites.

    Raises:
        ValueError: N >= 2**30 agents (the ranks' integer sums), or a ``mask`` that is not
            ``(N,)`` (a broadcast error from ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> print(round(float(kernels.gini_value(z)), 4))  # (4 pairs x 2) / 9
        0.8889
    """
    w = count(z, mask)
    u = _shifted_composite(z, reference_point(z))  # sum_i c_i = 0: the shift drops out
    c, _ = population_ranks(u, mask, w)
    (f,) = agent_sums([c * u], mask, blocked=blocked)
    return 2.0 * f / (w * w)


# ----------------------------------------------------------- mean-field decompositions
# g: (d, n) -> (m, n), vectorised per agent; h: (m,) -> scalar.


def linear_g(z: Float[Array, "d n"]) -> Float[Array, "1 n"]:
    """Per-agent map of linear's mean-field form ``f = h(mean_i g(z_i))``: ``g(z_i) = s_i``.

    Args:
        z: ``Float[Array, "d n"]`` agents, feature-major.

    Returns:
        ``Float[Array, "1 n"]`` the composites ``s_i = sum_k z[k, i]`` (m = 1).

    Raises:
        ValueError: ``z`` has fewer than 1 axis (from ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
        >>> print(kernels.linear_g(z).tolist())
        [[1.0, 3.0, 3.0]]
    """
    return jnp.sum(z, axis=0, keepdims=True)


def linear_h(m: Float[Array, " 1"]) -> Float[Array, ""]:
    """Readout of linear's mean-field form: ``h(M) = M_0`` (the mean composite).

    Args:
        m: ``Float[Array, " 1"]`` the aggregate ``mean_i s_i``.

    Returns:
        ``Float[Array, ""]`` the value ``f``.

    Raises:
        IndexError: ``m`` is empty.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
        >>> m = jnp.mean(kernels.linear_g(z), axis=1)
        >>> print(round(float(kernels.linear_h(m)), 4), round(float(kernels.linear_value(z)), 4))
        2.3333 2.3333
    """
    return m[0]


def heat_g(z: Float[Array, "d n"]) -> Float[Array, "d n"]:
    """Per-agent map of heat's mean-field form: the identity, ``g(z_i) = z_i`` (m = d).

    Args:
        z: ``Float[Array, "d n"]`` agents, feature-major.

    Returns:
        ``Float[Array, "d n"]`` ``z`` itself, as a JAX array.

    Raises:
        TypeError: ``z`` is not an array of numbers (from ``jax.numpy.asarray``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
        >>> print(bool((kernels.heat_g(z) == z).all()))
        True
    """
    return jnp.asarray(z)


def heat_h(m: Float[Array, " d"]) -> Float[Array, ""]:
    """Readout of heat's mean-field form: ``h(M) = log(1 + prod_k M_k)``.

    Args:
        m: ``Float[Array, " d"]`` the per-feature means.

    Returns:
        ``Float[Array, ""]`` the value ``f`` (NaN when ``prod_k M_k <= -1``).

    Raises:
        TypeError: ``m`` is not an array of numbers (from ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> print(round(float(kernels.heat_h(jnp.array([2.0, 1.0 / 3.0]))), 4))
        0.5108
    """
    return jnp.log1p(jnp.prod(m))


def variance_g(z: Float[Array, "d n"]) -> Float[Array, "2 n"]:
    """Per-agent map of variance's mean-field form: ``g(z_i) = (s_i, s_i²)``.

    Args:
        z: ``Float[Array, "d n"]`` agents, feature-major.

    Returns:
        ``Float[Array, "2 n"]`` the composite and its square per agent (m = 2).

    Raises:
        ValueError: ``z`` is 0-d (no feature axis to sum over).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
        >>> print(kernels.variance_g(z).tolist())
        [[1.0, 3.0, 3.0], [1.0, 9.0, 9.0]]
    """
    s = jnp.sum(z, axis=0)
    return jnp.stack([s, s * s])


def variance_h(m: Float[Array, " 2"]) -> Float[Array, ""]:
    """Readout of variance's mean-field form: ``h(M) = M_1 - M_0²`` (second moment minus the
    squared mean).

    Args:
        m: ``Float[Array, " 2"]`` the aggregates ``(mean_i s_i, mean_i s_i²)``.

    Returns:
        ``Float[Array, ""]`` the variance.

    Raises:
        IndexError: ``m`` is empty (jax clamps a static index, so a one-entry ``m`` is not
            caught).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
        >>> m = jnp.mean(kernels.variance_g(z), axis=1)
        >>> print(round(float(kernels.variance_h(m)), 4))
        0.8889
    """
    return m[1] - m[0] * m[0]


# ------------------------------------------------------------------------ closed forms


def _prod_others(m, d):
    """``out[..., k] = prod_{j != k} m[..., j]`` without dividing (m_k may be 0)."""
    return jnp.stack(
        [jnp.prod(m[..., [j for j in range(d) if j != k]], axis=-1) for k in range(d)], axis=-1
    )


# linear: G_i = mask_i / W, exact for any baseline.


def linear_aggregates(
    z: Step, b: Baseline, mask: Mask = None, ref: Ref = None, c: Ranks = None
) -> Aggregates:
    """Linear's streaming pass 1: per-feature sums ``sum_i mask_i z[k, i]`` (and of ``b``).

    The sums of chunks of agents add up to the population's. A per-agent baseline adds
    its own d sums after those of ``z``.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: unused (the common signature of the closed forms).
        c: unused.

    Returns:
        ``tuple[Float[Array, ""], ...]``: d sums (2 d for a per-agent baseline).

    Raises:
        TypeError: ``mask`` does not have shape ``(N,)`` (a broadcast error from
            ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> print([float(a) for a in kernels.linear_aggregates(z, b)])
        [6.0, 1.0]
    """
    return agent_sums(_rows(z) + (_rows(b) if _per_agent(b) else []), mask)


def linear_finish(
    agg: Aggregates, w: Count, b: Baseline, kind: str | None = None
) -> tuple[Float[Array, ""], Float[Array, ""], Params]:
    """Linear's streaming pass 2: ``f(Z) = sum_k S_k / W`` and ``f(B)`` from the totals.

    Args:
        agg: the population's totals of :func:`linear_aggregates`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        b: the baseline (only its d rows are read; a common baseline's values give f(B)).
        kind: ``"zero"``, ``"common"`` or ``"per_agent"`` (f(B) from the baseline's sums).

    Returns:
        ``(f(Z), f(B), ())``: linear needs no parameters for its gradient.

    Raises:
        TypeError: ``w`` is not a number (from the division).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> fz, fb, params = kernels.linear_finish(kernels.linear_aggregates(z, b), w, b, "zero")
        >>> print(round(float(fz), 4), float(fb), params)
        2.3333 0.0 ()
    """
    d = b.shape[0]
    fz = sum(agg[:d]) / w
    fb = sum(agg[d : 2 * d]) / w if kind == "per_agent" else jnp.sum(b[:, 0])
    return fz, fb, ()  # pyright: ignore[reportReturnType]  # sum() of arrays is an Array (pyright sees its int start)


def linear_gradient(
    z: Step, b: Baseline, mask: Mask, ref: Ref, params: Params, w: Count, c: Ranks = None
) -> Float[Array, "1 n"]:
    """Linear's streaming pass 3: the path-averaged gradient ``G_i = mask_i / W``.

    Exact for any baseline (f is linear, so its gradient is constant along the ray).

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: unused.
        params: unused (``()`` from :func:`linear_finish`).
        w: ``Float[ArrayLike, ""]`` the population size W.
        c: unused.

    Returns:
        ``Float[Array, "1 1"]`` without a mask, ``Float[Array, "1 N"]`` with one: it
        broadcasts against ``(d, N)``, and ``phi_i = sum_k (z - b)[k, i] G_i``.

    Raises:
        TypeError: ``w`` is not a number (from the division).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> g = kernels.linear_gradient(z, b, None, None, (), w)
        >>> print(g.shape, [round(float(p), 4) for p in jnp.sum((z - b) * g, axis=0)])
        (1, 1) [0.3333, 1.0, 1.0]
    """
    if mask is None:
        return jnp.ones((1, 1), z.dtype) / w
    return (mask.astype(z.dtype) / w)[None, :]


# heat: G_k = (1/W) ∫_0^1 prod_{j≠k} m_j(a) / (1 + prod_j m_j(a)) da, one vector for all.


def heat_aggregates(
    z: Step, b: Baseline, mask: Mask = None, ref: Ref = None, c: Ranks = None
) -> Aggregates:
    """Heat's streaming pass 1: per-feature sums of ``z`` (and of a per-agent baseline).

    The same sums as :func:`linear_aggregates`: heat depends on the agents only through
    the per-feature means.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: unused.
        c: unused.

    Returns:
        ``tuple[Float[Array, ""], ...]``: d sums (2 d for a per-agent baseline).

    Raises:
        TypeError: ``mask`` does not have shape ``(N,)`` (a broadcast error from
            ``jax.numpy``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> print([float(a) for a in kernels.heat_aggregates(z, b)])
        [6.0, 1.0]
    """
    return linear_aggregates(z, b, mask)


def heat_finish(
    agg: Aggregates, w: Count, b: Baseline, kind: str | None = None
) -> tuple[Float[Array, ""], Float[Array, ""], tuple[Float[Array, " d"]]]:
    """Heat's streaming pass 2: ``f(Z)``, ``f(B)`` and the per-feature gradient ``G_k``.

    ``G_k = (1/W) ∫_0^1 prod_{j≠k} m_j(a) / (1 + prod_j m_j(a)) da`` with
    ``m(a) = m^b + a (m^z - m^b)``, linear in a for any baseline (per-agent too), so the
    agent-independent scalar integral is closed-form for a zero baseline
    (``prod_{j≠k} m_j log(1 + P) / (d P)``) and otherwise taken with a composite
    Gauss–Legendre rule, graded toward a = 0 where ``1 + prod m(a)`` can rise steeply, to
    float precision (no elementary antiderivative for m^b != 0).

    Args:
        agg: the population's totals of :func:`heat_aggregates`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        b: ``Float[Array, "d 1"]`` the common baseline (its values are read unless
            ``kind="per_agent"``).
        kind: ``"zero"`` (closed-form integral), ``"common"`` or ``"per_agent"``
            (quadrature; per-agent means come from ``agg``).

    Returns:
        ``(f(Z), f(B), (G,))`` with ``G`` ``Float[Array, " d"]``, the same for every agent.

    Raises:
        ValueError: ``agg`` holds fewer than d sums (2 d for ``"per_agent"``), from
            ``jax.numpy`` stacking an empty list.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> fz, fb, params = kernels.heat_finish(kernels.heat_aggregates(z, b), w, b, "zero")
        >>> phi = jnp.sum((z - b) * kernels.heat_gradient(z, b, None, None, params, w), axis=0)
        >>> print(round(float(phi.sum()), 4), round(float(fz - fb), 4))  # log(1 + 2/3)
        0.5108 0.5108
    """
    d = b.shape[0]
    mz = jnp.stack(agg[:d]) / w
    mb = jnp.stack(agg[d : 2 * d]) / w if kind == "per_agent" else b[:, 0]
    fz = jnp.log1p(jnp.prod(mz))
    fb = jnp.log1p(jnp.prod(mb))
    if kind == "zero":
        p = jnp.prod(mz)
        # ∫ a^(d-1) / (1 + a^d P) da = log(1 + P) / (d P); its P -> 0 limit is 1/d.
        small = jnp.abs(p) < 1e-4
        p_safe = jnp.where(small, 1.0, p)
        ratio = jnp.where(small, 1.0 - p / 2.0 + p * p / 3.0, jnp.log1p(p_safe) / p_safe)
        g = _prod_others(mz, d) * ratio / d
    else:
        alpha, wq = composite_gauss_legendre(panels=2, order=12, graded=40)
        alpha = jnp.asarray(alpha, mz.dtype)
        wq = jnp.asarray(wq, mz.dtype)
        ma = mb[None, :] + alpha[:, None] * (mz - mb)[None, :]  # (Q, d)
        integrand = _prod_others(ma, d) / (1.0 + jnp.prod(ma, axis=1))[:, None]
        g = jnp.sum(wq[:, None] * integrand, axis=0)
    return fz, fb, (g / w,)


def heat_gradient(
    z: Step, b: Baseline, mask: Mask, ref: Ref, params: Params, w: Count, c: Ranks = None
) -> Float[Array, "d n"]:
    """Heat's streaming pass 3: the per-feature gradient ``G_k`` of :func:`heat_finish` as a
    column, zero at padding agents.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: unused.
        params: ``(G,)`` from :func:`heat_finish`.
        w: unused (W is already in ``G``).
        c: unused.

    Returns:
        ``Float[Array, "d 1"]`` without a mask, ``Float[Array, "d N"]`` with one;
        ``phi_i = sum_k (z - b)[k, i] G[k, i]``.

    Raises:
        ValueError: ``params`` is not a one-element tuple (unpacking).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> fz, fb, params = kernels.heat_finish(kernels.heat_aggregates(z, b), w, b, "zero")
        >>> g = kernels.heat_gradient(z, b, None, None, params, w)
        >>> print(g.shape, [round(float(p), 3) for p in jnp.sum((z - b) * g, axis=0)])
        (2, 1) [0.043, 0.341, 0.128]
    """
    (g,) = params
    return _masked(g[:, None], mask)


# variance: G_i = (2/W)(s_i(½) - s̄(½)); the gradient is linear along the ray, so its
# average is its value at the midpoint (exact for any baseline, per-agent included).


def variance_aggregates(
    z: Step, b: Baseline, mask: Mask = None, ref: Ref = None, c: Ranks = None
) -> Aggregates:
    """Variance's streaming pass 1: moments ``(sum_i u_i, sum_i u_i²)`` of the shifted
    composite ``u = sum_k (z_k - ref_k)``.

    For a per-agent baseline the same two moments of ``sum_k (b_k - ref^b_k)`` follow (its
    own reference: variance is shift-free).

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: ``(ref_z, ref_b)`` reference points (:func:`reference_point` of z, and of b for
            a per-agent baseline, else None); required.
        c: unused.

    Returns:
        ``tuple[Float[Array, ""], ...]``: 2 moments (4 for a per-agent baseline).

    Raises:
        ValueError: ``ref`` is None.
        TypeError: ``mask`` does not have shape ``(N,)`` (a broadcast error).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> ref = (kernels.reference_point(z), None)  # medians (2, 0): u = -1, 1, 1
        >>> print([float(a) for a in kernels.variance_aggregates(z, b, None, ref)])
        [1.0, 3.0]
    """
    ref_z, ref_b = _need(ref, "ref", "variance_aggregates", _REF_HINT)
    u = _shifted_composite(z, ref_z)
    vals = [u, u * u]
    if _per_agent(b):
        ub = _shifted_composite(b, ref_b)
        vals += [ub, ub * ub]
    return agent_sums(vals, mask)


def variance_finish(
    agg: Aggregates, w: Count, b: Baseline, kind: str | None = None
) -> tuple[Float[Array, ""], Float[Array, ""], tuple[Float[Array, ""], Float[Array, ""]]]:
    """Variance's streaming pass 2: ``f(Z) = E[u²] - E[u]²``, ``f(B)`` and the shifted means.

    A zero or common baseline puts every agent at the same point, so ``f(B) = 0``.

    Args:
        agg: the population's totals of :func:`variance_aggregates`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        b: the baseline (unused beyond its kind).
        kind: ``"zero"``, ``"common"`` or ``"per_agent"`` (then f(B) from ``agg[2:]``).

    Returns:
        ``(f(Z), f(B), (mean, mean_b))``: the shifted composites' means, which the gradient
        needs (``mean_b = 0`` unless per-agent).

    Raises:
        IndexError: ``agg`` holds fewer than 2 moments (4 for ``"per_agent"``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> ref = (kernels.reference_point(z), None)
        >>> agg = kernels.variance_aggregates(z, b, None, ref)
        >>> fz, fb, (mean, mean_b) = kernels.variance_finish(agg, w, b, "zero")
        >>> print(round(float(fz), 4), float(fb), round(float(mean), 4))
        0.8889 0.0 0.3333
    """
    mean = agg[0] / w
    fz = agg[1] / w - mean * mean
    if kind == "per_agent":
        mean_b = agg[2] / w
        fb = agg[3] / w - mean_b * mean_b
    else:  # identical agents: no spread, and s^b_i - mean s^b = 0
        mean_b = jnp.zeros((), mean.dtype)
        fb = jnp.zeros((), mean.dtype)
    return fz, fb, (mean, mean_b)


def variance_phi(
    z: Step, b: Baseline, mask: Mask, ref: Ref, params: Params, w: Count, c: Ranks = None
) -> Float[Array, " N"]:
    """Variance's attributions ``phi_i = (s_i - s^b_i) G_i`` straight from the composites.

    Both factors are taken from differences of nearby numbers.

    ``s_i - s^b_i = sum_k (z_k - b_k)`` is taken feature by feature (exact where an agent sits
    near the baseline), not as ``u_i + sum_k (ref_k - b_k)``: that sum of two large terms of
    opposite sign leaves one rounding of the offset in an agent's ``phi`` (measured on an H200:
    3.5e-5 relative for an agent at the zero baseline among features near 1e3, where the two
    terms' association differs between backends). XLA fuses it with the composite ``u`` the
    gradient reads, so the features are still read once.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: ``(ref_z, ref_b)`` as for :func:`variance_aggregates`; required.
        params: ``(mean, mean_b)`` from :func:`variance_finish`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        c: unused.

    Returns:
        ``Float[Array, " N"]`` the attributions (0 at padding agents); they sum to
        ``f(Z) - f(B)``.

    Raises:
        ValueError: ``ref`` is None.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> ref = (kernels.reference_point(z), None)
        >>> _, _, params = kernels.variance_finish(
        ...     kernels.variance_aggregates(z, b, None, ref), w, b, "zero"
        ... )
        >>> phi = kernels.variance_phi(z, b, None, ref, params, w)
        >>> print([round(float(p), 4) for p in phi])  # s_i (s_i - mean s) / N
        [-0.4444, 0.6667, 0.6667]
    """
    diff = _shifted_composite(z, b if _per_agent(b) else b[:, 0])
    g = variance_gradient(z, b, mask, ref, params, w)[0]
    return diff * g


def variance_gradient(
    z: Step, b: Baseline, mask: Mask, ref: Ref, params: Params, w: Count, c: Ranks = None
) -> Float[Array, "1 N"]:
    """Variance's streaming pass 3: ``G_i = (2/W)(½(s_i - s̄) + ½(s^b_i - s̄^b))``.

    The gradient ``(2/W)(s_i(a) - s̄(a))`` is linear along the ray, so its path average is
    its value at the midpoint: exact for any baseline. Computed from the shifted composites.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: ``(ref_z, ref_b)`` as for :func:`variance_aggregates`; required.
        params: ``(mean, mean_b)`` from :func:`variance_finish`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        c: unused.

    Returns:
        ``Float[Array, "1 N"]``, zero at padding agents; the same G for every feature.

    Raises:
        ValueError: ``ref`` is None.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> ref = (kernels.reference_point(z), None)
        >>> _, _, params = kernels.variance_finish(
        ...     kernels.variance_aggregates(z, b, None, ref), w, b, "zero"
        ... )
        >>> g = kernels.variance_gradient(z, b, None, ref, params, w)
        >>> print(g.shape, [round(float(x), 4) for x in g[0]])
        (1, 3) [-0.4444, 0.2222, 0.2222]
    """
    ref_z, ref_b = _need(ref, "ref", "variance_gradient", _REF_HINT)
    mean, mean_b = params
    # the same composite summed in the reverse feature order: equal up to one rounding,
    # but not the same expression, so XLA recomputes it inside this pass from the features
    # instead of writing u once for the moments and reading it back here (measured on a
    # Panel, N = 1,671,587, T = 14: 30 -> 26 ms, the cost of linear)
    g = _shifted_composite(z[::-1], ref_z[::-1]) - mean
    if _per_agent(b):
        g = g + (_shifted_composite(b, ref_b) - mean_b)
    return _masked((1.0 / w) * g, mask)[None, :]


# gini: G_i = (2/W²)(2 r_i - W - 1) with average ranks, for a common baseline vector:
# s_i(a) = s^b + a (s_i - s^b) keeps the order of the agents for every a > 0, so the ranks,
# hence the gradient, are constant along the ray.


def population_ranks(
    u: Float[Array, " N"], mask: Mask, w: Count
) -> tuple[Float[Array, " N"], Float[Array, ""]]:
    """Centered ranks of a composite over the population, and a check sum by another route.

    Padding agents (mask 0) are ranked last as +inf and then get ``c = 0``; the count of
    valid agents is taken in integers (a float32 W is inexact above 2**24 agents).

    Args:
        u: ``Float[Array, " N"]`` the composite to rank (:func:`gini_rank_key`).
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents are not ranked).
        w: the population size W (unused: the count is recomputed from ``mask`` in
            integers; kept for the common signature).

    Returns:
        ``(c, weighted)``: ``Float[Array, " N"]`` ``c_i = 2 r_i - W - 1`` (average ranks
        for ties, 0 for padding) and ``Float[Array, ""]``
        ``weighted = sum_j (2j - W - 1) u_(j)`` over the sorted values, which uses neither
        the tie averaging nor the scatter of ranks back to agents (so gini's ``f`` from it
        catches a wrong ``c`` as an efficiency gap).

    Raises:
        ValueError: N >= 2**30 agents (see :func:`centered_ranks`).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> u = jnp.array([-1.0, 1.0, 1.0, 5.0])
        >>> c, weighted = kernels.population_ranks(u, jnp.array([1.0, 1.0, 1.0, 0.0]), 3.0)
        >>> print(c.tolist(), float(weighted))
        [-2.0, 1.0, 1.0, 0.0] 4.0
    """
    if mask is not None:
        u = jnp.where(mask > 0, u, jnp.inf)
    # the rank count as an integer: a float32 W is inexact above 2**24 agents
    n = u.shape[-1] if mask is None else jnp.sum(mask > 0, axis=-1, dtype=jnp.int32)
    c, weighted = centered_ranks_checked(u, n)
    if mask is not None:
        c = c * mask
    return c, weighted


def gini_rank_key(z: Step, ref: Ref) -> Float[Array, " N"]:
    """The composite whose population ranks gini needs: ``u_i = sum_k (z[k, i] - ref_k)``.

    Shifting by a per-feature reference point leaves the order of the agents unchanged and
    keeps float32 precision for features with a large common offset.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        ref: ``(ref_z, ref_b)`` reference points (:func:`reference_point`); ``ref_z`` is used.

    Returns:
        ``Float[Array, " N"]`` the shifted composites.

    Raises:
        ValueError: ``ref`` is None.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> ref = (kernels.reference_point(z), None)  # (2, 0)
        >>> print(kernels.gini_rank_key(z, ref).tolist())
        [-1.0, 1.0, 1.0]
    """
    return _shifted_composite(z, _need(ref, "ref", "gini_rank_key", _REF_HINT)[0])


def gini_aggregates(
    z: Step, b: Baseline, mask: Mask = None, ref: Ref = None, c: Ranks = None
) -> Aggregates:
    """Gini's streaming pass 1: ``sum_i c_i u_i`` over the agents of a chunk.

    ``u`` is the shifted composite (:func:`gini_rank_key`); ``sum_i c_i = 0`` over the
    population makes the shift drop out of the total.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: ``(ref_z, ref_b)`` reference points; required.
        c: ``Float[Array, " N"]`` the agents' centered ranks over the whole population
            (:func:`population_ranks`); required.

    Returns:
        ``tuple[Float[Array, ""]]``: one sum.

    Raises:
        ValueError: ``ref`` or ``c`` is None.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> print(float(kernels.gini_aggregates(z, b, None, ref, c)[0]))  # -2*-1 + 1 + 1
        4.0
    """
    c = _need(c, "c", "gini_aggregates", _C_HINT)
    return agent_sums([c * gini_rank_key(z, ref)], mask)


def gini_finish(
    agg: Aggregates, w: Count, b: Baseline, kind: str | None = None
) -> tuple[Float[Array, ""], Float[Array, ""], Params]:
    """Gini's streaming pass 2: ``f(Z) = (2/W²) sum_i c_i u_i`` and ``f(B) = 0``.

    A zero or common baseline puts every agent at the same point, so ``f(B) = 0``.

    Args:
        agg: the population's total of :func:`gini_aggregates`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        b: the baseline (unused).
        kind: unused (gini's closed form takes a zero or common baseline).

    Returns:
        ``(f(Z), 0, ())``.

    Raises:
        IndexError: ``agg`` is empty.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> fz, fb, _ = kernels.gini_finish(kernels.gini_aggregates(z, b, None, ref, c), w, b)
        >>> print(round(float(fz), 4), float(fb))
        0.8889 0.0
    """
    return 2.0 * agg[0] / (w * w), jnp.zeros((), agg[0].dtype), ()


def gini_sorted_value(
    weighted: Float[ArrayLike, ""], w: Count, params: Params = ()
) -> Float[ArrayLike, ""]:
    """Gini's ``f`` from :func:`population_ranks`' sorted route: ``(2/W²) weighted``.

    Args:
        weighted: ``sum_j (2j - W - 1) u_(j)`` from :func:`population_ranks`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        params: unused (the common signature).

    Returns:
        ``Float[ArrayLike, ""]`` the value f(Z) (an Array for Array inputs).

    Raises:
        TypeError: ``weighted`` or ``w`` is not a number.

    Example:
        >>> from jaxattr import kernels
        >>> print(round(float(kernels.gini_sorted_value(4.0, 3.0)), 4))
        0.8889
    """
    return 2.0 * weighted / (w * w)


def gini_gradient(
    z: Step, b: Baseline, mask: Mask, ref: Ref, params: Params, w: Count, c: Ranks = None
) -> Float[Array, "1 N"]:
    """Gini's streaming pass 3: ``G_i = (2/W²) c_i``, constant along the ray.

    For a common baseline vector ``s_i(a) = s^b + a (s_i - s^b)`` keeps the order of the
    agents for every a > 0, so the ranks, hence the gradient, are constant along the ray.

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` common baseline or ``Float[Array, "d N"]`` per agent.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: unused (the ranks ``c`` carry it).
        params: unused.
        w: ``Float[ArrayLike, ""]`` the population size W.
        c: ``Float[Array, " N"]`` the centered ranks (0 at padding); required.

    Returns:
        ``Float[Array, "1 N"]``, the same G for every feature.

    Raises:
        ValueError: a per-agent baseline (no closed form: use ``method="path"``), or ``c``
            is None.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> b, w = jnp.zeros((2, 1)), kernels.count(z, None)  # zero baseline, W = 3
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> g = kernels.gini_gradient(z, b, None, ref, (), w, c)
        >>> print([round(float(p), 4) for p in jnp.sum((z - b) * g, axis=0)])
        [-0.4444, 0.6667, 0.6667]
    """
    if _per_agent(b):
        raise ValueError(
            "gini has a closed form only for a common baseline vector; "
            "use method='path' for per-agent baselines"
        )
    return _need(c, "c", "gini_gradient", _C_HINT)[None, :] * (2.0 / (w * w))


# gini coefficient: G = MAD / (2 m), MAD = (1/W²) sum_ij |s_i - s_j|, m = mean_i s_i, for a
# common baseline vector b (s^b = sum_k b_k). Along the ray s_i(a) = s^b + a (s_i - s^b) the
# ranks are constant, MAD(a) = a MAD and m(a) = s^b + a Δ with Δ = m - s^b, so
#   df/ds_i(a) = (c_i / W²) / m(a) - a MAD / (2 W m(a)²)
# and the path-averaged gradient needs two scalar integrals, I1 = ∫ da / m(a) and
# I2 = ∫ a da / m(a)², taken with the composite Gauss–Legendre rule heat uses (exact for the
# mean baseline, where m(a) is constant; finite as long as m(a) does not reach 0).


def gini_coefficient_value(z: Step, mask: Mask = None, *, blocked: bool = True) -> Float[Array, ""]:
    """The Gini coefficient ``G = MAD / (2 mean_i s_i)`` of the composites: 0 for equal agents.

    ``MAD = (1/W²) sum_i sum_j |s_i - s_j|`` is :func:`gini_value`.

    Args:
        z: ``Float[Array, "d N"]`` one step, feature-major.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents are left out).
        blocked: sum with the accurate blocked reduce (False: plain sums).

    Returns:
        ``Float[Array, ""]`` the coefficient (inf or NaN when the mean composite is 0).

    Raises:
        ValueError: N >= 2**30 agents, or a ``mask`` that is not ``(N,)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> print(round(float(kernels.gini_coefficient_value(z)), 4))  # (8/9) / (2 * 7/3)
        0.1905
    """
    return 0.5 * gini_value(z, mask, blocked=blocked) / linear_value(z, mask, blocked=blocked)


def gini_coefficient_aggregates(
    z: Step, b: Baseline, mask: Mask = None, ref: Ref = None, c: Ranks = None
) -> Aggregates:
    """The Gini coefficient's streaming pass 1: ``(sum_i c_i u_i, sum_i (s_i - s^b))``.

    The MAD numerator and the composite's offset from the baseline's, taken feature by
    feature (exact for the mean baseline).

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` the common baseline vector.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: ``(ref_z, ref_b)`` reference points; required.
        c: ``Float[Array, " N"]`` the centered ranks over the population; required.

    Returns:
        ``tuple[Float[Array, ""], Float[Array, ""]]``.

    Raises:
        ValueError: ``ref`` or ``c`` is None.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> w = kernels.count(z, None)
        >>> b = kernels.feature_means(z)[:, None]  # the mean baseline (2, 1/3)
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> agg = kernels.gini_coefficient_aggregates(z, b, None, ref, c)
        >>> print(float(agg[0]), abs(float(agg[1])) < 1e-6)  # Δ = 0 for the mean baseline
        4.0 True
    """
    c = _need(c, "c", "gini_coefficient_aggregates", _C_HINT)
    return agent_sums([c * gini_rank_key(z, ref), _shifted_composite(z, b[:, 0])], mask)


def gini_coefficient_finish(
    agg: Aggregates, w: Count, b: Baseline, kind: str | None = None
) -> tuple[Float[Array, ""], Float[Array, ""], Params]:
    """The Gini coefficient's streaming pass 2: ``f(Z) = MAD / (2 m)``, ``f(B) = 0``.

    ``m = s^b + Δ`` with ``s^b = sum_k b_k`` and ``Δ = mean_i (s_i - s^b)``; equal agents
    (a common baseline) have coefficient 0.

    Args:
        agg: the population's totals of :func:`gini_coefficient_aggregates`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        b: ``Float[Array, "d 1"]`` the common baseline vector.
        kind: unused (the closed form takes a common baseline).

    Returns:
        ``(f(Z), 0, (MAD, s^b, Δ))``: the parameters the gradient integrates with.

    Raises:
        IndexError: ``agg`` holds fewer than 2 sums.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> w = kernels.count(z, None)
        >>> b = kernels.feature_means(z)[:, None]  # the mean baseline (2, 1/3)
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> agg = kernels.gini_coefficient_aggregates(z, b, None, ref, c)
        >>> fz, fb, (mad, sb, delta) = kernels.gini_coefficient_finish(agg, w, b)
        >>> print(round(float(fz), 4), float(fb), round(float(mad), 4), round(float(sb), 4))
        0.1905 0.0 0.8889 2.3333
    """
    mad = 2.0 * agg[0] / (w * w)
    sb = jnp.sum(b[:, 0])
    delta = agg[1] / w
    return 0.5 * mad / (sb + delta), jnp.zeros((), mad.dtype), (mad, sb, delta)


def gini_coefficient_sorted_value(
    weighted: Float[ArrayLike, ""], w: Count, params: Params
) -> Float[ArrayLike, ""]:
    """The Gini coefficient from :func:`population_ranks`' sorted route:
    ``(weighted / W²) / (s^b + Δ)``.

    Args:
        weighted: ``sum_j (2j - W - 1) u_(j)`` from :func:`population_ranks`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        params: ``(MAD, s^b, Δ)`` from :func:`gini_coefficient_finish`.

    Returns:
        ``Float[ArrayLike, ""]`` the value f(Z) (an Array for Array inputs).

    Raises:
        ValueError: ``params`` does not hold three values (unpacking).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> w = kernels.count(z, None)
        >>> b = kernels.feature_means(z)[:, None]  # the mean baseline (2, 1/3)
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> _, weighted = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> agg = kernels.gini_coefficient_aggregates(z, b, None, ref, c)
        >>> _, _, params = kernels.gini_coefficient_finish(agg, w, b)
        >>> print(round(float(kernels.gini_coefficient_sorted_value(weighted, w, params)), 4))
        0.1905
    """
    mad, sb, delta = params
    return (weighted / (w * w)) / (sb + delta)


def gini_coefficient_gradient(
    z: Step, b: Baseline, mask: Mask, ref: Ref, params: Params, w: Count, c: Ranks = None
) -> Float[Array, "1 N"]:
    """The Gini coefficient's streaming pass 3: ``G_i = (I1 / W²) c_i - MAD I2 / (2 W)``.

    Along the ray ``m(a) = s^b + a Δ`` and ``MAD(a) = a MAD``; ``I1 = ∫ da / m(a)`` and
    ``I2 = ∫ a da / m(a)²`` are taken with a composite Gauss–Legendre rule (exact for the
    mean baseline, where m(a) is constant; finite while m(a) does not reach 0).

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` the common baseline vector.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: unused (the ranks ``c`` carry it).
        params: ``(MAD, s^b, Δ)`` from :func:`gini_coefficient_finish`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        c: ``Float[Array, " N"]`` the centered ranks; required.

    Returns:
        ``Float[Array, "1 N"]``, zero at padding agents; the same G for every feature.

    Raises:
        ValueError: ``c`` is None, or ``params`` does not hold three values.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> w = kernels.count(z, None)
        >>> b = kernels.feature_means(z)[:, None]  # the mean baseline (2, 1/3)
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> agg = kernels.gini_coefficient_aggregates(z, b, None, ref, c)
        >>> _, _, params = kernels.gini_coefficient_finish(agg, w, b)
        >>> g = kernels.gini_coefficient_gradient(z, b, None, ref, params, w, c)
        >>> print([round(float(x), 4) for x in g[0]])
        [-0.1088, 0.034, 0.034]
    """
    c = _need(c, "c", "gini_coefficient_gradient", _C_HINT)
    mad, sb, delta = params
    alpha, wq = composite_gauss_legendre(panels=2, order=12, graded=40)
    alpha = jnp.asarray(alpha, mad.dtype)
    wq = jnp.asarray(wq, mad.dtype)
    m = sb + alpha * delta
    i1 = jnp.sum(wq / m)
    i2 = jnp.sum(wq * alpha / (m * m))
    return _masked((i1 / (w * w)) * c - (0.5 * mad * i2 / w), mask)[None, :]


def gini_coefficient_phi(
    z: Step, b: Baseline, mask: Mask, ref: Ref, params: Params, w: Count, c: Ranks = None
) -> Float[Array, " N"]:
    """The Gini coefficient's attributions ``phi_i = (s_i - s^b) G_i``.

    The difference ``s_i - s^b`` is taken feature by feature (exact near the baseline).

    Args:
        z: ``Float[Array, "d N"]`` one step (or a chunk of its agents), feature-major.
        b: ``Float[Array, "d 1"]`` the common baseline vector.
        mask: optional ``Shaped[Array, " N"]`` 0/1 weights (padding agents add nothing).
        ref: unused (the ranks ``c`` carry it).
        params: ``(MAD, s^b, Δ)`` from :func:`gini_coefficient_finish`.
        w: ``Float[ArrayLike, ""]`` the population size W.
        c: ``Float[Array, " N"]`` the centered ranks; required.

    Returns:
        ``Float[Array, " N"]`` the attributions; they sum to ``f(Z) - f(B)``.

    Raises:
        ValueError: ``c`` is None, or ``params`` does not hold three values.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> z = jnp.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])  # composites s = 1, 3, 3
        >>> w = kernels.count(z, None)
        >>> b = kernels.feature_means(z)[:, None]  # the mean baseline (2, 1/3)
        >>> ref = (kernels.reference_point(z), None)
        >>> c, _ = kernels.population_ranks(kernels.gini_rank_key(z, ref), None, w)
        >>> agg = kernels.gini_coefficient_aggregates(z, b, None, ref, c)
        >>> fz, fb, params = kernels.gini_coefficient_finish(agg, w, b)
        >>> phi = kernels.gini_coefficient_phi(z, b, None, ref, params, w, c)
        >>> print([round(float(p), 4) for p in phi], round(float(fz - fb), 4))
        [0.1451, 0.0227, 0.0227] 0.1905
    """
    return (
        _shifted_composite(z, b[:, 0]) * gini_coefficient_gradient(z, b, mask, ref, params, w, c)[0]
    )
