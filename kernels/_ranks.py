"""Centered average ranks ``c_i = 2 r_i - W - 1`` (ties share their average rank).

Gini's gradient is ``(2 / W²) c_i``. Sorting dominates its cost. XLA's CPU sort is
comparator-based and slow (measured here: ``jnp.sort`` of 1.67M float32 took ~400 ms,
NumPy's ``np.sort`` ~60 ms and ``np.argsort`` ~130 ms), so on CPU the ranks come from a
host callback that sorts *packed* 64-bit keys (order-preserving float bits in the high
word, the agent index in the low word): one ``np.sort`` of uint64 gives both the order and
the permutation, faster than ``np.argsort``. On accelerators ``jnp.argsort`` is used, and
on CPU too when the process sees more than one device (see :func:`centered_ranks`).

Exactness: ``c_i`` is an integer, and it is computed in integers everywhere (the count W
too: a float32 W is 2**24 for W = 2**24 + 1, which once shifted every rank by one). The
result is then cast to the float dtype: exact up to 2**24 agents in float32, and above that
the nearest float32 of the exact integer (relative error <= 2**-24, ties still equal).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real, UInt32


def sortable_bits(s: Real[ArrayLike, "*shape"]) -> UInt32[np.ndarray, "*shape"]:
    """Map float32 to uint32 so that unsigned order equals float order (-0.0 == +0.0).

    Non-negative floats get their sign bit set, negative ones all bits flipped: then
    ``x < y`` exactly when ``bits(x) < bits(y)`` as unsigned integers (NaN sorts above +inf
    or below -inf by its sign bit). The input is first cast to float32.

    Args:
        s: ``Real[ArrayLike, "*shape"]`` numbers of any shape.

    Returns:
        ``UInt32[np.ndarray, "*shape"]`` order-preserving keys.

    Raises:
        ValueError: ``s`` cannot be converted to float32 (e.g. strings), from NumPy.

    Example:
        >>> import numpy as np
        >>> from jaxattr import kernels
        >>> bits = kernels.sortable_bits(np.array([-2.0, -0.0, 0.0, 1.5]))
        >>> print(bool(np.all(np.diff(bits.astype(np.int64)) >= 0)), bits[1] == bits[2])
        True True
    """
    s = np.asarray(s, dtype=np.float32) + np.float32(0.0)  # -0.0 -> +0.0, so they tie
    u = s.view(np.uint32)
    neg = (u >> np.uint32(31)).astype(bool)
    return np.where(neg, ~u, u | np.uint32(0x80000000))


def _from_sortable_bits(u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`sortable_bits`."""
    pos = (u >> np.uint32(31)).astype(bool)
    return np.where(pos, u & np.uint32(0x7FFFFFFF), ~u).astype(np.uint32).view(np.float32)


def centered_ranks_numpy(
    s: Real[ArrayLike, " N"], n_valid: int | None = None
) -> Float[np.ndarray, " N"]:
    """``c_i = 2 r_i - W - 1`` with average ranks for ties, W = ``n_valid`` (default N).

    ``r_i`` is the 1-based rank of ``s_i`` (ties share their average rank; ``2 r_i`` is an
    integer, so the ``c_i`` are integers) and the ``c_i`` sum to 0 over the W valid
    entries. float64 input is ranked in float64 (argsort); anything else in float32
    (packed sort). Entries beyond the W valid ones must hold +inf (padding); they sort last
    and do not change the ranks of valid entries.

    Args:
        s: ``Real[ArrayLike, " N"]`` the values to rank (NumPy, host side).
        n_valid: W, the number of valid entries (default N).

    Returns:
        ``Float[np.ndarray, " N"]`` the centered ranks, float64 for float64 input, else
        float32.

    Raises:
        ValueError: N >= 2**32 (the packed sort keeps the index in 32 bits).

    Example:
        >>> import numpy as np
        >>> from jaxattr import kernels
        >>> print(kernels.centered_ranks_numpy(np.array([3.0, 1.0, 3.0, 2.0])).tolist())
        [2.0, -3.0, 2.0, -1.0]
    """
    return centered_ranks_and_check_numpy(s, n_valid)[0]


def centered_ranks_and_check_numpy(s: Real[ArrayLike, " N"], n_valid: int | None = None):
    """:func:`centered_ranks_numpy` plus ``sum_j (2j - W - 1) s_(j)`` over the sorted values.

    The second result is the Gini numerator by a route that uses neither the tie averaging
    nor the permutation that scatters ranks back to agents (float32: the sorted keys
    themselves; float64: the gathered values, checked to be in order), so a wrong rank
    shows up as an efficiency gap. Accumulated in float64; NaN if the sort is not in order.
    """
    s = np.asarray(s)
    n = s.shape[0]
    w = n if n_valid is None else int(n_valid)
    if n == 0:
        return np.zeros(0, np.float32), 0.0
    if n >= 2**32:
        raise ValueError(f"centered ranks support at most 2**32 - 1 agents, got {n}")
    if s.dtype == np.float64:
        # 64-bit keys leave no room for the index: argsort (stable) instead.
        s = s + 0.0  # -0.0 -> +0.0
        order = np.argsort(s, kind="stable")
        keys = s[order]
        values = keys[:w]
        in_order = bool(np.all(values[1:] >= values[:-1]))
    else:
        packed = (sortable_bits(s).astype(np.uint64) << np.uint64(32)) | np.arange(
            n, dtype=np.uint64
        )
        packed.sort(kind="stable")
        order = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
        keys = packed >> np.uint64(32)
        values = _from_sortable_bits(keys[:w].astype(np.uint32))
        in_order = True  # read back from the sorted keys themselves
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    run = np.cumsum(new) - 1
    # 1-based average rank of a run [start, end) is (start + 1 + end) / 2, so
    # 2 r - W - 1 = start + end - W: an integer, exact in float32 up to 2**24 agents.
    out_dtype = np.float64 if s.dtype == np.float64 else np.float32
    centered = (starts + ends - w).astype(out_dtype)[run]
    out = np.empty(n, dtype=out_dtype)
    out[order] = centered
    weights = 2.0 * np.arange(1, w + 1, dtype=np.float64) - w - 1
    weighted = float(np.dot(weights, values.astype(np.float64))) if in_order else float("nan")
    return out, weighted


def _int_count(n_valid) -> jax.Array:
    """W as int32 (a float W is rounded to the nearest integer)."""
    w = jnp.asarray(n_valid)
    return (jnp.round(w) if jnp.issubdtype(w.dtype, jnp.floating) else w).astype(jnp.int32)


def _centered_ranks_jnp(s: jax.Array, n_valid) -> jax.Array:
    order = jnp.argsort(s)
    ss = s[order]
    left = jnp.searchsorted(ss, ss, side="left")
    right = jnp.searchsorted(ss, ss, side="right")
    c_sorted = (left + right - _int_count(n_valid)).astype(s.dtype)  # integers first
    return jnp.zeros_like(s).at[order].set(c_sorted)


def _host_ranks(x, wv, dtype):
    x = np.asarray(x, dtype=dtype)
    wv = np.asarray(wv)
    flat_x = x.reshape(-1, x.shape[-1])
    flat_w = np.broadcast_to(wv, x.shape[:-1]).reshape(-1)
    res = [centered_ranks_and_check_numpy(r, int(k)) for r, k in zip(flat_x, flat_w, strict=True)]
    c = np.stack([r[0] for r in res]).reshape(x.shape).astype(dtype)
    weighted = np.array([r[1] for r in res], dtype).reshape(x.shape[:-1])
    return c, weighted


# Module-level callbacks (one per dtype), not closures: JAX caches lowered callbacks, and a
# fresh closure per trace was seen to hit a stale float32 entry under enable_x64.
def _host_ranks32(x, wv):
    return _host_ranks(x, wv, np.float32)


def _host_ranks64(x, wv):
    return _host_ranks(x, wv, np.float64)


def centered_ranks(
    s: Float[Array, "*batch N"], n_valid: int | Real[ArrayLike, ""] | None = None
) -> Float[Array, "*batch N"]:
    """Centered average ranks ``c_i = 2 r_i - W - 1`` of an array's last axis, inside jit.

    ``r_i`` is the 1-based rank of ``s_i`` among the W valid entries (ties share their
    average rank). On CPU with one device the ranks come from a host sort
    (:func:`centered_ranks_numpy` through ``jax.pure_callback``), elsewhere from
    ``jnp.argsort``; both give the same integers.

    Args:
        s: ``Float[Array, "*batch N"]`` float array; padding entries (if any) must be +inf.
        n_valid: number of valid entries W (a traced scalar is fine; pass an integer: a
            float W is rounded, and a float32 count above 2**24 has already lost units);
            default N.

    Returns:
        ``Float[Array, "*batch N"]`` array of ``2 r_i - W - 1`` in ``s.dtype``; no gradient
        flows through it.

    Raises:
        ValueError: N >= 2**30 (the integer rank sums would overflow int32).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> c = kernels.centered_ranks(jnp.array([3.0, 1.0, 3.0, 2.0]))
        >>> print(c.tolist())
        [2.0, -3.0, 2.0, -1.0]
    """
    return centered_ranks_checked(s, n_valid)[0]


def centered_ranks_checked(
    s: Float[Array, "*batch N"], n_valid: int | Real[ArrayLike, ""] | None = None
) -> tuple[Float[Array, "*batch N"], Float[Array, "*batch"]]:
    """:func:`centered_ranks` and a check sum of the sorted values, inside jit.

    The check sum is ``sum_j (2j - W - 1) s_(j)`` over the W smallest (valid) values in
    ascending order, which uses neither the tie averaging nor the scatter of ranks back to
    the entries: it equals ``sum_i c_i s_i`` when the ranks are right, so a wrong rank shows
    up as a difference (gini's efficiency check). No gradient flows through either result.

    Args:
        s: ``Float[Array, "*batch N"]`` float array; padding entries (if any) must be +inf.
        n_valid: number of valid entries W (a traced scalar is fine; default N).

    Returns:
        ``(c, weighted)``: ``Float[Array, "*batch N"]`` the centered ranks and
        ``Float[Array, "*batch"]`` the check sum, both in ``s.dtype``.

    Raises:
        ValueError: N >= 2**30 (the integer rank sums would overflow int32).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr import kernels
        >>> s = jnp.array([3.0, 1.0, 3.0, 2.0])
        >>> c, weighted = kernels.centered_ranks_checked(s)
        >>> print(float(weighted), float(c @ s))
        7.0 7.0
    """
    s = jax.lax.stop_gradient(s)
    n = s.shape[-1]
    if n >= 1 << 30:
        raise ValueError(
            f"centered_ranks supports at most 2**30 - 1 agents per call, got {n}; "
            "shard the agents (the out-of-core runner ranks any N)"
        )
    w = jax.lax.stop_gradient(_int_count(n if n_valid is None else n_valid))
    # The host sort only where the program runs on one device. jax.pure_callback hands its
    # operands to the callback through device_put onto device 0; an operand buffer that XLA
    # did not place 64-byte aligned cannot be aliased and is copied, and inside a program
    # partitioned over several CPU devices that copy never completes: the callback waits
    # on it while every other device waits for device 0 in the next collective. Whether
    # the buffer is aligned depends on N and the layout: 2 processes x 2 devices hung at
    # N = 20,003 (padded to 20,004) and ran at N = 20,000 (tests/test_distributed.py).
    if jax.default_backend() == "cpu" and jax.device_count() == 1:
        host = _host_ranks64 if s.dtype == np.float64 else _host_ranks32
        shapes = (
            jax.ShapeDtypeStruct(s.shape, s.dtype),
            jax.ShapeDtypeStruct(s.shape[:-1], s.dtype),
        )
        return jax.pure_callback(host, shapes, s, w, vmap_method="expand_dims")
    return _centered_ranks_jnp(s, w), _sorted_weighted_jnp(s, w)


def _sorted_weighted_jnp(s, w):
    from ._sums import agent_sums

    ss = jnp.sort(s)
    j = jnp.arange(1, s.shape[-1] + 1, dtype=jnp.int32)
    w = jnp.expand_dims(w, -1)
    valid = j <= w
    weight = (2 * j - w - 1).astype(s.dtype)  # integers first, as the ranks
    (out,) = agent_sums([jnp.where(valid, weight * ss, 0.0)])
    return out
