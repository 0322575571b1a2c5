"""The attribution file: phi per agent and step, written chunk by chunk (atomically).

One Parquet file: ``agent_index`` (int64) and ``phi@0 .. phi@{T-1}`` (float32) per agent,
the run's header (value, method, baseline, totals, efficiency) as JSON in the schema
metadata under ``jaxattr.attribution``. Written by the out-of-core and multi-process
runners; read back with :func:`read_phi`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .._util import atomic_path

__all__ = ["META_KEY", "read_phi", "write_phi_file"]

META_KEY = b"jaxattr.attribution"


def read_phi(path) -> np.ndarray:
    """Read the ``(T, N)`` attributions written by :func:`attribute_out_of_core`.

    Raises:
        ValueError: the file is not an attribution file written by jaxattr.scale.
    """
    import pyarrow.parquet as pq

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


def write_phi_file(out, T: int, header: dict[str, Any], chunks) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field("agent_index", pa.int64(), nullable=False)]
    fields += [pa.field(f"phi@{t}", pa.float32(), nullable=False) for t in range(T)]
    schema = pa.schema(fields, metadata={META_KEY: json.dumps(header).encode()})
    # Dictionary encoding and statistics on float columns cost more than the rest of the
    # pass (measured: 3-5x slower writes) and buy nothing for attributions.
    with (
        atomic_path(out) as tmp,
        pq.ParquetWriter(
            tmp,
            schema,
            compression="snappy",
            use_dictionary=False,
            write_statistics=["agent_index"],
        ) as w,
    ):
        for start, phi in chunks:
            n = phi.shape[1]
            cols = [pa.array(np.arange(start, start + n, dtype=np.int64))]
            cols += [pa.array(phi[t]) for t in range(T)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema))
