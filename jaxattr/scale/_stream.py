"""Out-of-core attribution: stream agent chunks of a Parquet panel, with bounded memory.

Closed forms and mean-field value functions ``f = h(mean_i g(z_i))`` couple the agents
only through a few global aggregates, so two passes over the file give exactly the
in-memory result:

1. **aggregates** — per step: ``W = N``, ``sum_i z_i`` (d), ``sum_i s_i``, ``sum_i g(z_i)``
   (m) and, for a path method, ``sum_i g(b_i + a_j (z_i - b_i))`` at the K path points
   (one more pass when the baseline is the population mean, which must be known first);
2. **attributions** — per chunk, ``phi_i = sum_k (z_ik - b_ik) G_ik`` with ``G`` from the
   aggregates, written to the output Parquet file chunk by chunk (atomically: temp + rename).

Partial sums are accumulated on the host in float64, so the result equals the in-memory
float32 run to float32 rounding (the in-memory run sums in float32).

**Gini** needs the global rank of every ``s_i = sum_k z_ik``, which no fixed set of
aggregates gives. It stays exact with an external counting scheme: pass 1 spills ``s`` (T x
4 bytes per agent) to a scratch folder and counts an exact histogram of the top 16 bits of
each value's order-preserving 32-bit key; buckets are grouped into key ranges whose exact
(value, count) tables fit ``rank_memory`` entries (a bucket holds at most 2**16 distinct
keys, so any bucket's table is bounded whatever its count); per range, one stream builds the
table and a second one assigns ``c_i = 2 r_i - N - 1 = 2 below_i + count_i - N`` (average
ranks for ties, as in memory) to the agents in that range. Memory holds one chunk and one
table; disk holds ``s`` and ``c`` (8 T bytes per agent), deleted at the end.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import ArrayLike, Float

from jaxattr import kernels
from jaxattr._core import join_value, split_value
from jaxattr._methods import ClosedFormMethod, baseline_name, resolve
from jaxattr._result import Summary, efficiency_error
from jaxattr._util import get_logger
from jaxattr.io import iter_panel, open_panel_file, read_phi, write_phi_file
from jaxattr.values import PER_AGENT

__all__ = ["StreamedAttribution", "attribute_out_of_core"]


@dataclasses.dataclass(kw_only=True)
class StreamedAttribution(Summary):
    """Result of :func:`attribute_out_of_core`: the totals and checks of an
    :class:`jaxattr.Attribution` (``delta``, ``value_features``, ``efficiency_error``,
    ``check_efficiency``, ...), with phi in the output file instead of memory.

    Args:
        delta: ``(T,)`` ``f(Z_t) - f(B_t)``.
        value_features: ``(T,)`` ``f(Z_t)``.
        value_baseline: ``(T,)`` ``f(B_t)``.
        efficiency_error: ``(T,)`` relative efficiency gap.
        delta_negligible: ``(T,)`` where ``delta`` is within rounding noise of 0.
        method: the method used.
        value_name: the value function's name.
        rule: quadrature rule (None for a closed form).
        steps: path points (None for a closed form).
        time_labels: the panel's step labels.
        status: a :class:`jaxattr.Status` (default OK).
        message: what happened and what to do (default empty).
        path: the output file (below).
        sum_phi: ``(T,)`` sums of phi over agents.
        T: steps.
        N: agents.
        timings: seconds per pass.

    Raises:
        ValueError: from :meth:`read_phi`, a run that wrote no file.

    Attributes:
        path: the Parquet file holding ``agent_index`` and ``phi@<t>`` per agent (one row
            per agent, float32), or None when no output was asked for.
        sum_phi: ``(T,)`` ``sum_i phi[t, i]`` (float64 accumulation): :meth:`by_time`.
        T, N: the panel's size; timings: seconds per pass.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> path = os.path.join(d.name, "panel.parquet")
        >>> jaxattr.io.write_panel(panel, path)
        >>> out = os.path.join(d.name, "phi.parquet")
        >>> res = scale.attribute_out_of_core(path, "heat", out=out, chunk_agents=4)
        >>> res.T, res.N, res.read_phi().shape, bool(np.allclose(res.by_time(), res.delta))
        (3, 8, (3, 8), True)
        >>> d.cleanup()
    """

    path: str | None
    sum_phi: np.ndarray
    T: int
    N: int
    timings: dict[str, float]

    def by_time(self) -> np.ndarray:
        """``(T,)`` attributions summed over agents (equals ``delta`` by efficiency)."""
        return self.sum_phi

    def read_phi(self) -> np.ndarray:
        """``(T, N)`` phi read back from :attr:`path` (needs T N floats of memory)."""
        if self.path is None:
            raise ValueError("this run wrote no output file (out=None); pass out=PATH")
        return read_phi(self.path)


# --------------------------------------------------------------------------- chunking


def _iter_chunks(path, chunk_agents: int | None, features=None):
    """Yield ``(start, fm)`` with ``fm`` ``(T, d, n)`` float32 NumPy, n <= chunk size."""
    for start, p in iter_panel(path, features=features, agent_columns=[]):
        fm = p.feature_major
        n = fm.shape[-1]
        step = n if chunk_agents is None else chunk_agents
        for lo in range(0, n, step):
            yield start + lo, fm[..., lo : min(n, lo + step)]


def _pad(fm: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    n = fm.shape[-1]
    mask = np.zeros(size, np.float32)
    mask[:n] = 1
    if n == size:
        return np.ascontiguousarray(fm), mask
    out = np.zeros(fm.shape[:-1] + (size,), np.float32)
    out[..., :n] = fm
    return out, mask


def _baseline_of(z, bvec, first: bool):
    """Baseline of a chunk: ``(T, d, 1)`` common vectors, or each agent's first step."""
    return jnp.broadcast_to(z[:1], z.shape) if first else bvec[:, :, None]


# --------------------------------------------------------------------------- compiled passes


# Every pass takes the value as (array leaves, static key), as the in-memory core does
# (jaxattr._core.split_value): a DeepSet's weights are traced, not hashed.


@functools.partial(jax.jit, static_argnames=("key", "first", "with_g"))
def _pass_sums(z, mask, bvec, dyn, *, key, first, with_g):
    """Per-step sums over one chunk: features (T, d), and g(z), g(b) of mean-field values."""
    value = join_value(dyn, key)
    b = jnp.broadcast_to(_baseline_of(z, bvec, first), z.shape)
    out = {"sum_z": jnp.sum(z * mask[None, None, :], axis=-1)}
    if with_g:
        g, _ = value.mean_field
        out["sum_gz"] = jax.vmap(lambda zt: jnp.sum(g(zt) * mask[None, :], axis=-1))(z)
        out["sum_gb"] = jax.vmap(lambda bt: jnp.sum(g(bt) * mask[None, :], axis=-1))(b)
    return out


@functools.partial(jax.jit, static_argnames=("first",))
def _reference_points(z, *, first):
    """Per-step reference points of a chunk (the first one: any fixed choice is exact)."""
    ref_z = jax.vmap(kernels.reference_point)(z)
    return ref_z, (jnp.broadcast_to(kernels.reference_point(z[0]), ref_z.shape) if first else None)


def _chunk_baseline(z0, bt, first):
    """A chunk's baseline of one step: ``(d, 1)`` common, or its first step ``(d, n)``."""
    return z0 if first else bt[:, None]


@functools.partial(jax.jit, static_argnames=("key", "first"))
def _pass_closed_aggregates(z, mask, bvec, refs, c, dyn, *, key, first):
    """A closed form's aggregates over one chunk, per step (sums: add across chunks)."""
    cf = join_value(dyn, key).closed_form

    def step(zt, bt, ref, ct):
        return cf.aggregates(zt, _chunk_baseline(z[0], bt, first), mask, ref, ct)

    return jax.vmap(step)(z, bvec, refs, c)


@functools.partial(jax.jit, static_argnames=("key",))
def _pass_closed_keys(z, refs, dyn, *, key):
    """The rank keys of a rank-based closed form over one chunk, ``(T, n)``."""
    cf = join_value(dyn, key).closed_form
    return jax.vmap(cf.rank_key)(z, refs)


@functools.partial(jax.jit, static_argnames=("key", "kind"))
def _finish(agg, w, bvec, dyn, *, key, kind):
    """``(f(Z), f(B), params)`` per step from the population's aggregates."""
    cf = join_value(dyn, key).closed_form
    return jax.vmap(lambda a, b: ClosedFormMethod.finish(cf, a, w, b[:, None], kind))(agg, bvec)


@functools.partial(jax.jit, static_argnames=("key", "first"))
def _pass_closed_phi(z, mask, bvec, refs, params, c, w, dyn, *, key, first):
    """phi ``(T, n)`` of one chunk from a closed form's population-level params: the
    in-memory core's own pass (:meth:`ClosedFormMethod.phi`)."""
    cf = join_value(dyn, key).closed_form

    def step(zt, bt, ref, p, ct):
        bt = _chunk_baseline(z[0], bt, first)
        return ClosedFormMethod.phi(cf, zt, bt, mask, ref, p, w, ct)[0] * mask

    return jax.vmap(step)(z, bvec, refs, params, c)


@functools.partial(jax.jit, static_argnames=("key", "first", "chunk"))
def _pass_path_sums(z, mask, bvec, alphas, dyn, *, key, first, chunk):
    """``(T, K, m)`` partial sums of ``g(b_i + a_j (z_i - b_i))`` over one chunk."""
    g, _ = join_value(dyn, key).mean_field
    b = jnp.broadcast_to(_baseline_of(z, bvec, first), z.shape)

    def step(zb):
        zt, bt = zb
        return lax.map(
            lambda a: jnp.sum(g(bt + a * (zt - bt)) * mask[None, :], axis=-1),
            alphas,
            batch_size=chunk,
        )

    return lax.map(step, (z, b))


@functools.partial(jax.jit, static_argnames=("key", "first", "chunk"))
def _pass_path_phi(z, mask, bvec, alphas, u, dyn, *, key, first, chunk):
    """phi ``(T, n)`` of one chunk from the path weights ``u`` ``(T, K, m)``."""
    g, _ = join_value(dyn, key).mean_field
    b = jnp.broadcast_to(_baseline_of(z, bvec, first), z.shape)

    def step(zbu):
        zt, bt, ut = zbu
        dz = zt - bt
        m_dim = ut.shape[-1]

        def one(acc, au):
            a, uj = au
            _, vjp = jax.vjp(g, bt + a * dz)
            return acc + vjp(jnp.broadcast_to(uj[:, None], (m_dim, zt.shape[-1])))[0], None

        acc, _ = lax.scan(one, jnp.zeros_like(zt), (alphas, ut))
        return jnp.sum(dz * acc, axis=0) * mask

    return lax.map(step, (z, b, u))


# --------------------------------------------------------------------------- gini ranks


def _merge_table(parts: list[tuple[np.ndarray, np.ndarray]]):
    keys = np.concatenate([p[0] for p in parts])
    cnts = np.concatenate([p[1] for p in parts])
    uk, inv = np.unique(keys, return_inverse=True)
    return uk, np.bincount(inv.reshape(-1), weights=cnts, minlength=uk.size).astype(np.int64)


def _key_ranges(hist: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Group the 2**16 high-bit buckets into ranges whose exact tables fit ``budget``."""
    cost = np.minimum(hist, 1 << 16)
    out, lo, acc = [], None, 0
    for b in np.flatnonzero(hist):
        b = int(b)
        if lo is None:
            lo, acc = b, 0
        elif acc + cost[b] > budget:
            out.append((lo, b))
            lo, acc = b, 0
        acc += int(cost[b])
    if lo is not None:
        out.append((lo, 1 << 16))
    return out


def _gini_ranks(
    scratch: str, chunks: list[tuple[int, int]], hist: np.ndarray, n_total: int, budget: int
) -> int:
    """Write ``c_i = 2 r_i - N - 1`` next to each spilled rank key ``s``; returns #ranges."""
    n_ranges = 0
    T = hist.shape[0]
    below_bucket = np.concatenate([np.zeros((T, 1), np.int64), np.cumsum(hist, axis=1)], axis=1)
    for t in range(T):
        for j, (_, n) in enumerate(chunks):  # one file per (chunk, step): small rewrites
            np.save(os.path.join(scratch, f"c{j}_{t}.npy"), np.zeros(n, np.float32))
        for lo, hi in _key_ranges(hist[t], budget):
            n_ranges += 1
            parts: list[tuple[np.ndarray, np.ndarray]] = []
            size = 0
            for j, _ in enumerate(chunks):
                k = _keys(scratch, j, t)
                hb = k >> np.uint32(16)
                k = k[(hb >= lo) & (hb < hi)]
                if k.size:
                    parts.append(np.unique(k, return_counts=True))
                    size += parts[-1][0].size
                if size > 2 * max(budget, 1 << 16):
                    parts = [_merge_table(parts)]
                    size = parts[0][0].size
            if not parts:
                continue
            uk, cnt = _merge_table(parts)
            below = below_bucket[t, lo] + np.cumsum(cnt) - cnt
            cval = (2 * below + cnt - n_total).astype(np.float32)  # exact up to 2**24 agents
            for j, _ in enumerate(chunks):
                k = _keys(scratch, j, t)
                hb = k >> np.uint32(16)
                sel = np.flatnonzero((hb >= lo) & (hb < hi))
                if sel.size:
                    cpath = os.path.join(scratch, f"c{j}_{t}.npy")
                    c = np.load(cpath)
                    c[sel] = cval[np.searchsorted(uk, k[sel])]
                    np.save(cpath, c)
    return n_ranges


def _keys(scratch: str, j: int, t: int) -> np.ndarray:
    return kernels.sortable_bits(np.load(os.path.join(scratch, f"s{j}.npy"), mmap_mode="r")[t])


def _load_c(scratch: str, j: int, T: int) -> np.ndarray:
    return np.stack([np.load(os.path.join(scratch, f"c{j}_{t}.npy")) for t in range(T)])


# --------------------------------------------------------------------------- entry


def attribute_out_of_core(
    path: str | os.PathLike[str],
    value: Any,
    *,
    out: str | os.PathLike[str] | None = None,
    baseline: str | Float[ArrayLike, " d"] | Float[ArrayLike, "T 1 d"] | None = None,
    method: str = "auto",
    steps: int = 30,
    rule: str = "midpoint",
    chunk: int | None = None,
    chunk_agents: int | None = None,
    rank_memory: int = 1 << 24,
    scratch_dir: str | os.PathLike[str] | None = None,
    features: Sequence[str] | None = None,
    progress: bool = False,
) -> StreamedAttribution:
    """Attribute a value function over a Parquet panel larger than memory, chunk by chunk.

    Same math and result as :func:`jaxattr.attribute` (``phi[t, i] = sum_k (Z - B)[t, i, k]
    G[t, i, k]``), computed in streaming passes (aggregates, then per-chunk phi written to
    ``out``); memory holds one chunk of ``chunk_agents`` agents, never the panel. Any value
    function with a closed form (``ValueFunction.closed_form``: a built-in or your own)
    streams through it; any mean-field value through the mean-field path integral.

    Args:
        path: panel file written by :func:`jaxattr.write_panel` (row group = agent range).
        value: a value object, built-in name or ``jaxattr.values.load`` spec. A general
            callable couples all agents and cannot be streamed.
        out: output Parquet file (``agent_index``, ``phi@0..phi@{T-1}``), written atomically;
            None computes the totals and efficiency only.
        baseline: ``"zero"``, ``"mean"`` (per-step population mean), ``"first"`` (each
            agent's first step), or an array ``(d,)`` / ``(T, 1, d)``.
        method: ``"auto"``, ``"closed_form"`` or ``"path"`` (as :func:`jaxattr.attribute`).
        steps: path points K of a path method.
        rule: quadrature rule of a path method.
        chunk: path points per pass of a path method (as :func:`jaxattr.attribute`).
        chunk_agents: agents per chunk (default: one Parquet row group).
        rank_memory: rank-based closed forms (gini) only, the largest (value, count) table
            held in memory (entries).
        scratch_dir: rank-based closed forms only, where the rank keys and ranks are
            spilled (default: a temporary folder next to ``out``, or the system's); removed
            at the end.
        features: feature names to read (default all).
        progress: report one line per pass (INFO records of the ``jaxattr.scale`` logger).

    Returns:
        :class:`StreamedAttribution` with ``delta``, ``sum_phi`` and ``efficiency_error``.

    Raises:
        ValueError: a value function that cannot be streamed, a per-agent baseline where
            only a common one is exact (gini), a bad baseline or method.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> path = os.path.join(d.name, "panel.parquet")
        >>> jaxattr.io.write_panel(panel, path)
        >>> res = scale.attribute_out_of_core(path, "heat", out=os.path.join(d.name, "phi.parquet"),
        ...                                   chunk_agents=4)     # two chunks of 4 agents
        >>> bool(res.max_efficiency_error() < 1e-5)
        True
        >>> phi = scale.read_phi(os.path.join(d.name, "phi.parquet"))   # (T, N)
        >>> bool(np.allclose(phi, jaxattr.attribute(panel, "heat").phi, atol=1e-6))
        True
        >>> d.cleanup()
    """
    if chunk_agents is not None and (isinstance(chunk_agents, bool) or chunk_agents < 1):
        raise ValueError(f"chunk_agents must be an integer >= 1, got {chunk_agents!r}")
    pf, header = open_panel_file(path)
    T, N = header["T"], header["N"]
    names = header["feature_names"] if features is None else list(features)
    d = len(names)
    plan = resolve(
        value,
        method=method,
        baseline=baseline,
        steps=steps,
        rule=rule,
        chunk=chunk,
        shape=(T, N, d),
        streaming=True,
        where="attribute_out_of_core",
    )
    value, base = plan.value, plan.baseline
    check_names = getattr(value, "check_panel_features", None)  # e.g. a trained DeepSet
    if check_names is not None:
        check_names(names)
    size = max(pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups))
    if chunk_agents is not None:
        size = min(size, chunk_agents)
    first = base.tag == "first"
    bvec = None if base.array is None else np.broadcast_to(base.array[:, :, 0], (T, d))
    ctx = _Context(
        path=path,
        chunk_agents=chunk_agents,
        features=features,
        size=size,
        T=T,
        N=N,
        d=d,
        first=first,
        log=get_logger("scale").info if progress else (lambda m: None),
    )
    closed = isinstance(plan.method, ClosedFormMethod)
    cf = value.closed_form if closed else None
    if cf is not None and cf.rank_key is not None:
        base_dir = scratch_dir or (os.path.dirname(os.path.abspath(out)) if out else None)
        ctx.scratch = tempfile.mkdtemp(prefix=".jaxattr-ranks-", dir=base_dir)

    # ---- pass 1: feature sums (the mean baseline), g sums, reference points, and a
    # closed form's aggregates (they take no common baseline: see ClosedForm) or rank keys
    t0 = time.perf_counter()
    sums, refs, agg = _first_pass(ctx, value, bvec, cf, scratch_dir, out)
    if bvec is None and not first:  # the mean baseline, known only now
        bvec = (sums["sum_z"] / N).astype(np.float32)
    if bvec is None:
        bvec = np.zeros((T, d), np.float32)  # unused by a per-agent baseline
    ctx.timings["aggregates"] = time.perf_counter() - t0
    ctx.log(f"pass 1 (aggregates): {ctx.timings['aggregates']:.2f}s")
    bv = jnp.asarray(bvec, jnp.float32)

    header_out = {
        "format": "jaxattr.attribution",
        "version": 1,
        "T": T,
        "N": N,
        "value": value.name,
        "method": plan.method_name,
        "baseline": baseline_name(baseline, value),
        "rule": plan.rule,
        "steps": plan.steps,
        "time_labels": header["time_labels"],
    }
    if closed:
        fz, fb, phi_chunks = _closed_out_of_core(ctx, value, bv, refs, agg, base.kind, rank_memory)
    else:
        fz, fb, phi_chunks = _meanfield_out_of_core(ctx, value, plan, bv, sums, base.kind)
    header_out.update(
        value_features=fz.tolist(), value_baseline=fb.tolist(), delta=(fz - fb).tolist()
    )

    # ---- last pass: phi, chunk by chunk, written as it comes
    t0 = time.perf_counter()
    sum_phi = np.zeros(T)

    def counted():
        for start, phi in phi_chunks():
            sum_phi[:] += np.sum(phi, axis=1, dtype=np.float64)
            yield start, phi

    try:
        if out is not None:
            write_phi_file(out, T, header_out, counted())
        else:
            for _ in counted():
                pass
    finally:
        ctx.cleanup()
    ctx.timings["attributions"] = time.perf_counter() - t0
    ctx.log(
        f"pass (attributions): {ctx.timings['attributions']:.2f}s"
        + (f", wrote {out}" if out else "")
    )
    delta = fz - fb
    err, negligible = efficiency_error(sum_phi, delta, fz, fb, np.finfo(np.float32).eps)
    return StreamedAttribution(
        path=None if out is None else os.fspath(out),
        delta=delta,
        value_features=fz,
        value_baseline=fb,
        sum_phi=sum_phi,
        efficiency_error=err,
        delta_negligible=np.asarray(negligible),
        method=plan.method_name,
        value_name=value.name,
        rule=plan.rule,
        steps=plan.steps,
        T=T,
        N=N,
        time_labels=list(header["time_labels"]),
        timings=ctx.timings,
    )


@dataclasses.dataclass
class _Context:
    """What every streaming pass needs: the file, the chunking, the log."""

    path: Any
    chunk_agents: int | None
    features: Any
    size: int
    T: int
    N: int
    d: int
    first: bool
    log: Any
    timings: dict = dataclasses.field(default_factory=dict)
    scratch: str | None = None  # rank keys and ranks of a rank-based closed form
    spilled: list = dataclasses.field(default_factory=list)  # (start, n) per spilled chunk
    hist: Any = None

    def chunks(self):
        """``(start, z (T, d, size), mask (size,), n)`` padded chunks of the panel."""
        for start, fm in _iter_chunks(self.path, self.chunk_agents, self.features):
            z, mask = _pad(fm, self.size)
            yield start, z, mask, fm.shape[-1]

    def cleanup(self):
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _add(acc, part):
    """Host float64 accumulation of a pytree of per-chunk sums."""
    part = jax.tree.map(lambda x: np.asarray(x, np.float64), part)
    return part if acc is None else jax.tree.map(np.add, acc, part)


def _first_pass(ctx, value, bvec, cf, scratch_dir, out):
    """Feature (and g) sums over all chunks; a closed form's reference points (from the
    first chunk) and aggregates, or the rank keys of a rank-based one (spilled)."""
    acc = agg = refs = None
    dyn, vkey = split_value(value)
    with_g = value.mean_field is not None
    bv = jnp.asarray(np.zeros((ctx.T, ctx.d), np.float32) if bvec is None else bvec)
    ranked = cf is not None and cf.rank_key is not None
    if ranked:
        ctx.hist = np.zeros((ctx.T, 1 << 16), np.int64)
    for start, z, mask, n in ctx.chunks():
        acc = _add(acc, _pass_sums(z, mask, bv, dyn, key=vkey, first=ctx.first, with_g=with_g))
        if cf is None:
            continue
        if refs is None and cf.reference:
            refs = _reference_points(z, first=ctx.first)
        if ranked:
            s = np.asarray(_pass_closed_keys(z, refs, dyn, key=vkey))[:, :n]
            np.save(os.path.join(ctx.scratch, f"s{len(ctx.spilled)}.npy"), s)
            for t in range(ctx.T):
                ctx.hist[t] += np.bincount(
                    kernels.sortable_bits(s[t]) >> np.uint32(16), minlength=1 << 16
                )
            ctx.spilled.append((start, n))
        else:
            agg = _add(
                agg,
                _pass_closed_aggregates(
                    z,
                    mask,
                    bv,
                    refs,
                    jnp.zeros((ctx.T, ctx.size), jnp.float32),
                    dyn,
                    key=vkey,
                    first=ctx.first,
                ),
            )
    if acc is None:  # a panel file always holds N >= 1 agents; this one yielded no chunk
        raise ValueError(f"attribute_out_of_core: {ctx.path!r} holds no agents")
    return acc, refs, agg


def _closed_out_of_core(ctx, value, bv, refs, agg, kind, rank_memory):
    """A closed form, streamed: (ranks and their aggregates,) finish, per-chunk phi."""
    T, N = ctx.T, ctx.N
    dyn, vkey = split_value(value)
    w = jnp.float32(N)
    ranked = value.closed_form.rank_key is not None
    zeros_c = jnp.zeros((T, ctx.size), jnp.float32)

    def ranks(j):
        return jnp.asarray(_pad(_load_c(ctx.scratch, j, T), ctx.size)[0]) if ranked else zeros_c

    if ranked:  # the aggregates need the population's ranks: a pass of their own
        t0 = time.perf_counter()
        n_ranges = _gini_ranks(ctx.scratch, ctx.spilled, ctx.hist, N, rank_memory)
        for j, (_, z, mask, _) in enumerate(ctx.chunks()):
            agg = _add(
                agg,
                _pass_closed_aggregates(
                    z, mask, bv, refs, ranks(j), dyn, key=vkey, first=ctx.first
                ),
            )
        ctx.timings["ranks"] = time.perf_counter() - t0
        ctx.log(f"ranks: {n_ranges} key ranges, and their aggregates: {ctx.timings['ranks']:.2f}s")
    fz, fb, params = _finish(
        jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), agg), w, bv, dyn, key=vkey, kind=kind
    )

    def phi_chunks():
        for j, (start, z, mask, n) in enumerate(ctx.chunks()):
            phi = _pass_closed_phi(
                z, mask, bv, refs, params, ranks(j), w, dyn, key=vkey, first=ctx.first
            )
            yield start, np.asarray(phi)[:, :n]

    return np.asarray(fz, np.float64), np.asarray(fb, np.float64), phi_chunks


def _meanfield_out_of_core(ctx, value, plan, bv, sums, kind):
    """A mean-field value, streamed: path aggregates at the K points, then per-chunk VJPs."""
    N = ctx.N
    dyn, vkey = split_value(value)
    _, h = value.mean_field
    fz = np.asarray(jax.vmap(h)(jnp.asarray(sums["sum_gz"] / N, jnp.float32)), np.float64)
    if kind == PER_AGENT:
        fb = np.asarray(jax.vmap(h)(jnp.asarray(sums["sum_gb"] / N, jnp.float32)), np.float64)
    else:  # identical agents: the population-normalised f is its one-agent value
        fb = np.asarray(jax.vmap(lambda b: value.fm(b[:, None]))(bv), np.float64)
    alphas_np, w_np = kernels.quadrature(plan.rule, plan.steps)
    alphas = jnp.asarray(alphas_np, jnp.float32)
    chunk = plan.method.chunk
    t0 = time.perf_counter()
    acc = 0
    for _, z, mask, _ in ctx.chunks():
        acc = acc + np.asarray(
            _pass_path_sums(z, mask, bv, alphas, dyn, key=vkey, first=ctx.first, chunk=chunk),
            np.float64,
        )
    gh = jax.vmap(jax.vmap(jax.grad(h)))(jnp.asarray(acc / N, jnp.float32))
    u = gh * jnp.asarray(w_np / N, jnp.float32)[None, :, None]  # (T, K, m)
    ctx.timings["path_aggregates"] = time.perf_counter() - t0
    ctx.log(f"path aggregates (K={plan.steps}): {ctx.timings['path_aggregates']:.2f}s")

    def phi_chunks():
        for start, z, mask, n in ctx.chunks():
            phi = _pass_path_phi(
                z, mask, bv, alphas, u, dyn, key=vkey, first=ctx.first, chunk=chunk
            )
            yield start, np.asarray(phi)[:, :n]

    return fz, fb, phi_chunks
