"""Reference estimators of the Shapley family on the baseline-replacement game.

The game and the estimators' costs are described in docs/shapley.md:
``v(S) = f(z with agents outside S set to their baseline)`` for one step ``z`` ``(N, d)``.
Every estimator is ``(value, z, baseline, ...) -> (N,)``; the sampled ones take ``key=``.
Pass ``return_result=True`` for a :class:`ShapleyResult` with standard errors and costs.
"""

from ._estimators import (
    BANZHAF_ESTIMATORS,
    EXACT_MAX_AGENTS,
    ROUTES,
    ShapleyResult,
    exact_banzhaf,
    exact_shapley,
    leave_one_out,
    permutation_marginals,
    sampled_banzhaf,
    sampled_shapley,
)

__all__ = [
    "BANZHAF_ESTIMATORS",
    "EXACT_MAX_AGENTS",
    "ROUTES",
    "ShapleyResult",
    "exact_banzhaf",
    "exact_shapley",
    "leave_one_out",
    "permutation_marginals",
    "sampled_banzhaf",
    "sampled_shapley",
]
