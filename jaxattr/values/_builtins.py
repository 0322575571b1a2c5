"""The built-in value functions: the paper's four indicators, the Gini coefficient and
mean-field values ``h(mean_i g(z_i))``.

A built-in is one small Module class (its kernel functions as class attributes) and one
row of :data:`BUILTIN`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

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
    row of :data:`BUILTIN`, is a new built-in. All built-ins take a padding mask.

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.

    Example:
        >>> from jaxattr import values
        >>> [isinstance(values.get(n), values.KernelValue) for n in values.PAPER_VALUES]
        [True, True, True, True]
        >>> values.heat().supports_mask, values.heat().mean_field is not None
        (True, True)
    """

    supports_mask = True
    parts = None
    form = None
    kernel_value: ClassVar[Callable[..., Any]]

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
    """``f(Z) = mean_i s_i``, ``s_i = sum_k z_ik``; closed form ``phi_i = (s_i - s^b_i)/N``.

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.

    Example:
        >>> import numpy as np
        >>> z = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)       # (N, d) = (2, 2)
        >>> float(Linear()(z))                                        # mean of 3 and 9
        6.0
    """

    name = "linear"
    affine_g = True
    kernel_value = staticmethod(kernels.linear_value)
    parts = (kernels.linear_g, kernels.linear_h)
    form = _LINEAR


class Heat(KernelValue):
    """``f(Z) = log(1 + m_a m_b m_c)``, ``m_k = mean_i z_ik`` (any d: product over features).

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.

    Example:
        >>> import numpy as np
        >>> z = np.array([[1.0, 1.0, 1.0], [1.0, 3.0, 1.0]], np.float32)  # means 1, 2, 1
        >>> round(float(Heat()(z)), 4)                                     # log(1 + 2)
        1.0986
    """

    name = "heat"
    path_vectorize = True
    affine_g = True
    kernel_value = staticmethod(kernels.heat_value)
    parts = (kernels.heat_g, kernels.heat_h)
    form = _HEAT


class Variance(KernelValue):
    """``f(Z) = mean_i (s_i - s̄)²``; closed form from the midpoint gradient (exact: the
    gradient is linear along the ray), with moments of the composite shifted by a typical
    value so that offsets of 1e6 lose nothing to cancellation.

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.

    Example:
        >>> import numpy as np
        >>> z = np.array([[1.0], [3.0]], np.float32)                  # s = 1, 3; mean 2
        >>> float(Variance()(z))
        1.0
    """

    name = "variance"
    kernel_value = staticmethod(kernels.variance_value)
    parts = (kernels.variance_g, kernels.variance_h)
    form = _VARIANCE


class Gini(KernelValue):
    """``f(Z) = (1/N²) sum_i sum_j |s_i - s_j|`` (the paper's mean absolute difference);
    closed form with average ranks.

    The closed form needs a common baseline vector (zero, mean, or a ``(d,)`` array); with
    per-agent baselines ``method="auto"`` takes the path integral.

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.

    Example:
        >>> import numpy as np
        >>> z = np.array([[1.0], [3.0]], np.float32)        # |1 - 3| twice, over N² = 4
        >>> float(Gini()(z))
        1.0
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

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.

    Example:
        >>> import numpy as np
        >>> z = np.array([[0.0], [0.0], [0.0], [4.0]], np.float32)   # one agent holds all
        >>> float(GiniCoefficient()(z))                               # (N - 1) / N
        0.75
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
    Build one with :func:`mean_field`.

    Attributes:
        g: one agent's map, ``Float[Array, "d"] -> Float[Array, "m"]`` (or a scalar).
        h: the outer map, ``Float[Array, "m"] -> Float[Array, ""]``.
        name: its name in tables and messages.
        affine: ``g`` is affine (the path then needs only the two end aggregates).

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.

    Example:
        >>> import jax.numpy as jnp, numpy as np
        >>> f = MeanField(g=lambda zi: zi ** 2, h=lambda m: jnp.sum(m), name="msq")
        >>> float(f(np.array([[1.0, 2.0], [3.0, 0.0]], np.float32)))    # (1+4 + 9+0) / 2
        7.0
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
    """The linear indicator ``mean_i s_i``, ``s_i = sum_k z_ik`` (docs/concepts.md, Value
    functions).

    Its closed form is ``phi_i = (s_i - s^b_i) / N``: each agent's own change, so subset
    attributions are rescaled copies of the full panel's (Theorem 1, ``rho = 0``).

    Returns:
        A :class:`Linear` value object.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[[1.0, 1.0], [2.0, 4.0]]], np.float32)        # (T, N, d)
        >>> jaxattr.attribute(z, jaxattr.values.linear()).phi.tolist()   # s_i / N
        [[1.0, 3.0]]
    """
    return Linear()


def heat() -> Heat:
    """The heat indicator ``log(1 + m_a m_b m_c)``, ``m_k = mean_i z_ik`` (docs/concepts.md,
    Value functions).

    Returns:
        A :class:`Heat` value object (closed form for every baseline).

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.ones((1, 4, 3), np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.heat())
        >>> np.asarray(att.phi, float).round(4).tolist(), round(float(att.delta[0]), 4)
        ([[0.1733, 0.1733, 0.1733, 0.1733]], 0.6931)
    """
    return Heat()


def variance() -> Variance:
    """The variance indicator ``mean_i (s_i - s̄)²`` of the composites ``s_i = sum_k z_ik``
    (docs/concepts.md, Value functions).

    Returns:
        A :class:`Variance` value object (closed form for every baseline).

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[[1.0], [3.0]]], np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.variance())
        >>> att.phi.tolist(), float(att.delta[0])       # s_i (s_i - mean s) / N
        ([[-0.5, 1.5]], 1.0)
    """
    return Variance()


def gini() -> Gini:
    """The paper's Gini-type indicator ``(1/N²) sum_ij |s_i - s_j|``, the mean absolute
    difference of the composites (docs/concepts.md, Value functions).

    Returns:
        A :class:`Gini` value object (closed form, with average ranks, for zero and common
        baselines).

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[[1.0], [3.0]]], np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.gini())
        >>> att.phi.tolist(), float(att.delta[0])   # s_i 2(2 r_i - N - 1) / N²
        ([[-0.5, 1.5]], 1.0)
    """
    return Gini()


def gini_coefficient() -> GiniCoefficient:
    """The Gini coefficient ``sum_ij |s_i - s_j| / (2 N² mean s)``; baseline: equality.

    Returns:
        A :class:`GiniCoefficient` value object; its default baseline is ``"mean"``, so
        ``sum_i phi_i = G(Z)``.

    Example:
        >>> import numpy as np, jaxattr
        >>> w = np.array([[1.0], [1.0], [1.0], [5.0]], np.float32)     # (N, d=1) wealth
        >>> att = jaxattr.attribute(w, jaxattr.values.gini_coefficient())
        >>> round(float(att.phi.sum()), 6), round(float(att.value_features[0]), 6)
        (0.375, 0.375)
    """
    return GiniCoefficient()


def mean_field(
    g: Callable[..., Any], h: Callable[..., Any], name: str = "mean_field", *, affine: bool = False
) -> MeanField:
    """A mean-field value function ``h(mean_i g(z_i))``; g maps one agent's ``(d,)``.

    ``affine=True`` declares g affine (``g(z) = A z + c``): the path integral then takes
    one pass over the agents instead of K (:func:`jaxattr.kernels.affine_path_gradient`).

    Args:
        g: one agent's map ``Float[Array, "d"] -> Float[Array, "m"]`` (or a scalar);
            a function or an equinox Module.
        h: the outer map ``Float[Array, "m"] -> Float[Array, ""]``.
        name: the value's name in tables and messages.
        affine: declare ``g`` affine (a wrong declaration gives wrong attributions: the
            efficiency check reports the gap).

    Returns:
        A :class:`MeanField` value object.

    Raises:
        TypeError: ``g`` or ``h`` is not callable.

    Example:
        >>> import jax.numpy as jnp, numpy as np, jaxattr
        >>> f = jaxattr.values.mean_field(lambda zi: jnp.stack([zi[0], zi[0] * zi[1]]),
        ...                               lambda m: m[1] / (1.0 + m[0]), name="engaged")
        >>> z = np.random.default_rng(0).random((2, 6, 2), dtype=np.float32)
        >>> att = jaxattr.attribute(z, f, rule="gauss-legendre", steps=8, agent_chunk=4)
        >>> att.method, att.phi.shape, bool(att.efficiency_error.max() < 1e-5)
        ('path-meanfield', (2, 6), True)
    """
    for what, fn in (("g", g), ("h", h)):
        if not callable(fn):
            raise TypeError(f"mean_field: {what} must be callable, got {type(fn).__name__}")
    return MeanField(g=g, h=h, name=name, affine=affine)


BUILTIN: dict[str, Callable[[], ValueFunction]] = {
    "linear": linear,
    "heat": heat,
    "variance": variance,
    "gini": gini,
    "gini_coefficient": gini_coefficient,
}
"""The built-in value functions: name -> factory. The names are what ``--value``, batch
plans and :func:`load` accept.

Example:
    >>> from jaxattr import values
    >>> sorted(values.BUILTIN)
    ['gini', 'gini_coefficient', 'heat', 'linear', 'variance']
    >>> values.BUILTIN["heat"]().name
    'heat'
"""


PAPER_VALUES = ("linear", "heat", "variance", "gini")
"""The paper's four macro indicators, in its order (the study's default values).

Example:
    >>> from jaxattr import values
    >>> [values.get(n).name for n in values.PAPER_VALUES]
    ['linear', 'heat', 'variance', 'gini']
"""


def get(name: str) -> ValueFunction:
    """A built-in value function by name.

    Args:
        name: a key of :data:`BUILTIN`.

    Returns:
        A new value object of that built-in.

    Raises:
        ValueError: an unknown name, listing the built-ins.

    Example:
        >>> from jaxattr import values
        >>> values.get("variance").name
        'variance'
        >>> values.get("varience")
        Traceback (most recent call last):
        ...
        ValueError: unknown value function 'varience'; built-ins are [...]
    """
    try:
        return BUILTIN[name]()
    except KeyError:
        raise ValueError(
            f"unknown value function {name!r}; built-ins are {sorted(BUILTIN)}"
        ) from None
