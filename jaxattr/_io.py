"""Parquet I/O for panels: exact round trip, column projection, row-group streaming.

Layout (``jaxattr.panel`` version 1; see ``docs/data.md``). One Parquet file, **one row per
agent** ("wide"):

=====================  ==========  ========================================================
column                 type        content
=====================  ==========  ========================================================
``agent_id``           int64/str   the agent's opaque id (integer index by default)
``<attr>``             any         one column per agent-table attribute (``followers``, ...)
``<feature>@<t>``      float32     feature ``<feature>`` at time step index ``t`` (0-based),
                                   ordered t-major then feature: the file's column order is
                                   the memory order of the engine's ``(T, d, N)`` buffer
=====================  ==========  ========================================================

The schema metadata key ``jaxattr.panel`` holds a JSON document with the format name and
version, T, N, d, feature names, time labels, the numpy dtype of each agent column and the
panel's ``meta``. Page checksums are written and verified, so a corrupted page fails loudly.

Why wide rather than a long (agent, t, features...) table: each column chunk is exactly one
contiguous row of the feature-major buffer, so reading is a memcpy per column (no sort, no
transpose, no repeated keys); a row group is a contiguous *agent* range with all its time
steps, which is the unit an agent-sharded multi-process run reads; the agent table travels in
the same file, so one atomic rename publishes the whole panel; and column projection selects
features and time steps by name. A long table is still one call away for pandas/polars users:
``to_arrow(panel, layout="long")``; :func:`from_arrow` reads both layouts.

pyarrow is imported inside the functions: ``import jaxattr`` does not import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

import numpy as np

from ._atomic import atomic_path
from ._panel import Panel

__all__ = ["PanelFormatError", "from_arrow", "iter_panel", "panel_row_groups", "read_panel",
           "to_arrow", "write_panel"]

FORMAT = "jaxattr.panel"
VERSION = 1
_META_KEY = b"jaxattr.panel"
_ID = "agent_id"


class PanelFormatError(ValueError):
    """A file is not a readable jaxattr panel (corrupted, truncated, foreign or inconsistent)."""


def _col(name: str, t: int) -> str:
    return f"{name}@{t}"


def _jsonable_labels(labels) -> list:
    out = []
    for x in labels:
        if isinstance(x, np.generic):
            x = x.item()
        if not isinstance(x, (str, int, float)) or isinstance(x, bool):
            raise TypeError(f"time label {x!r} of type {type(x).__name__} cannot be stored; "
                            "use str (e.g. ISO dates), int or float labels")
        out.append(x)
    return out


def _header(panel: Panel, agent_cols: Sequence[str]) -> dict:
    return {
        "format": FORMAT, "version": VERSION, "T": panel.T, "N": panel.N, "d": panel.d,
        "feature_names": list(panel.feature_names),
        "time_labels": _jsonable_labels(panel.time_labels),
        "agent_id_dtype": panel.agent_ids.dtype.str,
        "agent_columns": {k: panel.agents[k].dtype.str for k in agent_cols},
        "meta": panel.meta,
    }


def _check_writable(panel: Panel, write_identifiers: bool) -> None:
    if not isinstance(panel, Panel):
        raise TypeError(f"write_panel expects a Panel, got {type(panel).__name__}")
    if panel.agent_ids.dtype.kind not in "iu" and not write_identifiers:
        raise ValueError(
            "write_panel: the panel's agent_ids are not integer indices (dtype "
            f"{panel.agent_ids.dtype}); identifiers are written only on request: pass "
            "write_identifiers=True, or pseudonymise them first (e.g. "
            "Panel(..., agent_ids=None))")
    for k in panel.agents:
        if "@" in k or k == _ID:
            raise ValueError(f"write_panel: agent table column {k!r} is reserved or contains "
                             "'@'; rename it")
    try:
        json.dumps(panel.meta)
    except TypeError as e:
        raise TypeError(f"write_panel: panel.meta must be JSON-serialisable: {e}") from None


def _arrow_array(pa, a: np.ndarray):
    if a.dtype.kind == "U":
        return pa.array(a.tolist(), type=pa.string())
    if a.dtype.kind == "S":
        return pa.array(a.tolist(), type=pa.binary())
    return pa.array(a)


def write_panel(panel: Panel, path, *, row_group_size: int = 1 << 18,
                compression: str = "zstd", write_identifiers: bool = False) -> None:
    """Write a panel to one Parquet file, atomically (temp file, fsync, rename).

    Args:
        panel: the :class:`Panel` (T, N, d) to write.
        path: destination file; its directory must exist. An existing file is replaced only
            once the new one is complete.
        row_group_size: agents per row group (the unit of streaming and of per-process reads).
        compression: Parquet codec (``"zstd"``, ``"snappy"``, ``"none"``...).
        write_identifiers: allow non-integer agent ids (e.g. DIDs) in the file. Off by
            default: outputs carry pseudonymised integer indices only.

    Raises:
        ValueError: non-integer agent ids without ``write_identifiers``; reserved agent
            column names; ``row_group_size < 1``.
        TypeError: time labels or meta that cannot be stored as JSON.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_writable(panel, write_identifiers)
    if row_group_size < 1:
        raise ValueError(f"write_panel: row_group_size must be >= 1, got {row_group_size}")
    agent_cols = list(panel.agents)
    header = _header(panel, agent_cols)
    fm = panel.feature_major
    T, d, N = fm.shape
    names = [_ID, *agent_cols] + [_col(f, t) for t in range(T) for f in panel.feature_names]
    id_arr = _arrow_array(pa, panel.agent_ids[:1])
    fields = [pa.field(_ID, id_arr.type, nullable=False)]
    for k in agent_cols:
        fields.append(pa.field(k, _arrow_array(pa, panel.agents[k][:1]).type, nullable=False))
    fields += [pa.field(n, pa.float32(), nullable=False) for n in names[1 + len(agent_cols):]]
    schema = pa.schema(fields, metadata={_META_KEY: json.dumps(header).encode()})
    dict_cols = [f.name for f in fields[:1 + len(agent_cols)]
                 if pa.types.is_string(f.type) or pa.types.is_binary(f.type)]
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema, compression=compression,
                              use_dictionary=dict_cols or False,
                              write_statistics=[_ID], write_page_checksum=True) as w:
            for lo in range(0, N, row_group_size):
                hi = min(N, lo + row_group_size)
                cols = [_arrow_array(pa, panel.agent_ids[lo:hi])]
                cols += [_arrow_array(pa, panel.agents[k][lo:hi]) for k in agent_cols]
                cols += [pa.array(fm[t, k, lo:hi]) for t in range(T) for k in range(d)]
                w.write_table(pa.Table.from_arrays(cols, schema=schema),
                              row_group_size=hi - lo)


# ------------------------------------------------------------------------------ reading
def open_panel_file(path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"read_panel: no such file {path!r}")
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        md = pf.schema_arrow.metadata or {}
    except (pa.ArrowException, OSError, ValueError) as e:
        raise PanelFormatError(
            f"{path!r} is not a readable Parquet file ({type(e).__name__}: {e}); it may be "
            "truncated or corrupted: re-create it with jaxattr.write_panel") from None
    if _META_KEY not in md:
        raise PanelFormatError(
            f"{path!r} is a Parquet file but not a jaxattr panel (no {_META_KEY.decode()!r} "
            "schema metadata); for a long (agent, t, features...) table read it with pyarrow "
            "and convert with jaxattr.from_arrow(table)")
    try:
        header = json.loads(md[_META_KEY])
        _validate_header(header)
    except (ValueError, KeyError, TypeError) as e:
        raise PanelFormatError(f"{path!r}: invalid jaxattr panel header: {e}") from None
    if pf.metadata.num_rows != header["N"]:
        raise PanelFormatError(f"{path!r}: header says N = {header['N']} agents but the file "
                               f"has {pf.metadata.num_rows} rows; the file is inconsistent")
    return pf, header


def _validate_header(h: dict) -> None:
    if h.get("format") != FORMAT:
        raise ValueError(f"format is {h.get('format')!r}, expected {FORMAT!r}")
    if h.get("version") != VERSION:
        raise ValueError(f"version {h.get('version')!r} is not supported (this jaxattr reads "
                         f"version {VERSION}); upgrade jaxattr")
    for k in ("T", "N", "d"):
        if not isinstance(h.get(k), int) or h[k] < 1:
            raise ValueError(f"{k} must be a positive int, got {h.get(k)!r}")
    if len(h["feature_names"]) != h["d"] or len(h["time_labels"]) != h["T"]:
        raise ValueError("feature_names / time_labels lengths do not match d / T")
    if not isinstance(h["agent_columns"], dict) or not isinstance(h["meta"], dict):
        raise ValueError("agent_columns and meta must be objects")
    np.dtype(h["agent_id_dtype"])


def _to_numpy(col, dtype: np.dtype, what: str, path) -> np.ndarray:
    if col.null_count:
        raise PanelFormatError(f"{path!r}: column {what!r} has {col.null_count} nulls; "
                               "a panel has none")
    if dtype.kind in "US":
        return np.array(col.to_pylist(), dtype=dtype)
    a = col.to_numpy()
    if a.dtype != dtype:
        raise PanelFormatError(f"{path!r}: column {what!r} has dtype {a.dtype}, header says "
                               f"{dtype}")
    return a


def panel_row_groups(path) -> list[tuple[int, int]]:
    """Agent ranges ``[(start, stop), ...]`` of the row groups of a panel file.

    A process of a multi-process run reads its share with ``read_panel(path,
    row_groups=[...])``.

    Raises:
        PanelFormatError: the file is not a readable jaxattr panel.
    """
    pf, _ = open_panel_file(path)
    out, lo = [], 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        out.append((lo, lo + n))
        lo += n
    return out


def _select(names_all: list, sel, what: str, path) -> list[int]:
    if sel is None:
        return list(range(len(names_all)))
    if isinstance(sel, (str, int)):
        sel = [sel]
    out = []
    for s in sel:
        if s in names_all:
            out.append(names_all.index(s))
        elif (what == "time step" and isinstance(s, (int, np.integer))
              and not isinstance(s, bool) and 0 <= int(s) < len(names_all)):
            out.append(int(s))
        else:
            raise KeyError(f"read_panel: {path!r} has no {what} {s!r}; available: "
                           f"{names_all[:10]}{'...' if len(names_all) > 10 else ''}")
    return out


def read_panel(path, *, features: Sequence[str] | None = None, times=None,
               agent_columns: Sequence[str] | None = None, row_groups: Sequence[int] | None
               = None, validate: bool = True, use_threads: bool = True) -> Panel:
    """Read a panel written by :func:`write_panel`, reading only the columns asked for.

    Args:
        path: the Parquet file.
        features: feature names to read (default all), in the order given.
        times: time labels (or 0-based step indices) to read (default all).
        agent_columns: agent-table columns to read (default all; ``[]`` for none).
        row_groups: indices of row groups to read (default all): the panel then holds the
            agents of those groups, with their ids and agent table rows.
        validate: check the features for NaN/inf.
        use_threads: let pyarrow decode columns in parallel.

    Returns:
        A :class:`Panel`, bit-for-bit equal to the one written (on the selected part).

    Raises:
        FileNotFoundError: no file at ``path``.
        PanelFormatError: the file is corrupted, truncated, foreign or inconsistent.
        KeyError: an unknown feature, time label, agent column or row group.
    """
    pf, h = open_panel_file(path)
    ks = _select(h["feature_names"], features, "feature", path)
    ts = _select(h["time_labels"], times, "time step", path)
    acols = list(h["agent_columns"]) if agent_columns is None else list(agent_columns)
    for a in acols:
        if a not in h["agent_columns"]:
            raise KeyError(f"read_panel: {path!r} has no agent column {a!r}; available: "
                           f"{list(h['agent_columns'])}")
    ngroups = pf.metadata.num_row_groups
    rgs = list(range(ngroups)) if row_groups is None else [int(g) for g in row_groups]
    for g in rgs:
        if not 0 <= g < ngroups:
            raise KeyError(f"read_panel: {path!r} has {ngroups} row groups, no group {g}")
    return _read(pf, h, path, ks, ts, acols, rgs, validate, use_threads)


def _read(pf, h, path, ks, ts, acols, rgs, validate, use_threads) -> Panel:
    import pyarrow as pa

    fnames = h["feature_names"]
    fcols = [_col(fnames[k], t) for t in ts for k in ks]
    cols = [_ID, *acols, *fcols]
    missing = [c for c in cols if c not in pf.schema_arrow.names]
    if missing:
        raise PanelFormatError(f"{path!r}: columns {missing[:5]} named by the header are "
                               "missing; the file is inconsistent")
    try:
        table = pf.read_row_groups(rgs, columns=cols, use_threads=use_threads)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise PanelFormatError(
            f"{path!r}: reading row groups {rgs[:5]} failed ({type(e).__name__}: {e}); the file "
            "is corrupted: re-create it with jaxattr.write_panel") from None
    n = table.num_rows
    if n == 0:
        raise PanelFormatError(f"{path!r}: the selected row groups hold no agents")
    fm = np.empty((len(ts), len(ks), n), dtype=np.float32)
    j = 0
    for a in range(len(ts)):
        for b in range(len(ks)):
            col = table.column(len(acols) + 1 + j)
            name = fcols[j]
            j += 1
            if col.type != pa.float32():
                raise PanelFormatError(f"{path!r}: column {name!r} has type {col.type}, "
                                       "expected float")
            if col.null_count:
                raise PanelFormatError(f"{path!r}: column {name!r} has {col.null_count} nulls")
            off = 0
            for chunk in col.chunks:
                m = len(chunk)
                fm[a, b, off:off + m] = chunk.to_numpy(zero_copy_only=False)
                off += m
    ids = _to_numpy(table.column(0), np.dtype(h["agent_id_dtype"]), _ID, path)
    agents = {c: _to_numpy(table.column(1 + i), np.dtype(h["agent_columns"][c]), c, path)
              for i, c in enumerate(acols)}
    return Panel.from_feature_major(
        fm, feature_names=[fnames[k] for k in ks], time_labels=[h["time_labels"][t] for t in ts],
        agent_ids=ids, agents=agents, meta=h["meta"], validate=validate)


def iter_panel(path, *, features=None, times=None, agent_columns=None,
               validate: bool = True) -> Iterator[tuple[int, Panel]]:
    """Stream a panel file one row group (an agent range) at a time.

    Yields:
        ``(start, panel)``: the first agent index of the group in the full panel and the
        group's Panel. Memory holds one row group at a time.

    Raises:
        PanelFormatError, KeyError: as :func:`read_panel`.
    """
    pf, h = open_panel_file(path)
    ks = _select(h["feature_names"], features, "feature", path)
    ts = _select(h["time_labels"], times, "time step", path)
    acols = list(h["agent_columns"]) if agent_columns is None else list(agent_columns)
    for a in acols:
        if a not in h["agent_columns"]:
            raise KeyError(f"iter_panel: {path!r} has no agent column {a!r}")
    lo = 0
    for g in range(pf.metadata.num_row_groups):
        p = _read(pf, h, path, ks, ts, acols, [g], validate, True)
        yield lo, p
        lo += p.N


# ------------------------------------------------------------------------------ interop
def to_arrow(panel: Panel, *, layout: str = "wide", write_identifiers: bool = False):
    """Convert a panel to a ``pyarrow.Table`` (for pandas/polars: ``.to_pandas()``,
    ``polars.from_arrow``).

    Args:
        panel: the Panel.
        layout: ``"wide"`` (the file layout, one row per agent) or ``"long"`` (one row per
            (agent, t): columns ``agent``, ``t``, ``time_label``, one column per feature, then
            the agent table; N*T rows).
        write_identifiers: allow non-integer agent ids in the output.

    Returns:
        A ``pyarrow.Table`` carrying the panel header in its schema metadata.

    Raises:
        ValueError: unknown layout, or identifiers without ``write_identifiers``.
    """
    import pyarrow as pa

    _check_writable(panel, write_identifiers)
    header = json.dumps(_header(panel, list(panel.agents))).encode()
    T, N, d = panel.shape
    fm = panel.feature_major
    if layout == "wide":
        names = [_ID, *panel.agents] + [_col(f, t) for t in range(T) for f in panel.feature_names]
        cols = [_arrow_array(pa, panel.agent_ids)]
        cols += [_arrow_array(pa, v) for v in panel.agents.values()]
        cols += [pa.array(fm[t, k]) for t in range(T) for k in range(d)]
    elif layout == "long":
        labels = _jsonable_labels(panel.time_labels)
        names = ["agent", "t", "time_label", *panel.feature_names, *panel.agents]
        cols = [_arrow_array(pa, np.repeat(panel.agent_ids, T)),
                pa.array(np.tile(np.arange(T, dtype=np.int32), N)),
                pa.array(np.tile(np.array(labels, dtype=object), N).tolist())]
        cols += [pa.array(np.ascontiguousarray(fm[:, k, :].T).reshape(-1)) for k in range(d)]
        cols += [_arrow_array(pa, np.repeat(v, T)) for v in panel.agents.values()]
    else:
        raise ValueError(f"to_arrow: layout must be 'wide' or 'long', got {layout!r}")
    return pa.Table.from_arrays(cols, names=names).replace_schema_metadata({_META_KEY: header})


def from_arrow(table, *, agent: str = "agent", t: str = "t",
               features: Sequence[str] | None = None, validate: bool = True) -> Panel:
    """Build a panel from a ``pyarrow.Table`` (e.g. ``pa.Table.from_pandas(df)``).

    A table with jaxattr panel metadata (written by :func:`to_arrow`, either layout) is read
    exactly. Otherwise it is read as a *long* table: one row per (agent, t) with columns
    ``agent`` and ``t`` (any sortable values) and one numeric column per feature; every
    (agent, t) pair must occur exactly once. Agents and steps are ordered by sorted value.

    Args:
        table: a ``pyarrow.Table``.
        agent, t: names of the agent and time columns of a long table.
        features: feature columns of a long table (default: all other numeric columns).
        validate: check for NaN/inf.

    Raises:
        ValueError: missing columns, nulls, duplicate or missing (agent, t) pairs.
    """
    import pyarrow as pa

    md = table.schema.metadata or {}
    if _META_KEY in md:
        h = json.loads(md[_META_KEY])
        _validate_header(h)
        if agent in table.column_names and t in table.column_names and _ID not in \
                table.column_names:
            features = h["feature_names"]
        else:
            fm = np.empty((h["T"], h["d"], h["N"]), dtype=np.float32)
            for ti in range(h["T"]):
                for k, f in enumerate(h["feature_names"]):
                    fm[ti, k] = table.column(_col(f, ti)).to_numpy()
            ids = _to_numpy(table.column(_ID), np.dtype(h["agent_id_dtype"]), _ID, "<table>")
            agents = {c: _to_numpy(table.column(c), np.dtype(dt), c, "<table>")
                      for c, dt in h["agent_columns"].items()}
            return Panel.from_feature_major(fm, feature_names=h["feature_names"],
                                            time_labels=h["time_labels"], agent_ids=ids,
                                            agents=agents, meta=h["meta"], validate=validate)
    else:
        h = None
    for c in (agent, t):
        if c not in table.column_names:
            raise ValueError(f"from_arrow: long table needs an {c!r} column; columns are "
                             f"{table.column_names}")
    if features is None:
        features = [f.name for f in table.schema if f.name not in (agent, t, "time_label")
                    and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
    if not features:
        raise ValueError("from_arrow: no numeric feature columns found")
    for c in [agent, t, *features]:
        if table.column(c).null_count:
            raise ValueError(f"from_arrow: column {c!r} has nulls")
    a_vals = np.asarray(table.column(agent).to_numpy(zero_copy_only=False))
    t_vals = np.asarray(table.column(t).to_numpy(zero_copy_only=False))
    # agents in order of first appearance (the order to_arrow wrote them), steps by value
    uniq, first, inv = np.unique(a_vals, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ai = rank[inv.reshape(-1)]
    ids, first = uniq[order], first[order]
    steps, ti = np.unique(t_vals, return_inverse=True)
    ti = ti.reshape(-1)
    N, T = ids.size, steps.size
    if len(a_vals) != N * T:
        raise ValueError(f"from_arrow: {len(a_vals)} rows for {N} agents x {T} steps; every "
                         "(agent, t) pair must occur exactly once")
    flat = ti.astype(np.int64) * N + ai
    seen = np.zeros(N * T, dtype=bool)
    seen[flat] = True
    if not seen.all():
        raise ValueError("from_arrow: duplicate (agent, t) rows; every pair must occur once")
    fm = np.empty((T, len(features), N), dtype=np.float32)
    for k, f in enumerate(features):
        v = np.empty(N * T, dtype=np.float32)
        v[flat] = table.column(f).to_numpy(zero_copy_only=False)
        fm[:, k, :] = v.reshape(T, N)
    if h is not None:
        agents = {c: _to_numpy(table.column(c).take(pa.array(first)), np.dtype(dt), c,
                               "<table>") for c, dt in h["agent_columns"].items()
                  if c in table.column_names}
        return Panel.from_feature_major(fm, feature_names=list(features),
                                        time_labels=h["time_labels"],
                                        agent_ids=ids.astype(np.dtype(h["agent_id_dtype"])),
                                        agents=agents, meta=h["meta"], validate=validate)
    return Panel.from_feature_major(fm, feature_names=list(features),
                                    time_labels=steps.tolist(), agent_ids=ids, validate=validate)
