"""The attribution file: phi per agent and step, written chunk by chunk (atomically).

One Parquet file: ``agent_index`` (int64) and ``phi@0 .. phi@{T-1}`` (float32) per agent,
the run's header (value, method, baseline, totals, efficiency) as JSON in the schema
metadata under ``jaxattr.attribution``. Written by the out-of-core and multi-process
runners; read back with :func:`read_phi`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float

from .._util import atomic_path

__all__ = ["META_KEY", "read_phi", "write_phi_file"]

META_KEY = b"jaxattr.attribution"
"""The schema-metadata key under which an attribution file keeps its JSON header.

Example:
    >>> import json, os, tempfile, numpy as np, pyarrow.parquet as pq
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "phi.parquet")
    ...     write_phi_file(path, 1, {"value": "heat"}, [(0, np.ones((1, 3), np.float32))])
    ...     header = json.loads(pq.read_schema(path).metadata[META_KEY])
    >>> META_KEY, header
    (b'jaxattr.attribution', {'value': 'heat', 'T': 1})
"""


def read_phi(path: str | os.PathLike[str]) -> Float[np.ndarray, "T N"]:
    """Read the attributions of an attribution file.

    The file is written by ``jaxattr.scale.attribute_out_of_core``, a multi-process run
    (``jaxattr attribute --distributed``) or :func:`write_phi_file`.

    Args:
        path: the attribution file (Parquet).

    Returns:
        ``Float[ndarray, "T N"]`` float32 phi, agents in index order.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an attribution file written by jaxattr.

    Example:
        >>> import os, tempfile, numpy as np
        >>> phi = np.arange(6, dtype=np.float32).reshape(2, 3)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "phi.parquet")
        ...     write_phi_file(path, 2, {}, [(0, phi[:, :2]), (2, phi[:, 2:])])
        ...     print(read_phi(path).tolist())
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    """
    import pyarrow.parquet as pq

    if not os.path.isfile(os.fspath(path)):
        raise FileNotFoundError(f"read_phi: no such file {os.fspath(path)!r}")
    pf = pq.ParquetFile(os.fspath(path))
    md = pf.schema_arrow.metadata or {}
    if META_KEY not in md:
        raise ValueError(
            f"{os.fspath(path)!r} is not a jaxattr attribution file (no "
            f"{META_KEY.decode()!r} metadata)"
        )
    h = json.loads(md[META_KEY])
    tab = pf.read(columns=[f"phi@{t}" for t in range(h["T"])])
    return np.stack([tab.column(t).to_numpy() for t in range(h["T"])])


def write_phi_file(
    out: str | os.PathLike[str],
    T: int,
    header: dict[str, Any],
    chunks: Iterable[tuple[int, Float[ArrayLike, "T n"]]],
) -> None:
    """Write attributions chunk by chunk to one attribution file, atomically.

    Memory holds one chunk at a time; the file appears (temp file + rename) only once every
    chunk is written, so a killed run leaves no half file.

    Args:
        out: the destination file; its directory must exist.
        T: number of time steps, the rows of every chunk.
        header: JSON-serialisable run header (value, method, baseline, totals); ``T`` is
            added to it.
        chunks: ``(start, phi)`` pairs in agent order: the first agent index of the chunk
            and its ``Float[ArrayLike, "T n"]`` attributions.

    Raises:
        ValueError: ``T < 1``, a chunk of another shape than ``(T, n)``, or a chunk that
            does not start where the previous one ended.
        TypeError: a header that is not JSON-serialisable.

    Example:
        >>> import os, tempfile, numpy as np
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "phi.parquet")
        ...     write_phi_file(path, 2, {"value": "linear"}, [(0, np.ones((2, 4)))])
        ...     print(read_phi(path).shape)
        (2, 4)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"write_phi_file: T must be an integer >= 1, got {T!r}")
    header = {**header, "T": int(header.get("T", T))}
    if header["T"] != T:
        raise ValueError(f"write_phi_file: header says T = {header['T']}, T = {T}")

    fields = [pa.field("agent_index", pa.int64(), nullable=False)]
    fields += [pa.field(f"phi@{t}", pa.float32(), nullable=False) for t in range(T)]
    schema = pa.schema(fields, metadata={META_KEY: json.dumps(header).encode()})
    # Dictionary encoding and statistics on float columns cost more than the rest of the
    # pass (measured: 3-5x slower writes) and buy nothing for attributions.
    # pyarrow takes a list of columns for write_statistics (its stubs say bool only)
    options: dict[str, Any] = {
        "compression": "snappy",
        "use_dictionary": False,
        "write_statistics": ["agent_index"],
    }
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, schema, **options) as w:
        expected = None
        for k, (start, phi) in enumerate(chunks):
            phi = np.asarray(phi, np.float32)
            if phi.ndim != 2 or phi.shape[0] != T:
                raise ValueError(
                    f"write_phi_file: chunk {k} must have shape (T, n) = ({T}, n), got {phi.shape}"
                )
            if expected is not None and start != expected:
                raise ValueError(
                    f"write_phi_file: chunk {k} starts at agent {start}, expected {expected} "
                    "(chunks are written in agent order, without gaps)"
                )
            n = phi.shape[1]
            expected = start + n
            cols = [pa.array(np.arange(start, start + n, dtype=np.int64))]
            cols += [pa.array(phi[t]) for t in range(T)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema))
