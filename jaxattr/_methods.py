"""Methods as objects with behaviour, baselines, and :func:`resolve`, the one dispatcher.

A method is a small frozen Module (lineax/diffrax style) whose fields are static
structure (the rule, K, chunk sizes) and whose :meth:`~Method.step` attributes one time
step; the compiled core calls ``method.step`` and nothing in it tests a method's name.
:class:`ClosedFormMethod` also exposes its passes one by one (references, ranks, aggregates,
finish, phi) so that the out-of-core runner streams *the same* implementation over agent
chunks.

In memory (:func:`jaxattr.attribute`, sharded or not, eager or traced), across processes
(``jaxattr.scale.distributed_attribute``) and out of core
(``jaxattr.scale.attribute_out_of_core``), the choice of method and the reading of the
baseline go through :func:`resolve`, so every runner accepts, refuses and chooses alike.
Settings that the chosen method does not use are refused, not ignored.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from numpy.typing import DTypeLike

from jaxattr import kernels

from ._util import check_float_dtype, first_nonfinite
from .values import COMMON, PER_AGENT, ZERO, ValueFunction
from .values import load as load_value

__all__ = [
    "BASELINES",
    "METHODS",
    "Baseline",
    "ClosedFormMethod",
    "MeanFieldPath",
    "Method",
    "Path",
    "Plan",
    "baseline_name",
    "contract",
    "resolve",
    "resolve_baseline",
]

METHODS = ("auto", "closed_form", "path")
BASELINES = ("zero", "mean", "first")


class Method(eqx.Module):
    """An attribution method: ``step(value, z, b, mask, kind) -> (phi, G, f(Z), f(B))`` for
    one feature-major step ``z`` ``(d, N)`` with baseline ``b`` ``(d, 1)`` or ``(d, N)``.

    The base class of :class:`ClosedFormMethod`, :class:`Path` and :class:`MeanFieldPath`;
    pass an instance as ``jaxattr.attribute(..., method=...)``. Its fields are static
    structure: equal settings reuse the compiled program.

    Raises:
        NotImplementedError: :meth:`step` of a subclass that does not implement it.

    Example:
        >>> from jaxattr import methods
        >>> [issubclass(m, methods.Method)
        ...  for m in (methods.ClosedFormMethod, methods.Path, methods.MeanFieldPath)]
        [True, True, True]
        >>> methods.Path(steps=8) == methods.Path(steps=8)
        True
    """

    name = "method"

    def step(
        self,
        value: ValueFunction,
        zt: Float[Array, "d N"],
        bt: Float[Array, "d _N"],
        mask: Float[Array, " N"] | None,
        kind: str,
    ) -> tuple[Float[Array, " N"], Float[Array, "*shape"], Float[Array, ""], Float[Array, ""]]:
        """Attribute one step: ``(phi, G, f(Z), f(B))``, G the path-averaged gradient in its
        compact broadcast shape; ``kind`` is the baseline kind (``values.ALL_BASELINES``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement step()")


def contract(zt, bt, g):
    """``phi_i = sum_k (z - b)[k, i] G[k, i]`` with G in its compact broadcast shape.

    Unrolled over the (static, small) feature axis so XLA emits one fused elementwise
    pass; a reduce over a leading axis of size 3 was measured ~3x slower on XLA CPU.
    """
    d = zt.shape[0]
    if d > 16:
        return jnp.sum((zt - bt) * g, axis=0)
    out = (zt[0] - bt[0]) * g[0]
    for k in range(1, d):
        out = out + (zt[k] - bt[k]) * g[k if g.shape[0] > 1 else 0]
    return out


class ClosedFormMethod(Method):
    """The value's closed form (:attr:`ValueFunction.closed_form`): exact, two passes.

    The passes, each a pure function of one step (or one chunk of agents of a step), are
    what every runner composes: in memory :meth:`step` runs them on the whole population;
    out of core the aggregates of chunks are summed between the passes. The same as
    ``method="closed_form"``.

    Raises:
        ValueError: (from :func:`jaxattr.attribute`) the value has no closed form for the
            baseline, or a path setting (``chunk``, ``agent_chunk``) is given with it.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.random.default_rng(0).random((1, 5, 3), dtype=np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.variance(),
        ...                         method=jaxattr.methods.ClosedFormMethod())
        >>> att.method, att.steps
        ('closed_form', None)
    """

    name = "closed_form"

    def __hash__(self):  # no fields: equal to every other instance (a static jit argument)
        return hash(ClosedFormMethod)

    def __eq__(self, other):
        return type(other) is ClosedFormMethod

    @staticmethod
    def references(cf, zt, bt):
        """Reference points ``(ref_z, ref_b)`` of a step (any fixed choice is exact)."""
        if not cf.reference:
            return None
        return (
            kernels.reference_point(zt),
            kernels.reference_point(bt) if bt.shape[-1] != 1 else None,
        )

    @staticmethod
    def finish(cf, agg, w, bt, kind, weighted=None):
        """``(f(Z), f(B), params)`` from the population's aggregates; ``weighted`` (the
        sorted route of a rank-based form) gives f(Z) independently of the ranks, with the
        gradient of the aggregate route (so ``jax.grad`` of f(Z) stays right)."""
        fz, fb, params = cf.finish(agg, w, bt, kind)
        if cf.sorted_value is not None and weighted is not None:
            sv = cf.sorted_value(weighted, w, params).astype(fz.dtype)
            fz = sv + (fz - jax.lax.stop_gradient(fz))
        return fz, fb, params

    @staticmethod
    def phi(cf, zt, bt, mask, ref, params, w, c):
        """``(phi (n,), G)`` of a chunk of agents from the population-level params."""
        g = cf.gradient(zt, bt, mask, ref, params, w, c)
        phi = contract(zt, bt, g) if cf.phi is None else cf.phi(zt, bt, mask, ref, params, w, c)
        return phi, g

    def step(self, value, zt, bt, mask, kind):
        cf = value.closed_form
        if cf is None:  # resolve() chose this method only for a value with a closed form
            raise ValueError(f"value function {value.name!r} has no closed form")
        w = kernels.count(zt, mask)
        ref = self.references(cf, zt, bt)
        c = weighted = None
        if cf.rank_key is not None:
            c, weighted = kernels.population_ranks(cf.rank_key(zt, ref), mask, w)
        fz, fb, params = self.finish(cf, cf.aggregates(zt, bt, mask, ref, c), w, bt, kind, weighted)
        phi, g = self.phi(cf, zt, bt, mask, ref, params, w, c)
        return phi, g, fz, fb


class Path(Method):
    """The ``jax.grad`` path integral: ``steps`` points of ``rule``, ``chunk`` at a time.

    Mean-field values with an affine ``g`` (linear, heat) take the affine route: the K
    points need only the two end aggregates.

    Attributes:
        rule: ``"midpoint"`` (the paper's, error O(1/K²)), ``"trapezoid"`` or
            ``"gauss-legendre"``.
        steps: K, the path points (>= 1).
        chunk: path points evaluated together per iteration (memory: ``chunk × d × N``
            floats of scratch).

    Raises:
        ValueError: an unknown rule, or ``steps`` below 1.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.random.default_rng(0).random((1, 5, 3), dtype=np.float32)
        >>> m = jaxattr.methods.Path(rule="gauss-legendre", steps=4)
        >>> att = jaxattr.attribute(z, jaxattr.values.variance(), method=m)
        >>> att.method, att.rule, att.steps, bool(att.efficiency_error.max() < 1e-5)
        ('path', 'gauss-legendre', 4, True)
        >>> jaxattr.methods.Path(rule="simpson")
        Traceback (most recent call last):
        ...
        ValueError: ...
    """

    rule: str = eqx.field(default="midpoint", static=True)
    steps: int = eqx.field(default=30, static=True)
    chunk: int = eqx.field(default=1, static=True)
    name = "path"

    def __check_init__(self):
        kernels.quadrature(self.rule, self.steps)  # validates rule and steps

    def _values(self, value, zt, bt, mask):
        if bt.shape[-1] == 1 and value.supports_mask:
            # Identical agents: a population-normalised f equals its one-agent value.
            fb = value.fm(bt)
        else:
            fb = value.fm(jnp.broadcast_to(bt, zt.shape), mask)
        return value.fm(zt, mask), fb

    def gradient(self, value, zt, bt, mask):
        alpha, w = kernels.quadrature(self.rule, self.steps)
        if value.affine_g and value.mean_field is not None:
            gfun, hfun = value.mean_field
            return kernels.affine_path_gradient(gfun, hfun, zt, bt, alpha, w, mask)
        return kernels.path_gradient(
            lambda x: value.fm_path(x, mask),
            zt,
            bt,
            alpha,
            w,
            chunk=self.chunk,
            vectorize=value.path_vectorize,
        )

    def step(self, value, zt, bt, mask, kind):
        fz, fb = self._values(value, zt, bt, mask)
        g = self.gradient(value, zt, bt, mask)
        return contract(zt, bt, g), g, fz, fb


class MeanFieldPath(Path):
    """The mean-field path integral (aggregates, then per-agent VJPs), agents streamed in
    chunks of ``agent_chunk`` (None: all at once) for bounded memory.

    For value functions ``h(mean_i g(z_i))`` (:func:`jaxattr.values.mean_field`, the
    built-ins with a mean-field form, mean-pooled DeepSets).

    Attributes:
        rule: the quadrature rule, as for :class:`Path`.
        steps: K, the path points (>= 1).
        chunk: path points per iteration.
        agent_chunk: agents per chunk of the stream (None: all agents at once).

    Raises:
        ValueError: an unknown rule or ``steps`` below 1; (from
            :func:`jaxattr.attribute`) a value that is not mean-field.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.random.default_rng(0).random((1, 10, 3), dtype=np.float32)
        >>> m = jaxattr.methods.MeanFieldPath(rule="gauss-legendre", steps=4, agent_chunk=4)
        >>> att = jaxattr.attribute(z, jaxattr.values.variance(), method=m)
        >>> att.method, bool(att.efficiency_error.max() < 1e-5)
        ('path-meanfield', True)
    """

    agent_chunk: int | None = eqx.field(default=None, static=True)
    name = "path-meanfield"

    def gradient(self, value, zt, bt, mask):
        alpha, w = kernels.quadrature(self.rule, self.steps)
        gfun, hfun = value.mean_field
        if value.affine_g:
            return kernels.affine_path_gradient(gfun, hfun, zt, bt, alpha, w, mask)
        return kernels.meanfield_path_gradient(
            gfun, hfun, zt, bt, alpha, w, mask, chunk=self.chunk, agent_chunk=self.agent_chunk
        )


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A resolved baseline.

    Attributes:
        kind: ``"zero"``, ``"common"`` (one vector for every agent) or ``"per_agent"``.
        tag: ``"mean"`` / ``"first"`` when the runner computes it from the features, else
            None.
        array: ``(Tb, d, Nb)`` feature-major values (Tb in {1, T}, Nb in {1, N}) or None
            for a tag (NumPy, or a jax array when traced).
        per_step: one baseline per time step (``Tb = T``).
    """

    kind: str
    tag: str | None
    array: Any = dataclasses.field(compare=False, repr=False)
    per_step: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a runner runs: the value object, the method object and the baseline."""

    value: ValueFunction
    method: Method
    baseline: Baseline

    # Read once per plan (attribute access on a Module costs microseconds; a small eager
    # call reads these on every call)
    @functools.cached_property
    def method_name(self) -> str:
        return self.method.name

    @functools.cached_property
    def value_name(self) -> str:
        return self.value.name

    @functools.cached_property
    def rule(self) -> str | None:
        return getattr(self.method, "rule", None)

    @functools.cached_property
    def steps(self) -> int | None:
        return getattr(self.method, "steps", None)


def positive_int(x, what: str) -> int:
    """``x`` as an int >= 1, or a ValueError naming ``what``."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {x!r}")
    return int(x)


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def resolve_baseline(
    baseline, t: int, n: int, d: int, dtype, *, per_agent_arrays=True, where: str = "attribute"
) -> Baseline:
    """Read ``baseline``: ``"zero"``, ``"mean"``, ``"first"`` or an array.

    Arrays may be ``(d,)``, ``(T, 1, d)`` (common) or ``(N, d)``, ``(T, N, d)`` (per agent;
    not where ``per_agent_arrays`` is False: runners that never hold all agents). A traced
    array (inside jit/vmap/grad) is reshaped with jax.numpy and not checked for NaN here
    (the run's status reports a non-finite f(B)).

    Raises:
        ValueError / TypeError: an unknown name, a wrong shape or dtype, NaN or inf.
    """
    if isinstance(baseline, str):
        if baseline == "zero":
            return Baseline(ZERO, None, np.zeros((1, d, 1), dtype))
        if baseline == "mean":
            return Baseline(COMMON, "mean", None)
        if baseline == "first":
            return Baseline(PER_AGENT, "first", None)
        raise ValueError(
            f"{where}: baseline must be one of {BASELINES} or an array, got {baseline!r}"
        )
    traced = _is_traced(baseline) or isinstance(baseline, jax.Array)
    xp = jnp if traced else np
    b = baseline if traced else np.asarray(baseline)
    check_float_dtype(b.dtype, "baseline")
    b = b.astype(dtype)
    shapes = [f"(d,)=({d},)", f"(T, 1, d)=({t}, 1, {d})"]
    if per_agent_arrays:
        shapes += [f"(N, d)=({n}, {d})", f"(T, N, d)=({t}, {n}, {d})"]
    if b.shape == (d,):
        out, kind, per_step = b.reshape(1, d, 1), COMMON, False
    elif b.shape == (t, 1, d):
        out, kind, per_step = xp.transpose(b, (0, 2, 1)), COMMON, True
    elif per_agent_arrays and b.shape == (n, d):
        out, kind, per_step = b.T[None], PER_AGENT, False
    elif per_agent_arrays and b.shape == (t, n, d):
        out, kind, per_step = xp.transpose(b, (0, 2, 1)), PER_AGENT, True
    else:
        hint = (
            ""
            if per_agent_arrays
            else "; per-agent arrays are not taken here (use "
            "baseline='first', or store the baseline as a panel)"
        )
        raise ValueError(
            f"{where}: baseline must have shape {', '.join(shapes)}, got {b.shape}{hint}"
        )
    if not traced:
        if not np.isfinite(out).all():
            raise ValueError(first_nonfinite(out, "tdn", "baseline"))
        out = np.ascontiguousarray(out)
    return Baseline(kind, None, out, per_step)


def baseline_name(baseline, value) -> str:
    """How an output header records a baseline: its name, the value's default, or
    ``"array"``."""
    if baseline is None:
        return value.default_baseline
    return baseline if isinstance(baseline, str) else "array"


def _method_settings(method, rule, steps, chunk, agent_chunk):
    """A method object's settings read back as keyword values (one validation path)."""
    if isinstance(method, ClosedFormMethod):
        return "closed_form", rule, steps, chunk, agent_chunk
    if isinstance(method, Path):
        return (
            "path",
            method.rule,
            method.steps,
            method.chunk,
            getattr(method, "agent_chunk", agent_chunk),
        )
    return method, rule, steps, chunk, agent_chunk


def resolve(
    value: ValueFunction | str | Callable[..., Any],
    *,
    method: str | Method = "auto",
    baseline=None,
    steps: int = 30,
    rule: str = "midpoint",
    chunk: int | None = None,
    agent_chunk: int | None = None,
    shape: tuple[int, int, int],
    dtype: DTypeLike = np.float32,
    streaming: bool = False,
    per_agent_arrays: bool = True,
    where: str = "attribute",
) -> Plan:
    """Choose the method and read the baseline, once, for any runner.

    Args:
        value: a value object, a callable, or a spec string: a built-in name, a saved model
            file or ``package.module:object`` (``jaxattr.values.load``).
        method: ``"auto"`` (the closed form where the value has one for this baseline,
            else the path integral), ``"closed_form"`` or ``"path"``, or a method object
            (:class:`ClosedFormMethod`, :class:`Path`, :class:`MeanFieldPath`).
        baseline: see :func:`resolve_baseline`; None takes the value's
            ``default_baseline`` (``"zero"``; equality, ``"mean"``, for the Gini
            coefficient).
        steps, rule: the quadrature of a path method (validated even when the closed form
            is chosen, so a typo never hides).
        chunk: path points per iteration (default 32 for ``path_vectorize`` values, else
            1); refused with the closed form.
        agent_chunk: stream agents through the mean-field path in chunks of this size;
            refused unless the value is mean-field and the path is taken.
        shape: ``(T, N, d)``.
        streaming: the runner never holds all agents (out of core): path methods must be
            mean-field and per-agent baseline arrays are refused.
        per_agent_arrays: accept ``(N, d)`` / ``(T, N, d)`` baseline arrays.
        where: names the runner in messages.

    Returns:
        :class:`Plan`.

    Raises:
        ValueError: an unknown method or rule, bad steps or chunk sizes, no closed form for
            this baseline, a setting the chosen method does not use, a value that cannot be
            streamed.
    """
    value = load_value(value, what=f"{where}: value")
    t, n, d = shape
    method, rule, steps, chunk, agent_chunk = _method_settings(
        method, rule, steps, chunk, agent_chunk
    )
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"{where}: method must be one of {METHODS} or a method object "
            f"(jaxattr.methods), got {method!r}"
        )
    kernels.quadrature(rule, steps)  # validates rule and steps
    if chunk is not None:
        chunk = positive_int(chunk, "chunk")
    if agent_chunk is not None:
        agent_chunk = positive_int(agent_chunk, "agent_chunk")
    if baseline is None:
        baseline = value.default_baseline
    b = resolve_baseline(
        baseline, t, n, d, dtype, per_agent_arrays=per_agent_arrays and not streaming, where=where
    )
    has_closed = value.has_closed_form(b.kind)
    kind_words = b.kind.replace("_", "-")
    if method == "closed_form" and not has_closed:
        advice = (
            "use method='path'"
            if not streaming or value.mean_field is not None
            else "and is not mean-field either, so it cannot be streamed: load the panel "
            "and use jaxattr.attribute(..., method='path')"
        )
        raise ValueError(
            f"{where}: value function {value.name!r} has no closed form for a "
            f"{kind_words} baseline; {advice}"
        )
    closed = method == "closed_form" or (method == "auto" and has_closed)
    if closed:
        for name, given in (("chunk", chunk), ("agent_chunk", agent_chunk)):
            if given is not None:
                raise ValueError(
                    f"{where}: {name}={given} applies to path methods, but {value.name!r} is "
                    "attributed by its closed form here (exact, no path points to chunk); "
                    f"drop {name}, or pass method='path'"
                )
        return Plan(value, ClosedFormMethod(), b)
    if agent_chunk is not None and value.mean_field is None:
        raise ValueError(
            f"{where}: agent_chunk streams agents through the mean-field path, "
            f"but {value.name!r} is not mean-field (h(mean_i g(z_i))); drop "
            "agent_chunk, or write f as jaxattr.values.mean_field(g, h)"
        )
    if streaming and value.mean_field is None:
        raise ValueError(
            f"{where}: value function {value.name!r} is neither a closed form nor mean-field "
            f"(h(mean_i g(z_i))) for a {kind_words} baseline: its attributions depend on all "
            "agents at once, so it cannot be streamed out of core; load the panel and use "
            "jaxattr.attribute, or write f as jaxattr.values.mean_field(g, h)"
        )
    if chunk is None:
        chunk = 32 if value.path_vectorize else 1
    if agent_chunk is not None or streaming:
        return Plan(value, MeanFieldPath(rule, int(steps), chunk, agent_chunk), b)
    return Plan(value, Path(rule, int(steps), chunk), b)
