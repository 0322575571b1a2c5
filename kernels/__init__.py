"""Pure, jit-able math of jaxattr: no I/O, no classes beyond pytrees, no import of jaxattr.

Every kernel works on one time step in feature-major layout ``(d, N)``; callers map
over T with ``jax.vmap`` / ``lax.map``.
"""

from ._closed import (
    gini_closed_form,
    gini_value,
    gini_value_and_closed_form,
    heat_closed_form,
    heat_closed_form_zero,
    heat_g,
    heat_h,
    heat_value,
    heat_value_and_closed_form,
    linear_closed_form,
    linear_g,
    linear_h,
    linear_value,
    linear_value_and_closed_form,
    variance_closed_form,
    variance_g,
    variance_h,
    variance_value,
    variance_value_and_closed_form,
)
from ._coalition import (
    meanfield_coalition_value,
    meanfield_leave_one_out,
    meanfield_marginals,
    meanfield_parts,
    meanfield_prefix_values,
)
from ._path import meanfield_path_gradient, path_gradient
from ._quadrature import RULES, composite_gauss_legendre, quadrature
from ._ranks import centered_ranks, centered_ranks_numpy

__all__ = [
    "RULES",
    "centered_ranks",
    "centered_ranks_numpy",
    "composite_gauss_legendre",
    "gini_closed_form",
    "gini_value_and_closed_form",
    "heat_value_and_closed_form",
    "linear_value_and_closed_form",
    "variance_value_and_closed_form",
    "gini_value",
    "heat_closed_form",
    "heat_closed_form_zero",
    "heat_g",
    "heat_h",
    "heat_value",
    "linear_closed_form",
    "linear_g",
    "linear_h",
    "linear_value",
    "meanfield_coalition_value",
    "meanfield_leave_one_out",
    "meanfield_marginals",
    "meanfield_parts",
    "meanfield_path_gradient",
    "meanfield_prefix_values",
    "path_gradient",
    "quadrature",
    "variance_closed_form",
    "variance_g",
    "variance_h",
    "variance_value",
]
