"""The compiled core: one program per (value structure, method, baseline, shape, placement).

Every runner ends here: the eager front door (zero-copy placed host buffers), the traced
front door (arrays inside ``jit``/``vmap``/``grad``), a device mesh and several processes.
The value's *array* leaves are arguments of the program, traced, and its structure keys
the compile cache (as :func:`equinox.filter_jit` does): a new parameter value or a
retrained network of the same architecture reuses the program. The method object is static
and the program calls its :meth:`~jaxattr._methods.Method.step`; nothing here tests a
method's name.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxattr import kernels

from ._methods import Plan, positive_int
from ._result import efficiency_error, status_code
from ._util import Placed, view

__all__ = [
    "CoreOutput",
    "feature_split",
    "join_value",
    "run_arguments",
    "run_compiled",
    "split_value",
]


def _is_array(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic, jax.Array))


def split_value(value) -> tuple[tuple, Any]:
    """``(array leaves, static key)`` of a value pytree: arrays are traced, the rest keys the
    compile cache (functions by identity, names, flags, the tree structure)."""
    leaves, treedef = jax.tree_util.tree_flatten(value)
    if not leaves:
        return (), (treedef, ())
    dyn = tuple(x if _is_array(x) else None for x in leaves)
    static = tuple(None if _is_array(x) else x for x in leaves)
    return dyn, (treedef, static)


def join_value(dyn: tuple, key):
    treedef, static = key
    if not static:
        return jax.tree_util.tree_unflatten(treedef, [])
    return jax.tree_util.tree_unflatten(
        treedef, [d if s is None else s for d, s in zip(dyn, static, strict=True)]
    )


class CoreOutput(NamedTuple):
    """What the compiled core returns, every field per time step (T leading)."""

    phi: Any
    grad: Any  # the path-averaged gradient, per agent only when asked (keep_grad)
    fz: Any
    fb: Any
    delta: Any
    err: Any
    negligible: Any
    total: Any  # sum_i phi[t, i]
    code: Any  # Status code, int32 scalar


def _logical(buf, *, offset, shape, windowed, layout):
    """The placed buffer as a logical feature-major ``(T, d, N)`` array (a free view)."""
    x = view(buf, offset, shape, windowed)
    return jnp.swapaxes(x, 1, 2) if layout == "tnd" else x


def _logical_step(buf, i, *, offset, shape, windowed, layout):
    """Step ``i`` of :func:`_logical`, sliced from the buffer itself (inside a loop body a
    slice of the whole logical view would be hoisted and materialised before the loop)."""
    size = int(np.prod(shape[1:]))
    if windowed:
        x = lax.dynamic_slice(buf, (offset + i * size,), (size,)).reshape(shape[1:])
    else:
        x = lax.dynamic_index_in_dim(buf, i, keepdims=False)
    return x.T if layout == "tnd" else x


_STATIC = (
    "offset",
    "value_key",
    "method",
    "baseline_kind",
    "baseline_tag",
    "b_per_step",
    "time_batch",
    "shape",
    "windowed",
    "layout",
    "has_mask",
    "keep_grad",
    "tol",
)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _run(
    buf,
    b,
    mask,
    value_dyn,
    *,
    offset,
    value_key,
    method,
    baseline_kind,
    baseline_tag,
    b_per_step,
    time_batch,
    shape,
    windowed,
    layout,
    has_mask,
    keep_grad=False,
    tol=None,
) -> CoreOutput:
    value = join_value(value_dyn, value_key)
    z = _logical(buf, offset=offset, shape=shape, windowed=windowed, layout=layout)
    check_value_output(value, z.shape[1], z.shape[2], z.dtype)  # at trace time only
    mask = mask.astype(z.dtype) if has_mask else None
    if baseline_tag == "first":  # sliced as the loop below slices step 0: same arithmetic
        b0 = _logical_step(buf, 0, offset=offset, shape=shape, windowed=windowed, layout=layout)
        b = b0[None]
    else:
        b = b.astype(z.dtype)

    def step(zt, bt):
        if baseline_tag == "mean":
            bt = kernels.mean_baseline(zt, mask)[:, None]
        phi, g, fz, fb = method.step(value, zt, bt, mask, baseline_kind)
        if mask is not None:
            phi = phi * mask
        # A NaN/inf anywhere in z propagates into phi, so sum phi is also the finite check.
        # A plain sum over phi's contiguous agent axis, not the blocked reduce of
        # agent_sums: XLA CPU compiles it to one reduce kernel that is as accurate (its own
        # blocked accumulation) and does not pad phi to whole blocks first.
        total = jnp.sum(phi, axis=-1)
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
            zt = _logical_step(buf, i, offset=offset, shape=shape, windowed=windowed, layout=layout)
            return step(zt, lax.dynamic_index_in_dim(b, i, keepdims=False) if b_per_step else b[0])

        out = lax.map(one, jnp.arange(z.shape[0]), batch_size=time_batch)
    phi, g, fz, fb, total = out
    if g.shape[-1] != 1 and not keep_grad:
        # A per-agent G (every path method; per-agent closed forms) would cost a (T, d, N)
        # write on the hot path and one more input-sized buffer at the peak; phi_features
        # recomputes it on demand (once, then cached) instead.
        g = None
    delta = fz - fb
    err, negligible = efficiency_error(total, delta, fz, fb, jnp.finfo(total.dtype).eps, jnp)
    return CoreOutput(
        phi, g, fz, fb, delta, err, negligible, total, status_code(fz, fb, total, err, tol)
    )


def check_value_output(value, d: int, n: int, dtype) -> None:
    """Trace the value function abstractly (no compute): it must map (N, d) to a scalar.

    Called while the core is traced, so it costs nothing per call.

    Raises:
        ValueError: the value fails on a ``(N, d)`` input or returns a non-scalar.
    """
    try:
        out = jax.eval_shape(lambda zt: value.fm(zt), jax.ShapeDtypeStruct((d, n), dtype))
    except (TypeError, ValueError, IndexError) as e:
        raise ValueError(
            f"value function {value.name!r} failed on input of shape (N, d)=({n}, {d}): {e}"
        ) from e
    if out.shape != ():
        raise ValueError(
            f"value function {value.name!r} must return a scalar, got shape {out.shape}"
        )


@functools.partial(
    jax.jit, static_argnames=("offset", "shape", "windowed", "layout", "tag", "n", "has_mask")
)
def _split(buf, b, mask, grad, *, offset, shape, windowed, layout, tag, n, has_mask):
    """``(phi_features (T, N, d), phi (T, N))`` from a path-averaged gradient."""
    z = _logical(buf, offset=offset, shape=shape, windowed=windowed, layout=layout)
    mask = mask.astype(z.dtype) if has_mask else None
    if tag == "first":
        b = z[:1]
    elif tag == "mean":
        b = jax.vmap(lambda zt: kernels.mean_baseline(zt, mask)[:, None])(z)
    else:
        b = b.astype(z.dtype)
    out = (z - b) * grad
    if mask is not None:
        out = out * mask[None, None, :]
    out = jnp.swapaxes(out[..., :n], 1, 2)
    return out, jnp.sum(out, axis=-1)


def run_arguments(
    placed: Placed,
    layout: str,
    plan: Plan,
    *,
    time_batch=None,
    mask=None,
    baseline=None,
    efficiency_tol: float | None = None,
) -> tuple[tuple, dict]:
    """``(args, kwargs)`` of the compiled core for placed features and a plan.

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
    dyn, key = split_value(plan.value)
    kwargs = dict(
        offset=int(placed.offset),
        value_key=key,
        method=method,
        baseline_kind=base.kind,
        baseline_tag=base.tag,
        b_per_step=base.per_step,
        time_batch=positive_int(time_batch, "time_batch"),
        shape=tuple(placed.shape),
        windowed=placed.windowed,
        layout=layout,
        has_mask=mask is not None,
        tol=None if efficiency_tol is None else float(efficiency_tol),
    )
    return (placed.buf, b_arr, mask_arg, dyn), kwargs


def run_compiled(args: tuple, kwargs: dict, *, keep_grad: bool = False) -> CoreOutput:
    """The compiled core on :func:`run_arguments`."""
    return _run(*args, **kwargs, keep_grad=keep_grad)


def feature_split(args: tuple, kwargs: dict, grad, *, n: int) -> tuple:
    """``(phi_features (T, n, d), phi (T, n))``; ``grad`` None recomputes a per-agent G."""
    if grad is None:
        grad = run_compiled(args, kwargs, keep_grad=True).grad
    buf, b, mask, _ = args
    return _split(
        buf,
        b,
        mask,
        grad,
        offset=kwargs["offset"],
        shape=kwargs["shape"],
        windowed=kwargs["windowed"],
        layout=kwargs["layout"],
        tag=kwargs["baseline_tag"],
        n=n,
        has_mask=kwargs["has_mask"],
    )
