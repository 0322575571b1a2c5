"""``jaxattr.attribute``: the one entry point of the engine, eager and traced.

Called on host arrays, a ``jax.Array`` or a :class:`~jaxattr.Panel`, it runs *eagerly*: the
input is placed where the engine reads it (zero-copy on the CPU backend), the compiled
core runs, and failures are located host-side (the step, agent and feature of a NaN) and
raised (``throw=True``) or reported in ``status``. Called on traced arrays (inside
``jax.jit``, ``jax.vmap``, ``jax.lax.scan``, ``jax.grad``; or with a value whose parameters
are traced) it runs *traced*: the same core, inlined in the caller's program, nothing
raised at trace time, and failures raised when the program runs (``throw=True``, an
``equinox.error_if``-style runtime error) or returned as the status code.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.core  # jax.core.Tracer: the traced route
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike, Float, Real

from ._core import CoreOutput, feature_split, run_arguments, run_compiled, split_value
from ._export import AgentLabels
from ._methods import BASELINES, METHODS, Method, Plan, resolve
from ._panel import Panel
from ._result import STATUS_MESSAGES, Attribution, EfficiencyChecks, SplitSource, Status
from ._util import Placed, aligned_empty, check_float_dtype, first_nonfinite, is_aligned, place
from .values import ValueFunction

__all__ = ["BASELINES", "METHODS", "attribute", "run_placed"]

# ------------------------------------------------------------------------- inputs


def _features(x, feature_major: bool):
    """``(array, physical layout, names, times)``; the layout is ``"tnd"`` or ``"tdn"``.

    NumPy stays on the host (placed later, zero-copy on CPU); a jax.Array stays on its
    devices and in its layout (the kernels read either).
    """
    if isinstance(x, Panel):
        return x.feature_major, "tdn", tuple(x.feature_names), tuple(x.time_labels)
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not isinstance(x, (np.ndarray, jax.Array)):
        raise TypeError(
            f"features must be a Panel, a NumPy array or a jax.Array, got {type(x).__name__}"
        )
    want = "(T, d, N) or (d, N)" if feature_major else "(T, N, d) or (N, d)"
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"features must have shape {want}, got {x.shape}")
    check_float_dtype(x.dtype, "features")
    return x, ("tdn" if feature_major else "tnd"), None, None


def _dims(shape, layout):
    t, a, b = shape
    return (t, b, a) if layout == "tdn" else (t, a, b)  # (T, N, d)


def _traced(*trees) -> bool:
    return any(
        isinstance(leaf, jax.core.Tracer)
        for tree in trees
        for leaf in jax.tree_util.tree_leaves(tree)
    )


def _mesh_axis(mesh, agent_axis):
    if agent_axis not in mesh.axis_names:
        raise ValueError(
            f"mesh has axes {mesh.axis_names}; agent_axis={agent_axis!r} is not one of them"
        )
    return mesh.shape[agent_axis]


def _check_mask(mask, n, value, traced):
    """A user's ``(N,)`` 0/1 padding mask, as an array of the compute dtype."""
    if mask is None:
        return None
    if not value.supports_mask:
        raise ValueError(
            f"value function {value.name!r} takes no mask (padding agents); use a "
            "built-in or mean-field value, or drop mask"
        )
    shape = getattr(mask, "shape", np.shape(mask))
    if tuple(shape) != (n,):
        raise ValueError(f"mask must have shape (N,)=({n},), got {tuple(shape)}")
    if traced or isinstance(mask, jax.Array):
        return mask
    m = np.asarray(mask)
    if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
        raise ValueError("mask must hold 0/1 weights (1 = a real agent, 0 = padding)")
    return m


# ------------------------------------------------------------------------- entry point


def attribute(
    features_or_panel: Float[ArrayLike, "T N d"] | Float[ArrayLike, "N d"] | Panel,
    value: ValueFunction | str | Callable[..., Any],
    *,
    baseline: str | Float[ArrayLike, "*shape"] | None = None,
    method: str | Method = "auto",
    steps: int = 30,
    rule: str = "midpoint",
    chunk: int | None = None,
    agent_chunk: int | None = None,
    time_batch: int | None = None,
    mask: Real[ArrayLike, " N"] | None = None,
    mesh: Mesh | None = None,
    agent_axis: str = "agents",
    feature_major: bool = False,
    efficiency_tol: float | None = None,
    keep_features: bool = False,
    throw: bool = True,
) -> Attribution:
    """Aumann–Shapley attribution of a macro value function to agents and time steps.

    ``phi[t, i] = sum_k (Z - B)[t, i, k] ∫_0^1 df/dz[i, k](B_t + a (Z_t - B_t)) da``; the
    integral is taken in closed form where the value function has one, else by a K-point
    quadrature of ``jax.grad`` (memory-bounded: ``chunk`` path points at a time).

    Inputs are read where they are: a NumPy array on the CPU backend is aliased, not
    copied or transposed (see ``jaxattr._util._memory``; one of at most 1 MiB that is not
    64-byte aligned is read from an aligned copy), a jax.Array stays on its devices and in
    its sharding.

    Args:
        features_or_panel: a :class:`jaxattr.Panel`, or features ``Float[ArrayLike, "T N d"]``
            or ``Float[ArrayLike, "N d"]`` (NumPy or jax.Array; a jax.Array sharded over its
            agent axis stays sharded).
        value: a value object from :mod:`jaxattr.values`, any callable ``(N, d) -> scalar``,
            or a spec string: a built-in name, a saved model file or
            ``package.module:object`` (:func:`jaxattr.values.load`).
        baseline: ``"zero"``, ``"mean"`` (per-step population mean vector), ``"first"``
            (each agent's first step), or an array ``(d,)``, ``(N, d)``, ``(T, 1, d)`` or
            ``(T, N, d)``. Default: the value's own (``"zero"``; ``"mean"``, equality, for
            the Gini coefficient).
        method: ``"auto"`` (closed form if available, else path), ``"closed_form"`` or
            ``"path"``, or a method object from :mod:`jaxattr.methods` (e.g.
            ``Path(rule="gauss-legendre", steps=16)``).
        steps: K, path points of the quadrature (>= 1).
        rule: ``"midpoint"`` (the paper's), ``"trapezoid"`` or ``"gauss-legendre"``.
        chunk: path points per iteration of the path loop (default: 32 for value functions
            that evaluate points as one vectorised batch, ``path_vectorize``: heat;
            else 1); scratch is at most ``chunk × d × N`` floats.
        agent_chunk: stream agents in chunks of this size (mean-field path; N is padded
            internally), bounding scratch for large learned value networks.
        time_batch: time steps evaluated together (default: all for closed forms, one for
            path methods, which bounds memory).
        mask: optional ``(N,)`` 0/1 weights: zero-weight agents are padding (they leave f
            and every other agent's phi unchanged and get phi = 0); e.g. panels of
            different N stacked for one vmapped call (:func:`jaxattr.pad_stack`).
        mesh: optional :class:`jax.sharding.Mesh`; agents are padded with zero-weight agents
            to a multiple of the ``agent_axis`` size and sharded over it.
        agent_axis: the mesh axis the agents are sharded over.
        feature_major: the array is ``(T, d, N)`` (or ``(d, N)``), the engine's own layout.
        efficiency_tol: if given, a step's efficiency error above it is a failure
            (``status == "efficiency_gap"``).
        keep_features: traced calls only: compute ``phi_features`` in the same program
            (an eager result computes it on first access instead).
        throw: raise on a failure (default). False returns the result with ``status`` and
            ``message`` set instead (phi may then hold NaN). Traced: the error is raised
            when the program runs (an ``equinox`` runtime error), never at trace time.

    Composes with JAX: ``jax.jit``, ``jax.vmap`` (over panels, or over a value's
    parameters), ``jax.lax.scan`` and ``jax.grad`` through ``phi``. A value's array fields
    are traced, so a new parameter or new weights reuse the compiled program
    (``docs/jax.md``).

    Process-wide settings: importing jaxattr sets glibc's allocator to keep freed memory
    warm (outputs reuse pages instead of faulting them in) and runs JAX's CPU programs on
    the calling thread (no ~50 µs hand-off per call), unless the process configured either
    itself; ``jaxattr.process_policy()`` reports what applied, ``jaxattr.restore_defaults()``
    undoes it, ``JAXATTR_MALLOC=system`` / ``JAXATTR_DISPATCH=async`` opt out
    (``jaxattr._util._process``).

    Returns:
        :class:`Attribution` (a pytree) with ``phi`` ``Float[Array, "T N"]``,
        ``phi_features`` ``Float[Array, "T N d"]``, ``delta`` and ``efficiency_error``
        ``Float[Array, "T"]``.

    Raises:
        ValueError / TypeError: bad shapes, dtypes, empty panels, K < 1, a setting the
            chosen method does not use, a value function returning a non-scalar; with
            ``throw``: NaN/inf features (naming t, agent, feature), non-finite values or
            gradients, an efficiency gap above ``efficiency_tol``.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.random.default_rng(0).random((2, 1000, 3), dtype=np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.heat())
        >>> att.phi.shape, float(att.efficiency_error.max()) < 1e-5
        ((2, 1000), True)
    """
    if (
        mask is None
        and mesh is None
        and not keep_features
        and (baseline is None or isinstance(baseline, str))
        and (
            type(features_or_panel) is np.ndarray
            or isinstance(features_or_panel, Panel)
            or (
                isinstance(features_or_panel, jax.Array)
                and not isinstance(features_or_panel, jax.core.Tracer)
            )
        )
    ):
        res = _fast(
            features_or_panel,
            value,
            baseline,
            method,
            steps,
            rule,
            chunk,
            agent_chunk,
            time_batch,
            feature_major,
            efficiency_tol,
            throw,
        )
        if res is not None:
            return res
    x, layout, names, times = _features(features_or_panel, feature_major)
    t, n, d = _dims(x.shape, layout)
    if t == 0 or n == 0 or d == 0:
        raise ValueError(
            f"empty panel: T={t}, N={n}, d={d} (need at least one time step, "
            "one agent and one feature)"
        )
    dtype = np.dtype(x.dtype) if np.dtype(x.dtype) == np.float64 else np.dtype(np.float32)
    if dtype == np.float64 and not jax.config.jax_enable_x64:  # pyright: ignore[reportAttributeAccessIssue]  # Config defines its options at run time
        dtype = np.dtype(np.float32)
    plan = resolve(
        value,
        method=method,
        baseline=baseline,
        steps=steps,
        rule=rule,
        chunk=chunk,
        agent_chunk=agent_chunk,
        shape=(t, n, d),
        dtype=dtype,
    )
    value = plan.value
    check_names = getattr(value, "check_panel_features", None)  # e.g. a trained DeepSet
    if names is not None and check_names is not None:
        check_names(names)
    traced = _traced(x, value, plan.baseline.array, mask)
    mask = _check_mask(mask, n, value, traced)
    if traced:
        if mesh is not None:
            raise ValueError(
                "mesh= places host data; inside jit/vmap shard the input array "
                "itself (jax.device_put with a NamedSharding) instead"
            )
        return _attribute_traced(
            x,
            layout,
            plan,
            n,
            dtype,
            mask=mask,
            time_batch=time_batch,
            efficiency_tol=efficiency_tol,
            keep_features=keep_features,
            throw=throw,
        )

    # Placement: the features where the engine reads them; optional padding + sharding.
    host = x if isinstance(x, np.ndarray) else None
    b = plan.baseline.array
    if mesh is not None:
        size = _mesh_axis(mesh, agent_axis)
        n_pad = -(-n // size) * size
        if n_pad != n:
            if not value.supports_mask:
                raise ValueError(
                    f"N={n} is not divisible by the {size} devices of mesh axis "
                    f"{agent_axis!r}, and value function {value.name!r} takes no mask, so "
                    "agents cannot be padded; make N divisible or use a mean-field value"
                )
            xs = np.asarray(x, dtype)
            xs = xs.transpose(0, 2, 1) if layout == "tnd" else xs
            x = np.concatenate([xs, np.zeros((t, d, n_pad - n), dtype)], axis=2)
            layout = "tdn"
            if b is not None and b.shape[-1] == n:
                b = np.concatenate([b, np.zeros((b.shape[0], d, n_pad - n), b.dtype)], axis=2)
            m = np.ones(n, dtype) if mask is None else np.asarray(mask, dtype)
            mask = np.concatenate([m, np.zeros(n_pad - n, dtype)])
        spec = P(None, agent_axis, None) if layout == "tnd" else P(None, None, agent_axis)
        x = jax.device_put(
            np.asarray(x, dtype) if isinstance(x, np.ndarray) else x, NamedSharding(mesh, spec)
        )
        if mask is not None:
            mask = jax.device_put(np.asarray(mask, dtype), NamedSharding(mesh, P(agent_axis)))
        if b is not None and b.shape[-1] == n_pad:
            b = jax.device_put(b, NamedSharding(mesh, P(None, None, agent_axis)))
    if isinstance(x, np.ndarray):
        placed = _place_cached(features_or_panel, x, dtype)
    else:
        placed = Placed(x if x.dtype == dtype else x.astype(dtype), 0, tuple(x.shape), False)
    agents = (
        AgentLabels(features_or_panel.agent_ids) if isinstance(features_or_panel, Panel) else None
    )
    return run_placed(
        placed,
        layout,
        plan,
        time_batch=time_batch,
        mask=mask,
        baseline=b,
        n=n,
        names=names,
        times=times,
        agents=agents,
        host=host,
        efficiency_tol=efficiency_tol,
        throw=throw,
    )


# ------------------------------------------------------------------------- the fast route
# Repeated eager calls with the same value, settings and input shape (sweeps over seeds,
# many small simulation panels) skip resolution: the plan and the core's static arguments
# are cached per key, so a call costs the dispatch of the compiled program plus a few
# microseconds. Small host arrays go to the program as they are, or from an aligned
# staging copy (_Entry.stage; either is cheaper than building a zero-copy window); a
# jax.Array is read where it is.

_FAST: dict = {}
_FAST_MAX = 256
_SMALL_BYTES = 1 << 20
_STAGE_MIN = 1 << 16  # below this, XLA's own copy of an unaligned array measured as fast
_STAGE_POOL = 3  # staging buffers kept per entry


class _Entry:
    __slots__ = ("plan", "layout", "n", "d", "dtype", "names", "times", "kwargs", "rest", "staging")

    def __init__(self, plan, layout, n, d, dtype, names, times):
        self.plan, self.layout, self.n, self.d, self.dtype = plan, layout, n, d, dtype
        self.names, self.times = names, times
        self.kwargs: dict = {}  # (windowed, offset) of the placement -> static arguments
        self.rest: tuple = ()  # the core's baseline, mask and value arguments
        self.staging: list[np.ndarray] = []  # see stage()

    def stage(self, x: np.ndarray) -> np.ndarray:
        """A 64-byte-aligned copy of ``x``, which XLA CPU aliases.

        XLA copies an unaligned host array itself, which measured 90-150 µs for 120-600 KB
        (now and then ~33 µs), where ``np.copyto`` takes 3-15 µs (2-core EPYC, jax 0.10.2;
        ``benchmarks/profile_floor.py --t 10`` times both). A few
        buffers are reused from call to call. One that anything else still references is
        left alone, and a new one takes its place in the pool: a live result holds its
        buffer (its lazy recomputations must read what it was computed from), and JAX
        was seen to hold a call's input until the next call.
        """
        for buf in self.staging:
            # references: the pool, ``buf`` and getrefcount's argument
            if sys.getrefcount(buf) <= 3:
                break
        else:
            buf = aligned_empty(x.shape, x.dtype)
            if len(self.staging) < _STAGE_POOL:
                self.staging.append(buf)
            else:  # the oldest leaves the pool; whoever holds it keeps it
                self.staging = [*self.staging[1:], buf]
        np.copyto(buf, x)
        return buf


def _fast(
    src,
    value,
    baseline,
    method,
    steps,
    rule,
    chunk,
    agent_chunk,
    time_batch,
    feature_major,
    tol,
    throw,
):
    """The cached eager route for host arrays, Panels and concrete jax.Arrays, or None
    (take the general one).

    The cache key holds the value's *structure* (:func:`jaxattr._core.split_value`), not
    its arrays: a parameter sweep or a retrained network hits the same entry, and the
    current arrays go to the program as arguments.
    """
    panel = isinstance(src, Panel)
    x = src.feature_major if panel else src
    if x.ndim != 3 or x.dtype.kind != "f":
        return None
    if isinstance(value, ValueFunction):
        dyn, vid = split_value(value)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in dyn):
            return None  # a traced parameter (a vmap over values): the traced route
    else:  # a name, a spec or a plain callable: hashed as it is
        dyn, vid = None, ("spec", value)
    key = (
        vid,
        method,
        baseline,
        steps,
        rule,
        chunk,
        agent_chunk,
        time_batch,
        tol,
        feature_major,
        panel,
        x.shape,
        x.dtype.str,
        jax.config.jax_enable_x64,  # pyright: ignore[reportAttributeAccessIssue]  # Config defines its options at run time
    )
    try:
        entry = _FAST.get(key)
    except TypeError:  # something unhashable (a callable Module holding arrays)
        return None
    if entry is None:
        layout = "tdn" if panel or feature_major else "tnd"
        t, n, d = _dims(x.shape, layout)
        if t == 0 or n == 0 or d == 0:
            return None
        dtype = np.dtype(x.dtype) if x.dtype == np.float64 else np.dtype(np.float32)
        if dtype == np.float64 and not jax.config.jax_enable_x64:  # pyright: ignore[reportAttributeAccessIssue]  # Config defines its options at run time
            dtype = np.dtype(np.float32)
        plan = resolve(
            value,
            method=method,
            baseline=baseline,
            steps=steps,
            rule=rule,
            chunk=chunk,
            agent_chunk=agent_chunk,
            shape=(t, n, d),
            dtype=dtype,
        )
        if _traced(plan.value):
            return None
        entry = _Entry(plan, layout, n, d, dtype, tuple(f"f{k}" for k in range(d)), tuple(range(t)))
        if len(_FAST) >= _FAST_MAX:
            _FAST.clear()
        _FAST[key] = entry
    plan = entry.plan
    agents = None
    if panel:
        names, times = tuple(src.feature_names), tuple(src.time_labels)
        agents = AgentLabels(src.agent_ids)
        check_names = getattr(plan.value, "check_panel_features", None)
        if check_names is not None:
            check_names(names)
    else:
        names, times = entry.names, entry.times
    # where a non-finite entry is located on failure: the caller's host array, if any
    host = None if panel or isinstance(x, jax.Array) else x
    if isinstance(x, jax.Array):  # already placed: read where it is, in its layout
        placed = Placed(x if x.dtype == entry.dtype else x.astype(entry.dtype), 0, x.shape, False)
    elif not panel and x.nbytes <= _SMALL_BYTES and x.dtype == entry.dtype and x.flags.c_contiguous:
        # On the CPU the program reads an aligned or a tiny array as it is, and a larger
        # unaligned one from an aligned staging copy (_Entry.stage). On an accelerator it
        # is copied here, once, as the call would copy it anyway: the result's
        # recomputations (phi_features) then read the device copy, not a host buffer the
        # caller may edit.
        if not _on_cpu():
            buf = jax.device_put(x)
        elif x.nbytes < _STAGE_MIN or is_aligned(x):
            buf = x
        else:
            buf = entry.stage(x)
        placed = Placed(buf, 0, x.shape, False)
    else:
        placed = _place_cached(src, x, entry.dtype)
    kwargs = entry.kwargs.get((placed.windowed, placed.offset))
    if kwargs is None:
        args, kwargs = run_arguments(
            placed, entry.layout, plan, time_batch=time_batch, efficiency_tol=tol
        )
        entry.kwargs[(placed.windowed, placed.offset)] = kwargs
        # The baseline placeholder and the empty mask are small host arrays: transferred
        # once here (uncommitted, so they follow the features to their device), not on
        # every call, where each is a host-to-device copy (~50 µs on a GPU).
        b_arr, mask_arg, dyn_arg = args[1:]
        entry.rest = (_put_small(b_arr), _put_small(mask_arg), dyn_arg)
    args = (placed.buf, *entry.rest[:2], entry.rest[2] if dyn is None else dyn)
    out = run_compiled(args, kwargs)
    return _wrap(
        plan,
        out,
        args,
        kwargs,
        placed,
        entry.layout,
        entry.n,
        names,
        times,
        agents,
        host,
        tol,
        throw,
    )


def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def _put_small(a):
    return jax.device_put(a) if isinstance(a, np.ndarray) else a


def _attribute_traced(
    x, layout, plan: Plan, n, dtype, *, mask, time_batch, efficiency_tol, keep_features, throw
) -> Attribution:
    """The traced route: the same core inlined in the caller's program; no host checks."""
    x = x if x.dtype == dtype else x.astype(dtype)
    placed = Placed(x, 0, tuple(x.shape), False)
    args, kwargs = run_arguments(
        placed, layout, plan, time_batch=time_batch, mask=mask, efficiency_tol=efficiency_tol
    )
    out = run_compiled(args, kwargs, keep_grad=keep_features)
    phi = out.phi
    if throw:
        msgs = ["ok"] + [
            f"jaxattr.attribute({plan.value.name!r}, {plan.method_name}): {STATUS_MESSAGES[s]}"
            for s in list(Status)[1:]
        ]
        # The runtime check reads the scalar code, and phi depends on it through one fused
        # select. One host callback for a whole vmapped batch (vmap_method="expand_dims"):
        # equinox's error_if on phi broadcasts the check to phi's size and, under vmap,
        # calls the host once per batch element (300 panels: ~50 ms).
        code = jax.pure_callback(
            functools.partial(_raise_on_failure, tuple(msgs)),
            jax.ShapeDtypeStruct((), np.int32),
            out.code,
            vmap_method="expand_dims",
        )
        phi = jnp.where(code == Status.OK, phi, jnp.nan)
    feats = feature_split(args, kwargs, out.grad, n=n)[0] if keep_features else None
    d = x.shape[2] if layout == "tnd" else x.shape[1]
    return _result(
        plan,
        out,
        phi,
        status=out.code,
        feature_names=tuple(f"f{k}" for k in range(d)),
        time_labels=tuple(range(x.shape[0])),
        features=feats,
    )


class AttributionError(RuntimeError):
    """A traced attribution failed when its program ran (``throw=True``)."""


def _raise_on_failure(msgs: tuple, code):
    code = np.asarray(code)
    bad = np.flatnonzero(code.reshape(-1) != Status.OK)
    if bad.size:
        first = int(code.reshape(-1)[bad[0]])
        where = f" (batch element {int(bad[0])} of {code.size})" if code.ndim else ""
        raise AttributionError(f"{msgs[first]}{where}; {bad.size} failed in all")
    return code.astype(np.int32)


def _result(
    plan: Plan,
    out: CoreOutput,
    phi,
    *,
    status,
    feature_names,
    time_labels,
    message="",
    features=None,
    source=None,
    agents=None,
) -> Attribution:
    return Attribution.build(
        phi=phi,
        delta=out.delta,
        value_features=out.fz,
        value_baseline=out.fb,
        efficiency_error=out.err,
        delta_negligible=out.negligible,
        status_code=status,
        method=plan.method_name,
        value_name=plan.value_name,
        rule=plan.rule,
        steps=plan.steps,
        feature_names=feature_names,
        time_labels=time_labels,
        message=message,
        phi_features_=features,
        source=source,
        agents=agents,
    )


def run_placed(
    placed: Placed,
    layout: str,
    plan: Plan,
    *,
    time_batch: int | None = None,
    mask=None,
    baseline=None,
    n: int | None = None,
    names=None,
    times=None,
    agents=None,
    host=None,
    efficiency_tol: float | None = None,
    throw: bool = True,
) -> Attribution:
    """Run the compiled core on placed features and wrap the result (eager runners).

    Args:
        placed: the features on their devices (:func:`jaxattr._util._memory.place`, or a
            jax.Array wrapped as :class:`Placed`); ``layout`` ``"tnd"`` or ``"tdn"``.
        plan: from :func:`jaxattr._methods.resolve`.
        time_batch: time steps evaluated together (default: all for closed forms, one for
            path methods, which bounds memory).
        mask: ``(N,)`` padding weights, or None; ``baseline`` overrides the plan's array
            (a padded or sharded copy of it); ``n`` real agents (phi is cut to them).
        names, times, agents: feature names, time labels and the Panel's agent ids
            (:class:`AgentLabels`) the result carries; default ``f0..``, ``0..T-1``, none.
        host: the host array to locate non-finite entries in (default: the device array).
        efficiency_tol, throw: see :func:`attribute`.

    Returns:
        :class:`Attribution`.
    """
    t = placed.shape[0]
    d = placed.shape[2] if layout == "tnd" else placed.shape[1]
    n_all = placed.shape[1] if layout == "tnd" else placed.shape[2]
    n = n_all if n is None else n
    args, kwargs = run_arguments(
        placed,
        layout,
        plan,
        time_batch=time_batch,
        mask=mask,
        baseline=baseline,
        efficiency_tol=efficiency_tol,
    )
    out = run_compiled(args, kwargs)
    return _wrap(
        plan,
        out,
        args,
        kwargs,
        placed,
        layout,
        n,
        names or tuple(f"f{k}" for k in range(d)),
        times or tuple(range(t)),
        agents,
        host,
        efficiency_tol,
        throw,
    )


def _wrap(
    plan, out, args, kwargs, placed, layout, n, names, times, agents, host, tol, throw
) -> Attribution:
    """An eager result: one read of the status code; a failure located and raised."""
    # np.asarray then int: int() of a fresh jax.Array scalar takes ~35 µs (a slow path of
    # jax's __int__), the NumPy read ~3 µs (the per-call floor of small panels).
    status, message = Status(int(np.asarray(out.code))), ""
    if status != Status.OK:
        status, message = _diagnose(plan, out, status, placed, layout, host, tol)
        if throw:
            raise ValueError(message)
    phi = out.phi if n == out.phi.shape[1] else out.phi[:, :n]
    grad = out.grad
    return _result(
        plan,
        out,
        phi,
        status=np.int32(status),
        feature_names=names,
        time_labels=times,
        message=message,
        agents=agents,
        source=SplitSource(lambda: feature_split(args, kwargs, grad, n=n)),
    )


def _diagnose(
    plan: Plan, out: CoreOutput, status: Status, placed, layout, host, tol
) -> tuple[Status, str]:
    """``(status, message)`` of a failed run: what went wrong, where, and what to do.

    Checked in this order: ``nonfinite_features`` (a NaN/inf in the input, located to its
    step, agent and feature), ``nonfinite_value`` (f itself is not finite at Z or B),
    ``nonfinite_gradient`` (finite values but non-finite attributions), ``efficiency_gap``.
    """
    name = plan.value.name
    if status != Status.EFFICIENCY_GAP:
        xs = host if host is not None else np.asarray(placed.buf)
        if xs.shape == placed.shape and not np.isfinite(xs).all():
            return Status.NONFINITE_FEATURES, first_nonfinite(xs, layout, "features")
    for what, arr in (("f(features)", out.fz), ("f(baseline)", out.fb)):
        a = np.asarray(arr)
        if not np.isfinite(a).all():
            bad = int(np.flatnonzero(~np.isfinite(a))[0])
            return Status.NONFINITE_VALUE, (
                f"value function {name!r} returned {a[bad]} for {what} at time step "
                f"t={bad}; it must be finite on the features, the baseline and the path "
                "between them"
            )
    e = np.asarray(out.err)
    total = np.asarray(out.total)
    if not (np.isfinite(e).all() and np.isfinite(total).all()):
        bad = int(np.flatnonzero(~(np.isfinite(e) & np.isfinite(total)))[0])
        return Status.NONFINITE_GRADIENT, (
            f"non-finite attributions at time step t={bad}: the gradient of {name!r} "
            "is not finite somewhere on the path (check f's domain between the baseline and "
            "the features, e.g. a log of a value that crosses zero)"
        )
    view = _EfficiencyView(plan, out)
    return Status.EFFICIENCY_GAP, view._efficiency_message(tol) or ""


class _EfficiencyView(EfficiencyChecks):
    """The efficiency message of a core output before its result exists."""

    def __init__(self, plan: Plan, out: CoreOutput):
        self.efficiency_error, self.delta_negligible = out.err, out.negligible
        self.method, self.value_name = plan.method_name, plan.value.name


def _place_cached(owner, x: np.ndarray, dtype) -> Placed:
    """Place a host buffer; on accelerators a Panel's device copy is made once.

    On the CPU backend placement is free (an alias), so nothing is cached and nothing can
    go stale. Elsewhere it is a transfer, cached on the Panel, whose buffer is read-only.
    """
    panel = isinstance(owner, Panel)
    if jax.default_backend() == "cpu" or not panel:
        return place(x, dtype, exact_if_aligned=panel)
    cached = owner._device_cache
    if cached is not None and cached[0] is x and cached[1] == np.dtype(dtype):
        return cached[2]
    placed = place(x, dtype)
    owner._device_cache = (x, np.dtype(dtype), placed)
    return placed
