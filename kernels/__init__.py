"""Pure, jit-able math of jaxattr: no I/O, no classes beyond pytrees, no import of jaxattr.

Every kernel works on one time step in logical feature-major layout ``(d, N)``; callers map
over T with ``jax.vmap`` / ``lax.map``. Closed forms come in streaming form (agent sums,
then a per-agent pass; see ``_closed``).
"""

from ._closed import (
    gini_aggregates,
    gini_finish,
    gini_gradient,
    gini_rank_key,
    gini_sorted_value,
    gini_value,
    heat_aggregates,
    heat_finish,
    heat_g,
    heat_gradient,
    heat_h,
    heat_value,
    linear_aggregates,
    linear_finish,
    linear_g,
    linear_gradient,
    linear_h,
    linear_value,
    population_ranks,
    variance_aggregates,
    variance_finish,
    variance_g,
    variance_gradient,
    variance_h,
    variance_value,
)
from ._path import meanfield_path_gradient, path_gradient
from ._quadrature import RULES, composite_gauss_legendre, quadrature
from ._ranks import centered_ranks, centered_ranks_checked, centered_ranks_numpy
from ._sums import agent_sums, count, feature_means, reference_point

__all__ = [
    "RULES",
    "agent_sums",
    "centered_ranks",
    "centered_ranks_checked",
    "centered_ranks_numpy",
    "composite_gauss_legendre",
    "count",
    "feature_means",
    "gini_aggregates",
    "gini_finish",
    "gini_gradient",
    "gini_rank_key",
    "gini_sorted_value",
    "gini_value",
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
    "meanfield_path_gradient",
    "path_gradient",
    "population_ranks",
    "quadrature",
    "reference_point",
    "variance_aggregates",
    "variance_finish",
    "variance_g",
    "variance_gradient",
    "variance_h",
    "variance_value",
]
