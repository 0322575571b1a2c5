"""Value functions: plain callables ``f(z: (N, d)) -> scalar`` plus optional structure.

A value object may carry a closed-form attribution (:class:`ClosedForm`, in streaming
form: agent sums that add across chunks, devices and processes, then a per-agent pass)
and a mean-field decomposition ``f(Z) = h(mean_i g(z_i))``; every runner uses them with
``method="auto"``. Any user callable ``(N, d) -> scalar`` works unchanged (it is wrapped by
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
ALL_BASELINES = (ZERO, COMMON, PER_AGENT)


@dataclasses.dataclass(frozen=True)
class ClosedForm:
    """A closed-form attribution in streaming form (see ``jaxattr.kernels._closed``).

    Per time step, with ``z`` ``(d, n)`` a chunk of agents (feature-major), ``b`` its
    baseline ``(d, 1)`` or ``(d, n)``, ``mask`` ``(n,)`` padding weights or None:

    - ``aggregates(z, b, mask, ref) -> tuple``: sums over the chunk's agents; the sums of
      all chunks (devices, processes) are the population's;
    - ``finish(agg, w, b, kind) -> (f(Z), f(B), params)`` from the totals, W agents;
    - ``gradient(z, b, mask, ref, params, w, c) -> G``: the path-averaged gradient per
      agent, compact (broadcasts against ``(d, n)``); ``phi = sum_k (z - b)_k G_k``.

    Attributes:
        phi: optional ``(z, b, mask, ref, params, w, c) -> (n,)`` attributions straight from
            what the gradient is computed from (variance: the composite), where that reads
            less than ``sum_k (z - b)_k G_k`` over every feature.
        baselines: baseline kinds the closed form is exact for.
        reference: subtract per-feature reference points (typical values: medians of a
            sample) before combining features; ``ref = (ref_z, ref_b)``.
        rank_key: for rank-based indicators (gini), ``(z, ref) -> (n,)`` the composite
            whose centered ranks ``c`` over the whole population ``aggregates`` and
            ``gradient`` need (the runner supplies them).
        sorted_value: ``(weighted, w) -> f(Z)`` from ``sum_j (2j - W - 1) key_(j)`` over the
            sorted keys (``kernels.population_ranks``): a route independent of the ranks,
            which a runner holding the population reports, so that a wrong ``c`` shows as
            an efficiency gap.
    """

    aggregates: Callable
    finish: Callable
    gradient: Callable
    phi: Callable | None = None
    baselines: tuple[str, ...] = ALL_BASELINES
    reference: bool = False
    rank_key: Callable | None = None
    sorted_value: Callable | None = None


_LINEAR = ClosedForm(kernels.linear_aggregates, kernels.linear_finish, kernels.linear_gradient)
_HEAT = ClosedForm(kernels.heat_aggregates, kernels.heat_finish, kernels.heat_gradient)
_VARIANCE = ClosedForm(kernels.variance_aggregates, kernels.variance_finish,
                       kernels.variance_gradient, phi=kernels.variance_phi, reference=True)
_GINI = ClosedForm(kernels.gini_aggregates, kernels.gini_finish, kernels.gini_gradient,
                   baselines=(ZERO, COMMON), reference=True, rank_key=kernels.gini_rank_key,
                   sorted_value=kernels.gini_sorted_value)


def _combined(coefs: tuple[float, ...], forms: tuple[ClosedForm, ...]) -> ClosedForm | None:
    """``sum_j c_j f_j`` in streaming form: aggregates side by side, gradients summed.

    Rank-based terms must share one rank key (all gini terms do).
    """
    keys = {cf.rank_key for cf in forms if cf.rank_key is not None}
    if len(keys) > 1:
        return None

    def aggregates(z, b, mask, ref, c):
        return tuple(cf.aggregates(z, b, mask, ref, c) for cf in forms)

    def finish(agg, w, b, kind):
        parts = [cf.finish(a, w, b, kind) for cf, a in zip(forms, agg, strict=True)]
        fz = sum(k * p[0] for k, p in zip(coefs, parts, strict=True))
        fb = sum(k * p[1] for k, p in zip(coefs, parts, strict=True))
        return fz, fb, tuple(p[2] for p in parts)

    def gradient(z, b, mask, ref, params, w, c):
        d, n = z.shape
        return sum(k * jnp.broadcast_to(cf.gradient(z, b, mask, ref, p, w, c), (d, n))
                   for k, cf, p in zip(coefs, forms, params, strict=True))

    baselines = tuple(k for k in ALL_BASELINES if all(k in cf.baselines for cf in forms))
    return ClosedForm(aggregates, finish, gradient, baselines=baselines,
                      reference=any(cf.reference for cf in forms),
                      rank_key=keys.pop() if keys else None)


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
    affine_g: bool = False

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

    def fm_path(self, zt, mask=None):
        """The function the path integral differentiates (default :meth:`fm`).

        Built-ins override it with plain sums, which XLA fuses well under ``vmap`` of path
        points and ``grad``; :meth:`fm` keeps the accurate blocked sums for reported values.
        """
        return self.fm(zt, mask)

    # -- structure ------------------------------------------------------------------
    @property
    def mean_field(self) -> tuple[Callable, Callable] | None:
        return None

    @property
    def closed_form(self) -> ClosedForm | None:
        """The closed-form attribution in streaming form, or None (path integral only)."""
        return None

    def has_closed_form(self, baseline_kind: str) -> bool:
        cf = self.closed_form
        return cf is not None and baseline_kind in cf.baselines

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


class KernelValue(ValueFunction):
    """A value function whose value, mean-field parts and closed form are kernel functions.

    A subclass names its kernels with a class keyword, ``class Heat(KernelValue,
    kernel="heat")``: ``value`` is then ``kernels.heat_value`` (``(z, mask, *, blocked) ->
    scalar``) and ``parts`` the mean-field pair ``(kernels.heat_g, kernels.heat_h)`` where
    both exist; ``form`` (a :class:`ClosedForm` or None) is a class attribute. That, plus
    one row of :data:`BUILTIN`, is a new built-in.
    """

    supports_mask: bool = True
    value: Callable
    parts: tuple[Callable, Callable] | None = None
    form: ClosedForm | None = None

    def __init_subclass__(cls, kernel: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if kernel is not None:
            cls.value = staticmethod(getattr(kernels, f"{kernel}_value"))
            g = getattr(kernels, f"{kernel}_g", None)
            h = getattr(kernels, f"{kernel}_h", None)
            cls.parts = (g, h) if g is not None and h is not None else None

    def fm(self, zt, mask=None):
        return type(self).value(zt, mask)

    def fm_path(self, zt, mask=None):
        return type(self).value(zt, mask, blocked=False)

    @property
    def mean_field(self):
        return self.parts

    @property
    def closed_form(self):
        return self.form


@dataclasses.dataclass(frozen=True)
class Linear(KernelValue, kernel="linear"):
    """``f(Z) = mean_i s_i``, ``s_i = sum_k z_ik``; closed form ``phi_i = (s_i - s^b_i)/N``."""

    name: str = "linear"
    affine_g: bool = True
    form = _LINEAR


@dataclasses.dataclass(frozen=True)
class Heat(KernelValue, kernel="heat"):
    """``f(Z) = log(1 + m_a m_b m_c)``, ``m_k = mean_i z_ik`` (any d: product over features)."""

    name: str = "heat"
    path_vectorize: bool = True
    affine_g: bool = True
    form = _HEAT


@dataclasses.dataclass(frozen=True)
class Variance(KernelValue, kernel="variance"):
    """``f(Z) = mean_i (s_i - s̄)²``; closed form from the midpoint gradient (exact: the
    gradient is linear along the ray), with moments of the composite shifted by a typical
    value so that offsets of 1e6 lose nothing to cancellation."""

    name: str = "variance"
    form = _VARIANCE


@dataclasses.dataclass(frozen=True)
class Gini(KernelValue, kernel="gini"):
    """``f(Z) = (1/N²) sum_i sum_j |s_i - s_j|``; closed form with average ranks.

    The closed form needs a common baseline vector (zero, mean, or a ``(d,)`` array); with
    per-agent baselines ``method="auto"`` takes the path integral.
    """

    name: str = "gini"
    form = _GINI


@dataclasses.dataclass(frozen=True)
class MeanField(ValueFunction):
    """``f(Z) = h(mean_i g(z_i))`` from a per-agent ``g: (d,) -> (m,)`` and ``h: (m,) -> ()``.

    Mean-field value functions get the memory-bounded, agent-chunked path integral, and
    O(1) coalition updates in :mod:`jaxattr.shapley`.
    """

    g: Callable
    h: Callable
    name: str = "mean_field"
    affine_g: bool = False
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

    def fm_path(self, zt, mask=None):
        return sum(c * v.fm_path(zt, mask) for c, v in self.terms)

    @property
    def closed_form(self):
        forms = tuple(v.closed_form for _, v in self.terms)
        if any(cf is None for cf in forms):
            return None
        return _combined(tuple(c for c, _ in self.terms), forms)


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


def mean_field(g: Callable, h: Callable, name: str = "mean_field", *,
               affine: bool = False) -> MeanField:
    """A mean-field value function ``h(mean_i g(z_i))``; g maps one agent's ``(d,)``.

    ``affine=True`` declares g affine (``g(z) = A z + c``): the path integral then takes
    one pass over the agents instead of K (:func:`jaxattr.kernels.affine_path_gradient`).
    """
    return MeanField(g=g, h=h, name=name, affine_g=affine)


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
