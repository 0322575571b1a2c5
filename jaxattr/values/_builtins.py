"""The built-in value functions: the paper's four indicators, the Gini coefficient and
mean-field values ``h(mean_i g(z_i))``.

A built-in is one small Module class (its kernel functions as class attributes) and one
row of :data:`BUILTIN`.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from jaxattr import kernels

from ._base import COMMON, ZERO, ClosedForm, ValueFunction

__all__ = [
    "BUILTIN",
    "PAPER_VALUES",
    "Gini",
    "GiniCoefficient",
    "Heat",
    "KernelValue",
    "Linear",
    "MeanField",
    "Variance",
    "get",
    "gini",
    "gini_coefficient",
    "heat",
    "linear",
    "mean_field",
    "variance",
]

_LINEAR = ClosedForm(kernels.linear_aggregates, kernels.linear_finish, kernels.linear_gradient)
_HEAT = ClosedForm(kernels.heat_aggregates, kernels.heat_finish, kernels.heat_gradient)
_VARIANCE = ClosedForm(
    kernels.variance_aggregates,
    kernels.variance_finish,
    kernels.variance_gradient,
    phi=kernels.variance_phi,
    reference=True,
)
_GINI = ClosedForm(
    kernels.gini_aggregates,
    kernels.gini_finish,
    kernels.gini_gradient,
    baselines=(ZERO, COMMON),
    reference=True,
    rank_key=kernels.gini_rank_key,
    sorted_value=kernels.gini_sorted_value,
)
_GINI_COEFFICIENT = ClosedForm(
    kernels.gini_coefficient_aggregates,
    kernels.gini_coefficient_finish,
    kernels.gini_coefficient_gradient,
    phi=kernels.gini_coefficient_phi,
    baselines=(COMMON,),
    reference=True,
    rank_key=kernels.gini_rank_key,
    sorted_value=kernels.gini_coefficient_sorted_value,
)


class KernelValue(ValueFunction):
    """A value function whose value, mean-field parts and closed form are kernel functions.

    A subclass sets ``kernel_value`` (``(z, mask, *, blocked) -> scalar``), optionally
    ``parts`` (the mean-field pair) and ``form`` (a :class:`ClosedForm`); that, plus one
    row of :data:`BUILTIN`, is a new built-in.
    """

    supports_mask = True
    parts = None
    form = None

    def fm(self, zt, mask=None):
        return type(self).kernel_value(zt, mask)

    def fm_path(self, zt, mask=None):
        return type(self).kernel_value(zt, mask, blocked=False)

    @property
    def mean_field(self):
        return self.parts

    @property
    def closed_form(self):
        return self.form


class Linear(KernelValue):
    """``f(Z) = mean_i s_i``, ``s_i = sum_k z_ik``; closed form ``phi_i = (s_i - s^b_i)/N``."""

    name = "linear"
    affine_g = True
    kernel_value = staticmethod(kernels.linear_value)
    parts = (kernels.linear_g, kernels.linear_h)
    form = _LINEAR


class Heat(KernelValue):
    """``f(Z) = log(1 + m_a m_b m_c)``, ``m_k = mean_i z_ik`` (any d: product over features)."""

    name = "heat"
    path_vectorize = True
    affine_g = True
    kernel_value = staticmethod(kernels.heat_value)
    parts = (kernels.heat_g, kernels.heat_h)
    form = _HEAT


class Variance(KernelValue):
    """``f(Z) = mean_i (s_i - s̄)²``; closed form from the midpoint gradient (exact: the
    gradient is linear along the ray), with moments of the composite shifted by a typical
    value so that offsets of 1e6 lose nothing to cancellation."""

    name = "variance"
    kernel_value = staticmethod(kernels.variance_value)
    parts = (kernels.variance_g, kernels.variance_h)
    form = _VARIANCE


class Gini(KernelValue):
    """``f(Z) = (1/N²) sum_i sum_j |s_i - s_j|`` (the paper's mean absolute difference);
    closed form with average ranks.

    The closed form needs a common baseline vector (zero, mean, or a ``(d,)`` array); with
    per-agent baselines ``method="auto"`` takes the path integral.
    """

    name = "gini"
    kernel_value = staticmethod(kernels.gini_value)
    form = _GINI


class GiniCoefficient(KernelValue):
    """The Gini coefficient ``G = sum_ij |s_i - s_j| / (2 N² mean_i s_i)``: scale-free, 0 at
    equality, what Mesa's Boltzmann-wealth example and most inequality studies report.

    Its natural baseline is equality (``"mean"``, the default here): every agent at the
    mean, ``G(B) = 0``, so ``sum_i phi_i = G(Z)``. The closed form is exact for any common
    baseline vector whose composite is positive along the path (the mean of the composite
    may not cross zero); per-agent baselines take the path integral.
    """

    name = "gini_coefficient"
    default_baseline = "mean"
    kernel_value = staticmethod(kernels.gini_coefficient_value)
    form = _GINI_COEFFICIENT


class MeanField(ValueFunction):
    """``f(Z) = h(mean_i g(z_i))`` from a per-agent ``g: (d,) -> (m,)`` and ``h: (m,) -> ()``.

    Mean-field value functions get the memory-bounded, agent-chunked path integral, and
    O(1) coalition updates in :mod:`jaxattr.shapley`. ``g`` and ``h`` may be plain
    functions (static) or Modules with array fields (traced: new weights, no recompile).
    """

    g: Callable
    h: Callable
    name: str = eqx.field(default="mean_field", static=True)
    affine: bool = eqx.field(default=False, static=True)
    supports_mask = True

    @property
    def affine_g(self):  # type: ignore[override]
        return self.affine

    def _g_fm(self, zt):
        out = jax.vmap(self.g, in_axes=1, out_axes=-1)(zt)
        return out[None] if out.ndim == 1 else out

    def fm(self, zt, mask=None):
        gz = self._g_fm(zt)
        if mask is None:
            return self.h(jnp.mean(gz, axis=-1))
        return self.h(jnp.sum(gz * mask[None, :], axis=-1) / jnp.sum(mask))

    @property
    def mean_field(self):
        return self._g_fm, self.h


def linear() -> Linear:
    """The linear indicator ``mean_i s_i`` (DESIGN §1)."""
    return Linear()


def heat() -> Heat:
    """The heat indicator ``log(1 + m_a m_b m_c)`` (DESIGN §1)."""
    return Heat()


def variance() -> Variance:
    """The variance indicator ``mean_i (s_i - s̄)²`` (DESIGN §1)."""
    return Variance()


def gini() -> Gini:
    """The paper's Gini-type indicator ``(1/N²) sum_ij |s_i - s_j|`` (DESIGN §1)."""
    return Gini()


def gini_coefficient() -> GiniCoefficient:
    """The Gini coefficient ``sum_ij |s_i - s_j| / (2 N² mean s)``; baseline: equality.

    Example:
        >>> import numpy as np, jaxattr
        >>> w = np.array([[1.0], [1.0], [1.0], [5.0]], np.float32)     # (N, d=1) wealth
        >>> att = jaxattr.attribute(w, jaxattr.values.gini_coefficient())
        >>> round(float(att.phi.sum()), 6), round(float(att.value_features[0]), 6)
        (0.375, 0.375)
    """
    return GiniCoefficient()


def mean_field(
    g: Callable, h: Callable, name: str = "mean_field", *, affine: bool = False
) -> MeanField:
    """A mean-field value function ``h(mean_i g(z_i))``; g maps one agent's ``(d,)``.

    ``affine=True`` declares g affine (``g(z) = A z + c``): the path integral then takes
    one pass over the agents instead of K (:func:`jaxattr.kernels.affine_path_gradient`).
    """
    return MeanField(g=g, h=h, name=name, affine=affine)


BUILTIN: dict[str, Callable[[], ValueFunction]] = {
    "linear": linear,
    "heat": heat,
    "variance": variance,
    "gini": gini,
    "gini_coefficient": gini_coefficient,
}


#: The paper's four macro indicators, in its order (the study's default values).
PAPER_VALUES = ("linear", "heat", "variance", "gini")


def get(name: str) -> ValueFunction:
    """A built-in value function by name.

    Raises:
        ValueError: an unknown name, listing the built-ins.
    """
    try:
        return BUILTIN[name]()
    except KeyError:
        raise ValueError(
            f"unknown value function {name!r}; built-ins are {sorted(BUILTIN)}"
        ) from None
