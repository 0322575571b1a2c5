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
from ._result import Attribution
from ._validate import check_float_dtype, first_nonfinite
from ._values import COMMON, PER_AGENT, ZERO, ValueFunction, as_value

__all__ = ["Attribution", "attribute"]

METHODS = ("auto", "closed_form", "path")
BASELINES = ("zero", "mean", "first")

# delta is "within rounding noise of zero" below this many float-rounding units of
# |f(Z)| + |f(B)| (the values come from blocked float32 sums: ~1e-7 relative each).
_DELTA_NOISE_ULPS = 64


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


def _resolve_baseline(baseline, t, n, d, dtype):
    """Return (b, kind, per_step): b is (Tb, d, Nb) NumPy or a string tag."""
    if isinstance(baseline, str):
        if baseline == "zero":
            return np.zeros((1, d, 1), dtype), ZERO, False
        if baseline in ("mean", "first"):
            return baseline, (COMMON if baseline == "mean" else PER_AGENT), False
        raise ValueError(f"baseline must be one of {BASELINES} or an array, got {baseline!r}")
    b = np.asarray(baseline)
    check_float_dtype(b.dtype, "baseline")
    b = b.astype(dtype)
    expected = (f"(d,)=({d},), (N, d)=({n}, {d}), (T, 1, d)=({t}, 1, {d}) "
                f"or (T, N, d)=({t}, {n}, {d})")
    if b.ndim == 1 and b.shape == (d,):
        out, kind, per_step = b.reshape(1, d, 1), COMMON, False
    elif b.ndim == 2 and b.shape == (n, d):
        out, kind, per_step = b.T[None], PER_AGENT, False
    elif b.ndim == 3 and b.shape == (t, 1, d):
        out, kind, per_step = b.transpose(0, 2, 1), COMMON, True
    elif b.ndim == 3 and b.shape == (t, n, d):
        out, kind, per_step = b.transpose(0, 2, 1), PER_AGENT, True
    else:
        raise ValueError(f"baseline must have shape {expected}, got {b.shape}")
    if not np.isfinite(out).all():
        raise ValueError(first_nonfinite(out, "tdn", "baseline"))
    return np.ascontiguousarray(out), kind, per_step


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


_STATIC = ("value", "method", "rule", "steps", "chunk", "agent_chunk", "baseline_kind",
           "baseline_tag", "b_per_step", "time_batch", "shape", "windowed", "layout",
           "has_mask", "keep_grad")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _run(buf, offset, b, mask, *, value: ValueFunction, method, rule, steps, chunk,
         agent_chunk, baseline_kind, baseline_tag, b_per_step, time_batch, shape, windowed,
         layout, has_mask, keep_grad=False):
    z = _logical(buf, offset, shape=shape, windowed=windowed, layout=layout)
    mask = mask if has_mask else None
    if baseline_tag == "first":
        b = z[:1]
    if method in ("path", "path-meanfield"):
        alpha, w = kernels.quadrature(rule, steps)

    def step(zt, bt):
        if baseline_tag == "mean":
            bt = kernels.feature_means(zt, mask)[:, None]
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
            if method == "path-meanfield":
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
    if b_per_step:
        fn, xs = (lambda zb: step(*zb)), (z, b)
    else:
        fn, xs = (lambda zt: step(zt, b[0])), z
    out = jax.vmap(fn)(xs) if time_batch >= z.shape[0] else lax.map(fn, xs, batch_size=time_batch)
    phi, g, fz, fb, total = out
    if g.shape[-1] != 1 and not keep_grad:
        # A per-agent G (every path method; per-agent closed forms) would cost a (T, d, N)
        # write on the hot path and one more input-sized buffer at the peak; phi_features
        # recomputes it on demand (once, then cached) instead.
        g = None
    delta = fz - fb
    err, negligible = _efficiency_error(total, delta, fz, fb)
    return phi, g, fz, fb, delta, err, negligible, jnp.all(jnp.isfinite(total))


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


def _efficiency_error(total, delta, fz, fb):
    """``|sum_i phi_i - delta| / |delta|`` per step, and where ``delta`` is negligible.

    ``delta`` is negligible when it is within rounding noise of zero
    (``64 eps (|f(Z)| + |f(B)|)``; e.g. a linear value against the mean baseline, or a step
    equal to its baseline); the gap is then measured against ``|f(Z)| + |f(B)|``, the
    scale of that noise, so a wrong attribution is still caught.
    """
    eps = jnp.finfo(total.dtype).eps
    size = jnp.abs(fz) + jnp.abs(fb)
    negligible = jnp.abs(delta) <= _DELTA_NOISE_ULPS * eps * size
    scale = jnp.where(negligible, size, jnp.abs(delta))
    return jnp.abs(total - delta) / jnp.maximum(scale, jnp.finfo(total.dtype).tiny), negligible


@functools.partial(jax.jit, static_argnames=("shape", "windowed", "layout", "tag", "n",
                                             "has_mask"))
def _split(buf, offset, b, mask, grad, *, shape, windowed, layout, tag, n, has_mask):
    """``(phi_features (T, N, d), phi (T, N))`` from a path-averaged gradient."""
    z = _logical(buf, offset, shape=shape, windowed=windowed, layout=layout)
    mask = mask if has_mask else None
    if tag == "first":
        b = z[:1]
    elif tag == "mean":
        b = jax.vmap(lambda zt: kernels.feature_means(zt, mask)[:, None])(z)
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
              feature_major: bool = False, efficiency_tol: float | None = None) -> Attribution:
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
        value: a value object from :mod:`jaxattr.values`, a built-in name, or any callable
            ``(N, d) -> scalar``.
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
        efficiency_tol: if given, raise when a step's efficiency error exceeds it.

    Returns:
        :class:`Attribution` with ``phi`` ``(T, N)``, ``phi_features`` ``(T, N, d)``,
        ``delta`` ``(T,)`` and ``efficiency_error`` ``(T,)``.

    Raises:
        ValueError / TypeError: bad shapes, dtypes, NaN/inf (naming t, agent, feature),
            empty panels, K < 1, a value function returning a non-scalar or non-finite value.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.random.default_rng(0).random((2, 1000, 3), dtype=np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.heat())
        >>> att.phi.shape, float(att.efficiency_error.max()) < 1e-5
        ((2, 1000), True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    kernels.quadrature(rule, steps)  # validates rule and steps early
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int)
                              or chunk < 1):
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    value = as_value(value)
    if chunk is None:
        chunk = 32 if value.path_vectorize else 1
    x, layout, names, times = _features(features_or_panel, feature_major)
    t, n, d = _dims(x.shape, layout)
    if t == 0 or n == 0 or d == 0:
        raise ValueError(f"empty panel: T={t}, N={n}, d={d} (need at least one time step, "
                         "one agent and one feature)")
    dtype = np.dtype(x.dtype) if np.dtype(x.dtype) == np.float64 else np.dtype(np.float32)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        dtype = np.dtype(np.float32)
    b, kind, b_per_step = _resolve_baseline(baseline, t, n, d, dtype)
    tag = baseline if isinstance(baseline, str) and baseline in ("mean", "first") else None

    # Method choice. The path integral is jax.grad of f at each path point; the mean-field
    # kernel (aggregates, then per-agent VJPs) is taken when agents must be streamed
    # (agent_chunk), its purpose: bounded memory for large learned value networks. Without
    # streaming XLA fuses plain jax.grad better (heat, K=30, N=1e6: 20 ms vs 110 ms here).
    streamed = agent_chunk is not None and value.mean_field is not None
    if method == "auto":
        chosen = "closed_form" if value.has_closed_form(kind) else (
            "path-meanfield" if streamed else "path")
    elif method == "closed_form":
        if not value.has_closed_form(kind):
            raise ValueError(f"value function {value.name!r} has no closed form for a "
                             f"{kind.replace('_', '-')} baseline; use method='path'")
        chosen = "closed_form"
    else:
        chosen = "path-meanfield" if streamed else "path"
    if agent_chunk is not None:
        if isinstance(agent_chunk, bool) or not isinstance(agent_chunk, int) or agent_chunk < 1:
            raise ValueError(f"agent_chunk must be an integer >= 1, got {agent_chunk!r}")
        if chosen != "path-meanfield":
            agent_chunk = None
    if time_batch is None:
        time_batch = t if chosen == "closed_form" else 1

    # Value function sanity on a small slice, host-side, before the big compile.
    _check_value_output(value, d, n, np.dtype(dtype))

    # Placement: the features where the engine reads them; optional padding + sharding.
    host = x if isinstance(x, np.ndarray) else None
    mask = None
    n_pad = n
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
            if not isinstance(b, str) and b.shape[-1] == n:
                b = np.concatenate([b, np.zeros((b.shape[0], d, n_pad - n), b.dtype)], axis=2)
        spec = P(None, agent_axis, None) if layout == "tnd" else P(None, None, agent_axis)
        x = jax.device_put(np.asarray(x, dtype) if isinstance(x, np.ndarray) else x,
                           NamedSharding(mesh, spec))
        if n_pad != n:
            mask_np = np.zeros(n_pad, dtype)
            mask_np[:n] = 1
            mask = jax.device_put(mask_np, NamedSharding(mesh, P(agent_axis)))
        if not isinstance(b, str) and b.shape[-1] == n_pad:
            b = jax.device_put(b, NamedSharding(mesh, P(None, None, agent_axis)))
    if isinstance(x, np.ndarray):
        placed = _place_cached(features_or_panel, x, dtype)
    else:
        placed = Placed(x if x.dtype == dtype else x.astype(dtype), np.zeros((), np.int32),
                        tuple(x.shape), False)
    res = run_placed(placed, layout, value, method=chosen, rule=rule, steps=int(steps),
                     chunk=chunk, agent_chunk=agent_chunk, time_batch=int(time_batch), b=b,
                     kind=kind, b_per_step=b_per_step, tag=tag, mask=mask, n=n,
                     names=names, times=times, host=host)
    if efficiency_tol is not None:
        res.check_efficiency(efficiency_tol)
    return res


def run_placed(placed: Placed, layout: str, value: ValueFunction, *, method: str, rule: str,
               steps: int, chunk: int, agent_chunk, time_batch: int, b, kind: str,
               b_per_step: bool, tag, mask, n: int, names=None, times=None,
               host=None) -> Attribution:
    """Run the compiled core on placed features and wrap the result (every runner's core).

    ``b`` is the resolved baseline ``(Tb, d, Nb)`` or a tag string, ``mask`` the padding
    weights (or None), ``n`` the number of real agents (phi is cut to them), ``host`` the
    host array to locate non-finite entries in (default: the device array).
    """
    t = placed.shape[0]
    d = placed.shape[2] if layout == "tnd" else placed.shape[1]
    dtype = placed.buf.dtype
    # "mean" / "first" are computed from z inside the program; a placeholder goes in.
    b_arr = np.zeros((1, d, 1), dtype) if isinstance(b, str) else b
    mask_arg = mask if mask is not None else np.zeros((0,), dtype)
    run_kwargs = dict(
        value=value, method=method, rule=rule, steps=int(steps), chunk=chunk,
        agent_chunk=agent_chunk, baseline_kind=kind, baseline_tag=tag, b_per_step=b_per_step,
        time_batch=int(time_batch), shape=placed.shape, windowed=placed.windowed,
        layout=layout, has_mask=mask is not None)
    args = (placed.buf, placed.offset, b_arr, mask_arg)
    phi, g, fz, fb, delta, err, negligible, ok = _run(*args, **run_kwargs)

    if not bool(ok):
        xs = host if host is not None else np.asarray(placed.buf)
        if xs.shape == placed.shape and not np.isfinite(xs).all():
            raise ValueError(first_nonfinite(xs, layout, "features"))
    for what, arr in (("f(features)", fz), ("f(baseline)", fb)):
        a = np.asarray(arr)
        if not np.isfinite(a).all():
            bad = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ValueError(f"value function {value.name!r} returned {a[bad]} for {what} at "
                             f"time step t={bad}; it must be finite on the features, the "
                             "baseline and the path between them")
    if not bool(ok) or not np.isfinite(np.asarray(err)).all():
        bad = int(np.flatnonzero(~(np.isfinite(np.asarray(err))
                                   & np.isfinite(np.asarray(phi).sum(1))))[0])
        raise ValueError(f"non-finite attributions at time step t={bad}: the gradient of "
                         f"{value.name!r} is not finite somewhere on the path")

    if phi.shape[1] != n:
        phi = phi[:, :n]

    def split(grad):
        if grad is None:  # a per-agent G: recompute it once
            grad = _run(*args, **run_kwargs, keep_grad=True)[1]
        return _split(*args, grad, shape=placed.shape, windowed=placed.windowed,
                      layout=layout, tag=tag, n=n, has_mask=mask is not None)

    return Attribution(
        phi=phi, delta=delta, value_features=fz, value_baseline=fb, efficiency_error=err,
        delta_negligible=np.asarray(negligible), method=method, value_name=value.name,
        rule=None if method == "closed_form" else rule,
        steps=None if method == "closed_form" else int(steps),
        feature_names=names or [f"f{k}" for k in range(d)],
        time_labels=times or list(range(t)), _split=split, _grad=g)


def _place_cached(owner, x: np.ndarray, dtype) -> Placed:
    """Place a host buffer; on accelerators a Panel's device copy is made once.

    On the CPU backend placement is free (an alias), so nothing is cached and nothing can
    go stale. Elsewhere it is a transfer, cached on the Panel, whose buffer is read-only.
    """
    if jax.default_backend() == "cpu" or not hasattr(owner, "feature_major"):
        return place(x, dtype)
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
