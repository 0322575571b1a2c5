"""Coalition-game references for the faithfulness checks (baseline-replacement game).

``v(S) = f(Z with the agents outside S set to their baseline)``. Every reference comes from
:mod:`jaxattr.shapley` (mean-field value functions get its O(1) coalition updates, so a
permutation costs O(N) instead of O(N²)); the coordinate-path marginals of
:func:`permutation_marginals` are computed in float64. Sampled Shapley, LOO and exact
Shapley are in the dtype JAX computes in (float32 unless x64 is enabled globally), which is
ample for the rank and deletion comparisons they serve (their sampling error dominates).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from jaxattr import shapley
from jaxattr.shapley import permutation_marginals as _marginals
from jaxattr.values import ValueFunction, as_value

__all__ = [
    "ValueFunction",
    "exact_reference",
    "loo_reference",
    "permutation_marginals",
    "shapley_reference",
]


def permutation_marginals(
    value: Any,
    z: Float[ArrayLike, "N d"],
    baseline: Float[ArrayLike, "N d"],
    perms: Int[ArrayLike, "P N"],
) -> Float[np.ndarray, "P N"]:
    """Marginal contributions ``v(P_i ∪ {i}) - v(P_i)`` per permutation, ``(P, N)`` float64.

    Row p is the attribution along the coordinate path that fades the agents in following
    ``perms[p]`` (:func:`jaxattr.shapley.permutation_marginals`, here in float64).

    Args:
        value: value function on ``(N, d)`` (a value object, built-in name or callable).
        z: ``(N, d)`` features.
        baseline: ``(N, d)`` baseline (an agent outside the coalition takes its row).
        perms: ``(P, N)`` integer permutations of the agents.

    Returns:
        ``(P, N)`` float64 marginals; each row sums to ``f(z) - f(baseline)``.

    Raises:
        ValueError: shapes that disagree, or a row of ``perms`` that is not a permutation
            of ``0..N-1`` (the message names the row).

    Example:
        >>> import numpy as np
        >>> from jaxattr.scenarios import permutation_marginals
        >>> z = np.array([[1.0], [2.0], [4.0]])
        >>> perms = np.array([[0, 1, 2], [2, 1, 0]])
        >>> m = permutation_marginals("variance", z, np.zeros_like(z), perms)
        >>> m.shape, np.round(m.sum(axis=1), 6).tolist(), round(float(np.var(z)), 6)
        ((2, 3), [1.555556, 1.555556], 1.555556)
    """
    p = np.asarray(perms)
    n = np.shape(z)[0]
    if p.ndim != 2 or p.shape[1] != n:
        raise ValueError(f"permutation_marginals: perms must have shape (P, N={n}), got {p.shape}")
    bad = np.flatnonzero((np.sort(p, axis=1) != np.arange(n)).any(axis=1))
    if bad.size:
        raise ValueError(
            f"permutation_marginals: perms[{int(bad[0])}] is not a permutation of 0..{n - 1}"
        )
    with jax.enable_x64(True):
        return np.asarray(
            _marginals(
                as_value(value), np.asarray(z, np.float64), np.asarray(baseline, np.float64), perms
            )
        )


def shapley_reference(
    value: Any,
    z: Float[ArrayLike, "N d"],
    baseline: Float[ArrayLike, "N d"],
    *,
    key: Array,
    n_permutations: int = 2000,
) -> dict[str, Any]:
    """Sampled Shapley values with their standard error, from :mod:`jaxattr.shapley`.

    The baseline-replacement game ``v(S) = f(Z with the agents outside S at their
    baseline)``, estimated from ``n_permutations`` random permutations
    (:func:`jaxattr.shapley.sampled_shapley`).

    Args:
        value: value function on ``(N, d)`` (a value object, built-in name or callable).
        z: ``(N, d)`` features.
        baseline: ``(N, d)`` baseline.
        key: ``jax.random`` key of the permutations.
        n_permutations: M.

    Returns:
        ``{"phi": (N,), "se": (N,), "source": "jaxattr.shapley", "n_permutations": M}``
        (float64 arrays).

    Raises:
        ValueError: shapes that disagree, NaN/inf inputs, or ``n_permutations < 1``.

    Example:
        >>> import jax, numpy as np
        >>> from jaxattr.scenarios import shapley_reference
        >>> z = np.array([[1.0], [2.0], [4.0]], np.float32)
        >>> key = jax.random.key(0)
        >>> ref = shapley_reference("linear", z, np.zeros_like(z), key=key, n_permutations=4)
        >>> np.round(ref["phi"], 4).tolist(), bool(ref["se"].max() < 1e-6)  # linear: no spread
        ([0.3333, 0.6667, 1.3333], True)
    """
    res = shapley.sampled_shapley(
        as_value(value),
        np.asarray(z),
        np.asarray(baseline),
        key=key,
        n_permutations=n_permutations,
        return_result=True,
    )
    return {
        "phi": np.asarray(res.phi, np.float64),
        "se": np.asarray(res.stderr, np.float64),
        "source": "jaxattr.shapley",
        "n_permutations": n_permutations,
    }


def loo_reference(value, z, baseline) -> tuple[np.ndarray, str]:
    """Leave-one-out values ``(N,)`` from :mod:`jaxattr.shapley`, and their source."""
    return (
        np.asarray(
            shapley.leave_one_out(as_value(value), np.asarray(z), np.asarray(baseline)), np.float64
        ),
        "jaxattr.shapley",
    )


def exact_reference(value, z, baseline) -> tuple[np.ndarray, str]:
    """Exact Shapley values ``(N,)`` (N <= 20) from :mod:`jaxattr.shapley`, and their source."""
    return (
        np.asarray(
            shapley.exact_shapley(as_value(value), np.asarray(z), np.asarray(baseline)), np.float64
        ),
        "jaxattr.shapley",
    )
