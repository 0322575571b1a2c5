"""Coalition-game references for the faithfulness checks (baseline-replacement game).

``v(S) = f(Z with the agents outside S set to their baseline)``. Every reference comes from
:mod:`jaxattr.shapley` (mean-field value functions get its O(1) coalition updates, so a
permutation costs O(N) instead of O(N²)); the coordinate-path marginals of
:func:`permutation_marginals` are computed in float64. Sampled Shapley, LOO and exact
Shapley are in the dtype JAX computes in (float32 unless x64 is enabled globally), which is
ample for the rank and deletion comparisons they serve (their sampling error dominates).
"""

from __future__ import annotations

import jax
import numpy as np

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


def permutation_marginals(value, z, baseline, perms) -> np.ndarray:
    """Marginal contributions ``v(P_i ∪ {i}) - v(P_i)`` per permutation, ``(P, N)`` float64.

    Row p is the attribution along the coordinate path that fades the agents in following
    ``perms[p]`` (:func:`jaxattr.shapley.permutation_marginals`, here in float64).

    Args:
        value: value function on ``(N, d)``. z, baseline: ``(N, d)``.
        perms: ``(P, N)`` integer permutations of the agents.
    """
    with jax.enable_x64(True):
        return np.asarray(
            _marginals(
                as_value(value), np.asarray(z, np.float64), np.asarray(baseline, np.float64), perms
            )
        )


def shapley_reference(value, z, baseline, *, key, n_permutations: int = 2000) -> dict:
    """Sampled Shapley values with their standard error, from :mod:`jaxattr.shapley`.

    Returns:
        ``{"phi": (N,), "se": (N,), "source": "jaxattr.shapley", "n_permutations": M}``.
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
