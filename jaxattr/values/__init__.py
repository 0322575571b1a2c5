"""Macro value functions ``f: (N, d) -> scalar``, as equinox Modules (docs/concepts.md,
Value functions).

Built-ins: :func:`linear`, :func:`heat`, :func:`variance`, :func:`gini` (the paper's four),
:func:`gini_coefficient`; :func:`mean_field` for ``h(mean_i g(z_i))``; any callable or
:class:`ValueFunction` subclass of your own. Array fields of a value are traced, so a
parameter sweep or a retrained network reuses one compiled program.
"""

from ._base import (
    ALL_BASELINES,
    COMMON,
    PER_AGENT,
    ZERO,
    ClosedForm,
    Combination,
    FunctionValue,
    ValueFunction,
)
from ._builtins import (
    BUILTIN,
    PAPER_VALUES,
    Gini,
    GiniCoefficient,
    Heat,
    KernelValue,
    Linear,
    MeanField,
    Variance,
    get,
    gini,
    gini_coefficient,
    heat,
    linear,
    mean_field,
    variance,
)
from ._load import as_value, load

__all__ = [
    "ALL_BASELINES",
    "BUILTIN",
    "PAPER_VALUES",
    "COMMON",
    "ClosedForm",
    "Combination",
    "FunctionValue",
    "Gini",
    "GiniCoefficient",
    "Heat",
    "KernelValue",
    "Linear",
    "MeanField",
    "PER_AGENT",
    "ValueFunction",
    "Variance",
    "ZERO",
    "as_value",
    "get",
    "gini",
    "gini_coefficient",
    "heat",
    "linear",
    "load",
    "mean_field",
    "variance",
]
