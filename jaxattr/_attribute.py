"""``jaxattr.attribute``: the one entry point of the engine."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxattr import kernels

from ._memory import Placed, place, view
from ._methods import BASELINES, METHODS, Plan, resolve
from ._result import Attribution, efficiency_error
from ._validate import check_float_dtype, first_nonfinite
from ._values import ValueFunction

__all__ = ["BASELINES", "METHODS", "Attribution", "attribute", "feature_split",
           "run_arguments", "run_compiled", "run_placed"]

# ------------------------------------------------------------------------- inputs


def _features(x, feature_major: bool):
    """``(array, physical layout, names, times)``; the layout is ``"tnd"`` or ``"tdn"``.

    NumPy stays on the host (placed later, zero-copy on CPU); a jax.Array stays on its
    devices and in its layout (the kernels read either).
    """
    if hasattr(x, "feature_major") and hasattr(x, "feature_names"):  # a Panel
        return x.feature_major, "tdn", list(x.feature_names), list(x.time_labels)
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not isinstance(x, (np.ndarray, jax.Array)):
        raise TypeError(f"features must be a Panel, a NumPy array or a jax.Array, "
                        f"got {type(x).__name__}")
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


# ------------------------------------------------------------------------- compiled core


def _closed_step(cf, zt, bt, mask, kind):
    """``(f(Z), f(B), G, phi or None)`` of one step from a value's streaming closed form."""
    w = kernels.count(zt, mask)
    ref = None
    if cf.reference:
        ref = (kernels.reference_point(zt),
               kernels.reference_point(bt) if bt.shape[-1] != 1 else None)
    c = weighted = None
    if cf.rank_key is not None:
        c, weighted = kernels.population_ranks(cf.rank_key(zt, ref), mask, w)
    fz, fb, params = cf.finish(cf.aggregates(zt, bt, mask, ref, c), w, bt, kind)
    if cf.sorted_value is not None:  # the value by a route independent of the ranks
        fz = cf.sorted_value(weighted, w).astype(fz.dtype)
    g = cf.gradient(zt, bt, mask, ref, params, w, c)
    phi = None if cf.phi is None else cf.phi(zt, bt, mask, ref, params, w, c)
    return fz, fb, g, phi


def _logical(buf, offset, *, shape, windowed, layout):
    """The placed buffer as a logical feature-major ``(T, d, N)`` array (a free view)."""
    x = view(buf, offset, shape, windowed)
    return jnp.swapaxes(x, 1, 2) if layout == "tnd" else x


def _logical_step(buf, offset, i, *, shape, windowed, layout):
    """Step ``i`` of :func:`_logical`, sliced from the buffer itself (inside a loop body a
    slice of the whole logical view would be hoisted and materialised before the loop)."""
    size = int(np.prod(shape[1:]))
    if windowed:
        x = lax.dynamic_slice(buf, (offset + i * size,), (size,)).reshape(shape[1:])
    else:
        x = lax.dynamic_index_in_dim(buf, i, keepdims=False)
    return x.T if layout == "tnd" else x


_STATIC = ("value", "method", "rule", "steps", "chunk", "agent_chunk", "baseline_kind",
           "baseline_tag", "b_per_step", "time_batch", "shape", "windowed", "layout",
           "has_mask", "keep_grad")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _run(buf, offset, b, mask, *, value: ValueFunction, method, rule, steps, chunk,
         agent_chunk, baseline_kind, baseline_tag, b_per_step, time_batch, shape, windowed,
         layout, has_mask, keep_grad=False):
    z = _logical(buf, offset, shape=shape, windowed=windowed, layout=layout)
    mask = mask if has_mask else None
    if baseline_tag == "first":  # sliced as the loop below slices step 0: same arithmetic
        b = _logical_step(buf, offset, 0, shape=shape, windowed=windowed, layout=layout)[None]
    if method in ("path", "path-meanfield"):
        alpha, w = kernels.quadrature(rule, steps)

    def step(zt, bt):
        if baseline_tag == "mean":
            bt = kernels.mean_baseline(zt, mask)[:, None]
        common = bt.shape[-1] == 1
        phi = None
        if method == "closed_form":
            fz, fb, g, phi = _closed_step(value.closed_form, zt, bt, mask, baseline_kind)
        else:
            if common and value.supports_mask:
                # Identical agents: a population-normalised f equals its one-agent value.
                fb = value.fm(bt)
            else:
                fb = value.fm(jnp.broadcast_to(bt, zt.shape), mask)
            fz = value.fm(zt, mask)
            if value.affine_g and value.mean_field is not None:
                gfun, hfun = value.mean_field
                g = kernels.affine_path_gradient(gfun, hfun, zt, bt, alpha, w, mask)
            elif method == "path-meanfield":
                gfun, hfun = value.mean_field
                g = kernels.meanfield_path_gradient(gfun, hfun, zt, bt, alpha, w, mask,
                                                    chunk=chunk, agent_chunk=agent_chunk)
            else:
                g = kernels.path_gradient(lambda x: value.fm_path(x, mask), zt, bt, alpha, w,
                                          chunk=chunk, vectorize=value.path_vectorize)
        if phi is None:
            phi = _contract(zt, bt, g)
        if mask is not None:
            phi = phi * mask
        # A NaN/inf anywhere in z propagates into phi, so sum phi is also the finite check.
        (total,) = kernels.agent_sums([phi])
        return phi, g, fz, fb, total

    # All steps in one batch: a plain vmap, not lax.map (a while loop even for one batch),
    # so outputs dropped below (a per-agent G) are eliminated rather than written.
    if time_batch >= z.shape[0]:
        if b_per_step:
            out = jax.vmap(step)(z, b)
        else:
            out = jax.vmap(lambda zt: step(zt, b[0]))(z)
    else:
        # A loop over time indices that slices inside the body: mapping over z itself
        # would make XLA materialise the whole (transposed, windowed) z before the loop,
        # two input-sized copies at the peak; sliced per step, only a step's copy is made.
        def one(i):
            zt = _logical_step(buf, offset, i, shape=shape, windowed=windowed, layout=layout)
            return step(zt, lax.dynamic_index_in_dim(b, i, keepdims=False) if b_per_step
                        else b[0])

        out = lax.map(one, jnp.arange(z.shape[0]), batch_size=time_batch)
    phi, g, fz, fb, total = out
    if g.shape[-1] != 1 and not keep_grad:
        # A per-agent G (every path method; per-agent closed forms) would cost a (T, d, N)
        # write on the hot path and one more input-sized buffer at the peak; phi_features
        # recomputes it on demand (once, then cached) instead.
        g = None
    delta = fz - fb
    err, negligible = efficiency_error(total, delta, fz, fb, jnp.finfo(total.dtype).eps,
                                       jnp)
    return phi, g, fz, fb, delta, err, negligible, jnp.all(jnp.isfinite(total)), total


def _contract(zt, bt, g):
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


@functools.partial(jax.jit, static_argnames=("shape", "windowed", "layout", "tag", "n",
                                             "has_mask"))
def _split(buf, offset, b, mask, grad, *, shape, windowed, layout, tag, n, has_mask):
    """``(phi_features (T, N, d), phi (T, N))`` from a path-averaged gradient."""
    z = _logical(buf, offset, shape=shape, windowed=windowed, layout=layout)
    mask = mask if has_mask else None
    if tag == "first":
        b = z[:1]
    elif tag == "mean":
        b = jax.vmap(lambda zt: kernels.mean_baseline(zt, mask)[:, None])(z)
    out = (z - b) * grad
    if mask is not None:
        out = out * mask[None, None, :]
    out = jnp.swapaxes(out[..., :n], 1, 2)
    return out, jnp.sum(out, axis=-1)


def _mesh_axis(mesh, agent_axis):
    if agent_axis not in mesh.axis_names:
        raise ValueError(f"mesh has axes {mesh.axis_names}; agent_axis={agent_axis!r} "
                         "is not one of them")
    return mesh.shape[agent_axis]


# ------------------------------------------------------------------------- entry point


def attribute(features_or_panel, value, *, baseline="zero", method="auto", steps: int = 30,
              rule: str = "midpoint", chunk: int | None = None, agent_chunk: int | None = None,
              time_batch: int | None = None, mesh=None, agent_axis: str = "agents",
              feature_major: bool = False, efficiency_tol: float | None = None,
              throw: bool = True) -> Attribution:
    """Aumann–Shapley attribution of a macro value function to agents and time steps.

    ``phi[t, i] = sum_k (Z - B)[t, i, k] ∫_0^1 df/dz[i, k](B_t + a (Z_t - B_t)) da``; the
    integral is taken in closed form where the value function has one, else by a K-point
    quadrature of ``jax.grad`` (memory-bounded: ``chunk`` path points at a time).

    Inputs are read where they are: a NumPy array on the CPU backend is aliased, not
    copied or transposed (see ``jaxattr._memory``), a jax.Array stays on its devices and in
    its sharding.

    Args:
        features_or_panel: a :class:`jaxattr.Panel`, or features ``(T, N, d)`` / ``(N, d)``
            (NumPy or jax.Array; a jax.Array sharded over its agent axis stays sharded).
        value: a value object from :mod:`jaxattr.values`, any callable ``(N, d) -> scalar``,
            or a spec string: a built-in name, a saved model file or
            ``package.module:object`` (:func:`jaxattr.values.load`).
        baseline: ``"zero"``, ``"mean"`` (per-step population mean vector), ``"first"``
            (each agent's first step), or an array ``(d,)``, ``(N, d)``, ``(T, 1, d)`` or
            ``(T, N, d)``.
        method: ``"auto"`` (closed form if available, else path), ``"closed_form"`` or
            ``"path"``. Mean-field value functions take the agent-streaming path kernel.
        steps: K, path points of the quadrature (>= 1).
        rule: ``"midpoint"`` (the paper's), ``"trapezoid"`` or ``"gauss-legendre"``.
        chunk: path points per iteration of the path loop (default: 32 for value functions
            that evaluate points as one vectorised batch, ``path_vectorize``: heat;
            else 1); scratch is at most ``chunk × d × N`` floats.
        agent_chunk: stream agents in chunks of this size (mean-field path; N is padded
            internally), bounding scratch for large learned value networks.
        time_batch: time steps evaluated together (default: all for closed forms, one for
            path methods, which bounds memory).
        mesh: optional :class:`jax.sharding.Mesh`; agents are padded with zero-weight agents
            to a multiple of the ``agent_axis`` size and sharded over it.
        feature_major: the array is ``(T, d, N)`` (or ``(d, N)``), the engine's own layout.
        efficiency_tol: if given, a step's efficiency error above it is a failure
            (``status == "efficiency_gap"``).
        throw: raise on a failure (default). False returns the result with ``status`` and
            ``message`` set instead (phi may then hold NaN).

    Returns:
        :class:`Attribution` with ``phi`` ``(T, N)``, ``phi_features`` ``(T, N, d)``,
        ``delta`` ``(T,)`` and ``efficiency_error`` ``(T,)``.

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
    x, layout, names, times = _features(features_or_panel, feature_major)
    t, n, d = _dims(x.shape, layout)
    if t == 0 or n == 0 or d == 0:
        raise ValueError(f"empty panel: T={t}, N={n}, d={d} (need at least one time step, "
                         "one agent and one feature)")
    dtype = np.dtype(x.dtype) if np.dtype(x.dtype) == np.float64 else np.dtype(np.float32)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        dtype = np.dtype(np.float32)
    plan = resolve(value, method=method, baseline=baseline, steps=steps, rule=rule,
                   chunk=chunk, agent_chunk=agent_chunk, shape=(t, n, d), dtype=dtype)
    value = plan.value
    check_names = getattr(value, "check_panel_features", None)  # e.g. a trained DeepSet
    if names is not None and check_names is not None:
        check_names(names)

    # Value function sanity on a small slice, host-side, before the big compile.
    _check_value_output(value, d, n, np.dtype(dtype))

    # Placement: the features where the engine reads them; optional padding + sharding.
    host = x if isinstance(x, np.ndarray) else None
    mask = None
    b = plan.baseline.array
    if mesh is not None:
        size = _mesh_axis(mesh, agent_axis)
        n_pad = -(-n // size) * size
        if n_pad != n:
            if not value.supports_mask:
                raise ValueError(
                    f"N={n} is not divisible by the {size} devices of mesh axis "
                    f"{agent_axis!r}, and value function {value.name!r} takes no mask, so "
                    "agents cannot be padded; make N divisible or use a mean-field value")
            xs = np.asarray(x, dtype)
            xs = xs.transpose(0, 2, 1) if layout == "tnd" else xs
            x = np.concatenate([xs, np.zeros((t, d, n_pad - n), dtype)], axis=2)
            layout = "tdn"
            if b is not None and b.shape[-1] == n:
                b = np.concatenate([b, np.zeros((b.shape[0], d, n_pad - n), b.dtype)], axis=2)
        spec = P(None, agent_axis, None) if layout == "tnd" else P(None, None, agent_axis)
        x = jax.device_put(np.asarray(x, dtype) if isinstance(x, np.ndarray) else x,
                           NamedSharding(mesh, spec))
        if n_pad != n:
            mask_np = np.zeros(n_pad, dtype)
            mask_np[:n] = 1
            mask = jax.device_put(mask_np, NamedSharding(mesh, P(agent_axis)))
        if b is not None and b.shape[-1] == n_pad:
            b = jax.device_put(b, NamedSharding(mesh, P(None, None, agent_axis)))
    if isinstance(x, np.ndarray):
        placed = _place_cached(features_or_panel, x, dtype)
    else:
        placed = Placed(x if x.dtype == dtype else x.astype(dtype), np.zeros((), np.int32),
                        tuple(x.shape), False)
    return run_placed(placed, layout, plan, time_batch=time_batch, mask=mask, baseline=b,
                      n=n, names=names, times=times, host=host,
                      efficiency_tol=efficiency_tol, throw=throw)


def run_placed(placed: Placed, layout: str, plan: Plan, *, time_batch: int | None = None,
               mask=None, baseline=None, n: int | None = None, names=None, times=None,
               host=None, efficiency_tol: float | None = None,
               throw: bool = True) -> Attribution:
    """Run the compiled core on placed features and wrap the result (every runner's core).

    Args:
        placed: the features on their devices (:func:`jaxattr._memory.place`, or a
            jax.Array wrapped as :class:`Placed`); ``layout`` ``"tnd"`` or ``"tdn"``.
        plan: from :func:`jaxattr._methods.resolve`.
        time_batch: time steps evaluated together (default: all for closed forms, one for
            path methods, which bounds memory).
        mask: ``(N,)`` padding weights, or None; ``baseline`` overrides the plan's array
            (a padded or sharded copy of it); ``n`` real agents (phi is cut to them).
        host: the host array to locate non-finite entries in (default: the device array).
        efficiency_tol, throw: see :func:`attribute`.

    Returns:
        :class:`Attribution`.
    """
    value, method = plan.value, plan.method
    t = placed.shape[0]
    d = placed.shape[2] if layout == "tnd" else placed.shape[1]
    n_all = placed.shape[1] if layout == "tnd" else placed.shape[2]
    n = n_all if n is None else n
    args, run_kwargs = run_arguments(placed, layout, plan, time_batch=time_batch, mask=mask,
                                     baseline=baseline)
    phi, g, fz, fb, delta, err, negligible, ok, _ = run_compiled(args, run_kwargs)
    status, message = _diagnose(value, phi, fz, fb, err, ok, placed, layout, host)
    if n != phi.shape[1]:
        phi = phi[:, :n]

    def split(grad):
        return feature_split(args, run_kwargs, grad, n=n)

    res = Attribution(
        phi=phi, delta=delta, value_features=fz, value_baseline=fb, efficiency_error=err,
        delta_negligible=np.asarray(negligible), method=method.name, value_name=value.name,
        rule=plan.rule, steps=plan.steps, feature_names=names or [f"f{k}" for k in range(d)],
        time_labels=times or list(range(t)), status=status, message=message,
        _split=split, _grad=g)
    if status == "ok" and efficiency_tol is not None:
        res.flag_efficiency(efficiency_tol)
    if throw and res.status != "ok":
        raise ValueError(res.message)
    return res


def run_compiled(args: tuple, kwargs: dict, *, keep_grad: bool = False) -> tuple:
    """The compiled core on :func:`run_arguments`: ``(phi, G or None, f(Z), f(B), delta,
    efficiency_error, delta_negligible, all finite, sum phi)``, all per step."""
    return _run(*args, **kwargs, keep_grad=keep_grad)


def feature_split(args: tuple, kwargs: dict, grad, *, n: int) -> tuple:
    """``(phi_features (T, n, d), phi (T, n))``; ``grad`` None recomputes a per-agent G."""
    if grad is None:
        grad = run_compiled(args, kwargs, keep_grad=True)[1]
    return _split(*args, grad, shape=kwargs["shape"], windowed=kwargs["windowed"],
                  layout=kwargs["layout"], tag=kwargs["baseline_tag"], n=n,
                  has_mask=kwargs["has_mask"])


def run_arguments(placed: Placed, layout: str, plan: Plan, *, time_batch=None, mask=None,
                  baseline=None) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of the compiled core ``_run`` for placed features and a plan.

    The multi-process runner calls the core with them itself (its outputs span processes).
    """
    base, method = plan.baseline, plan.method
    t = placed.shape[0]
    d = placed.shape[2] if layout == "tnd" else placed.shape[1]
    dtype = placed.buf.dtype
    b = base.array if baseline is None else baseline
    # "mean" / "first" are computed from z inside the program; a placeholder goes in.
    b_arr = np.zeros((1, d, 1), dtype) if b is None else b
    mask_arg = mask if mask is not None else np.zeros((0,), dtype)
    if time_batch is None:
        time_batch = t if method.name == "closed_form" else 1
    kwargs = dict(
        value=plan.value, method=method.name, rule=plan.rule or "midpoint",
        steps=int(plan.steps or 1), chunk=getattr(method, "chunk", 1),
        agent_chunk=getattr(method, "agent_chunk", None), baseline_kind=base.kind,
        baseline_tag=base.tag, b_per_step=base.per_step,
        time_batch=_positive_int(time_batch, "time_batch"), shape=placed.shape,
        windowed=placed.windowed, layout=layout, has_mask=mask is not None)
    return (placed.buf, placed.offset, b_arr, mask_arg), kwargs


def _positive_int(x, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {x!r}")
    return int(x)


def _diagnose(value, phi, fz, fb, err, ok, placed, layout, host) -> tuple[str, str]:
    """``(status, message)`` of a finished run: what went wrong and what to do about it.

    Statuses, checked in this order: ``nonfinite_features`` (a NaN/inf in the input, located
    to its step, agent and feature), ``nonfinite_value`` (f itself is not finite at Z or B),
    ``nonfinite_gradient`` (finite values but non-finite attributions), ``ok``.
    """
    if not bool(ok):
        xs = host if host is not None else np.asarray(placed.buf)
        if xs.shape == placed.shape and not np.isfinite(xs).all():
            return "nonfinite_features", first_nonfinite(xs, layout, "features")
    for what, arr in (("f(features)", fz), ("f(baseline)", fb)):
        a = np.asarray(arr)
        if not np.isfinite(a).all():
            bad = int(np.flatnonzero(~np.isfinite(a))[0])
            return "nonfinite_value", (
                f"value function {value.name!r} returned {a[bad]} for {what} at time step "
                f"t={bad}; it must be finite on the features, the baseline and the path "
                "between them")
    e = np.asarray(err)
    if not bool(ok) or not np.isfinite(e).all():
        bad = int(np.flatnonzero(~(np.isfinite(e) & np.isfinite(np.asarray(phi).sum(1))))[0])
        return "nonfinite_gradient", (
            f"non-finite attributions at time step t={bad}: the gradient of {value.name!r} "
            "is not finite somewhere on the path (check f's domain between the baseline and "
            "the features, e.g. a log of a value that crosses zero)")
    return "ok", ""


def _place_cached(owner, x: np.ndarray, dtype) -> Placed:
    """Place a host buffer; on accelerators a Panel's device copy is made once.

    On the CPU backend placement is free (an alias), so nothing is cached and nothing can
    go stale. Elsewhere it is a transfer, cached on the Panel, whose buffer is read-only.
    """
    panel = hasattr(owner, "feature_major")
    if jax.default_backend() == "cpu" or not panel:
        return place(x, dtype, exact_if_aligned=panel)
    cached = getattr(owner, "_jaxattr_device", None)
    if cached is not None and cached[0] is x and cached[1] == np.dtype(dtype):
        return cached[2]
    placed = place(x, dtype)
    if _frozen(x):
        try:
            owner._jaxattr_device = (x, np.dtype(dtype), placed)
        except AttributeError:  # a Panel-like object with __slots__
            pass
    return placed


def _frozen(x: np.ndarray) -> bool:
    """No array in the chain of bases of ``x`` is writeable: its contents cannot change."""
    while isinstance(x, np.ndarray):
        if x.flags.writeable:
            return False
        x = x.base
    return True


@functools.lru_cache(maxsize=128)
def _check_value_output(value: ValueFunction, d: int, n: int, dtype) -> None:
    """Trace the value function abstractly (no compute): it must map (N, d) to a scalar.

    Cached per (value, shape, dtype): re-tracing cost 0.4-0.8 ms a call, against ~25 ms for
    a full-scale closed form. Failures raise and so are not cached.
    """
    try:
        out = jax.eval_shape(lambda zt: value.fm(zt), jax.ShapeDtypeStruct((d, n), dtype))
    except (TypeError, ValueError, IndexError) as e:
        raise ValueError(f"value function {value.name!r} failed on input of shape "
                         f"(N, d)=({n}, {d}): {e}") from e
    if out.shape != ():
        raise ValueError(f"value function {value.name!r} must return a scalar, "
                         f"got shape {out.shape}")
