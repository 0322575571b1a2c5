"""The value protocol: ``f(z: (N, d)) -> scalar`` as an equinox Module, plus optional structure.

A value object is a pytree (:class:`equinox.Module`). Its array fields (a parameter, the
weights of a network) are *traced* by the engine, so a new parameter value or a retrained
model reuses the compiled program; everything else (functions, names, flags) is static
structure and keys the compile cache, as in :func:`equinox.filter_jit`. Plain callables
still work: :func:`as_value` wraps them, and they key the cache by identity, as
``jax.jit`` does for a function (write a Module with array fields for sweeps).

A value may carry a closed-form attribution (:class:`ClosedForm`, in streaming form:
agent sums that add across chunks, devices and processes, then a per-agent pass) and a
mean-field decomposition ``f(Z) = h(mean_i g(z_i))``; every runner uses them with
``method="auto"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

# How the baseline of one step is shaped, which decides whether a closed form exists.
ZERO = "zero"
"""Baseline kind: every feature of every agent is 0 (``baseline="zero"``).

Example:
    >>> from jaxattr import values
    >>> values.ZERO, values.ZERO in values.gini().closed_form.baselines
    ('zero', True)
"""
COMMON = "common"
"""Baseline kind: one ``(d,)`` vector for every agent of a step (``"mean"``, a ``(d,)`` or
``(T, 1, d)`` array).

Example:
    >>> from jaxattr import values
    >>> values.COMMON, values.gini_coefficient().closed_form.baselines
    ('common', ('common',))
"""
PER_AGENT = "per_agent"
"""Baseline kind: each agent its own baseline (``"first"``, an ``(N, d)`` or ``(T, N, d)``
array).

Example:
    >>> from jaxattr import values
    >>> values.PER_AGENT, values.gini().has_closed_form(values.PER_AGENT)
    ('per_agent', False)
"""
ALL_BASELINES = (ZERO, COMMON, PER_AGENT)
"""Every baseline kind, the default of :attr:`ClosedForm.baselines`.

Example:
    >>> from jaxattr import values
    >>> values.ALL_BASELINES
    ('zero', 'common', 'per_agent')
"""

__all__ = [
    "ALL_BASELINES",
    "COMMON",
    "PER_AGENT",
    "ZERO",
    "ClosedForm",
    "Combination",
    "FunctionValue",
    "ValueFunction",
    "wrap",
]


@dataclasses.dataclass(frozen=True)
class ClosedForm:
    """A closed-form attribution in streaming form (see ``jaxattr.kernels._closed``).

    Per time step, with ``z`` ``Float[Array, "d n"]`` a chunk of agents (feature-major),
    ``b`` its baseline ``(d, 1)`` or ``(d, n)``, ``mask`` ``(n,)`` padding weights or None.
    A value object returns one from its :attr:`ValueFunction.closed_form` property, and then
    every runner (in memory, sharded, multi-process, out of core) attributes it exactly
    with ``method="auto"``; the how-to page *Your own value function* builds one.

    Attributes:
        aggregates: ``(z, b, mask, ref, c) -> tuple``: sums over the chunk's agents; the
            sums of all chunks (devices, processes) are the population's.
        finish: ``(agg, w, b, kind) -> (f(Z), f(B), params)`` from the totals, W agents.
        gradient: ``(z, b, mask, ref, params, w, c) -> G``: the path-averaged gradient per
            agent, compact (broadcasts against ``(d, n)``); ``phi = sum_k (z - b)_k G_k``.
        phi: optional ``(z, b, mask, ref, params, w, c) -> (n,)`` attributions straight from
            what the gradient is computed from (variance: the composite), where that reads
            less than ``sum_k (z - b)_k G_k`` over every feature.
        baselines: baseline kinds the closed form is exact for.
        reference: subtract per-feature reference points (typical values: medians of a
            sample) before combining features; ``ref = (ref_z, ref_b)``.
        rank_key: for rank-based indicators (gini), ``(z, ref) -> (n,)`` the composite
            whose centered ranks ``c`` over the whole population ``aggregates`` and
            ``gradient`` need (the runner supplies them).
        sorted_value: ``(weighted, w, params) -> f(Z)`` from ``sum_j (2j - W - 1) key_(j)``
            over the sorted keys (``kernels.population_ranks``): a route independent of the
            ranks, which a runner holding the population reports, so that a wrong ``c``
            shows as an efficiency gap.

    Raises:
        TypeError: a missing ``aggregates``, ``finish`` or ``gradient`` (the dataclass
            constructor).

    Example:
        >>> from jaxattr import values
        >>> cf = values.variance().closed_form
        >>> isinstance(cf, values.ClosedForm), cf.baselines, cf.rank_key is None
        (True, ('zero', 'common', 'per_agent'), True)
    """

    aggregates: Callable
    finish: Callable
    gradient: Callable
    phi: Callable | None = None
    baselines: tuple[str, ...] = ALL_BASELINES
    reference: bool = False
    rank_key: Callable | None = None
    sorted_value: Callable | None = None


def combined_closed_form(coefs, forms: tuple[ClosedForm, ...]) -> ClosedForm | None:
    """``sum_j c_j f_j`` in streaming form: aggregates side by side, gradients summed.

    Rank-based terms must share one rank key (all gini terms do); ``coefs`` may be traced.
    """
    keys = {cf.rank_key for cf in forms if cf.rank_key is not None}
    if len(keys) > 1:
        return None

    def aggregates(z, b, mask, ref, c):
        return tuple(cf.aggregates(z, b, mask, ref, c) for cf in forms)

    def finish(agg, w, b, kind):
        parts = [cf.finish(a, w, b, kind) for cf, a in zip(forms, agg, strict=True)]
        k = jnp.asarray(coefs).astype(parts[0][0].dtype)
        fz = sum(k[j] * p[0] for j, p in enumerate(parts))
        fb = sum(k[j] * p[1] for j, p in enumerate(parts))
        return fz, fb, tuple(p[2] for p in parts)

    def gradient(z, b, mask, ref, params, w, c):
        d, n = z.shape
        k = jnp.asarray(coefs).astype(z.dtype)
        return sum(
            k[j] * jnp.broadcast_to(cf.gradient(z, b, mask, ref, params[j], w, c), (d, n))
            for j, cf in enumerate(forms)
        )

    baselines = tuple(k for k in ALL_BASELINES if all(k in cf.baselines for cf in forms))
    return ClosedForm(
        aggregates,
        finish,
        gradient,
        baselines=baselines,
        reference=any(cf.reference for cf in forms),
        rank_key=keys.pop() if keys else None,
    )


class ValueFunction(eqx.Module):
    """Base class of value objects: an :class:`equinox.Module` ``(N, d) -> scalar``.

    Subclasses implement :meth:`fm` (the value on a feature-major step ``(d, N)``) and may
    declare structure the engine uses:

    Array fields of a subclass (a parameter, network weights) are traced; the class
    attributes below are static structure.

    Attributes:
        name: short name used in tables and messages (a class attribute or a field).
        supports_mask: whether ``fm`` honours a 0/1 ``mask`` (padding agents: needed for
            sharding over devices and for ragged batches).
        path_vectorize: the ``jax.grad`` path evaluates a chunk of path points as one
            ``jax.vmap`` batch with one reverse pass (see :func:`kernels.path_gradient`);
            worth it when ``fm`` only reduces with plain means (heat).
        affine_g: the mean-field ``g`` is affine, so the path needs the two end aggregates.
        default_baseline: the baseline ``attribute`` uses when none is given (``"zero"``;
            the Gini coefficient's is ``"mean"``, equality).

    Raises:
        ValueError: calling it on ``z`` that is not ``(N, d)``.
        NotImplementedError: a subclass without :meth:`fm`.

    Example:
        >>> import equinox as eqx, jax.numpy as jnp
        >>> class Power(ValueFunction):        # a parameter sweep reuses one program
        ...     p: jnp.ndarray
        ...     name = "power"
        ...     def fm(self, zt, mask=None):
        ...         return jnp.mean(jnp.sum(zt, axis=0) ** self.p)
        >>> float(Power(jnp.asarray(2.0))(jnp.ones((4, 3))))
        9.0
    """

    name = "value"
    supports_mask = False
    path_vectorize = False
    affine_g = False
    default_baseline = ZERO

    # -- evaluation ---------------------------------------------------------------
    def __call__(
        self, z: Float[ArrayLike, "N d"], mask: Float[ArrayLike, " N"] | None = None
    ) -> Float[Array, ""]:
        """Evaluate on one step ``z`` of shape ``(N, d)``; returns a scalar."""
        z = jnp.asarray(z)
        if z.ndim != 2:
            raise ValueError(f"{self.name}: z must have shape (N, d), got {z.shape}")
        return self.fm(z.T, None if mask is None else jnp.asarray(mask))

    def fm(
        self, zt: Float[Array, "d N"], mask: Float[Array, " N"] | None = None
    ) -> Float[Array, ""]:
        """Evaluate on a feature-major step ``(d, N)``; ``mask`` weights agents (0 =
        padding) for values with ``supports_mask``."""
        raise NotImplementedError(f"{type(self).__name__} must implement fm(zt, mask)")

    def fm_path(self, zt, mask=None):
        """The function the path integral differentiates (default :meth:`fm`).

        Built-ins override it with plain sums, which XLA fuses well under ``vmap`` of path
        points and ``grad``; :meth:`fm` keeps the accurate blocked sums for reported values.
        """
        return self.fm(zt, mask)

    # -- structure ------------------------------------------------------------------
    @property
    def mean_field(self) -> tuple[Callable, Callable] | None:
        """``(g, h)`` with ``g: (d, n) -> (m, n)`` feature-major, ``h: (m,) -> ()``, or None."""
        return None

    @property
    def closed_form(self) -> ClosedForm | None:
        """The closed-form attribution in streaming form, or None (path integral only)."""
        return None

    def has_closed_form(self, baseline_kind: str) -> bool:
        """Whether the closed form is exact for a baseline kind (:data:`ALL_BASELINES`)."""
        cf = self.closed_form
        return cf is not None and baseline_kind in cf.baselines

    # -- linearity --------------------------------------------------------------------
    def __add__(self, other):
        return Combination.of((1.0, self), (1.0, wrap(other)))

    def __radd__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # sum([...]) starts at 0
            return self
        return wrap(other) + self

    def __sub__(self, other):
        return Combination.of((1.0, self), (-1.0, wrap(other)))

    def __mul__(self, c):
        if isinstance(c, (bool, str)) or not (
            isinstance(c, (int, float)) or (hasattr(c, "shape") and c.shape == ())
        ):
            return NotImplemented
        return Combination.of((c, self))

    __rmul__ = __mul__

    def __neg__(self):
        return Combination.of((-1.0, self))


class FunctionValue(ValueFunction):
    """A user's ``f(z: (N, d)) -> scalar``, attributed by the ``jax.grad`` path integral.

    ``fn`` may be a plain function (static: it keys the compile cache by identity) or an
    :class:`equinox.Module` (its array fields are traced: new weights, no recompile).
    :func:`jaxattr.attribute` wraps a plain callable in one.

    Attributes:
        fn: the callable, ``Float[Array, "N d"] -> Float[Array, ""]``.
        name: its name in tables and messages.

    Raises:
        ValueError: evaluated with a padding mask (a plain function cannot ignore padded
            agents).

    Example:
        >>> import jax.numpy as jnp, numpy as np, jaxattr
        >>> f = FunctionValue(lambda z: jnp.mean(z) ** 2, name="mean_sq")
        >>> att = jaxattr.attribute(np.ones((1, 4, 2), np.float32), f)
        >>> att.method, att.value_name, round(float(att.phi.sum()), 4)
        ('path', 'mean_sq', 1.0)
    """

    fn: Callable
    name: str = eqx.field(default="callable", static=True)

    def fm(self, zt, mask=None):
        if mask is not None:
            raise ValueError(
                f"value function {self.name!r} takes no mask, so agents cannot be padded: "
                "make N divisible by the number of devices, or wrap f in "
                "jaxattr.values.mean_field(g, h)"
            )
        return self.fn(zt.T)


def _coef_label(c) -> str:
    try:
        return f"{float(c):g}"
    except Exception:  # a traced coefficient (the combination was built under jit/vmap)
        return "c"


class Combination(ValueFunction):
    """``sum_j c_j f_j``: attributions combine linearly (the linearity axiom).

    The coefficients are an array field: a sweep over them reuses one compiled program.
    Built by arithmetic on value objects (``2 * linear() + heat()``) or :meth:`of`; it has
    a closed form when every term has one.

    Attributes:
        coefs: ``Float[ArrayLike, "J"]`` coefficients ``c_j``.
        values: the J value objects ``f_j``.

    Raises:
        TypeError: a term that is not a value object or callable (``value * "x"``).

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import values
        >>> f = 2 * values.linear() + values.heat()
        >>> type(f).__name__, f.name
        ('Combination', '2*linear + 1*heat')
        >>> z = np.ones((1, 3, 3), np.float32)
        >>> att = jaxattr.attribute(z, f)
        >>> att.method, round(float(att.delta[0]), 4)           # 2 * 3 + log(2)
        ('closed_form', 6.6931)
    """

    coefs: Any
    values: tuple[ValueFunction, ...]

    @classmethod
    def of(cls, *terms) -> Combination:
        coefs, values = [], []
        for c, v in terms:
            if isinstance(v, Combination):
                coefs.extend(c * c2 for c2 in v.coefs)
                values.extend(v.values)
            else:
                coefs.append(c)
                values.append(v)
        if all(isinstance(c, (int, float, np.floating, np.integer)) for c in coefs):
            arr = np.asarray(coefs, np.float64)  # cast to the compute dtype where used
        else:
            arr = jnp.stack([jnp.asarray(c) for c in coefs])
        return cls(coefs=arr, values=tuple(values))

    @property
    def name(self) -> str:  # type: ignore[override]
        """``"0.5*heat + 2*linear"``: computed, so new coefficients are not a new program."""
        return " + ".join(f"{_coef_label(c)}*{v.name}" for c, v in self.terms)

    @property
    def terms(self) -> tuple[tuple[Any, ValueFunction], ...]:
        return tuple(zip(self.coefs, self.values, strict=True))

    @property
    def supports_mask(self):  # type: ignore[override]
        return all(v.supports_mask for v in self.values)

    @property
    def default_baseline(self):  # type: ignore[override]
        kinds = {v.default_baseline for v in self.values}
        return kinds.pop() if len(kinds) == 1 else ZERO

    def _c(self, dtype):
        return jnp.asarray(self.coefs).astype(dtype)

    def fm(self, zt, mask=None):
        c = self._c(zt.dtype)
        return sum(c[j] * v.fm(zt, mask) for j, v in enumerate(self.values))

    def fm_path(self, zt, mask=None):
        c = self._c(zt.dtype)
        return sum(c[j] * v.fm_path(zt, mask) for j, v in enumerate(self.values))

    @property
    def closed_form(self):
        forms = []
        for v in self.values:
            cf = v.closed_form
            if cf is None:
                return None
            forms.append(cf)
        return combined_closed_form(self.coefs, tuple(forms))


def wrap(f: object) -> ValueFunction:
    """A value object unchanged, or a user callable ``(N, d) -> scalar`` wrapped.

    Raises:
        TypeError: ``f`` is not callable.
    """
    if isinstance(f, ValueFunction):
        return f
    if not callable(f):
        raise TypeError(
            f"value must be a callable (N, d) -> scalar or a value name, got {type(f).__name__}"
        )
    return FunctionValue(fn=f, name=getattr(f, "__name__", type(f).__name__))
