"""Deletion faithfulness of agent attributions (rank agreement: ``jaxattr._util``)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, Int

from jaxattr import kernels
from jaxattr._util import as_finite_vector
from jaxattr.values import as_value


# ----------------------------------------------------------------- deletion
@functools.partial(jax.jit, static_argnames=("value",))
def _deleted_values(value, zt, bt, order, ks):
    n = zt.shape[1]
    rank = jnp.zeros((n,), jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
    mf = value.mean_field
    if mf is not None:  # without the first k of order = the first N - k of its reverse
        g, h = mf
        d, a0 = kernels.meanfield_parts(g, zt, bt)
        return kernels.meanfield_prefix_values(h, d, a0, order[::-1])[n - ks]
    return jax.lax.map(lambda k: value.fm(jnp.where(rank[None, :] < k, bt, zt)), ks)


def deletion_curve(
    value: Any,
    z: Float[ArrayLike, "N d"],
    baseline: Float[ArrayLike, "N d"] | Float[ArrayLike, " d"],
    scores: Float[ArrayLike, " N"],
    ks: Int[ArrayLike, " K"],
) -> Float[np.ndarray, " K"]:
    """Normalised risk drop after replacing the top-k agents by their baseline action.

    ``drop(k) = (f(Z) - f(Z with top_k(scores) -> B)) / (f(Z) - f(B))`` for each k in
    ``ks``; 1 means the k agents carry the whole risk above the baseline.

    Args:
        value: risk on ``(N, d)``: a value object, built-in name or callable
            (:func:`jaxattr.values.as_value`).
        z: ``(N, d)`` features of the step.
        baseline: ``(N, d)`` baseline action (or a ``(d,)`` row broadcast to every agent).
        scores: ``(N,)`` ranking scores, highest first (ties: lower index first).
        ks: the k sweep, integers in ``[0, N]``.

    Returns:
        ``(len(ks),)`` float64 normalised drops, evaluated in float64.

    Raises:
        ValueError: shapes disagree, non-finite scores, ks empty or out of range, or
            ``f(Z) = f(B)`` (nothing to drop).

    Example:
        >>> import numpy as np
        >>> from jaxattr.scenarios import deletion_curve
        >>> z = np.array([[3.0], [1.0], [0.0], [0.0]])   # linear f = mean_i z_i
        >>> deletion_curve("linear", z, np.zeros_like(z), z[:, 0], [1, 2]).round(4).tolist()
        [0.75, 1.0]
    """
    value = as_value(value)
    z = np.asarray(z, np.float64)
    b = np.broadcast_to(np.asarray(baseline, np.float64), z.shape)
    scores = as_finite_vector(scores, "scores")
    n = z.shape[0]
    if scores.size != n:
        raise ValueError(f"scores must have shape ({n},), got ({scores.size},)")
    ks = np.asarray(ks, np.int64).reshape(-1)
    if ks.size == 0 or ks.min() < 0 or ks.max() > n:
        raise ValueError(f"ks must be non-empty integers in [0, N={n}], got {ks.tolist()}")
    order = np.argsort(-scores, kind="stable")
    with jax.enable_x64(True):
        zt, bt = jnp.asarray(z.T), jnp.asarray(np.ascontiguousarray(b.T))
        fz, fb = float(value.fm(zt)), float(value.fm(bt))
        vals = np.asarray(
            _deleted_values(
                value, zt, bt, jnp.asarray(order, jnp.int32), jnp.asarray(ks, jnp.int32)
            )
        )
    if fz == fb:
        raise ValueError(
            "f(Z) equals f(baseline): the risk has nothing to drop, so the "
            "deletion curve is undefined"
        )
    return (fz - vals) / (fz - fb)


def deletion_auc(
    value: Any,
    z: Float[ArrayLike, "N d"],
    baseline: Float[ArrayLike, "N d"] | Float[ArrayLike, " d"],
    scores: Float[ArrayLike, " N"],
    ks: Int[ArrayLike, " K"],
) -> float:
    """Mean of :func:`deletion_curve` over the k sweep (higher = more faithful).

    Args:
        value: risk on ``(N, d)`` (as :func:`deletion_curve`).
        z: ``(N, d)`` features of the step.
        baseline: ``(N, d)`` (or ``(d,)``) baseline action.
        scores: ``(N,)`` ranking scores, highest first.
        ks: the k sweep, integers in ``[0, N]``.

    Returns:
        The mean normalised drop, a float (1 = the top agents carry all the risk at every k).

    Raises:
        ValueError: as :func:`deletion_curve`.

    Example:
        >>> import numpy as np
        >>> from jaxattr.scenarios import deletion_auc
        >>> z = np.array([[3.0], [1.0], [0.0], [0.0]])
        >>> deletion_auc("linear", z, np.zeros_like(z), z[:, 0], [1, 2])
        0.875
    """
    return float(np.mean(deletion_curve(value, z, baseline, scores, ks)))


def default_ks(n: int) -> Int[np.ndarray, " K"]:
    """The k sweep: every k in 1..N/2 for N <= 200, else ~20 log-spaced k up to 10% of N.

    Args:
        n: N, the number of agents.

    Returns:
        Sorted distinct int64 k values (at least ``[1]``).

    Raises:
        TypeError: ``n`` is not a number.

    Example:
        >>> from jaxattr.scenarios import default_ks
        >>> default_ks(8).tolist(), len(default_ks(10_000)), int(default_ks(10_000)[-1])
        ([1, 2, 3, 4], 18, 1000)
    """
    if n <= 200:
        return np.arange(1, max(1, n // 2) + 1)
    return np.unique(np.geomspace(1, max(1, n // 10), 20).astype(np.int64))
