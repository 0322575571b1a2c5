"""Macro value functions ``f: (N, d) -> scalar`` (see DESIGN §1)."""

from ._value_spec import load
from ._values import (
    BUILTIN,
    ClosedForm,
    Combination,
    Gini,
    Heat,
    Linear,
    MeanField,
    ValueFunction,
    Variance,
    as_value,
    get,
    gini,
    heat,
    linear,
    mean_field,
    variance,
)

__all__ = [
    "BUILTIN",
    "ClosedForm",
    "Combination",
    "Gini",
    "Heat",
    "Linear",
    "MeanField",
    "ValueFunction",
    "Variance",
    "as_value",
    "get",
    "gini",
    "heat",
    "linear",
    "load",
    "mean_field",
    "variance",
]
