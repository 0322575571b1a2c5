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
version, T, N, d, feature names, time labels, the numpy dtype of each agent column, the
panel's ``meta``, the agents per row group (``row_groups``), a CRC-32 of every column chunk
as decoded (``crc32``: per row group, one per column in file order) and a ``checksum``
(SHA-256 of the canonical JSON of the rest: the footer that holds the header has no checksum
of its own). Parquet page checksums cover page *data* only; a flipped bit in a page header
or in the footer's row counts once decoded to fewer agents or other strings without an
error. So every read recomputes the CRC-32 of each chunk it decodes (about 4 GB/s) and
refuses the file on any difference: a read is bit-exact or an error. Version 1 files (no
header checksum, no CRCs) are still read.

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

import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._panel import Panel
from .._util import aligned_empty, atomic_path

__all__ = [
    "PanelFormatError",
    "from_arrow",
    "iter_panel",
    "panel_row_groups",
    "read_panel",
    "to_arrow",
    "write_panel",
]

FORMAT = "jaxattr.panel"
VERSION = 2
_READABLE = (1, 2)  # version 1: the same layout without the header checksum
_META_KEY = b"jaxattr.panel"
_ID = "agent_id"


class PanelFormatError(ValueError):
    """A file is not a readable jaxattr panel (corrupted, truncated, foreign or inconsistent).

    A ``ValueError``: raised by :func:`read_panel`, :func:`iter_panel`,
    :func:`panel_row_groups` and :func:`from_arrow`, with the path and what is wrong.

    Args:
        *args: the message (as for any exception).

    Example:
        >>> import os, tempfile, jaxattr
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "not-a-panel.parquet")
        ...     with open(path, "wb") as f:
        ...         _ = f.write(b"PAR1 but not really")
        ...     try:
        ...         jaxattr.read_panel(path)
        ...     except jaxattr.PanelFormatError as e:
        ...         print("not a readable Parquet file" in str(e))
        True
    """


def _col(name: str, t: int) -> str:
    return f"{name}@{t}"


def _jsonable_labels(labels) -> list:
    out = []
    for x in labels:
        if isinstance(x, np.generic):
            x = x.item()
        if not isinstance(x, (str, int, float)) or isinstance(x, bool):
            raise TypeError(
                f"time label {x!r} of type {type(x).__name__} cannot be stored; "
                "use str (e.g. ISO dates), int or float labels"
            )
        out.append(x)
    return out


def _header_checksum(h: dict) -> str:
    """SHA-256 of the canonical JSON of a header without its ``checksum`` entry."""
    body = {k: v for k, v in h.items() if k != "checksum"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canon.encode()).hexdigest()


def _header(panel: Panel, agent_cols: Sequence[str], **extra) -> dict:
    h = {
        "format": FORMAT,
        "version": VERSION,
        "T": panel.T,
        "N": panel.N,
        "d": panel.d,
        "feature_names": list(panel.feature_names),
        "time_labels": _jsonable_labels(panel.time_labels),
        "agent_id_dtype": panel.agent_ids.dtype.str,
        "agent_columns": {k: panel.agents[k].dtype.str for k in agent_cols},
        "meta": panel.meta,
        **extra,
    }
    h = json.loads(json.dumps(h))  # the checksum covers what a reader will load
    h["checksum"] = _header_checksum(h)
    return h


def _check_writable(panel: Panel, write_identifiers: bool) -> None:
    if not isinstance(panel, Panel):
        raise TypeError(f"write_panel expects a Panel, got {type(panel).__name__}")
    if panel.agent_ids.dtype.kind not in "iu" and not write_identifiers:
        raise ValueError(
            "write_panel: the panel's agent_ids are not integer indices (dtype "
            f"{panel.agent_ids.dtype}); identifiers are written only on request: pass "
            "write_identifiers=True, or pseudonymise them first (e.g. "
            "Panel(..., agent_ids=None))"
        )
    for k in panel.agents:
        if "@" in k or k == _ID:
            raise ValueError(
                f"write_panel: agent table column {k!r} is reserved or contains '@'; rename it"
            )
        # a text column per agent (handles, DIDs, names) identifies agents as surely as
        # agent_ids do: the same flag guards it
        if panel.agents[k].dtype.kind in "USO" and not write_identifiers:
            raise ValueError(
                f"write_panel: agent table column {k!r} holds text (dtype "
                f"{panel.agents[k].dtype}), which may identify agents; it is written only on "
                "request: pass write_identifiers=True, drop the column, or encode it as "
                "integer codes"
            )
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


def write_panel(
    panel: Panel,
    path: str | os.PathLike[str],
    *,
    row_group_size: int = 1 << 18,
    compression: str = "zstd",
    write_identifiers: bool = False,
) -> None:
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

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> panel = jaxattr.Panel(np.ones((2, 5, 3)), agents={"followers": np.arange(5)})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "panel.parquet")
        ...     jaxattr.write_panel(panel, path, row_group_size=2)
        ...     print(jaxattr.read_panel(path).equals(panel), jaxattr.panel_row_groups(path))
        True [(0, 2), (2, 4), (4, 5)]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _check_writable(panel, write_identifiers)
    if row_group_size < 1:
        raise ValueError(f"write_panel: row_group_size must be >= 1, got {row_group_size}")
    agent_cols = list(panel.agents)
    fm = panel.feature_major
    T, d, N = fm.shape
    bounds = [(lo, min(N, lo + row_group_size)) for lo in range(0, N, row_group_size)]
    header = _header(
        panel,
        agent_cols,
        row_groups=[hi - lo for lo, hi in bounds],
        crc32=[
            [_crc(panel.agent_ids[lo:hi])]
            + [_crc(panel.agents[k][lo:hi]) for k in agent_cols]
            + [_crc(fm[t, k, lo:hi]) for t in range(T) for k in range(d)]
            for lo, hi in bounds
        ],
    )
    names = [_ID, *agent_cols] + [_col(f, t) for t in range(T) for f in panel.feature_names]
    id_arr = _arrow_array(pa, panel.agent_ids[:1])
    fields = [pa.field(_ID, id_arr.type, nullable=False)]
    for k in agent_cols:
        fields.append(pa.field(k, _arrow_array(pa, panel.agents[k][:1]).type, nullable=False))
    fields += [pa.field(n, pa.float32(), nullable=False) for n in names[1 + len(agent_cols) :]]
    schema = pa.schema(fields, metadata={_META_KEY: json.dumps(header).encode()})
    dict_cols = [
        f.name
        for f in fields[: 1 + len(agent_cols)]
        if pa.types.is_string(f.type) or pa.types.is_binary(f.type)
    ]
    # pyarrow takes a list of columns for these (its stubs say bool only)
    options: dict[str, Any] = {
        "compression": compression,
        "use_dictionary": dict_cols or False,
        "write_statistics": [_ID],
        "write_page_checksum": True,
    }
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema, **options) as w:
            for lo, hi in bounds:
                cols = [_arrow_array(pa, panel.agent_ids[lo:hi])]
                cols += [_arrow_array(pa, panel.agents[k][lo:hi]) for k in agent_cols]
                cols += [pa.array(fm[t, k, lo:hi]) for t in range(T) for k in range(d)]
                w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=hi - lo)


def _crc(a: np.ndarray) -> int:
    """CRC-32 of an array's bytes as numpy holds them (what a read reconstructs)."""
    buf = memoryview(np.ascontiguousarray(a))  # pyright: ignore[reportArgumentType]  # ndarray has the buffer protocol; numpy's stubs omit __buffer__ before 3.12
    return zlib.crc32(buf.cast("B"))


# ------------------------------------------------------------------------------ reading
def open_panel_file(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Open a panel file and check its header, reading no column yet.

    The first step of every reader: the Parquet footer is read, the ``jaxattr.panel`` header
    parsed and checked (format, version, checksum, shapes) against the file's row count and
    row groups.

    Args:
        path: the Parquet file written by :func:`write_panel`.

    Returns:
        ``(parquet_file, header)``: the open ``pyarrow.parquet.ParquetFile`` and the header
        dict (``T``, ``N``, ``d``, ``feature_names``, ``time_labels``, ``agent_columns``,
        ``row_groups``, ``meta``, ...).

    Raises:
        FileNotFoundError: no file at ``path``.
        PanelFormatError: not Parquet, no jaxattr header, an invalid header, or row counts
            that disagree with it.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "p.parquet")
        ...     jaxattr.write_panel(jaxattr.Panel(np.ones((2, 5, 3))), path)
        ...     pf, header = open_panel_file(path)
        ...     print(header["T"], header["N"], header["d"], pf.metadata.num_rows)
        2 5 3 5
    """
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
            "truncated or corrupted: re-create it with jaxattr.write_panel"
        ) from None
    if _META_KEY not in md:
        raise PanelFormatError(
            f"{path!r} is a Parquet file but not a jaxattr panel (no {_META_KEY.decode()!r} "
            "schema metadata); for a long (agent, t, features...) table read it with pyarrow "
            "and convert with jaxattr.from_arrow(table)"
        )
    try:
        header = json.loads(md[_META_KEY])
        _validate_header(header)
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise PanelFormatError(f"{path!r}: invalid jaxattr panel header: {e}") from None
    if pf.metadata.num_rows != header["N"]:
        raise PanelFormatError(
            f"{path!r}: header says N = {header['N']} agents but the file "
            f"has {pf.metadata.num_rows} rows; the file is inconsistent"
        )
    sizes = header.get("row_groups")
    if sizes is not None:
        got = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
        if got != sizes:
            raise PanelFormatError(
                f"{path!r}: the row groups hold {got[:8]} agents, the header "
                f"says {sizes[:8]}; the file is corrupted"
            )
    return pf, header


def _validate_header(h: dict) -> None:
    if not isinstance(h, dict):
        raise ValueError(f"the header is a JSON {type(h).__name__}, not an object")
    if h.get("format") != FORMAT:
        raise ValueError(f"format is {h.get('format')!r}, expected {FORMAT!r}")
    if h.get("version") not in _READABLE:
        raise ValueError(
            f"version {h.get('version')!r} is not supported (this jaxattr reads "
            f"versions {list(_READABLE)}); upgrade jaxattr"
        )
    if h["version"] >= 2 or "checksum" in h:
        if h.get("checksum") != _header_checksum(h):
            raise ValueError(
                "the header does not match its checksum (the file was corrupted "
                "or edited); re-create it with jaxattr.write_panel"
            )
    for k in ("T", "N", "d"):
        if type(h.get(k)) is not int or h[k] < 1:
            raise ValueError(f"{k} must be a positive int, got {h.get(k)!r}")
    names, labels = h.get("feature_names"), h.get("time_labels")
    if not isinstance(names, list) or not isinstance(labels, list):
        raise ValueError("feature_names and time_labels must be lists")
    if len(names) != h["d"] or len(labels) != h["T"]:
        raise ValueError("feature_names / time_labels lengths do not match d / T")
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ValueError("feature_names must be distinct strings")
    for x in labels:
        if isinstance(x, bool) or not isinstance(x, (str, int, float)):
            raise ValueError(f"time label {x!r} is not a str, int or float")
    if not isinstance(h.get("agent_columns"), dict) or not isinstance(h.get("meta"), dict):
        raise ValueError("agent_columns and meta must be objects")
    sizes, crcs = h.get("row_groups"), h.get("crc32")
    if (sizes is None) != (crcs is None):
        raise ValueError("row_groups and crc32 come together")
    if sizes is not None:
        ncols = 1 + len(h["agent_columns"]) + h["T"] * h["d"]
        if (
            not isinstance(sizes, list)
            or not all(type(x) is int and x > 0 for x in sizes)
            or sum(sizes) != h["N"]
        ):
            raise ValueError(f"row_groups must be positive ints summing to N={h['N']}")
        if (
            not isinstance(crcs, list)
            or len(crcs) != len(sizes)
            or not all(isinstance(r, list) and len(r) == ncols for r in crcs)
            or not all(type(c) is int for r in crcs for c in r)
        ):
            raise ValueError(f"crc32 must hold {ncols} ints per row group")
    for what, dt in [("agent_id_dtype", h.get("agent_id_dtype")), *h["agent_columns"].items()]:
        if not isinstance(dt, str):
            raise ValueError(f"dtype of {what!r} must be a numpy dtype string, got {dt!r}")
        kind = np.dtype(dt).kind
        if kind not in "biufUS":
            raise ValueError(f"dtype {dt!r} of {what!r} is not a supported column dtype")


def _to_numpy(col, dtype: np.dtype, what: str, path) -> np.ndarray:
    import pyarrow as pa

    if col.null_count:
        raise PanelFormatError(
            f"{path!r}: column {what!r} has {col.null_count} nulls; a panel has none"
        )
    if dtype.kind in "US":
        text = dtype.kind == "U"
        t = col.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if not (
            pa.types.is_string(t) or pa.types.is_large_string(t)
            if text
            else pa.types.is_binary(t) or pa.types.is_large_binary(t)
        ):
            raise PanelFormatError(
                f"{path!r}: column {what!r} has type {col.type}, header says {dtype}"
            )
        values = col.to_pylist()
        width = dtype.itemsize // (4 if text else 1)
        end = "\x00" if text else b"\x00"
        for x in values:  # numpy would cut longer values and strip trailing NULs silently
            if len(x) > width or x.endswith(end):
                raise PanelFormatError(
                    f"{path!r}: column {what!r} holds {x[:40]!r}, longer than the width "
                    f"{dtype} of the header or ending in NUL; the file is inconsistent"
                )
        return np.array(values, dtype=dtype)
    a = col.to_numpy()
    if a.dtype != dtype:
        raise PanelFormatError(
            f"{path!r}: column {what!r} has dtype {a.dtype}, header says {dtype}"
        )
    return a


def panel_row_groups(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """Agent ranges of the row groups of a panel file.

    A process of a multi-process run reads its share with ``read_panel(path,
    row_groups=[...])``.

    Args:
        path: the Parquet file written by :func:`write_panel`.

    Returns:
        ``[(start, stop), ...]``, one agent range per row group, in file order.

    Raises:
        FileNotFoundError: no file at ``path``.
        PanelFormatError: the file is not a readable jaxattr panel.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "p.parquet")
        ...     jaxattr.write_panel(jaxattr.Panel(np.ones((1, 7, 2))), path, row_group_size=3)
        ...     ranges = jaxattr.panel_row_groups(path)
        ...     part = jaxattr.read_panel(path, row_groups=[2])
        >>> ranges, part.N
        ([(0, 3), (3, 6), (6, 7)], 1)
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
    pos: dict = {}
    for i, n in enumerate(names_all):  # first occurrence wins, as list.index did
        pos.setdefault(n, i)
    out = []
    for s in sel:
        if s in pos:
            out.append(pos[s])
        elif (
            what == "time step"
            and isinstance(s, (int, np.integer))
            and not isinstance(s, bool)
            and 0 <= int(s) < len(names_all)
        ):
            out.append(int(s))
        else:
            raise KeyError(
                f"read_panel: {path!r} has no {what} {s!r}; available: "
                f"{names_all[:10]}{'...' if len(names_all) > 10 else ''}"
            )
    return out


def _open_selection(path, features, times, agent_columns, who: str):
    """Open a panel file and resolve a selection: ``(pf, header, feature indices, time
    indices, agent columns)``; unknown names raise ``KeyError`` naming what is available."""
    pf, h = open_panel_file(path)
    ks = _select(h["feature_names"], features, "feature", path)
    ts = _select(h["time_labels"], times, "time step", path)
    acols = list(h["agent_columns"]) if agent_columns is None else list(agent_columns)
    for a in acols:
        if a not in h["agent_columns"]:
            raise KeyError(
                f"{who}: {path!r} has no agent column {a!r}; available: {list(h['agent_columns'])}"
            )
    return pf, h, ks, ts, acols


def read_panel(
    path: str | os.PathLike[str],
    *,
    features: Sequence[str] | None = None,
    times: Sequence[Any] | None = None,
    agent_columns: Sequence[str] | None = None,
    row_groups: Sequence[int] | None = None,
    validate: bool = True,
    use_threads: bool = True,
) -> Panel:
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

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> panel = jaxattr.Panel(np.arange(24.0).reshape(2, 4, 3),
        ...                       feature_names=["reach", "activity", "resonance"],
        ...                       time_labels=["mon", "tue"])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "p.parquet")
        ...     jaxattr.write_panel(panel, path)
        ...     part = jaxattr.read_panel(path, features=["activity"], times=["tue"])
        >>> part.shape, part.feature_names, part.time_labels, part.features[0, :, 0].tolist()
        ((1, 4, 1), ['activity'], ['tue'], [13.0, 16.0, 19.0, 22.0])
    """
    pf, h, ks, ts, acols = _open_selection(path, features, times, agent_columns, "read_panel")
    ngroups = pf.metadata.num_row_groups
    rgs = list(range(ngroups)) if row_groups is None else [int(g) for g in row_groups]
    for g in rgs:
        if not 0 <= g < ngroups:
            raise KeyError(f"read_panel: {path!r} has {ngroups} row groups, no group {g}")
    if len(set(rgs)) != len(rgs):
        dup = sorted({g for g in rgs if rgs.count(g) > 1})
        raise KeyError(
            f"read_panel: row groups {dup} requested more than once; each agent "
            "must appear once in a panel"
        )
    return _read(pf, h, path, ks, ts, acols, rgs, validate, use_threads)


def _read(pf, h, path, ks, ts, acols, rgs, validate, use_threads) -> Panel:
    import pyarrow as pa

    fnames = h["feature_names"]
    fcols = [_col(fnames[k], t) for t in ts for k in ks]
    cols = [_ID, *acols, *fcols]
    # the schema once, as a set: pf.schema_arrow rebuilds the Arrow schema on every access,
    # so asking it once per column made a read quadratic in the column count (T * d)
    present = set(pf.schema_arrow.names)
    missing = [c for c in cols if c not in present]
    if missing:
        raise PanelFormatError(
            f"{path!r}: columns {missing[:5]} named by the header are "
            "missing; the file is inconsistent"
        )
    try:
        table = pf.read_row_groups(rgs, columns=cols, use_threads=use_threads)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise PanelFormatError(
            f"{path!r}: reading row groups {rgs[:5]} failed ({type(e).__name__}: {e}); the file "
            "is corrupted: re-create it with jaxattr.write_panel"
        ) from None
    n = table.num_rows
    if n == 0:
        raise PanelFormatError(f"{path!r}: the selected row groups hold no agents")
    sizes = h.get("row_groups")
    if sizes is not None and n != sum(sizes[g] for g in rgs):
        raise PanelFormatError(
            f"{path!r}: row groups {rgs[:5]} decoded to {n} agents, the "
            f"header says {sum(sizes[g] for g in rgs)}; the file is corrupted"
        )
    fm = aligned_empty((len(ts), len(ks), n), np.float32)
    j = 0
    for a in range(len(ts)):
        for b in range(len(ks)):
            col = table.column(len(acols) + 1 + j)
            name = fcols[j]
            j += 1
            if col.type != pa.float32():
                raise PanelFormatError(
                    f"{path!r}: column {name!r} has type {col.type}, expected float"
                )
            if col.null_count:
                raise PanelFormatError(f"{path!r}: column {name!r} has {col.null_count} nulls")
            off = 0
            for chunk in col.chunks:
                m = len(chunk)
                if off + m > n:
                    raise PanelFormatError(
                        f"{path!r}: column {name!r} decoded to more than "
                        f"{n} values; the file is corrupted"
                    )
                fm[a, b, off : off + m] = chunk.to_numpy(zero_copy_only=False)
                off += m
            if off != n:
                raise PanelFormatError(
                    f"{path!r}: column {name!r} decoded to {off} values, "
                    f"not {n}; the file is corrupted"
                )
    ids = _to_numpy(table.column(0), np.dtype(h["agent_id_dtype"]), _ID, path)
    agents = {
        c: _to_numpy(table.column(1 + i), np.dtype(h["agent_columns"][c]), c, path)
        for i, c in enumerate(acols)
    }
    if sizes is not None:
        _verify_crcs(h, path, rgs, ks, ts, acols, fm, ids, agents)
    return Panel.from_feature_major(
        fm,
        feature_names=[fnames[k] for k in ks],
        time_labels=[h["time_labels"][t] for t in ts],
        agent_ids=ids,
        agents=agents,
        meta=h["meta"],
        validate=validate,
    )


def _verify_crcs(h, path, rgs, ks, ts, acols, fm, ids, agents) -> None:
    """Compare the CRC-32 of every decoded column chunk with the header's."""
    all_acols = list(h["agent_columns"])
    base, d = 1 + len(all_acols), h["d"]
    lo = 0
    for g in rgs:
        hi = lo + h["row_groups"][g]
        want = h["crc32"][g]
        checks = [(0, _ID, ids[lo:hi])]
        checks += [(1 + all_acols.index(c), c, agents[c][lo:hi]) for c in acols]
        checks += [
            (base + t * d + k, _col(h["feature_names"][k], t), fm[a, b, lo:hi])
            for a, t in enumerate(ts)
            for b, k in enumerate(ks)
        ]
        for j, name, arr in checks:
            if _crc(arr) != want[j]:
                raise PanelFormatError(
                    f"{path!r}: column {name!r} of row group {g} does not match its CRC-32 "
                    "(the file is corrupted); re-create it with jaxattr.write_panel"
                )
        lo = hi


def iter_panel(
    path: str | os.PathLike[str],
    *,
    features: Sequence[str] | None = None,
    times: Sequence[Any] | None = None,
    agent_columns: Sequence[str] | None = None,
    validate: bool = True,
) -> Iterator[tuple[int, Panel]]:
    """Stream a panel file one row group (an agent range) at a time.

    Args:
        path: the Parquet file written by :func:`write_panel`.
        features: feature names to read (default all), in the order given.
        times: time labels (or 0-based step indices) to read (default all).
        agent_columns: agent-table columns to read (default all; ``[]`` for none).
        validate: check each group's features for NaN/inf.

    Yields:
        ``(start, panel)``: the first agent index of the group in the full panel and the
        group's Panel. Memory holds one row group at a time.

    Raises:
        FileNotFoundError: no file at ``path``.
        PanelFormatError: the file is corrupted, truncated, foreign or inconsistent.
        KeyError: an unknown feature, time label or agent column.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "p.parquet")
        ...     jaxattr.write_panel(jaxattr.Panel(np.ones((2, 5, 3))), path, row_group_size=2)
        ...     print([(start, part.N) for start, part in jaxattr.iter_panel(path)])
        [(0, 2), (2, 2), (4, 1)]
    """
    pf, h, ks, ts, acols = _open_selection(path, features, times, agent_columns, "iter_panel")
    lo = 0
    for g in range(pf.metadata.num_row_groups):
        p = _read(pf, h, path, ks, ts, acols, [g], validate, True)
        yield lo, p
        lo += p.N


# ------------------------------------------------------------------------------ interop
def to_arrow(panel: Panel, *, layout: str = "wide", write_identifiers: bool = False) -> Any:
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

    Example:
        >>> import numpy as np, jaxattr
        >>> panel = jaxattr.Panel(np.ones((2, 3, 1)), feature_names=["wealth"])
        >>> jaxattr.to_arrow(panel).column_names
        ['agent_id', 'wealth@0', 'wealth@1']
        >>> long = jaxattr.to_arrow(panel, layout="long")
        >>> long.column_names, long.num_rows
        (['agent', 't', 'time_label', 'wealth'], 6)
        >>> jaxattr.from_arrow(long).equals(panel)
        True
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
        cols = [
            _arrow_array(pa, np.repeat(panel.agent_ids, T)),
            pa.array(np.tile(np.arange(T, dtype=np.int32), N)),
            pa.array(np.tile(np.array(labels, dtype=object), N).tolist()),
        ]
        cols += [pa.array(np.ascontiguousarray(fm[:, k, :].T).reshape(-1)) for k in range(d)]
        cols += [_arrow_array(pa, np.repeat(v, T)) for v in panel.agents.values()]
    else:
        raise ValueError(f"to_arrow: layout must be 'wide' or 'long', got {layout!r}")
    return pa.Table.from_arrays(cols, names=names).replace_schema_metadata({_META_KEY: header})


def from_arrow(
    table: Any,
    *,
    agent: str = "agent",
    t: str = "t",
    features: Sequence[str] | None = None,
    validate: bool = True,
) -> Panel:
    """Build a panel from a ``pyarrow.Table`` (e.g. ``pa.Table.from_pandas(df)``).

    A table with jaxattr panel metadata (written by :func:`to_arrow`, either layout) is read
    exactly. Otherwise it is read as a *long* table: one row per (agent, t) with columns
    ``agent`` and ``t`` (any sortable values) and one numeric column per feature; every
    (agent, t) pair must occur exactly once. Agents and steps are ordered by sorted value.

    Args:
        table: a ``pyarrow.Table``.
        agent: name of the agent column of a long table.
        t: name of the time column of a long table.
        features: feature columns of a long table (default: all other numeric columns).
        validate: check for NaN/inf.

    Returns:
        A :class:`Panel`: exactly the one converted, for a table of :func:`to_arrow`.

    Raises:
        PanelFormatError: a table with an invalid jaxattr panel header.
        ValueError: missing columns, nulls, duplicate or missing (agent, t) pairs.

    Example:
        >>> import pyarrow as pa, jaxattr
        >>> table = pa.table({"agent": [7, 7, 9, 9], "t": [0, 1, 0, 1],
        ...                   "wealth": [1.0, 2.0, 3.0, 4.0]})
        >>> panel = jaxattr.from_arrow(table)
        >>> panel.shape, panel.agent_ids.tolist(), panel.features[:, :, 0].tolist()
        ((2, 2, 1), [7, 9], [[1.0, 3.0], [2.0, 4.0]])
    """
    import pyarrow as pa

    md = table.schema.metadata or {}
    if _META_KEY in md:
        try:
            h = json.loads(md[_META_KEY])
            _validate_header(h)
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            raise PanelFormatError(f"from_arrow: invalid jaxattr panel header: {e}") from None
        if (
            agent in table.column_names
            and t in table.column_names
            and _ID not in table.column_names
        ):
            features = h["feature_names"]
        else:
            fm = aligned_empty((h["T"], h["d"], h["N"]), np.float32)
            for ti in range(h["T"]):
                for k, f in enumerate(h["feature_names"]):
                    fm[ti, k] = table.column(_col(f, ti)).to_numpy()
            ids = _to_numpy(table.column(_ID), np.dtype(h["agent_id_dtype"]), _ID, "<table>")
            agents = {
                c: _to_numpy(table.column(c), np.dtype(dt), c, "<table>")
                for c, dt in h["agent_columns"].items()
            }
            return Panel.from_feature_major(
                fm,
                feature_names=h["feature_names"],
                time_labels=h["time_labels"],
                agent_ids=ids,
                agents=agents,
                meta=h["meta"],
                validate=validate,
            )
    else:
        h = None
    for c in (agent, t):
        if c not in table.column_names:
            raise ValueError(
                f"from_arrow: long table needs an {c!r} column; columns are {table.column_names}"
            )
    if features is None:
        features = [
            f.name
            for f in table.schema
            if f.name not in (agent, t, "time_label")
            and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
        ]
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
        raise ValueError(
            f"from_arrow: {len(a_vals)} rows for {N} agents x {T} steps; every "
            "(agent, t) pair must occur exactly once"
        )
    flat = ti.astype(np.int64) * N + ai
    seen = np.zeros(N * T, dtype=bool)
    seen[flat] = True
    if not seen.all():
        raise ValueError("from_arrow: duplicate (agent, t) rows; every pair must occur once")
    fm = aligned_empty((T, len(features), N), np.float32)
    for k, f in enumerate(features):
        v = np.empty(N * T, dtype=np.float32)
        v[flat] = table.column(f).to_numpy(zero_copy_only=False)
        fm[:, k, :] = v.reshape(T, N)
    if h is not None:
        agents = {
            c: _to_numpy(table.column(c).take(pa.array(first)), np.dtype(dt), c, "<table>")
            for c, dt in h["agent_columns"].items()
            if c in table.column_names
        }
        return Panel.from_feature_major(
            fm,
            feature_names=list(features),
            time_labels=h["time_labels"],
            agent_ids=ids.astype(np.dtype(h["agent_id_dtype"])),
            agents=agents,
            meta=h["meta"],
            validate=validate,
        )
    return Panel.from_feature_major(
        fm,
        feature_names=list(features),
        time_labels=steps.tolist(),
        agent_ids=ids,
        validate=validate,
    )
