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

import jax.numpy as jnp

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


def linear_value(z, mask=None, *, blocked=True):
    """``f = mean_i s_i = sum_k m_k`` (per-feature means: one read of z)."""
    return jnp.sum(feature_means(z, mask, blocked=blocked))


def heat_value(z, mask=None, *, blocked=True):
    """``f = log(1 + prod_k m_k)`` with ``m_k = mean_i z[k, i]`` (d = 3: a, b, c)."""
    return jnp.log1p(jnp.prod(feature_means(z, mask, blocked=blocked)))


def variance_value(z, mask=None, *, blocked=True):
    """``f = mean_i (s_i - s̄)²``, from moments of the composite shifted by ``ref``."""
    w = count(z, mask)
    u = _shifted_composite(z, reference_point(z))
    u1, u2 = agent_sums([u, u * u], mask, blocked=blocked)
    mean = u1 / w
    return u2 / w - mean * mean


def gini_value(z, mask=None, *, blocked=True):
    """``f = (1/W²) sum_i sum_j |s_i - s_j| = (2/W²) sum_i c_i s_i``, c = centered ranks.

    The ranks are constant almost everywhere, so ``grad f = (2/W²) c``.
    """
    w = count(z, mask)
    u = _shifted_composite(z, reference_point(z))  # sum_i c_i = 0: the shift drops out
    c, _ = population_ranks(u, mask, w)
    (f,) = agent_sums([c * u], mask, blocked=blocked)
    return 2.0 * f / (w * w)


# ----------------------------------------------------------- mean-field decompositions
# g: (d, n) -> (m, n), vectorised per agent; h: (m,) -> scalar.


def linear_g(z):
    return jnp.sum(z, axis=0, keepdims=True)


def linear_h(m):
    return m[0]


def heat_g(z):
    return z


def heat_h(m):
    return jnp.log1p(jnp.prod(m))


def variance_g(z):
    s = jnp.sum(z, axis=0)
    return jnp.stack([s, s * s])


def variance_h(m):
    return m[1] - m[0] * m[0]


# ------------------------------------------------------------------------ closed forms


def _prod_others(m, d):
    """``out[..., k] = prod_{j != k} m[..., j]`` without dividing (m_k may be 0)."""
    return jnp.stack(
        [jnp.prod(m[..., [j for j in range(d) if j != k]], axis=-1) for k in range(d)], axis=-1
    )


# linear: G_i = mask_i / W, exact for any baseline.


def linear_aggregates(z, b, mask=None, ref=None, c=None):
    """Per-feature sums of z (and of a per-agent baseline)."""
    return agent_sums(_rows(z) + (_rows(b) if _per_agent(b) else []), mask)


def linear_finish(agg, w, b, kind=None):
    d = b.shape[0]
    fz = sum(agg[:d]) / w
    fb = sum(agg[d : 2 * d]) / w if kind == "per_agent" else jnp.sum(b[:, 0])
    return fz, fb, ()


def linear_gradient(z, b, mask, ref, params, w, c=None):
    if mask is None:
        return jnp.ones((1, 1), z.dtype) / w
    return (mask.astype(z.dtype) / w)[None, :]


# heat: G_k = (1/W) ∫_0^1 prod_{j≠k} m_j(a) / (1 + prod_j m_j(a)) da, one vector for all.


def heat_aggregates(z, b, mask=None, ref=None, c=None):
    """Per-feature sums of z (and of a per-agent baseline)."""
    return linear_aggregates(z, b, mask)


def heat_finish(agg, w, b, kind=None):
    """``m(a) = m^b + a (m^z - m^b)`` is linear in a for any baseline (per-agent too), so
    the agent-independent scalar integral is closed-form for a zero baseline
    (``prod_{j≠k} m_j log(1 + P) / (d P)``) and otherwise taken with a composite
    Gauss–Legendre rule, graded toward a = 0 where ``1 + prod m(a)`` can rise steeply, to
    float precision (no elementary antiderivative for m^b != 0)."""
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


def heat_gradient(z, b, mask, ref, params, w, c=None):
    (g,) = params
    return _masked(g[:, None], mask)


# variance: G_i = (2/W)(s_i(½) - s̄(½)); the gradient is linear along the ray, so its
# average is its value at the midpoint (exact for any baseline, per-agent included).


def variance_aggregates(z, b, mask=None, ref=None, c=None):
    """Moments of the shifted composite ``u = sum_k (z_k - ref_k)`` (and, for a per-agent
    baseline, of ``sum_k (b_k - ref^b_k)``: its own reference, variance is shift-free)."""
    ref_z, ref_b = ref
    u = _shifted_composite(z, ref_z)
    vals = [u, u * u]
    if _per_agent(b):
        ub = _shifted_composite(b, ref_b)
        vals += [ub, ub * ub]
    return agent_sums(vals, mask)


def variance_finish(agg, w, b, kind=None):
    mean = agg[0] / w
    fz = agg[1] / w - mean * mean
    if kind == "per_agent":
        mean_b = agg[2] / w
        fb = agg[3] / w - mean_b * mean_b
    else:  # identical agents: no spread, and s^b_i - mean s^b = 0
        mean_b = jnp.zeros((), mean.dtype)
        fb = jnp.zeros((), mean.dtype)
    return fz, fb, (mean, mean_b)


def variance_phi(z, b, mask, ref, params, w, c=None):
    """``phi_i = (s_i - s^b_i) G_i``, both factors from differences of nearby numbers.

    ``s_i - s^b_i = sum_k (z_k - b_k)`` is taken feature by feature (exact where an agent sits
    near the baseline), not as ``u_i + sum_k (ref_k - b_k)``: that sum of two large terms of
    opposite sign leaves one rounding of the offset in an agent's ``phi`` (measured on an H200:
    3.5e-5 relative for an agent at the zero baseline among features near 1e3, where the two
    terms' association differs between backends). XLA fuses it with the composite ``u`` the
    gradient reads, so the features are still read once.
    """
    diff = _shifted_composite(z, b if _per_agent(b) else b[:, 0])
    g = variance_gradient(z, b, mask, ref, params, w)[0]
    return diff * g


def variance_gradient(z, b, mask, ref, params, w, c=None):
    """``(2/W)(½(s_i - s̄) + ½(s^b_i - s̄^b))`` from the shifted composites."""
    ref_z, ref_b = ref
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


def population_ranks(u, mask, w):
    """Centered ranks of a composite over the population, and a check sum by another route.

    Returns ``(c, weighted)``: ``c_i = 2 r_i - W - 1`` (average ranks for ties, 0 for
    padding) and ``weighted = sum_j (2j - W - 1) u_(j)`` over the sorted values, which uses
    neither the tie averaging nor the scatter of ranks back to agents (so gini's ``f`` from
    it catches a wrong ``c`` as an efficiency gap).
    """
    if mask is not None:
        u = jnp.where(mask > 0, u, jnp.inf)
    # the rank count as an integer: a float32 W is inexact above 2**24 agents
    n = u.shape[-1] if mask is None else jnp.sum(mask > 0, axis=-1, dtype=jnp.int32)
    c, weighted = centered_ranks_checked(u, n)
    if mask is not None:
        c = c * mask
    return c, weighted


def gini_rank_key(z, ref):
    """The composite whose population ranks gini needs: ``sum_k (z_k - ref_k)``."""
    return _shifted_composite(z, ref[0])


def gini_aggregates(z, b, mask=None, ref=None, c=None):
    """``sum_i c_i u_i`` (u the shifted composite; ``sum_i c_i = 0`` drops the shift)."""
    return agent_sums([c * gini_rank_key(z, ref)], mask)


def gini_finish(agg, w, b, kind=None):
    return 2.0 * agg[0] / (w * w), jnp.zeros((), agg[0].dtype), ()


def gini_sorted_value(weighted, w, params=()):
    """Gini's ``f`` from :func:`population_ranks`' sorted route: ``(2/W²) weighted``."""
    return 2.0 * weighted / (w * w)


def gini_gradient(z, b, mask, ref, params, w, c=None):
    if _per_agent(b):
        raise ValueError(
            "gini has a closed form only for a common baseline vector; "
            "use method='path' for per-agent baselines"
        )
    return (2.0 / (w * w)) * c[None, :]


# gini coefficient: G = MAD / (2 m), MAD = (1/W²) sum_ij |s_i - s_j|, m = mean_i s_i, for a
# common baseline vector b (s^b = sum_k b_k). Along the ray s_i(a) = s^b + a (s_i - s^b) the
# ranks are constant, MAD(a) = a MAD and m(a) = s^b + a Δ with Δ = m - s^b, so
#   df/ds_i(a) = (c_i / W²) / m(a) - a MAD / (2 W m(a)²)
# and the path-averaged gradient needs two scalar integrals, I1 = ∫ da / m(a) and
# I2 = ∫ a da / m(a)², taken with the composite Gauss–Legendre rule heat uses (exact for the
# mean baseline, where m(a) is constant; finite as long as m(a) does not reach 0).


def gini_coefficient_value(z, mask=None, *, blocked=True):
    """``G = MAD / (2 mean_i s_i)``: 0 for equal agents."""
    return 0.5 * gini_value(z, mask, blocked=blocked) / linear_value(z, mask, blocked=blocked)


def gini_coefficient_aggregates(z, b, mask=None, ref=None, c=None):
    """``(sum_i c_i u_i, sum_i (s_i - s^b))``: the MAD numerator and the composite's offset
    from the baseline's, feature by feature (exact for the mean baseline)."""
    return agent_sums([c * gini_rank_key(z, ref), _shifted_composite(z, b[:, 0])], mask)


def gini_coefficient_finish(agg, w, b, kind=None):
    mad = 2.0 * agg[0] / (w * w)
    sb = jnp.sum(b[:, 0])
    delta = agg[1] / w
    return 0.5 * mad / (sb + delta), jnp.zeros((), mad.dtype), (mad, sb, delta)


def gini_coefficient_sorted_value(weighted, w, params):
    mad, sb, delta = params
    return (weighted / (w * w)) / (sb + delta)


def gini_coefficient_gradient(z, b, mask, ref, params, w, c=None):
    mad, sb, delta = params
    alpha, wq = composite_gauss_legendre(panels=2, order=12, graded=40)
    alpha = jnp.asarray(alpha, mad.dtype)
    wq = jnp.asarray(wq, mad.dtype)
    m = sb + alpha * delta
    i1 = jnp.sum(wq / m)
    i2 = jnp.sum(wq * alpha / (m * m))
    return _masked((i1 / (w * w)) * c - (0.5 * mad * i2 / w), mask)[None, :]


def gini_coefficient_phi(z, b, mask, ref, params, w, c=None):
    """``phi_i = (s_i - s^b) G_i``, the difference taken feature by feature."""
    return (
        _shifted_composite(z, b[:, 0]) * gini_coefficient_gradient(z, b, mask, ref, params, w, c)[0]
    )
