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
import json
import os
import shutil
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxattr import kernels
from jaxattr._atomic import atomic_path
from jaxattr._values import (
    COMMON,
    PER_AGENT,
    ZERO,
    Gini,
    Heat,
    Linear,
    ValueFunction,
    Variance,
    as_value,
)

__all__ = ["StreamedAttribution", "attribute_out_of_core", "read_phi"]

_META_KEY = b"jaxattr.attribution"


@dataclasses.dataclass
class StreamedAttribution:
    """Result of :func:`attribute_out_of_core`; phi itself lives in the output file.

    Attributes:
        path: the Parquet file holding ``agent_index`` and ``phi@<t>`` per agent (one row
            per agent, float32), or None when no output was asked for.
        delta: ``(T,)`` ``f(Z_t) - f(B_t)``; value_features, value_baseline: ``(T,)``.
        sum_phi: ``(T,)`` ``sum_i phi[t, i]`` (float64 accumulation).
        efficiency_error: ``(T,)`` ``|sum_i phi - delta| / max(|delta|, sum_i |phi|)``.
        by_agent_sum: not kept (N values); read the file with :func:`read_phi`.
        method, value_name, rule, steps, T, N, time_labels: as in ``Attribution``.
        timings: seconds per pass.
    """

    path: str | None
    delta: np.ndarray
    value_features: np.ndarray
    value_baseline: np.ndarray
    sum_phi: np.ndarray
    efficiency_error: np.ndarray
    method: str
    value_name: str
    rule: str | None
    steps: int | None
    T: int
    N: int
    time_labels: list
    timings: dict[str, float]

    def max_efficiency_error(self) -> float:
        return float(np.max(self.efficiency_error)) if self.efficiency_error.size else 0.0

    def read_phi(self) -> np.ndarray:
        """``(T, N)`` phi read back from :attr:`path` (needs T N floats of memory)."""
        if self.path is None:
            raise ValueError("this run wrote no output file (out=None); pass out=PATH")
        return read_phi(self.path)


def read_phi(path) -> np.ndarray:
    """Read the ``(T, N)`` attributions written by :func:`attribute_out_of_core`.

    Raises:
        ValueError: the file is not an attribution file written by jaxattr.scale.
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(os.fspath(path))
    md = pf.schema_arrow.metadata or {}
    if _META_KEY not in md:
        raise ValueError(f"{os.fspath(path)!r} is not a jaxattr attribution file (no "
                         f"{_META_KEY.decode()!r} metadata)")
    h = json.loads(md[_META_KEY])
    tab = pf.read(columns=[f"phi@{t}" for t in range(h["T"])])
    return np.stack([tab.column(t).to_numpy() for t in range(h["T"])])


# --------------------------------------------------------------------------- chunking


def _iter_chunks(path, chunk_agents: int | None, features=None):
    """Yield ``(start, fm)`` with ``fm`` ``(T, d, n)`` float32 NumPy, n <= chunk size."""
    from jaxattr._io import iter_panel

    for start, p in iter_panel(path, features=features, agent_columns=[]):
        fm = p.feature_major
        n = fm.shape[-1]
        step = n if chunk_agents is None else chunk_agents
        for lo in range(0, n, step):
            yield start + lo, fm[..., lo:min(n, lo + step)]


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


@functools.partial(jax.jit, static_argnames=("value", "first", "with_g"))
def _pass_aggregates(z, mask, bvec, *, value, first, with_g):
    """Per-step partial sums over one chunk: sum z (T, d), sum s (T,), sum g(z), sum g(b)."""
    b = _baseline_of(z, bvec, first)
    s = jnp.sum(z, axis=1)  # (T, n), same float32 rounding as the in-memory kernels
    b = jnp.broadcast_to(b, z.shape)
    m3, m2 = mask[None, None, :], mask[None, :]
    out = {"sum_z": jnp.sum(z * m3, axis=-1), "sum_s": jnp.sum(s * m2, axis=-1),
           "sum_sb": jnp.sum(jnp.sum(b, axis=1) * m2, axis=-1),
           "sum_b": jnp.sum(b * m3, axis=-1), "s": s}
    if with_g:
        g, _ = value.mean_field
        out["sum_gz"] = jax.vmap(lambda zt: jnp.sum(g(zt) * m2, axis=-1))(z)
        out["sum_gb"] = jax.vmap(lambda bt: jnp.sum(g(bt) * m2, axis=-1))(b)
    return out


@functools.partial(jax.jit, static_argnames=("value", "first", "chunk"))
def _pass_path_sums(z, mask, bvec, alphas, *, value, first, chunk):
    """``(T, K, m)`` partial sums of ``g(b_i + a_j (z_i - b_i))`` over one chunk."""
    g, _ = value.mean_field
    b = jnp.broadcast_to(_baseline_of(z, bvec, first), z.shape)

    def step(zb):
        zt, bt = zb
        return lax.map(lambda a: jnp.sum(g(bt + a * (zt - bt)) * mask[None, :], axis=-1),
                       alphas,
                       batch_size=chunk)

    return lax.map(step, (z, b))


@functools.partial(jax.jit, static_argnames=("value", "first", "chunk"))
def _pass_path_phi(z, mask, bvec, alphas, u, *, value, first, chunk):
    """phi ``(T, n)`` of one chunk from the path weights ``u`` ``(T, K, m)``."""
    g, _ = value.mean_field
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


@functools.partial(jax.jit, static_argnames=("kind", "value_kind"))
def _pass_closed_phi(z, mask, bvec, aux, c, *, kind, value_kind):
    """phi ``(T, n)`` of one chunk from a closed form and the global aggregates ``aux``."""
    first = kind == PER_AGENT
    b = jnp.broadcast_to(_baseline_of(z, bvec, first), z.shape)
    dz = z - b
    n_tot = aux["N"]
    if value_kind == "linear":
        g = jnp.ones_like(z) / n_tot
    elif value_kind == "heat":
        mz = aux["mean_z"]  # (T, d)
        mb = aux["mean_b"]
        one = jnp.ones((), z.dtype)  # the aggregates are means already: W = 1
        gk = jax.vmap(lambda m, mb_: kernels.heat_finish(
            tuple(m), one, mb_[:, None], kind)[2][0])(mz, mb)
        g = jnp.broadcast_to((gk / n_tot)[:, :, None], z.shape)
    elif value_kind == "variance":
        mid = 0.5 * (jnp.sum(z, axis=1) + jnp.sum(b, axis=1))  # (T, n)
        mbar = aux["mid_mean"][:, None]
        g = jnp.broadcast_to((2.0 / n_tot * (mid - mbar))[:, None, :], z.shape)
    else:  # gini
        g = jnp.broadcast_to((2.0 / (n_tot * n_tot) * c)[:, None, :], z.shape)
    return jnp.sum(dz * g, axis=1) * mask[None, :]


# --------------------------------------------------------------------------- gini ranks


def _sortable_keys(s: np.ndarray) -> np.ndarray:
    """float32 -> uint32 with unsigned order equal to float order (-0.0 ties +0.0)."""
    s = np.asarray(s, dtype=np.float32) + np.float32(0.0)
    u = s.view(np.uint32)
    neg = (u >> np.uint32(31)).astype(bool)
    return np.where(neg, ~u, u | np.uint32(0x80000000))


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


def _gini_ranks(scratch: str, chunks: list[tuple[int, int]], hist: np.ndarray, n_total: int,
                budget: int) -> int:
    """Write ``c_i = 2 r_i - N - 1`` next to each spilled ``s`` chunk; returns #ranges."""
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
                k = _sortable_keys(np.load(os.path.join(scratch, f"s{j}.npy"), mmap_mode="r")[t])
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
                k = _sortable_keys(np.load(os.path.join(scratch, f"s{j}.npy"), mmap_mode="r")[t])
                hb = k >> np.uint32(16)
                sel = np.flatnonzero((hb >= lo) & (hb < hi))
                if sel.size:
                    cpath = os.path.join(scratch, f"c{j}_{t}.npy")
                    c = np.load(cpath)
                    c[sel] = cval[np.searchsorted(uk, k[sel])]
                    np.save(cpath, c)
    return n_ranges


def _load_c(scratch: str, j: int, T: int) -> np.ndarray:
    return np.stack([np.load(os.path.join(scratch, f"c{j}_{t}.npy")) for t in range(T)])


# --------------------------------------------------------------------------- entry


def _value_kind(value: ValueFunction) -> str | None:
    for cls, name in ((Linear, "linear"), (Heat, "heat"), (Variance, "variance"),
                      (Gini, "gini")):
        if type(value) is cls:
            return name
    return None


def _resolve_baseline(baseline, T: int, d: int):
    """Return (bvec (T, d) float32 or None for 'mean', kind, first)."""
    if isinstance(baseline, str):
        if baseline == "zero":
            return np.zeros((T, d), np.float32), ZERO, False
        if baseline == "mean":
            return None, COMMON, False
        if baseline == "first":
            return np.zeros((T, d), np.float32), PER_AGENT, True
        raise ValueError(f"attribute_out_of_core: baseline must be 'zero', 'mean', 'first' or "
                         f"an array (d,) / (T, 1, d), got {baseline!r}")
    b = np.asarray(baseline, dtype=np.float32)
    if b.shape == (d,):
        return np.broadcast_to(b, (T, d)).copy(), COMMON, False
    if b.shape == (T, 1, d):
        return b[:, 0, :].copy(), COMMON, False
    raise ValueError(f"attribute_out_of_core: an array baseline must have shape (d,)=({d},) "
                     f"or (T, 1, d)=({T}, 1, {d}), got {b.shape}; per-agent (N, d) baselines "
                     "are not streamed (store them as a panel and use baseline='first')")


def attribute_out_of_core(path, value, *, out=None, baseline="zero", method: str = "auto",
                          steps: int = 30, rule: str = "midpoint", chunk: int = 1,
                          chunk_agents: int | None = None, rank_memory: int = 1 << 24,
                          scratch_dir=None, features=None, progress: bool = False
                          ) -> StreamedAttribution:
    """Attribute a value function over a Parquet panel larger than memory, chunk by chunk.

    Same math and result as :func:`jaxattr.attribute` (``phi[t, i] = sum_k (Z - B)[t, i, k]
    G[t, i, k]``), computed in two streaming passes (aggregates, then per-chunk phi written
    to ``out``); memory holds one chunk of ``chunk_agents`` agents, never the panel.

    Args:
        path: panel file written by :func:`jaxattr.write_panel` (row group = agent range).
        value: ``linear``/``heat``/``variance``/``gini`` (closed forms), or any mean-field
            value (``jaxattr.values.mean_field(g, h)``; path integral with K = ``steps``).
            A general callable couples all agents and cannot be streamed.
        out: output Parquet file (``agent_index``, ``phi@0..phi@{T-1}``), written atomically;
            None computes the totals and efficiency only.
        baseline: ``"zero"``, ``"mean"`` (per-step population mean), ``"first"`` (each
            agent's first step), or an array ``(d,)`` / ``(T, 1, d)``.
        method: ``"auto"``, ``"closed_form"`` or ``"path"``.
        steps, rule, chunk: quadrature of a path method, as in ``attribute``.
        chunk_agents: agents per chunk (default: one Parquet row group).
        rank_memory: gini only, the largest (value, count) table held in memory (entries).
        scratch_dir: gini only, where ``s`` and the ranks are spilled (default: a temporary
            folder next to ``out``, or the system's); removed at the end.
        features: feature names to read (default all).
        progress: print one line per pass.

    Returns:
        :class:`StreamedAttribution` with ``delta``, ``sum_phi`` and ``efficiency_error``.

    Raises:
        ValueError: a value function that cannot be streamed, a per-agent baseline where
            only a common one is exact (gini), a bad baseline or method.

    Example:
        ``res = attribute_out_of_core("panel.parquet", "heat", out="phi.parquet")``, then
        ``res.max_efficiency_error() < 1e-5`` and ``read_phi("phi.parquet")`` ``(T, N)``.
    """
    from jaxattr._io import _open

    value = as_value(value)
    if method not in ("auto", "closed_form", "path"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'path', got {method!r}")
    alphas_np, w_np = kernels.quadrature(rule, steps)
    if chunk_agents is not None and (isinstance(chunk_agents, bool) or chunk_agents < 1):
        raise ValueError(f"chunk_agents must be an integer >= 1, got {chunk_agents!r}")
    pf, header = _open(path)
    T, N = header["T"], header["N"]
    names = header["feature_names"] if features is None else list(features)
    d = len(names)
    bvec, kind, first = _resolve_baseline(baseline, T, d)
    vkind = _value_kind(value)
    if method == "auto":
        chosen = ("closed_form" if vkind is not None and value.has_closed_form(kind)
                  else "path-meanfield")
    elif method == "closed_form":
        if vkind is None or not value.has_closed_form(kind):
            raise ValueError(f"value function {value.name!r} has no streamable closed form "
                             f"for a {kind.replace('_', '-')} baseline; use method='path' "
                             "with a mean-field value")
        chosen = "closed_form"
    else:
        chosen = "path-meanfield"
    if chosen == "path-meanfield" and value.mean_field is None:
        raise ValueError(
            f"value function {value.name!r} is neither a closed form nor mean-field "
            f"(h(mean_i g(z_i))) for a {kind.replace('_', '-')} baseline: its attributions "
            "depend on all agents at once, so it cannot be streamed out of core; load the "
            "panel and use jaxattr.attribute, or write f as jaxattr.values.mean_field(g, h)")
    size = max(n for _, n in ((g, pf.metadata.row_group(g).num_rows)
                              for g in range(pf.metadata.num_row_groups)))
    if chunk_agents is not None:
        size = min(size, chunk_agents)
    with_g = value.mean_field is not None
    timings: dict[str, float] = {}
    log = (lambda msg: print(msg, flush=True)) if progress else (lambda msg: None)
    is_gini = vkind == "gini" and chosen == "closed_form"
    scratch = None
    if is_gini:
        base = scratch_dir or (os.path.dirname(os.path.abspath(out)) if out else None)
        scratch = tempfile.mkdtemp(prefix=".jaxattr-ranks-", dir=base)

    try:
        # ---- pass 1: aggregates (and the spilled s for gini)
        t0 = time.perf_counter()
        acc: dict[str, np.ndarray] = {}
        hist = np.zeros((T, 1 << 16), np.int64) if is_gini else None
        chunks: list[tuple[int, int]] = []
        bv = jnp.asarray(bvec if bvec is not None else np.zeros((T, d), np.float32))
        for start, fm in _iter_chunks(path, chunk_agents, features):
            z, mask = _pad(fm, size)
            part = _pass_aggregates(z, mask, bv, value=value, first=first, with_g=with_g)
            n = fm.shape[-1]
            for k, v in part.items():
                if k == "s":
                    continue
                acc[k] = acc.get(k, 0) + np.asarray(v, np.float64)
            if is_gini:
                s = np.asarray(part["s"])[:, :n]
                np.save(os.path.join(scratch, f"s{len(chunks)}.npy"), s)
                for t in range(T):
                    hist[t] += np.bincount(_sortable_keys(s[t]) >> np.uint32(16),
                                           minlength=1 << 16)
            chunks.append((start, n))
        timings["aggregates"] = time.perf_counter() - t0
        log(f"pass 1/2 (aggregates): {len(chunks)} chunks, {timings['aggregates']:.2f}s")
        n_tot = float(N)
        mean_z = acc["sum_z"] / n_tot  # (T, d)
        if bvec is None:  # the mean baseline, known only now
            bvec = mean_z.astype(np.float32)
            bv = jnp.asarray(bvec)
            mean_b = mean_z
            sum_sb = np.sum(bvec.astype(np.float64), axis=1) * n_tot
        else:
            mean_b = acc["sum_b"] / n_tot
            sum_sb = acc["sum_sb"]

        # ---- values f(Z), f(B)
        fz, fb = _values(value, vkind, acc, bvec, kind, n_tot, mean_z, mean_b, sum_sb)

        # ---- gini ranks (external), and f(Z) from them
        if is_gini:
            t0 = time.perf_counter()
            n_ranges = _gini_ranks(scratch, chunks, hist, N, rank_memory)
            sc = np.zeros(T)
            for j in range(len(chunks)):
                s = np.load(os.path.join(scratch, f"s{j}.npy"))
                c = _load_c(scratch, j, T)
                sc += np.sum(s.astype(np.float64) * c, axis=1)
            fz = 2.0 * sc / (n_tot * n_tot)
            timings["ranks"] = time.perf_counter() - t0
            log(f"ranks: {n_ranges} key ranges, {timings['ranks']:.2f}s")

        # ---- path aggregates
        alphas = jnp.asarray(alphas_np, jnp.float32)
        u = None
        if chosen == "path-meanfield":
            t0 = time.perf_counter()
            sums = 0
            for _, fm in _iter_chunks(path, chunk_agents, features):
                z, mask = _pad(fm, size)
                sums = sums + np.asarray(
                    _pass_path_sums(z, mask, bv, alphas, value=value, first=first,
                                    chunk=chunk), np.float64)
            _, h = value.mean_field
            gh = jax.vmap(jax.vmap(jax.grad(h)))(jnp.asarray(sums / n_tot, jnp.float32))
            u = gh * jnp.asarray(w_np / n_tot, jnp.float32)[None, :, None]  # (T, K, m)
            timings["path_aggregates"] = time.perf_counter() - t0
            log(f"path aggregates (K={steps}): {timings['path_aggregates']:.2f}s")

        # ---- pass 2: phi, chunk by chunk
        t0 = time.perf_counter()
        aux = {"N": jnp.float32(n_tot), "mean_z": jnp.asarray(mean_z, jnp.float32),
               "mean_b": jnp.asarray(mean_b, jnp.float32),
               "mid_mean": jnp.asarray(0.5 * (acc["sum_s"] + sum_sb) / n_tot, jnp.float32)}
        sum_phi = np.zeros(T)
        sum_abs = np.zeros(T)
        header_out = {"format": "jaxattr.attribution", "version": 1, "T": T, "N": N,
                      "value": value.name, "method": chosen, "baseline": (
                          baseline if isinstance(baseline, str) else "array"),
                      "rule": None if chosen == "closed_form" else rule,
                      "steps": None if chosen == "closed_form" else int(steps),
                      "time_labels": header["time_labels"],
                      "value_features": fz.tolist(), "value_baseline": fb.tolist(),
                      "delta": (fz - fb).tolist()}

        def phi_chunks():
            for j, (start, fm) in enumerate(_iter_chunks(path, chunk_agents, features)):
                z, mask = _pad(fm, size)
                n = fm.shape[-1]
                if chosen == "closed_form":
                    c = (np.zeros((T, size), np.float32) if not is_gini else
                         _pad(_load_c(scratch, j, T), size)[0])
                    phi = _pass_closed_phi(z, mask, bv, aux, c, kind=kind, value_kind=vkind)
                else:
                    phi = _pass_path_phi(z, mask, bv, alphas, u, value=value, first=first,
                                         chunk=chunk)
                phi = np.asarray(phi)[:, :n]
                sum_phi[:] += np.sum(phi, axis=1, dtype=np.float64)
                sum_abs[:] += np.sum(np.abs(phi), axis=1, dtype=np.float64)
                yield start, phi

        if out is not None:
            _write_phi(out, T, header_out, phi_chunks())
        else:
            for _ in phi_chunks():
                pass
        timings["attributions"] = time.perf_counter() - t0
        log(f"pass 2/2 (attributions): {timings['attributions']:.2f}s"
            + (f", wrote {out}" if out else ""))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    delta = fz - fb
    err = _efficiency(sum_phi, sum_abs, delta, fz, fb)
    return StreamedAttribution(
        path=None if out is None else os.fspath(out), delta=delta, value_features=fz,
        value_baseline=fb, sum_phi=sum_phi, efficiency_error=err, method=chosen,
        value_name=value.name, rule=None if chosen == "closed_form" else rule,
        steps=None if chosen == "closed_form" else int(steps), T=T, N=N,
        time_labels=list(header["time_labels"]), timings=timings)


def _values(value, vkind, acc, bvec, kind, n_tot, mean_z, mean_b, sum_sb):
    """f(Z_t), f(B_t) (float64 where the formula is known) from the aggregates."""
    T = mean_z.shape[0]
    if vkind == "linear":
        fz = acc["sum_s"] / n_tot
        fb = sum_sb / n_tot
    elif vkind == "heat":
        fz = np.log1p(np.prod(mean_z, axis=1))
        fb = np.log1p(np.prod(mean_b, axis=1))
    elif vkind == "variance":
        m = acc["sum_gz"] / n_tot
        fz = np.maximum(m[:, 1] - m[:, 0] ** 2, 0.0)
        if kind == PER_AGENT:
            mb = acc["sum_gb"] / n_tot
            fb = np.maximum(mb[:, 1] - mb[:, 0] ** 2, 0.0)
        else:
            fb = np.zeros(T)
    elif vkind == "gini":
        fz = np.zeros(T)  # from the ranks, later
        fb = np.zeros(T)  # a common baseline: all agents equal
    else:
        _, h = value.mean_field
        fz = np.asarray(jax.vmap(h)(jnp.asarray(acc["sum_gz"] / n_tot, jnp.float32)),
                        np.float64)
        if kind == PER_AGENT:
            fb = np.asarray(jax.vmap(h)(jnp.asarray(acc["sum_gb"] / n_tot, jnp.float32)),
                            np.float64)
        else:
            fb = np.asarray(jax.vmap(lambda b: value.fm(b[:, None]))(jnp.asarray(bvec)),
                            np.float64)
    return np.asarray(fz, np.float64), np.asarray(fb, np.float64)


def _efficiency(sum_phi, sum_abs, delta, fz, fb):
    gap = np.abs(sum_phi - delta)
    scale = np.maximum(np.abs(delta), sum_abs)
    resolution = 8 * np.finfo(np.float32).eps * (np.abs(fz) + np.abs(fb))
    return np.where(scale <= resolution, 0.0, gap / np.maximum(scale, np.finfo(np.float64).tiny))


def _write_phi(out, T: int, header: dict[str, Any], chunks) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field("agent_index", pa.int64(), nullable=False)]
    fields += [pa.field(f"phi@{t}", pa.float32(), nullable=False) for t in range(T)]
    schema = pa.schema(fields, metadata={_META_KEY: json.dumps(header).encode()})
    # Dictionary encoding and statistics on float columns cost more than the rest of the
    # pass (measured: 3-5x slower writes) and buy nothing for attributions.
    with atomic_path(out) as tmp, pq.ParquetWriter(
            tmp, schema, compression="snappy", use_dictionary=False,
            write_statistics=["agent_index"]) as w:
        for start, phi in chunks:
            n = phi.shape[1]
            cols = [pa.array(np.arange(start, start + n, dtype=np.int64))]
            cols += [pa.array(phi[t]) for t in range(T)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema))
