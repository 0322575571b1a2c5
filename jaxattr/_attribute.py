"""``jaxattr.attribute``: the one entry point of the engine."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxattr import kernels

from ._validate import check_float_dtype, first_nonfinite
from ._values import COMMON, PER_AGENT, ZERO, ValueFunction, as_value

METHODS = ("auto", "closed_form", "path")
BASELINES = ("zero", "mean", "first")


# ------------------------------------------------------------------------- result


@dataclasses.dataclass
class Attribution:
    """Per-agent, per-step attributions of one value function over a panel.

    Attributes:
        phi: ``(T, N)`` per-agent attributions, ``phi[t, i] = sum_k phi_features[t, i, k]``.
        delta: ``(T,)`` ``f(Z_t) - f(B_t)``.
        value_features: ``(T,)`` ``f(Z_t)``; value_baseline: ``(T,)`` ``f(B_t)``.
        efficiency_error: ``(T,)`` ``|sum_i phi[t, i] - delta[t]| / max(|delta|, sum |phi|)``
            (0 where both are below the float resolution of f; ``sum |phi|`` is skipped,
            giving an upper bound, when every gap is already <= 1e-6 |delta|).
        method: ``"closed_form"``, ``"path"`` or ``"path-meanfield"``; rule, steps: the
            quadrature used by a path method (None for closed forms).
    """

    phi: jax.Array
    delta: jax.Array
    value_features: jax.Array
    value_baseline: jax.Array
    efficiency_error: jax.Array
    method: str
    value_name: str
    rule: str | None
    steps: int | None
    feature_names: list[str]
    time_labels: list[Any]
    _grad: Any = dataclasses.field(repr=False, default=None)
    _n: int = dataclasses.field(repr=False, default=0)
    _inputs: Any = dataclasses.field(repr=False, default=None)  # (z, baseline, mask) of _run
    _run_kwargs: Any = dataclasses.field(repr=False, default=None)

    def _gradient(self):
        if self._grad is None:  # a per-agent G: recomputed on demand, then cached
            self._grad = _run(*self._inputs, **self._run_kwargs, keep_grad=True)[1]
        return self._grad

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.phi.shape)

    @property
    def phi_features(self) -> jax.Array:
        """``(T, N, d)`` per-feature split, ``(Z - B) * mean path gradient``.

        Computed on first access: where the path-averaged gradient is per agent (path
        methods, per-agent closed forms) that re-runs the computation once, so the
        per-feature split costs nothing unless asked for.
        """
        kw = self._run_kwargs
        return _phi_features(*self._inputs, self._gradient(), n=self._n,
                             tag=kw["baseline_tag"], layout_nd=kw["layout_nd"],
                             has_mask=kw["has_mask"])

    @property
    def mean_gradient(self) -> jax.Array:
        """``(T, N, d)`` path-averaged gradient (the integral in DESIGN §1)."""
        t, n = self.phi.shape
        d = len(self.feature_names)
        grad = self._gradient()
        # compact shapes ((1|T, 1|d, 1|N_pad)) broadcast; padding agents are cut off
        g = jnp.broadcast_to(grad, (t, d, max(grad.shape[-1], n)))[..., :n]
        return jnp.swapaxes(g, 1, 2)

    def max_efficiency_error(self) -> float:
        return float(jnp.max(self.efficiency_error))

    def check_efficiency(self, tol: float = 1e-4) -> None:
        """Raise if any step's relative efficiency gap exceeds ``tol``."""
        err = np.asarray(self.efficiency_error)
        if err.size and float(err.max()) > tol:
            t = int(err.argmax())
            hint = ("raise `steps` or use rule='gauss-legendre'" if self.method.startswith("path")
                    else "compute in float64 (jax.config.update('jax_enable_x64', True))")
            raise ValueError(f"efficiency gap {err.max():.3g} at time step t={t} exceeds "
                             f"{tol:g} for value {self.value_name!r} ({self.method}); {hint}")

    # -- aggregation ----------------------------------------------------------------
    def by_agent(self) -> jax.Array:
        """``(N,)`` attributions summed over time."""
        return jnp.sum(self.phi, axis=0)

    def by_time(self) -> jax.Array:
        """``(T,)`` attributions summed over agents (equals ``delta`` by efficiency)."""
        return jnp.sum(self.phi, axis=1)

    def by_group(self, labels, n_groups: int | None = None) -> jax.Array:
        """``(T, G)`` attributions summed within groups; ``labels`` ``(N,)`` ints in [0, G)."""
        labels = np.asarray(labels)
        if labels.shape != (self.phi.shape[1],):
            raise ValueError(f"labels must have shape ({self.phi.shape[1]},), "
                             f"got {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        if labels.size and labels.min() < 0:
            raise ValueError(f"labels must be >= 0, got min {labels.min()}")
        g = int(labels.max()) + 1 if n_groups is None else int(n_groups)
        return jax.vmap(lambda p: jax.ops.segment_sum(p, jnp.asarray(labels), g))(self.phi)

    def shares(self, axis: str = "agent") -> jax.Array:
        """Normalised shares ``phi / sum phi`` per step (``axis='agent'``) or over the window.

        Raises:
            ValueError: a zero total (shares undefined), naming the step.
        """
        if axis == "agent":
            tot = np.asarray(jnp.sum(self.phi, axis=1))
            bad = np.flatnonzero(tot == 0)
            if bad.size:
                raise ValueError(f"total attribution is zero at time step t={int(bad[0])}: "
                                 "shares are undefined there (delta = 0: nothing to share)")
            return self.phi / jnp.asarray(tot)[:, None]
        if axis == "window":
            tot = float(jnp.sum(self.phi))
            if tot == 0:
                raise ValueError("total attribution over the window is zero: shares are "
                                 "undefined")
            return self.by_agent() / tot
        raise ValueError(f"axis must be 'agent' or 'window', got {axis!r}")

    def to_numpy(self) -> dict[str, np.ndarray]:
        """phi, phi_features, delta, efficiency_error and values as NumPy arrays."""
        return {
            "phi": np.asarray(self.phi),
            "phi_features": np.asarray(self.phi_features),
            "delta": np.asarray(self.delta),
            "value_features": np.asarray(self.value_features),
            "value_baseline": np.asarray(self.value_baseline),
            "efficiency_error": np.asarray(self.efficiency_error),
        }

    def __repr__(self) -> str:
        t, n = self.phi.shape
        return (f"Attribution(value={self.value_name!r}, method={self.method!r}, T={t}, N={n}, "
                f"max efficiency_error={self.max_efficiency_error():.2e})")


@functools.partial(jax.jit, static_argnames=("n", "tag", "layout_nd", "has_mask"))
def _phi_features(z, b, mask, grad, *, n, tag, layout_nd, has_mask):
    if layout_nd:
        z = jnp.swapaxes(z, 1, 2)
    if tag == "first":
        b = z[:1]
    elif tag == "mean":
        b = (jnp.mean(z, axis=-1, keepdims=True) if not has_mask
             else jnp.sum(z * mask[None, None, :], axis=-1, keepdims=True) / jnp.sum(mask))
    out = (z - b) * grad
    if has_mask:
        out = out * mask[None, None, :]
    return jnp.swapaxes(out[..., :n], 1, 2)


# ------------------------------------------------------------------------- inputs


def _as_feature_major(x) -> tuple[Any, list[str] | None, list[Any] | None]:
    """Return features as ``(T, d, N)`` (NumPy, zero-copy where possible) or a jax.Array
    ``(T, N, d)`` left on its devices (transposed inside the compiled program)."""
    names = times = None
    if hasattr(x, "feature_major"):  # a Panel
        fm = x.feature_major
        names, times = list(x.feature_names), list(x.time_labels)
        return fm, names, times
    if isinstance(x, jax.Array):
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"features must have shape (T, N, d) or (N, d), got {x.shape}")
        check_float_dtype(x.dtype, "features")
        return x, names, times
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"features must be a Panel, a NumPy array or a jax.Array, "
                        f"got {type(x).__name__}")
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"features must have shape (T, N, d) or (N, d), got {x.shape}")
    check_float_dtype(x.dtype, "features")
    dtype = np.float32 if x.dtype != np.float64 or not jax.config.jax_enable_x64 else np.float64
    fm = np.ascontiguousarray(x.transpose(0, 2, 1), dtype=dtype)  # no copy if already so
    return fm, names, times


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


_STATIC = ("value", "method", "rule", "steps", "chunk", "agent_chunk", "baseline_kind",
           "baseline_tag", "b_per_step", "time_batch", "layout_nd", "has_mask", "keep_grad")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _run(z, b, mask, *, value: ValueFunction, method, rule, steps, chunk, agent_chunk,
         baseline_kind, baseline_tag, b_per_step, time_batch, layout_nd, has_mask,
         keep_grad=False):
    if layout_nd:
        z = jnp.swapaxes(z, 1, 2)  # (T, N, d) -> (T, d, N); sharding on N is kept
    mask = mask if has_mask else None
    if baseline_tag == "first":
        b = z[:1]
    if method in ("path", "path-meanfield"):
        alpha, w = kernels.quadrature(rule, steps)
    common = baseline_kind in (ZERO, COMMON)

    def step(zt, bt):
        if baseline_tag == "mean":
            bt = (jnp.mean(zt, axis=-1, keepdims=True) if mask is None
                  else jnp.sum(zt * mask[None, :], axis=-1, keepdims=True) / jnp.sum(mask))
        if common and getattr(value, "supports_mask", False):
            # Identical agents: a population-normalised f equals its one-agent value.
            fb = value.fm(bt[:, :1])
        else:
            fb = value.fm(jnp.broadcast_to(bt, zt.shape), mask)
        if method == "closed_form":
            fz, g = value.value_and_closed_form(zt, bt, mask, baseline_kind=baseline_kind)
        elif method == "path-meanfield":
            fz = value.fm(zt, mask)
            gfun, hfun = value.mean_field
            g = kernels.meanfield_path_gradient(gfun, hfun, zt, bt, alpha, w, mask,
                                                chunk=chunk, agent_chunk=agent_chunk)
        else:
            fz = value.fm(zt, mask)
            g = kernels.path_gradient(lambda x: value.fm(x, mask), zt, bt, alpha, w,
                                      chunk=chunk, vectorize=value.path_vectorize)
        phi = _contract(zt, bt, g)
        if mask is not None:
            phi = phi * mask
        # A NaN/inf anywhere in z propagates into phi, so sum phi is also the finite check.
        return phi, g, fz, fb, jnp.sum(phi)

    # All steps in one batch: a plain vmap, not lax.map (a while loop even for one batch),
    # so outputs dropped below (a per-agent G) are eliminated rather than written.
    if b_per_step:
        fn, xs = (lambda zb: step(*zb)), (z, b)
    else:
        fn, xs = (lambda zt: step(zt, b[0])), z
    out = jax.vmap(fn)(xs) if time_batch >= z.shape[0] else lax.map(fn, xs, batch_size=time_batch)
    phi, g, fz, fb, total = out
    ok = jnp.all(jnp.isfinite(total))
    if g.shape[-1] != 1 and not keep_grad:
        # A per-agent G (every path method; per-agent closed forms) would cost a (T, d, N)
        # write on the hot path and one more input-sized buffer at the peak; phi_features
        # recomputes it on demand (once, then cached) instead.
        g = None
    delta = fz - fb
    # sum |phi| only guards the denominator against cancelling attributions, so it can only
    # lower the error: skip its pass over phi when gap / |delta| is already <= 1e-6.
    fine = jnp.all(jnp.abs(total - delta) <= 1e-6 * jnp.abs(delta))
    mass = lax.cond(fine, lambda p: jnp.abs(total), lambda p: jnp.sum(jnp.abs(p), axis=1), phi)
    err = _efficiency_error(total, mass, delta, fz, fb)
    return phi, g, fz, fb, delta, err, ok.all()


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


def _efficiency_error(total, mass, delta, fz, fb):
    """``|sum_i phi_i - delta| / max(|delta|, sum_i |phi_i|)`` per step.

    ``total`` and ``mass`` are ``sum_i phi_i`` and ``sum_i |phi_i|`` (the caller skips the
    mass, using ``|total|``, when every step's gap is already <= 1e-6 |delta|: the mass
    can only lower the error, so the value reported is then an upper bound). Dividing by the mass
    as well as ``|delta|`` keeps the measure meaningful when the attributions cancel (a
    mean baseline of a linear f gives delta = 0 exactly). When both are below the float
    resolution of f itself (8 eps (|f(Z)| + |f(B)|)), e.g. a step equal to its baseline,
    there is nothing to distribute and the error is 0.
    """
    gap = jnp.abs(total - delta)
    scale = jnp.maximum(jnp.abs(delta), mass)
    resolution = 8 * jnp.finfo(total.dtype).eps * (jnp.abs(fz) + jnp.abs(fb))
    return jnp.where(scale <= resolution, 0.0,
                     gap / jnp.maximum(scale, jnp.finfo(total.dtype).tiny))


def _mesh_axis(mesh, agent_axis):
    if agent_axis not in mesh.axis_names:
        raise ValueError(f"mesh has axes {mesh.axis_names}; agent_axis={agent_axis!r} "
                         "is not one of them")
    return mesh.shape[agent_axis]


# ------------------------------------------------------------------------- entry point


def attribute(features_or_panel, value, *, baseline="zero", method="auto", steps: int = 30,
              rule: str = "midpoint", chunk: int | None = None, agent_chunk: int | None = None,
              time_batch: int | None = None, mesh=None, agent_axis: str = "agents",
              efficiency_tol: float | None = None) -> Attribution:
    """Aumann–Shapley attribution of a macro value function to agents and time steps.

    ``phi[t, i] = sum_k (Z - B)[t, i, k] ∫_0^1 df/dz[i, k](B_t + a (Z_t - B_t)) da``; the
    integral is taken in closed form where the value function has one, else by a K-point
    quadrature of ``jax.grad`` (memory-bounded: ``chunk`` path points at a time).

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
    x, names, times = _as_feature_major(features_or_panel)
    check_names = getattr(value, "check_panel_features", None)  # e.g. a trained DeepSet
    if names is not None and check_names is not None:
        check_names(names)
    layout_nd = isinstance(x, jax.Array)
    if layout_nd:
        t, n, d = x.shape
    else:
        t, d, n = x.shape
    if t == 0 or n == 0 or d == 0:
        raise ValueError(f"empty panel: T={t}, N={n}, d={d} (need at least one time step, "
                         "one agent and one feature)")
    dtype = np.dtype(x.dtype) if np.dtype(x.dtype) == np.float64 else np.dtype(np.float32)
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

    # Placement: optional padding + sharding over the agent axis.
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
            xs = np.asarray(x) if not layout_nd else np.asarray(x).transpose(0, 2, 1)
            x = np.concatenate([xs, np.zeros((t, d, n_pad - n), xs.dtype)], axis=2)
            layout_nd = False
            if not isinstance(b, str) and b.shape[-1] == n:
                b = np.concatenate([b, np.zeros((b.shape[0], d, n_pad - n), b.dtype)], axis=2)
        spec = P(None, agent_axis, None) if layout_nd else P(None, None, agent_axis)
        x = jax.device_put(x, NamedSharding(mesh, spec))
        mask_np = np.zeros(n_pad, dtype)
        mask_np[:n] = 1
        mask = jax.device_put(mask_np, NamedSharding(mesh, P(agent_axis)))
        if n_pad == n:
            mask = None
        if not isinstance(b, str) and b.shape[-1] == n_pad:
            b = jax.device_put(b, NamedSharding(mesh, P(None, None, agent_axis)))
    # "mean" / "first" are computed from z inside the program; a placeholder goes in.
    b_arr = np.zeros((1, d, 1), dtype) if isinstance(b, str) else b

    if not layout_nd and isinstance(x, np.ndarray):
        x = _device_copy(features_or_panel, x)
    mask_arg = mask if mask is not None else np.zeros((0,), dtype)
    run_kwargs = dict(
        value=value, method=chosen, rule=rule, steps=int(steps), chunk=chunk,
        agent_chunk=agent_chunk, baseline_kind=kind, baseline_tag=tag, b_per_step=b_per_step,
        time_batch=int(time_batch), layout_nd=layout_nd, has_mask=mask is not None)
    phi, g, fz, fb, delta, err, ok = _run(x, b_arr, mask_arg, **run_kwargs)

    if not bool(ok):
        xs = np.asarray(x)
        if not np.isfinite(xs).all():
            raise ValueError(first_nonfinite(xs, "tnd" if layout_nd else "tdn", "features"))
    for name, arr in (("f(features)", fz), ("f(baseline)", fb)):
        a = np.asarray(arr)
        if not np.isfinite(a).all():
            bad = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ValueError(f"value function {value.name!r} returned {a[bad]} for {name} at "
                             f"time step t={bad}; it must be finite on the features, the "
                             "baseline and the path between them")
    if not bool(ok) or not np.isfinite(np.asarray(err)).all():
        bad = int(np.flatnonzero(~(np.isfinite(np.asarray(err))
                                   & np.isfinite(np.asarray(phi).sum(1))))[0])
        raise ValueError(f"non-finite attributions at time step t={bad}: the gradient of "
                         f"{value.name!r} is not finite somewhere on the path")

    if n_pad != n:
        phi = phi[:, :n]
    res = Attribution(
        phi=phi, delta=delta, value_features=fz, value_baseline=fb, efficiency_error=err,
        method=chosen, value_name=value.name,
        rule=None if chosen == "closed_form" else rule,
        steps=None if chosen == "closed_form" else int(steps),
        feature_names=names or [f"f{k}" for k in range(d)],
        time_labels=times or list(range(t)), _grad=g, _n=n,
        _inputs=(x, b_arr, mask_arg), _run_kwargs=run_kwargs)
    if efficiency_tol is not None:
        res.check_efficiency(efficiency_tol)
    return res


def _device_copy(owner, x):
    """Put a NumPy feature-major buffer on the default device, once per Panel."""
    if hasattr(owner, "feature_major"):
        cached = getattr(owner, "_jaxattr_device_fm", None)
        if cached is not None and cached[0] is x:
            return cached[1]
        arr = jnp.asarray(x)
        try:
            owner._jaxattr_device_fm = (x, arr)
        except AttributeError:  # a Panel with __slots__
            pass
        return arr
    return jnp.asarray(x)


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
