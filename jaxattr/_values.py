"""Value functions: plain callables ``f(z: (N, d)) -> scalar`` plus optional structure.

A value object may carry a closed-form attribution and a mean-field decomposition
``f(Z) = h(mean_i g(z_i))``; :func:`jaxattr.attribute` uses them with ``method="auto"``.
Any user callable ``(N, d) -> scalar`` works unchanged (it is wrapped by
:func:`as_value`). Value objects are frozen dataclasses: equal objects hash equal, so a
second ``attribute`` call with ``values.heat()`` reuses the compiled program.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxattr import kernels

# How the baseline of one step is shaped, which decides whether a closed form exists.
ZERO, COMMON, PER_AGENT = "zero", "common", "per_agent"


class ValueFunction:
    """Base class of value objects. Subclasses are frozen dataclasses.

    Attributes a subclass may override:
        name: short name used in tables and messages.
        supports_mask: whether ``fm`` honours a 0/1 ``mask`` (needed for padded sharding).
        mean_field: ``(g, h)`` with ``g: (d, n) -> (m, n)`` feature-major, ``h: (m,) -> ()``.
        path_vectorize: the ``jax.grad`` path evaluates a chunk of path points as one
            ``jax.vmap`` batch with one reverse pass (see :func:`kernels.path_gradient`).
            Worth it when ``fm`` only reduces with plain means, so XLA fuses the batch
            without a ``chunk × d × N`` buffer (heat); off by default. Not for linear:
            its per-point cotangent is one scalar, and with a mask XLA CPU (jax 0.10.2)
            miscompiles the resulting reduce (see ``kernels.path_gradient``).
    """

    name: str = "value"
    supports_mask: bool = False
    path_vectorize: bool = False

    # -- evaluation ---------------------------------------------------------------
    def __call__(self, z, mask=None):
        """Evaluate on one step ``z`` of shape ``(N, d)``; returns a scalar."""
        z = jnp.asarray(z)
        if z.ndim != 2:
            raise ValueError(f"{self.name}: z must have shape (N, d), got {z.shape}")
        return self.fm(z.T, mask)

    def fm(self, zt, mask=None):
        """Evaluate on a feature-major step ``(d, N)``."""
        raise NotImplementedError

    # -- structure ------------------------------------------------------------------
    @property
    def mean_field(self) -> tuple[Callable, Callable] | None:
        return None

    def has_closed_form(self, baseline_kind: str) -> bool:
        return False

    def closed_form(self, zt, bt, mask=None, *, baseline_kind: str = COMMON):
        """Path-averaged gradient ``G`` (broadcastable to ``(d, N)``) in closed form."""
        raise ValueError(f"value function {self.name!r} has no closed form; "
                         "use method='path'")

    def value_and_closed_form(self, zt, bt, mask=None, *, baseline_kind: str = COMMON):
        """``(f(z), G)``; built-ins override it to share one pass (or one sort)."""
        return self.fm(zt, mask), self.closed_form(zt, bt, mask, baseline_kind=baseline_kind)

    # -- linearity --------------------------------------------------------------------
    def __add__(self, other):
        return Combination.of((1.0, self), (1.0, as_value(other)))

    def __radd__(self, other):
        if other == 0:  # sum([...]) starts at 0
            return self
        return as_value(other) + self

    def __sub__(self, other):
        return Combination.of((1.0, self), (-1.0, as_value(other)))

    def __mul__(self, c):
        if not isinstance(c, (int, float)):
            return NotImplemented
        return Combination.of((float(c), self))

    __rmul__ = __mul__

    def __neg__(self):
        return Combination.of((-1.0, self))


@dataclasses.dataclass(frozen=True)
class Linear(ValueFunction):
    """``f(Z) = mean_i s_i``, ``s_i = sum_k z_ik``; closed form ``phi_i = (s_i - s^b_i)/N``."""

    name: str = "linear"
    supports_mask: bool = True

    def fm(self, zt, mask=None):
        return kernels.linear_value(zt, mask)

    @property
    def mean_field(self):
        return kernels.linear_g, kernels.linear_h

    def has_closed_form(self, baseline_kind):
        return True

    def closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        return kernels.linear_closed_form(zt, bt, mask)

    def value_and_closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        return kernels.linear_value_and_closed_form(zt, bt, mask)


@dataclasses.dataclass(frozen=True)
class Heat(ValueFunction):
    """``f(Z) = log(1 + m_a m_b m_c)``, ``m_k = mean_i z_ik`` (any d: product over features)."""

    name: str = "heat"
    supports_mask: bool = True
    path_vectorize: bool = True

    def fm(self, zt, mask=None):
        return kernels.heat_value(zt, mask)

    @property
    def mean_field(self):
        return kernels.heat_g, kernels.heat_h

    def has_closed_form(self, baseline_kind):
        return True

    def closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        if baseline_kind == ZERO:
            return kernels.heat_closed_form_zero(zt, mask)
        return kernels.heat_closed_form(zt, bt, mask)

    def value_and_closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        return kernels.heat_value_and_closed_form(zt, bt, mask, zero_baseline=baseline_kind == ZERO)


@dataclasses.dataclass(frozen=True)
class Variance(ValueFunction):
    """``f(Z) = mean_i (s_i - s̄)²``; closed form from the midpoint gradient (exact)."""

    name: str = "variance"
    supports_mask: bool = True

    def fm(self, zt, mask=None):
        return kernels.variance_value(zt, mask)

    @property
    def mean_field(self):
        return kernels.variance_g, kernels.variance_h

    def has_closed_form(self, baseline_kind):
        return True

    def closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        return kernels.variance_closed_form(zt, bt, mask)

    def value_and_closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        return kernels.variance_value_and_closed_form(zt, bt, mask)


@dataclasses.dataclass(frozen=True)
class Gini(ValueFunction):
    """``f(Z) = (1/N²) sum_i sum_j |s_i - s_j|``; closed form with average ranks.

    The closed form needs a common baseline vector (zero, mean, or a ``(d,)`` array); with
    per-agent baselines ``method="auto"`` takes the path integral.
    """

    name: str = "gini"
    supports_mask: bool = True

    def fm(self, zt, mask=None):
        return kernels.gini_value(zt, mask)

    def has_closed_form(self, baseline_kind):
        return baseline_kind in (ZERO, COMMON)

    def closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        return kernels.gini_closed_form(zt, bt, mask)

    def value_and_closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        return kernels.gini_value_and_closed_form(zt, bt, mask)


@dataclasses.dataclass(frozen=True)
class MeanField(ValueFunction):
    """``f(Z) = h(mean_i g(z_i))`` from a per-agent ``g: (d,) -> (m,)`` and ``h: (m,) -> ()``.

    Mean-field value functions get the memory-bounded, agent-chunked path integral, and
    O(1) coalition updates in :mod:`jaxattr.shapley`.
    """

    g: Callable
    h: Callable
    name: str = "mean_field"
    supports_mask: bool = True

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


@dataclasses.dataclass(frozen=True)
class Callable_(ValueFunction):
    """A user's ``f(z: (N, d)) -> scalar``, attributed by the ``jax.grad`` path integral."""

    fn: Callable
    name: str = "callable"

    def fm(self, zt, mask=None):
        if mask is not None:
            raise ValueError(
                f"value function {self.name!r} takes no mask, so agents cannot be padded: "
                "make N divisible by the number of devices, or wrap f in "
                "jaxattr.values.mean_field(g, h)")
        return self.fn(zt.T)


@dataclasses.dataclass(frozen=True)
class Combination(ValueFunction):
    """``sum_j c_j f_j``: attributions combine linearly (the linearity axiom)."""

    terms: tuple[tuple[float, Any], ...] = ()
    name: str = "combination"

    @classmethod
    def of(cls, *terms):
        flat = []
        for c, v in terms:
            if isinstance(v, Combination):
                flat.extend((c * c2, v2) for c2, v2 in v.terms)
            else:
                flat.append((c, v))
        label = " + ".join(f"{c:g}*{v.name}" for c, v in flat)
        return cls(terms=tuple(flat), name=label)

    @property
    def supports_mask(self):
        return all(v.supports_mask for _, v in self.terms)

    def fm(self, zt, mask=None):
        return sum(c * v.fm(zt, mask) for c, v in self.terms)

    def has_closed_form(self, baseline_kind):
        return all(v.has_closed_form(baseline_kind) for _, v in self.terms)

    def closed_form(self, zt, bt, mask=None, *, baseline_kind=COMMON):
        d, n = zt.shape
        return sum(c * jnp.broadcast_to(v.closed_form(zt, bt, mask, baseline_kind=baseline_kind),
                                        (d, n)) for c, v in self.terms)


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
    """The Gini-type indicator ``(1/N²) sum_ij |s_i - s_j|`` (DESIGN §1)."""
    return Gini()


def mean_field(g: Callable, h: Callable, name: str = "mean_field") -> MeanField:
    """A mean-field value function ``h(mean_i g(z_i))``; g maps one agent's ``(d,)``."""
    return MeanField(g=g, h=h, name=name)


BUILTIN = {"linear": linear, "heat": heat, "variance": variance, "gini": gini}


def get(name: str) -> ValueFunction:
    """A built-in value function by name."""
    try:
        return BUILTIN[name]()
    except KeyError:
        raise ValueError(f"unknown value function {name!r}; built-ins are "
                         f"{sorted(BUILTIN)}") from None


def as_value(f) -> ValueFunction:
    """Wrap a user callable ``(N, d) -> scalar`` (or return a value object unchanged)."""
    if isinstance(f, ValueFunction):
        return f
    if isinstance(f, str):
        return get(f)
    if not callable(f):
        raise TypeError(f"value must be a callable (N, d) -> scalar or a value name, "
                        f"got {type(f).__name__}")
    return Callable_(fn=f, name=getattr(f, "__name__", "callable"))
