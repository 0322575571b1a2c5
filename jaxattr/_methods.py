"""Method and baseline specs, and :func:`resolve`: the one dispatcher of every runner.

In memory (:func:`jaxattr.attribute`, sharded or not), on a device mesh
(``jaxattr.scale.attribute_feature_major``), across processes
(``jaxattr.scale.distributed_attribute``) and out of core
(``jaxattr.scale.attribute_out_of_core``), the choice of method and the reading of the
baseline go through :func:`resolve`, so every runner accepts, refuses and chooses alike.
Settings that the chosen method does not use are refused, not ignored.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxattr import kernels

from ._validate import check_float_dtype, first_nonfinite
from ._value_spec import load
from ._values import COMMON, PER_AGENT, ZERO, ValueFunction

__all__ = ["BASELINES", "METHODS", "Baseline", "ClosedFormMethod", "MeanFieldPath", "Path",
           "Plan", "resolve", "resolve_baseline"]

METHODS = ("auto", "closed_form", "path")
BASELINES = ("zero", "mean", "first")


@dataclasses.dataclass(frozen=True)
class ClosedFormMethod:
    """The value's closed form (``ValueFunction.closed_form``): exact, two passes."""

    name = "closed_form"


@dataclasses.dataclass(frozen=True)
class Path:
    """The ``jax.grad`` path integral: ``steps`` points of ``rule``, ``chunk`` at a time."""

    rule: str = "midpoint"
    steps: int = 30
    chunk: int = 1
    name = "path"


@dataclasses.dataclass(frozen=True)
class MeanFieldPath(Path):
    """The mean-field path integral (aggregates, then per-agent VJPs), agents streamed in
    chunks of ``agent_chunk`` (None: all at once) for bounded memory."""

    agent_chunk: int | None = None
    name = "path-meanfield"


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A resolved baseline.

    Attributes:
        kind: ``"zero"``, ``"common"`` (one vector for every agent) or ``"per_agent"``.
        tag: ``"mean"`` / ``"first"`` when the runner computes it from the features, else
            None.
        array: ``(Tb, d, Nb)`` feature-major values (Tb in {1, T}, Nb in {1, N}) or None
            for a tag.
        per_step: one baseline per time step (``Tb = T``).
    """

    kind: str
    tag: str | None
    array: np.ndarray | None = dataclasses.field(compare=False, repr=False)
    per_step: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a runner runs: the value object, the method spec and the baseline."""

    value: ValueFunction
    method: ClosedFormMethod | Path
    baseline: Baseline

    @property
    def method_name(self) -> str:
        return self.method.name

    @property
    def rule(self) -> str | None:
        return getattr(self.method, "rule", None)

    @property
    def steps(self) -> int | None:
        return getattr(self.method, "steps", None)


def _positive_int(x, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {x!r}")
    return int(x)


def resolve_baseline(baseline, t: int, n: int, d: int, dtype, *, per_agent_arrays=True,
                     where: str = "attribute") -> Baseline:
    """Read ``baseline``: ``"zero"``, ``"mean"``, ``"first"`` or an array.

    Arrays may be ``(d,)``, ``(T, 1, d)`` (common) or ``(N, d)``, ``(T, N, d)`` (per agent;
    not where ``per_agent_arrays`` is False: runners that never hold all agents).

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
        raise ValueError(f"{where}: baseline must be one of {BASELINES} or an array, got "
                         f"{baseline!r}")
    b = np.asarray(baseline)
    check_float_dtype(b.dtype, "baseline")
    b = b.astype(dtype)
    shapes = [f"(d,)=({d},)", f"(T, 1, d)=({t}, 1, {d})"]
    if per_agent_arrays:
        shapes += [f"(N, d)=({n}, {d})", f"(T, N, d)=({t}, {n}, {d})"]
    if b.shape == (d,):
        out, kind, per_step = b.reshape(1, d, 1), COMMON, False
    elif b.shape == (t, 1, d):
        out, kind, per_step = b.transpose(0, 2, 1), COMMON, True
    elif per_agent_arrays and b.shape == (n, d):
        out, kind, per_step = b.T[None], PER_AGENT, False
    elif per_agent_arrays and b.shape == (t, n, d):
        out, kind, per_step = b.transpose(0, 2, 1), PER_AGENT, True
    else:
        hint = ("" if per_agent_arrays else "; per-agent arrays are not taken here (use "
                "baseline='first', or store the baseline as a panel)")
        raise ValueError(f"{where}: baseline must have shape {', '.join(shapes)}, got "
                         f"{b.shape}{hint}")
    if not np.isfinite(out).all():
        raise ValueError(first_nonfinite(out, "tdn", "baseline"))
    return Baseline(kind, None, np.ascontiguousarray(out), per_step)


def resolve(value, *, method="auto", baseline="zero", steps: int = 30,
            rule: str = "midpoint", chunk: int | None = None,
            agent_chunk: int | None = None, shape: tuple[int, int, int],
            dtype=np.float32, streaming: bool = False, per_agent_arrays: bool = True,
            where: str = "attribute") -> Plan:
    """Choose the method and read the baseline, once, for any runner.

    Args:
        value: a value object, a callable, or a spec string: a built-in name, a saved model
            file or ``package.module:object`` (``jaxattr.values.load``).
        method: ``"auto"`` (the closed form where the value has one for this baseline,
            else the path integral), ``"closed_form"`` or ``"path"``, or a spec object.
        baseline: see :func:`resolve_baseline`.
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
    value = load(value, what=f"{where}: value")
    t, n, d = shape
    if isinstance(method, (ClosedFormMethod, Path)):
        spec = method
        method = spec.name if spec.name != "path-meanfield" else "path"
        rule, steps, chunk = getattr(spec, "rule", rule), getattr(spec, "steps", steps), \
            getattr(spec, "chunk", chunk)
        agent_chunk = getattr(spec, "agent_chunk", agent_chunk)
    if method not in METHODS:
        raise ValueError(f"{where}: method must be one of {METHODS}, got {method!r}")
    kernels.quadrature(rule, steps)  # validates rule and steps
    if chunk is not None:
        chunk = _positive_int(chunk, "chunk")
    if agent_chunk is not None:
        agent_chunk = _positive_int(agent_chunk, "agent_chunk")
    b = resolve_baseline(baseline, t, n, d, dtype,
                         per_agent_arrays=per_agent_arrays and not streaming, where=where)
    has_closed = value.has_closed_form(b.kind)
    kind_words = b.kind.replace("_", "-")
    if method == "closed_form" and not has_closed:
        advice = ("use method='path'" if not streaming or value.mean_field is not None else
                  "and is not mean-field either, so it cannot be streamed: load the panel "
                  "and use jaxattr.attribute(..., method='path')")
        raise ValueError(f"{where}: value function {value.name!r} has no closed form for a "
                         f"{kind_words} baseline; {advice}")
    closed = method == "closed_form" or (method == "auto" and has_closed)
    if closed:
        for name, given in (("chunk", chunk), ("agent_chunk", agent_chunk)):
            if given is not None:
                raise ValueError(
                    f"{where}: {name}={given} applies to path methods, but {value.name!r} is "
                    "attributed by its closed form here (exact, no path points to chunk); "
                    f"drop {name}, or pass method='path'")
        return Plan(value, ClosedFormMethod(), b)
    if agent_chunk is not None and value.mean_field is None:
        raise ValueError(f"{where}: agent_chunk streams agents through the mean-field path, "
                         f"but {value.name!r} is not mean-field (h(mean_i g(z_i))); drop "
                         "agent_chunk, or write f as jaxattr.values.mean_field(g, h)")
    if streaming and value.mean_field is None:
        raise ValueError(
            f"{where}: value function {value.name!r} is neither a closed form nor mean-field "
            f"(h(mean_i g(z_i))) for a {kind_words} baseline: its attributions depend on all "
            "agents at once, so it cannot be streamed out of core; load the panel and use "
            "jaxattr.attribute, or write f as jaxattr.values.mean_field(g, h)")
    if chunk is None:
        chunk = 32 if value.path_vectorize else 1
    if agent_chunk is not None or streaming:
        return Plan(value, MeanFieldPath(rule, int(steps), chunk, agent_chunk), b)
    return Plan(value, Path(rule, int(steps), chunk), b)
