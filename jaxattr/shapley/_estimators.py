"""Reference estimators of the Shapley family for one step (the coalition game of docs/shapley.md).

The coalition game is baseline replacement: ``v(S) = f(Z with agents outside S set to their
baseline)`` for one step ``z`` ``(N, d)`` and a baseline ``(d,)`` or ``(N, d)``.

Two routes evaluate coalition values:

- **mean-field** (value objects with ``value.mean_field = (g, h)``, ``f = h(mean_i g(z_i))``):
  ``v(S) = h(A_0 + sum_{i in S} D_i)`` with ``D_i = (g(z_i) - g(b_i)) / N`` and
  ``A_0 = mean_i g(b_i)``, so a coalition, a permutation prefix or a leave-one-out set is an
  O(m) update of the aggregates: a permutation costs O(N·m), leave-one-out O(N·m) in all;
- **generic** (any ``f``): every coalition value is one evaluation of ``f`` on ``(N, d)``,
  batched with ``jax.vmap`` (``lax.map(batch_size=...)``): a permutation costs N + 1
  evaluations, O(N²·d) for the built-ins.

Every estimator is jit-compiled on its first call for given (value, N, d, dtype, options)
and reused after; the sampled ones take an explicit ``jax.random`` key.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any, Literal, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from jaxattr import kernels
from jaxattr._core import join_value, split_value

from .._util import check_float_dtype, first_nonfinite
from ..values import ValueFunction, as_value

EXACT_MAX_AGENTS = 20
"""Exact enumeration (:func:`exact_shapley`, :func:`exact_banzhaf`) is meant for
N <= ``EXACT_MAX_AGENTS`` agents (2^20 coalitions); above 25 it needs ``force=True`` and
above 30 it is refused.

Example:
    >>> from jaxattr import shapley
    >>> shapley.EXACT_MAX_AGENTS
    20
"""
FORCE_AGENTS = 25
HARD_MAX_AGENTS = 30  # int32 coalition indices
ROUTES = ("auto", "mean-field", "generic")
"""The coalition-value routes of every estimator's ``route=`` argument: ``"mean-field"``
(O(m) aggregate updates, for values with a decomposition ``f = h(mean_i g(z_i))``),
``"generic"`` (one evaluation of f per coalition) or ``"auto"`` (mean-field when available).

Example:
    >>> from jaxattr import shapley
    >>> shapley.ROUTES
    ('auto', 'mean-field', 'generic')
"""
BANZHAF_ESTIMATORS = ("auto", "msr", "marginal")
"""The estimators of :func:`sampled_banzhaf` (``estimator=``): maximum sample reuse
(``"msr"``), per-coalition marginals (``"marginal"``), or ``"auto"``.

Example:
    >>> from jaxattr import shapley
    >>> shapley.BANZHAF_ESTIMATORS
    ('auto', 'msr', 'marginal')
"""

Value = ValueFunction | str | Callable[..., Any]
Baseline = str | Float[ArrayLike, " d"] | Float[ArrayLike, "N d"] | None


@dataclasses.dataclass(frozen=True)
class ShapleyResult:
    """An estimate of one step's per-agent values, with what it cost.

    Returned by every estimator of this module with ``return_result=True``; its fields are
    its constructor's arguments.

    Args:
        phi: ``Float[Array, " N"]`` estimated values.
        stderr: ``Float[Array, " N"]`` standard errors of ``phi`` (sampled estimators),
            else ``None``.
        delta: ``v(N) - v(∅) = f(z) - f(baseline)`` (what efficient values sum to).
        method: ``"exact_shapley"``, ``"exact_banzhaf"``, ``"sampled_shapley"``,
            ``"sampled_banzhaf"`` or ``"leave_one_out"``.
        route: ``"mean-field"`` or ``"generic"``.
        estimator: e.g. ``"enumeration"``, ``"permutation"``, ``"antithetic"``, ``"msr"``,
            ``"marginal"``, ``"leave-one-out"``.
        n_samples: permutations (antithetic pairs count as 2) or coalitions drawn.
        n_evaluations: coalition values computed (O(1) updates on the mean-field route).
        seconds: wall time including compilation on a first call.
        stopped_by: ``"n_samples"``, ``"target_stderr"``, ``"max_evaluations"``,
            ``"max_time"`` or ``"exact"``.

    Raises:
        TypeError: a missing or unknown field (the dataclass constructor).

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], np.float32)  # N = 3, d = 2
        >>> res = jaxattr.shapley.leave_one_out("linear", z, return_result=True)
        >>> print(res.method, res.route, res.n_evaluations, round(res.efficiency_error, 4))
        leave_one_out mean-field 4 0.0
    """

    phi: Float[Array, " N"]
    stderr: Float[Array, " N"] | None
    delta: Float[Array, ""]
    method: str
    route: str
    estimator: str
    n_samples: int
    n_evaluations: int
    seconds: float
    stopped_by: str

    @property
    def efficiency_error(self) -> float:
        """``|sum_i phi_i - delta| / max(|delta|, sum_i |phi_i|)``, as in ``attribute``.

        Dividing by ``sum |phi|`` too keeps it meaningful when delta = 0 (a linear f with
        the mean baseline). Banzhaf values and LOO are not efficient in general.

        Returns:
            The relative gap, 0.0 when ``phi`` and ``delta`` are all zero.
        """
        d = float(self.delta)
        scale = max(abs(d), float(jnp.sum(jnp.abs(self.phi))))
        if scale == 0.0:
            return 0.0
        return abs(float(jnp.sum(self.phi)) - d) / scale


# ---------------------------------------------------------------------------- inputs


def _value_jit(*static: str):
    """``jax.jit`` of ``fn(value, ...)`` with the value split as the core splits it
    (:func:`jaxattr._core.split_value`): its array leaves are traced and its structure keys
    the cache, so a value with array fields (a combination's coefficients, a DeepSet's
    weights) works and a new parameter reuses the program; ``static`` names the other
    static arguments."""

    def deco(fn):
        @functools.partial(jax.jit, static_argnames=("value_key", *static))
        def inner(value_dyn, *args, value_key, **kwargs):
            return fn(join_value(value_dyn, value_key), *args, **kwargs)

        @functools.wraps(fn)
        def outer(value, *args, **kwargs):
            dyn, key = split_value(value)
            return inner(dyn, *args, value_key=key, **kwargs)

        outer._cache_size = inner._cache_size  # type: ignore[attr-defined]
        return outer

    return deco


def _prepare(value, z, baseline, fname: str):
    """Validate one step; return (value, zt (d, N), bt (d, N)) on the device."""
    value = as_value(value)
    if isinstance(z, (list, tuple)):
        z = np.asarray(z)
    if not isinstance(z, (np.ndarray, jax.Array)):
        raise TypeError(
            f"{fname}: z must be a NumPy array or a jax.Array of shape (N, d), "
            f"got {type(z).__name__}"
        )
    if z.ndim != 2:
        raise ValueError(
            f"{fname}: z must have shape (N, d) (one time step), got {z.shape}; "
            "for a panel (T, N, d) call it on each step z[t]"
        )
    n, d = z.shape
    if n == 0 or d == 0:
        raise ValueError(
            f"{fname}: empty step: N={n}, d={d} (need at least one agent and one feature)"
        )
    check_float_dtype(z.dtype, f"{fname}: z")
    x64 = jax.config.jax_enable_x64  # pyright: ignore[reportAttributeAccessIssue]  # a flag jax registers at runtime
    dtype = np.float64 if np.dtype(z.dtype) == np.float64 and x64 else np.float32
    zh = np.asarray(z)
    if not np.isfinite(zh).all():
        raise ValueError(f"{fname}: " + first_nonfinite(zh, "nd", "z"))
    if isinstance(baseline, str):
        if baseline == "zero":
            b = np.zeros((d,), dtype)
        elif baseline == "mean":
            b = zh.mean(axis=0)
        else:
            raise ValueError(
                f"{fname}: baseline must be 'zero', 'mean' or an array of shape "
                f"(d,)=({d},) or (N, d)=({n}, {d}), got {baseline!r}"
            )
    elif baseline is None:
        b = np.zeros((d,), dtype)
    else:
        b = np.asarray(baseline)
        check_float_dtype(b.dtype, f"{fname}: baseline")
        if b.shape not in ((d,), (n, d), (1, d)):
            raise ValueError(
                f"{fname}: baseline must have shape (d,)=({d},) or (N, d)=({n}, {d}), got {b.shape}"
            )
        if not np.isfinite(b).all():
            raise ValueError(
                f"{fname}: " + first_nonfinite(np.broadcast_to(b, (n, d)), "nd", "baseline")
            )
    zt = jnp.asarray(zh, dtype).T
    bt = jnp.broadcast_to(jnp.asarray(b, dtype).reshape(-1, d).T, (d, n))
    return value, zt, bt


def _route(value: ValueFunction, route: str, fname: str) -> str:
    if route not in ROUTES:
        raise ValueError(f"{fname}: route must be one of {ROUTES}, got {route!r}")
    mf = value.mean_field is not None
    if route == "auto":
        return "mean-field" if mf else "generic"
    if route == "mean-field" and not mf:
        raise ValueError(
            f"{fname}: value function {value.name!r} has no mean-field "
            "decomposition; use route='generic' or wrap it in "
            "jaxattr.values.mean_field(g, h)"
        )
    return route


def _check_key(key, fname: str):
    if key is None:
        raise ValueError(f"{fname} needs an explicit random key: pass key=jax.random.key(0)")
    if isinstance(key, int) or not hasattr(key, "dtype"):
        raise TypeError(
            f"{fname}: key must be a jax.random key (e.g. jax.random.key(0)), got "
            f"{type(key).__name__}"
        )
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(
                f"{fname}: key must be a single key, got key array of shape {key.shape}"
            )
        return key
    if key.shape != (2,) or key.dtype != jnp.uint32:
        raise TypeError(
            f"{fname}: key must be a jax.random key (jax.random.key(0) or "
            f"jax.random.PRNGKey(0)), got dtype {key.dtype}, shape {key.shape}"
        )
    return jax.random.wrap_key_data(key)


def _positive_int(x, what: str, fname: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1:
        raise ValueError(f"{fname}: {what} must be an integer >= 1, got {x!r}")
    return int(x)


# ------------------------------------------------------------------ coalition values


def _mf_parts(value, zt, bt):
    """``D`` ``(m, N)``, ``A_0`` ``(m,)`` (:func:`kernels.meanfield_parts`) and ``h``."""
    g, h = value.mean_field
    return (*kernels.meanfield_parts(g, zt, bt), h)


def _generic_v(value, zt, bt):
    """``v(x) = f(where(x, z, b))`` for a boolean membership vector ``x`` ``(N,)``."""
    return lambda x: value.fm(jnp.where(x[None, :], zt, bt))


def _fit(batch: int, size: int) -> int:
    """Batch for ``size`` samples: at most the next power of two (few distinct compiles)."""
    return int(min(batch, 1 << max(0, int(size) - 1).bit_length()))


def _default_eval_batch(n: int, d: int) -> int:
    return int(max(1, min(4096, 2**21 // max(1, n * d))))


# ----------------------------------------------------------------------------- exact


def _exact_weights(n: int, kind: str) -> np.ndarray:
    if kind == "shapley":  # |S|!(N-|S|-1)!/N! for S not containing i
        return np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)])
    return np.full(n, 2.0 ** -(n - 1))


@_value_jit("route", "kind", "batch")
def _exact(value, zt, bt, *, route, kind, batch):
    n = zt.shape[1]
    total = 1 << n
    shifts = jnp.arange(n, dtype=jnp.int32)
    if route == "mean-field":
        dm, a0, h = _mf_parts(value, zt, bt)

        def v_mean_field(idx):
            return kernels.meanfield_coalition_value(h, dm, a0, (idx >> shifts) & 1)

        v_of = v_mean_field
    else:
        v = _generic_v(value, zt, bt)

        def v_generic(idx):
            return v(((idx >> shifts) & 1) > 0)

        v_of = v_generic

    idx = jnp.arange(total, dtype=jnp.int32)
    vals = lax.map(v_of, idx, batch_size=min(batch, total))
    pc = lax.population_count(idx)
    wts = jnp.asarray(_exact_weights(n, kind), zt.dtype)
    phis = []
    for i in range(n):  # static N <= 30: one strided view per agent, O(2^N) memory
        v3 = vals.reshape(total >> (i + 1), 2, 1 << i)
        p3 = pc.reshape(total >> (i + 1), 2, 1 << i)[:, 0, :]
        phis.append(jnp.sum(wts[p3] * (v3[:, 1, :] - v3[:, 0, :])))
    return jnp.stack(phis), vals[-1] - vals[0]


def _exact_entry(kind, value, z, baseline, route, force, batch_size, return_result):
    fname = f"exact_{kind}"
    t0 = time.perf_counter()
    value, zt, bt = _prepare(value, z, baseline, fname)
    n = zt.shape[1]
    if n > HARD_MAX_AGENTS or (n > FORCE_AGENTS and not force):
        raise ValueError(
            f"{fname}: N={n} agents means 2^{n} = {2.0**n:.3g} coalitions; exact enumeration "
            f"is meant for N <= {EXACT_MAX_AGENTS}"
            + (
                f" and is refused above {HARD_MAX_AGENTS}"
                if n > HARD_MAX_AGENTS
                else f" (pass force=True to run it up to N = {HARD_MAX_AGENTS})"
            )
            + f"; use sampled_{kind}(...) instead"
        )
    route = _route(value, route, fname)
    batch = (
        _positive_int(batch_size, "batch_size", fname)
        if batch_size is not None
        else 4096
        if route == "mean-field"
        else _default_eval_batch(n, zt.shape[0])
    )
    phi, delta = _exact(value, zt, bt, route=route, kind=kind, batch=batch)
    if not return_result:
        return phi
    phi.block_until_ready()
    return ShapleyResult(
        phi=phi,
        stderr=None,
        delta=delta,
        method=fname,
        route=route,
        estimator="enumeration",
        n_samples=1 << n,
        n_evaluations=1 << n,
        seconds=time.perf_counter() - t0,
        stopped_by="exact",
    )


@overload
def exact_shapley(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    force: bool = False,
    batch_size: int | None = None,
    return_result: Literal[False] = False,
) -> Float[Array, " N"]: ...


@overload
def exact_shapley(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    force: bool = False,
    batch_size: int | None = None,
    return_result: Literal[True],
) -> ShapleyResult: ...


def exact_shapley(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    force: bool = False,
    batch_size: int | None = None,
    return_result: bool = False,
) -> Float[Array, " N"] | ShapleyResult:
    """Exact Shapley values of the baseline-replacement game by enumerating 2^N coalitions.

    ``phi_i = sum_{S ⊆ N∖{i}} |S|!(N-|S|-1)!/N! · (v(S ∪ {i}) - v(S))``,
    ``v(S) = f(z_S, b_{N∖S})``. Cost O(2^N) coalition values (each O(N·m) on the mean-field
    route, one evaluation of f otherwise) and O(2^N) memory.

    Args:
        value: a value object of :mod:`jaxattr.values`, a built-in name, or any callable
            ``(N, d) -> scalar``.
        z: ``Float[ArrayLike, "N d"]`` features of one step, N <= 20 (up to 30 with
            ``force=True``).
        baseline: ``"zero"`` (or None), ``"mean"``, or an array ``Float[ArrayLike, " d"]``
            or ``Float[ArrayLike, "N d"]``.
        route: ``"auto"`` (mean-field if the value has a decomposition), ``"mean-field"``,
            ``"generic"``.
        force: allow 25 < N <= 30 (minutes, gigabytes).
        batch_size: coalitions evaluated together (vmapped).
        return_result: return a :class:`ShapleyResult` instead of ``phi``.

    Returns:
        ``phi``, ``Float[Array, " N"]`` (efficient: sums to ``f(z) - f(baseline)``), or a
        :class:`ShapleyResult` with ``return_result=True``.

    Raises:
        TypeError: ``z`` is not a NumPy/JAX array (or list), ``z`` or ``baseline`` is not
            floating point, or ``value`` is neither a value object, a name nor a callable.
        ValueError: ``z`` is not ``(N, d)`` or is empty, NaN/inf in ``z`` or ``baseline``,
            a baseline of another shape or an unknown baseline name, an unknown value name,
            an unknown ``route`` (or ``"mean-field"`` for a value without a decomposition),
            a ``batch_size`` below 1, or N above 25 without ``force`` (above 30 always).

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], np.float32)  # N = 3, d = 2
        >>> phi = jaxattr.shapley.exact_shapley(jaxattr.values.variance(), z)
        >>> print([round(float(p), 4) for p in phi], round(float(phi.sum()), 4))
        [-0.4444, 0.6667, 0.6667] 0.8889
    """
    return _exact_entry("shapley", value, z, baseline, route, force, batch_size, return_result)


@overload
def exact_banzhaf(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    force: bool = False,
    batch_size: int | None = None,
    return_result: Literal[False] = False,
) -> Float[Array, " N"]: ...


@overload
def exact_banzhaf(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    force: bool = False,
    batch_size: int | None = None,
    return_result: Literal[True],
) -> ShapleyResult: ...


def exact_banzhaf(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    force: bool = False,
    batch_size: int | None = None,
    return_result: bool = False,
) -> Float[Array, " N"] | ShapleyResult:
    """Exact Banzhaf values of the baseline-replacement game by enumerating 2^N coalitions.

    ``phi_i = 2^{-(N-1)} sum_{S ⊆ N∖{i}} (v(S ∪ {i}) - v(S))``,
    ``v(S) = f(z_S, b_{N∖S})``. Same cost and limits as :func:`exact_shapley`; Banzhaf
    values are not efficient in general.

    Args:
        value: a value object of :mod:`jaxattr.values`, a built-in name, or any callable
            ``(N, d) -> scalar``.
        z: ``Float[ArrayLike, "N d"]`` features of one step, N <= 20 (up to 30 with
            ``force=True``).
        baseline: ``"zero"`` (or None), ``"mean"``, or an array ``Float[ArrayLike, " d"]``
            or ``Float[ArrayLike, "N d"]``.
        route: ``"auto"`` (mean-field if the value has a decomposition), ``"mean-field"``,
            ``"generic"``.
        force: allow 25 < N <= 30 (minutes, gigabytes).
        batch_size: coalitions evaluated together (vmapped).
        return_result: return a :class:`ShapleyResult` instead of ``phi``.

    Returns:
        ``phi``, ``Float[Array, " N"]``, or a :class:`ShapleyResult` with
        ``return_result=True``.

    Raises:
        TypeError: ``z`` is not a NumPy/JAX array (or list), ``z`` or ``baseline`` is not
            floating point, or ``value`` is neither a value object, a name nor a callable.
        ValueError: ``z`` is not ``(N, d)`` or is empty, NaN/inf in ``z`` or ``baseline``,
            a baseline of another shape or an unknown baseline name, an unknown value name,
            an unknown ``route`` (or ``"mean-field"`` for a value without a decomposition),
            a ``batch_size`` below 1, or N above 25 without ``force`` (above 30 always).

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], np.float32)  # N = 3, d = 2
        >>> phi = jaxattr.shapley.exact_banzhaf("linear", z)  # additive: s_i / N
        >>> print([round(float(p), 4) for p in phi])
        [0.3333, 1.0, 1.0]
    """
    return _exact_entry("banzhaf", value, z, baseline, route, force, batch_size, return_result)


# ----------------------------------------------------------------------- sampled driver


def _chan(cnt, mean, m2, cnt_b, mean_b, m2_b):
    """Combine two (count, mean, sum of squared deviations) summaries (Chan et al.)."""
    tot = cnt + cnt_b
    safe = jnp.maximum(tot, 1.0)
    delta = mean_b - mean
    return (tot, mean + delta * (cnt_b / safe), m2 + m2_b + delta * delta * (cnt * cnt_b / safe))


def _batch_keys(key, b, batch, n_samples, dtype):
    """Keys and 0/1 weights of batch ``b``: sample j is ``fold_in(key, j)``, j < n_samples."""
    j = b * batch + jnp.arange(batch)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(j)
    return keys, (j < n_samples).astype(dtype)


def _scan_samples(sample, key, n_samples, batch, n, dtype):
    """Draw ``n_samples`` per-agent samples ``(N,)`` in batches; return (count, mean, M2).

    ``n_samples`` is traced (a loop bound), so a new M does not recompile.
    """
    n_batches = (n_samples + batch - 1) // batch

    def body(b, carry):
        cnt, mean, m2 = carry
        kb, wb = _batch_keys(key, b, batch, n_samples, dtype)
        c = jax.vmap(sample)(kb)  # (batch, N)
        cnt_b = jnp.sum(wb)
        mean_b = (wb @ c) / jnp.maximum(cnt_b, 1.0)
        m2_b = wb @ ((c - mean_b[None, :]) ** 2)
        return _chan(cnt, mean, m2, cnt_b, mean_b, m2_b)

    zero = jnp.zeros((n,), dtype)
    return lax.fori_loop(0, n_batches, body, (jnp.zeros((), dtype), zero, zero))


def _drive(
    fname,
    run_round,
    combine,
    finish,
    *,
    key,
    n_max,
    evals_per_sample,
    target_stderr,
    max_evaluations,
    max_time,
    check_every,
    min_samples=2,
):
    """Host loop of the stopping rule: rounds of ``check_every`` samples until a bound hits.

    ``run_round(key, size) -> state``; ``combine(a, b) -> state``;
    ``finish(state) -> (phi, stderr, count)``. Without a stopping rule one round draws
    ``n_max`` samples (one compiled program).
    """
    t0 = time.perf_counter()
    caps = []
    if n_max is not None:
        caps.append((_positive_int(n_max, "the number of samples", fname), "n_samples"))
    if max_evaluations is not None:
        cap = int(max_evaluations) // evals_per_sample
        if cap < 1:
            raise ValueError(
                f"{fname}: max_evaluations={max_evaluations} is below the "
                f"{evals_per_sample} coalition values one sample needs"
            )
        caps.append((cap, "max_evaluations"))
    if target_stderr is None and max_time is None:
        if not caps:
            raise ValueError(
                f"{fname}: give a number of samples, max_evaluations, "
                "max_time or target_stderr (none is set)"
            )
        cap, why = min(caps)
        state = run_round(key, cap)
        phi, se, cnt = finish(state)
        return phi, se, cap, why, time.perf_counter() - t0
    if not caps and max_time is None:
        raise ValueError(
            f"{fname}: target_stderr alone may never be reached; also give a "
            "number of samples, max_evaluations or max_time"
        )
    if target_stderr is not None and not target_stderr > 0:
        raise ValueError(f"{fname}: target_stderr must be > 0, got {target_stderr!r}")
    cap, why_cap = min(caps) if caps else (None, None)
    check_every = _positive_int(check_every, "check_every", fname)
    state, done, r, why = None, 0, 0, None
    while True:
        size = check_every if cap is None else min(check_every, cap - done)
        part = run_round(key if r == 0 else jax.random.fold_in(key, r), size)
        state = part if state is None else combine(state, part)
        done += size
        r += 1
        phi, se, _ = finish(state)
        if cap is not None and done >= cap:
            why = why_cap
        elif (
            target_stderr is not None
            and done >= min_samples
            and float(jnp.max(se)) <= target_stderr
        ):
            why = "target_stderr"
        elif max_time is not None and time.perf_counter() - t0 >= max_time:
            why = "max_time"
        if why is not None:
            return phi, se, done, why, time.perf_counter() - t0


def _finish_moments(state):
    cnt, mean, m2 = state
    se = jnp.sqrt(m2 / jnp.maximum(cnt - 1.0, 1.0) / jnp.maximum(cnt, 1.0))
    return mean, se, cnt


def _combine_moments(a, b):
    return _chan(*a, *b)


# ---------------------------------------------------------------------- sampled Shapley


def _host_permutation(kd, n):
    """NumPy permutations seeded by jax key data ``(..., 2)`` uint32 (one per key)."""
    kd = np.asarray(kd)
    flat = kd.reshape(-1, kd.shape[-1])
    out = np.empty((flat.shape[0], n), np.int32)
    for r, words in enumerate(flat):
        out[r] = np.random.default_rng([int(w) for w in words]).permutation(n)
    return out.reshape(*kd.shape[:-1], n)


def _permutation(key, n):
    """A uniform random permutation of ``range(n)`` determined by ``key``.

    XLA's CPU sort is comparator-based and slow (measured here: 9 ms for one
    ``jax.random.permutation`` of 10^4, against 0.1 ms for NumPy's Fisher–Yates), so on
    CPU the permutation is drawn by NumPy's PCG64 seeded with the key's bits in a host
    callback; the key alone still decides the result. Accelerators use
    ``jax.random.permutation``.
    """
    if jax.default_backend() != "cpu":
        return jax.random.permutation(key, n)
    kd = jax.random.key_data(key)
    return jax.pure_callback(
        functools.partial(_host_permutation, n=n),
        jax.ShapeDtypeStruct((n,), jnp.int32),
        kd,
        vmap_method="expand_dims",
    )


def _contributions(value, zt, bt, *, route, eval_batch):
    """``perm -> (N,)``: each agent's marginal contribution along the permutation."""
    n = zt.shape[1]
    if route == "mean-field":  # v(first k agents of perm), k = 0..N, O(N·m)
        dm, a0, h = _mf_parts(value, zt, bt)
        prefix_values = functools.partial(kernels.meanfield_prefix_values, h, dm, a0)
    else:
        v = _generic_v(value, zt, bt)
        ks = jnp.arange(n + 1)

        def prefix_values(perm):  # N + 1 evaluations of f
            rank = jnp.zeros((n,), jnp.int32).at[perm].set(jnp.arange(n, dtype=jnp.int32))
            return lax.map(lambda k: v(rank < k), ks, batch_size=eval_batch).astype(zt.dtype)

    def contrib(perm):
        vals = prefix_values(perm)
        return jnp.zeros((n,), zt.dtype).at[perm].set(vals[1:] - vals[:-1])

    return contrib


@_value_jit("route", "eval_batch")
def _marginals(value, zt, bt, perms, *, route, eval_batch):
    return lax.map(_contributions(value, zt, bt, route=route, eval_batch=eval_batch), perms)


def permutation_marginals(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline,
    perms: Int[ArrayLike, "P N"],
    *,
    route: str = "auto",
) -> Float[Array, "P N"]:
    """Marginal contributions ``v(P_i ∪ {i}) - v(P_i)`` along given permutations.

    Row p is the attribution along the coordinate path that brings the agents in from their
    baseline in the order ``perms[p]`` (one permutation of :func:`sampled_shapley`).

    Args:
        value: a value object, a built-in name, or a callable ``(N, d) -> scalar``.
        z: ``Float[ArrayLike, "N d"]`` features of one step.
        baseline: ``"zero"`` (or None), ``"mean"``, ``Float[ArrayLike, " d"]`` or
            ``Float[ArrayLike, "N d"]``.
        perms: ``Int[ArrayLike, "P N"]`` integer permutations of the agents (not checked
            to be permutations).
        route: ``"auto"``, ``"mean-field"`` or ``"generic"``.

    Returns:
        ``Float[Array, "P N"]`` in the dtype JAX computes in (float64 under x64 for float64
        z); each row sums to ``f(z) - f(baseline)``.

    Raises:
        TypeError: ``z`` is not a NumPy/JAX array (or list), ``z`` or ``baseline`` is not
            floating point, or ``value`` is neither a value object, a name nor a callable.
        ValueError: ``z`` is not ``(N, d)`` or is empty, NaN/inf in ``z`` or ``baseline``,
            a baseline of another shape or an unknown baseline name, an unknown value name,
            an unknown ``route`` (or ``"mean-field"`` for a value without a decomposition),
            or ``perms`` not of shape ``(P, N)``.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], np.float32)  # N = 3, d = 2
        >>> rows = jaxattr.shapley.permutation_marginals("variance", z, "zero", [[0, 1, 2]])
        >>> print([round(float(p), 4) for p in rows[0]])  # v({0}) - v(∅) = 2/9 first
        [0.2222, 1.3333, -0.6667]
    """
    fname = "permutation_marginals"
    value, zt, bt = _prepare(value, z, baseline, fname)
    route = _route(value, route, fname)
    perms = jnp.asarray(np.asarray(perms), jnp.int32)
    n = zt.shape[1]
    if perms.ndim != 2 or perms.shape[1] != n:
        raise ValueError(f"{fname}: perms must have shape (P, N={n}), got {perms.shape}")
    return _marginals(
        value, zt, bt, perms, route=route, eval_batch=_default_eval_batch(n, zt.shape[0])
    )


@_value_jit("route", "antithetic", "batch", "eval_batch")
def _shapley_round(value, zt, bt, key, *, route, antithetic, n_samples, batch, eval_batch):
    n = zt.shape[1]
    contrib = _contributions(value, zt, bt, route=route, eval_batch=eval_batch)

    def sample(k):
        perm = _permutation(k, n)
        c = contrib(perm)
        if antithetic:  # the reversed permutation: exact for games with pairwise terms
            c = 0.5 * (c + contrib(perm[::-1]))
        return c

    return _scan_samples(sample, key, n_samples, batch, n, zt.dtype)


def _delta(value, zt, bt):
    return value.fm(zt) - value.fm(bt)


_delta_jit = _value_jit()(_delta)


@overload
def sampled_shapley(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    key: PRNGKeyArray | Array | None,
    n_permutations: int | None = 100,
    antithetic: bool = False,
    target_stderr: float | None = None,
    max_evaluations: int | None = None,
    max_time: float | None = None,
    check_every: int = 50,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: Literal[False] = False,
) -> Float[Array, " N"]: ...


@overload
def sampled_shapley(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    key: PRNGKeyArray | Array | None,
    n_permutations: int | None = 100,
    antithetic: bool = False,
    target_stderr: float | None = None,
    max_evaluations: int | None = None,
    max_time: float | None = None,
    check_every: int = 50,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: Literal[True],
) -> ShapleyResult: ...


def sampled_shapley(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    key: PRNGKeyArray | Array | None,
    n_permutations: int | None = 100,
    antithetic: bool = False,
    target_stderr: float | None = None,
    max_evaluations: int | None = None,
    max_time: float | None = None,
    check_every: int = 50,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: bool = False,
) -> Float[Array, " N"] | ShapleyResult:
    """Shapley values estimated from random permutations of the agents.

    ``phi_i ≈ (1/M) sum_{m=1}^M [v(P_i^{π_m} ∪ {i}) - v(P_i^{π_m})]``, ``P_i^π`` the agents
    before i in π. On the mean-field route a permutation's N + 1 prefix values are
    cumulative sums of the per-agent aggregate updates: O(N·m) per permutation instead of
    O(N²·d). With ``antithetic=True`` each permutation is paired with its reverse (a pair
    counts as 2 samples); for games with at most pairwise interactions (linear, variance,
    any quadratic f) the pair gives the exact Shapley value.

    Stopping rule: without ``target_stderr``/``max_time`` exactly ``n_permutations``
    permutations are drawn in one compiled program. Otherwise permutations are drawn in
    rounds of ``check_every`` until the largest per-agent standard error is below
    ``target_stderr``, the time exceeds ``max_time`` (checked after each round), or
    ``n_permutations`` / ``max_evaluations`` (coalition values, ``N + 1`` per
    permutation) would be exceeded.

    Args:
        value: a value object, a built-in name, or a callable ``(N, d) -> scalar``.
        z: ``Float[ArrayLike, "N d"]`` features of one step.
        baseline: ``"zero"`` (or None), ``"mean"``, ``Float[ArrayLike, " d"]`` or
            ``Float[ArrayLike, "N d"]``.
        key: a ``jax.random`` key (``jax.random.key(0)`` or a legacy ``PRNGKey``;
            required: no global RNG).
        n_permutations: M, the number of permutations (upper bound under a stopping rule;
            None for no bound). Rounded up to even with ``antithetic``.
        antithetic: pair each permutation with its reverse.
        target_stderr: stop once the largest per-agent standard error is at most this.
        max_evaluations: stop before more coalition values (``N + 1`` per permutation).
        max_time: stop after the round in which this many seconds have passed.
        check_every: permutations per round under a stopping rule.
        route: ``"auto"``, ``"mean-field"`` or ``"generic"``.
        batch_size: permutations vmapped together (memory ``batch_size × N × m``).
        return_result: return a :class:`ShapleyResult` (with ``stderr``) instead of phi.

    Returns:
        ``phi``, ``Float[Array, " N"]`` (each permutation is efficient, so phi sums to
        ``f(z) - f(b)``), or a :class:`ShapleyResult` (with ``stderr``) with
        ``return_result=True``.

    Raises:
        TypeError: ``z`` is not a NumPy/JAX array (or list), ``z`` or ``baseline`` is not
            floating point, or ``value`` is neither a value object, a name nor a callable.
        ValueError: ``z`` is not ``(N, d)`` or is empty, NaN/inf in ``z`` or ``baseline``,
            a baseline of another shape or an unknown baseline name, an unknown value name,
            an unknown ``route`` (or ``"mean-field"`` for a value without a decomposition),
            a ``batch_size`` below 1, ``n_permutations`` or ``check_every`` below 1,
            ``max_evaluations`` below one permutation's ``N + 1``, ``target_stderr <= 0``,
            no bound at all (or ``target_stderr`` alone), or ``key`` missing (None) or not
            a single key.
            TypeError also for a ``key`` that is not a ``jax.random`` key (e.g. an int).

    Example:
        >>> import jax, numpy as np, jaxattr
        >>> z = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], np.float32)  # N = 3, d = 2
        >>> phi = jaxattr.shapley.sampled_shapley(
        ...     "variance", z, key=jax.random.key(0), n_permutations=2, antithetic=True
        ... )  # a pair is exact for variance (pairwise interactions only)
        >>> print([round(float(p), 4) for p in phi])
        [-0.4444, 0.6667, 0.6667]
    """
    fname = "sampled_shapley"
    value, zt, bt = _prepare(value, z, baseline, fname)
    key = _check_key(key, fname)
    route = _route(value, route, fname)
    d, n = zt.shape
    per = 2 if antithetic else 1
    if batch_size is not None:
        batch = _positive_int(batch_size, "batch_size", fname)
    else:
        # Sequential permutations beat vmapped ones on CPU (gathers of a batch are slow).
        batch = max(1, min(8, 2**16 // n)) if route == "mean-field" else 1
    eval_batch = _default_eval_batch(n, d)

    def run_round(k, size):  # size counts units (permutations or antithetic pairs)
        return _shapley_round(
            value,
            zt,
            bt,
            k,
            route=route,
            antithetic=antithetic,
            n_samples=size,
            batch=_fit(batch, size),
            eval_batch=eval_batch,
        )

    def units(x):
        return None if x is None else -(-_positive_int(x, "n_permutations", fname) // per)

    phi, se, done, why, secs = _drive(
        fname,
        run_round,
        _combine_moments,
        _finish_moments,
        key=key,
        n_max=units(n_permutations),
        evals_per_sample=per * (n + 1),
        target_stderr=target_stderr,
        max_evaluations=max_evaluations,
        max_time=max_time,
        check_every=units(check_every),
    )
    if not return_result:
        return phi
    return ShapleyResult(
        phi=phi,
        stderr=se,
        delta=_delta_jit(value, zt, bt),
        method=fname,
        route=route,
        estimator="antithetic" if antithetic else "permutation",
        n_samples=per * done,
        n_evaluations=per * done * (n + 1),
        seconds=secs,
        stopped_by=why,
    )


# ---------------------------------------------------------------------- sampled Banzhaf


@_value_jit("route", "batch")
def _msr_round(value, zt, bt, key, *, route, n_samples, batch):
    """Maximum-sample-reuse sums over coalitions drawn with inclusion probability 1/2."""
    n = zt.shape[1]
    dt = zt.dtype
    if route == "mean-field":
        dm, a0, h = _mf_parts(value, zt, bt)
        v = functools.partial(kernels.meanfield_coalition_value, h, dm, a0)
    else:
        v = _generic_v(value, zt, bt)
    # Centre the values so the sums of squares do not cancel in float32.
    c = 0.5 * (value.fm(zt) + value.fm(bt))
    n_batches = (n_samples + batch - 1) // batch

    def one(k):
        x = jax.random.bernoulli(k, 0.5, (n,))
        return x, (v(x) - c).astype(dt)

    def body(b, carry):
        s_in, q_in, c_in, s_all, q_all, cnt = carry
        kb, wb = _batch_keys(key, b, batch, n_samples, dt)
        x, val = jax.vmap(one)(kb)
        xf = x.astype(dt)
        wv = wb * val
        return (
            s_in + wv @ xf,
            q_in + (wv * val) @ xf,
            c_in + wb @ xf,
            s_all + jnp.sum(wv),
            q_all + jnp.sum(wv * val),
            cnt + jnp.sum(wb),
        )

    zn, z0 = jnp.zeros((n,), dt), jnp.zeros((), dt)
    return lax.fori_loop(0, n_batches, body, (zn, zn, zn, z0, z0, z0))


def _finish_msr(state):
    s_in, q_in, c_in, s_all, q_all, cnt = state
    c_out = cnt - c_in
    m_in = s_in / c_in
    m_out = (s_all - s_in) / c_out
    var_in = (q_in - c_in * m_in * m_in) / jnp.maximum(c_in - 1.0, 1.0)
    var_out = (q_all - q_in - c_out * m_out * m_out) / jnp.maximum(c_out - 1.0, 1.0)
    se = jnp.sqrt(jnp.maximum(var_in, 0.0) / c_in + jnp.maximum(var_out, 0.0) / c_out)
    return m_in - m_out, se, cnt


@_value_jit("route", "batch", "eval_batch")
def _marginal_round(value, zt, bt, key, *, route, n_samples, batch, eval_batch):
    """Per coalition S, every agent's marginal ``v(S ∪ {i}) - v(S ∖ {i})``."""
    n = zt.shape[1]
    dt = zt.dtype
    if route == "mean-field":
        dm, a0, h = _mf_parts(value, zt, bt)

        def sample_mean_field(k):
            x = jax.random.bernoulli(k, 0.5, (n,))
            return kernels.meanfield_marginals(h, dm, a0, x)

        return _scan_samples(sample_mean_field, key, n_samples, batch, n, dt)
    v = _generic_v(value, zt, bt)
    idx = jnp.arange(n)

    def sample_generic(k):
        x = jax.random.bernoulli(k, 0.5, (n,))

        def marg(i):
            return v(x.at[i].set(True)) - v(x.at[i].set(False))

        return lax.map(marg, idx, batch_size=eval_batch).astype(dt)

    return _scan_samples(sample_generic, key, n_samples, batch, n, dt)


@overload
def sampled_banzhaf(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    key: PRNGKeyArray | Array | None,
    n_samples: int | None = 200,
    estimator: str = "auto",
    target_stderr: float | None = None,
    max_evaluations: int | None = None,
    max_time: float | None = None,
    check_every: int = 50,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: Literal[False] = False,
) -> Float[Array, " N"]: ...


@overload
def sampled_banzhaf(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    key: PRNGKeyArray | Array | None,
    n_samples: int | None = 200,
    estimator: str = "auto",
    target_stderr: float | None = None,
    max_evaluations: int | None = None,
    max_time: float | None = None,
    check_every: int = 50,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: Literal[True],
) -> ShapleyResult: ...


def sampled_banzhaf(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    key: PRNGKeyArray | Array | None,
    n_samples: int | None = 200,
    estimator: str = "auto",
    target_stderr: float | None = None,
    max_evaluations: int | None = None,
    max_time: float | None = None,
    check_every: int = 50,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: bool = False,
) -> Float[Array, " N"] | ShapleyResult:
    """Banzhaf values estimated from random coalitions (inclusion probability 1/2).

    ``estimator="msr"`` (maximum sample reuse, Wang & Jia 2023): every sampled coalition
    serves every agent, ``phi_i ≈ mean_{S ∋ i} v(S) - mean_{S ∌ i} v(S)``; one coalition
    value per sample (O(N·m) mean-field, one f otherwise). ``estimator="marginal"``:
    ``phi_i ≈ mean_S [v(S ∪ {i}) - v(S ∖ {i})]``, 2N coalition values per sample but only
    O(N·m) on the mean-field route, exact on additive games and of lower variance.
    ``"auto"`` takes ``"marginal"`` on the mean-field route (same order of cost, the stronger
    estimator) and ``"msr"`` on the generic route.

    Args:
        value: a value object, a built-in name, or a callable ``(N, d) -> scalar``.
        z: ``Float[ArrayLike, "N d"]`` features of one step.
        baseline: ``"zero"`` (or None), ``"mean"``, ``Float[ArrayLike, " d"]`` or
            ``Float[ArrayLike, "N d"]``.
        key: a ``jax.random`` key (required).
        n_samples: coalitions to draw (upper bound under a stopping rule; None: no bound).
        estimator: ``"auto"``, ``"msr"`` or ``"marginal"``.
        target_stderr: stop once the largest per-agent standard error is at most this.
        max_evaluations: stop before more coalition values (1 per sample for MSR, 2N for
            the marginal estimator).
        max_time: stop after the round in which this many seconds have passed.
        check_every: coalitions per round under a stopping rule.
        route: ``"auto"``, ``"mean-field"`` or ``"generic"``.
        batch_size: coalitions vmapped together.
        return_result: return a :class:`ShapleyResult` (with ``stderr``) instead of phi.

    Returns:
        ``phi``, ``Float[Array, " N"]`` (Banzhaf values are not efficient in general), or a
        :class:`ShapleyResult` with ``return_result=True``.

    Raises:
        ValueError: an unknown ``estimator``; an agent in every or in no sampled coalition
            (MSR with too few samples: raise ``n_samples``); and the input, key and
            stopping-rule errors of :func:`sampled_shapley`.
        TypeError: a ``key`` that is not a ``jax.random`` key, or ``z``/``baseline`` not
            floating point (as :func:`sampled_shapley`).

    Example:
        >>> import jax, numpy as np, jaxattr
        >>> z = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], np.float32)  # N = 3, d = 2
        >>> phi = jaxattr.shapley.sampled_banzhaf("linear", z, key=jax.random.key(0), n_samples=4)
        >>> print([round(float(p), 4) for p in phi])  # the marginal estimator: exact if additive
        [0.3333, 1.0, 1.0]
    """
    fname = "sampled_banzhaf"
    value, zt, bt = _prepare(value, z, baseline, fname)
    key = _check_key(key, fname)
    route = _route(value, route, fname)
    if estimator not in BANZHAF_ESTIMATORS:
        raise ValueError(
            f"{fname}: estimator must be one of {BANZHAF_ESTIMATORS}, got {estimator!r}"
        )
    if estimator == "auto":
        estimator = "marginal" if route == "mean-field" else "msr"
    d, n = zt.shape
    eval_batch = _default_eval_batch(n, d)
    if batch_size is not None:
        batch = _positive_int(batch_size, "batch_size", fname)
    elif estimator == "msr":
        batch = max(1, min(256, 2**21 // n)) if route == "mean-field" else eval_batch
    else:
        batch = max(1, min(256, 2**20 // n)) if route == "mean-field" else 1

    if estimator == "msr":

        def run_round(k, size):
            return _msr_round(
                value, zt, bt, k, route=route, n_samples=size, batch=_fit(batch, size)
            )

        def combine(a, b):
            return tuple(x + y for x, y in zip(a, b, strict=True))

        finish, per = _finish_msr, 1
    else:

        def run_round(k, size):
            return _marginal_round(
                value,
                zt,
                bt,
                k,
                route=route,
                n_samples=size,
                batch=_fit(batch, size),
                eval_batch=eval_batch,
            )

        combine, finish, per = _combine_moments, _finish_moments, 2 * n

    phi, se, done, why, secs = _drive(
        fname,
        run_round,
        combine,
        finish,
        key=key,
        n_max=n_samples,
        evals_per_sample=per,
        target_stderr=target_stderr,
        max_evaluations=max_evaluations,
        max_time=max_time,
        check_every=check_every,
        min_samples=2 if estimator == "marginal" else 4,
    )
    if estimator == "msr":
        bad = np.flatnonzero(~np.isfinite(np.asarray(phi)))
        if bad.size:
            raise ValueError(
                f"{fname}: agent {int(bad[0])} was in every or in none of the "
                f"{done} sampled coalitions ({bad.size} agents in all), so its "
                "MSR estimate is undefined; raise n_samples"
            )
    if not return_result:
        return phi
    return ShapleyResult(
        phi=phi,
        stderr=se,
        delta=_delta_jit(value, zt, bt),
        method=fname,
        route=route,
        estimator=estimator,
        n_samples=done,
        n_evaluations=done * per,
        seconds=secs,
        stopped_by=why,
    )


# ------------------------------------------------------------------------ leave-one-out


@_value_jit("route", "eval_batch")
def _loo(value, zt, bt, *, route, eval_batch):
    n = zt.shape[1]
    if route == "mean-field":
        dm, a0, h = _mf_parts(value, zt, bt)
        return kernels.meanfield_leave_one_out(h, dm, a0)
    v = _generic_v(value, zt, bt)
    full = value.fm(zt)
    ones = jnp.ones((n,), bool)
    without = lax.map(lambda i: v(ones.at[i].set(False)), jnp.arange(n), batch_size=eval_batch)
    return full - without, full - value.fm(bt)


@overload
def leave_one_out(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: Literal[False] = False,
) -> Float[Array, " N"]: ...


@overload
def leave_one_out(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: Literal[True],
) -> ShapleyResult: ...


def leave_one_out(
    value: Value,
    z: Float[ArrayLike, "N d"],
    baseline: Baseline = "zero",
    *,
    route: str = "auto",
    batch_size: int | None = None,
    return_result: bool = False,
) -> Float[Array, " N"] | ShapleyResult:
    """Leave-one-out values ``phi_i = v(N) - v(N ∖ {i})`` (agent i set to its baseline).

    O(N·m) on the mean-field route (``v(N ∖ {i}) = h(A - D_i)``), N evaluations of f
    otherwise. Satisfies symmetry, dummy and linearity but not efficiency.

    Args:
        value: a value object, a built-in name, or a callable ``(N, d) -> scalar``.
        z: ``Float[ArrayLike, "N d"]`` features of one step.
        baseline: ``"zero"`` (or None), ``"mean"``, ``Float[ArrayLike, " d"]`` or
            ``Float[ArrayLike, "N d"]``.
        route: ``"auto"``, ``"mean-field"`` or ``"generic"``.
        batch_size: leave-one-out sets evaluated together on the generic route.
        return_result: return a :class:`ShapleyResult` instead of ``phi``.

    Returns:
        ``phi``, ``Float[Array, " N"]``, or a :class:`ShapleyResult` with
        ``return_result=True``.

    Raises:
        TypeError: ``z`` is not a NumPy/JAX array (or list), ``z`` or ``baseline`` is not
            floating point, or ``value`` is neither a value object, a name nor a callable.
        ValueError: ``z`` is not ``(N, d)`` or is empty, NaN/inf in ``z`` or ``baseline``,
            a baseline of another shape or an unknown baseline name, an unknown value name,
            an unknown ``route`` (or ``"mean-field"`` for a value without a decomposition),
            a ``batch_size`` below 1.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]], np.float32)  # N = 3, d = 2
        >>> phi = jaxattr.shapley.leave_one_out("variance", z)
        >>> print([round(float(p), 4) for p in phi])
        [-1.1111, -0.6667, -0.6667]
    """
    fname = "leave_one_out"
    t0 = time.perf_counter()
    value, zt, bt = _prepare(value, z, baseline, fname)
    route = _route(value, route, fname)
    d, n = zt.shape
    eb = (
        _positive_int(batch_size, "batch_size", fname)
        if batch_size is not None
        else _default_eval_batch(n, d)
    )
    phi, delta = _loo(value, zt, bt, route=route, eval_batch=eb)
    if not return_result:
        return phi
    phi.block_until_ready()
    return ShapleyResult(
        phi=phi,
        stderr=None,
        delta=delta,
        method=fname,
        route=route,
        estimator="leave-one-out",
        n_samples=n,
        n_evaluations=n + 1,
        seconds=time.perf_counter() - t0,
        stopped_by="exact",
    )
