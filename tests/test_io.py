"""Parquet I/O: exact round trip, projection, row groups, atomicity, corruption, interop."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxattr._panel import Panel
from jaxattr._util import atomic_write
from jaxattr.io import (
    PanelFormatError,
    from_arrow,
    iter_panel,
    panel_row_groups,
    read_panel,
    to_arrow,
    write_panel,
)
from jaxattr.io._panel_file import _header_checksum

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _panel(T=4, N=1000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, 3)).astype(np.float32)
    x[0, 0] = [0.0, -0.0, np.float32(1e-42)]  # signed zero and a subnormal survive bit for bit
    return Panel(
        x,
        feature_names=["reach", "activity", "resonance"],
        time_labels=[f"2025-06-{t + 1:02d}" for t in range(T)],
        agents={
            "followers": rng.integers(0, 10**6, N),
            "first_seen": rng.integers(-1, T, N).astype(np.int32),
            "tier": np.array(["top", "mid", "tail", "tail"] * (N // 4)),
            "verified": rng.random(N) < 0.1,
        },
        meta={"topic": "sports", "seed": 3},
    )


def test_round_trip_exact(tmp_path):
    p = _panel()
    path = tmp_path / "p.parquet"
    write_panel(p, path, row_group_size=300, write_identifiers=True)
    q = read_panel(path)
    assert q.equals(p)
    assert q.feature_major.flags.c_contiguous
    assert q.agents["tier"].dtype == p.agents["tier"].dtype
    assert [f for f in os.listdir(tmp_path)] == ["p.parquet"]  # no temp file left


def test_int_time_labels_and_defaults(tmp_path):
    p = Panel(np.arange(24, dtype=np.float32).reshape(2, 4, 3))
    write_panel(p, tmp_path / "a.parquet")
    assert read_panel(tmp_path / "a.parquet").equals(p)


def test_projection_and_row_groups(tmp_path):
    p = _panel()
    path = tmp_path / "p.parquet"
    write_panel(p, path, row_group_size=300, write_identifiers=True)
    assert panel_row_groups(path) == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    q = read_panel(
        path,
        features=["resonance", "reach"],
        times=["2025-06-03", 0],
        agent_columns=["followers"],
        row_groups=[1, 3],
    )
    idx = np.r_[300:600, 900:1000]
    exp = p.subset(idx).select_time([2, 0]).select_features(["resonance", "reach"])
    np.testing.assert_array_equal(q.feature_major, exp.feature_major)
    np.testing.assert_array_equal(q.agent_ids, idx)
    assert list(q.agents) == ["followers"] and q.time_labels == ["2025-06-03", "2025-06-01"]
    parts = list(iter_panel(path, features=["activity"]))
    assert [s for s, _ in parts] == [0, 300, 600, 900]
    np.testing.assert_array_equal(
        np.concatenate([x.feature_major for _, x in parts], axis=2),
        p.select_features(["activity"]).feature_major,
    )
    with pytest.raises(KeyError, match="no feature 'x'"):
        read_panel(path, features=["x"])
    with pytest.raises(KeyError, match="no time step '2030-01-01'"):
        read_panel(path, times=["2030-01-01"])
    with pytest.raises(KeyError, match="4 row groups, no group 7"):
        read_panel(path, row_groups=[7])
    with pytest.raises(KeyError, match="no agent column 'nope'"):
        read_panel(path, agent_columns=["nope"])


def test_identifiers_need_a_flag(tmp_path):
    p = Panel(np.ones((1, 2, 1)), agent_ids=["did:plc:a", "did:plc:b"])
    with pytest.raises(ValueError, match="write_identifiers=True"):
        write_panel(p, tmp_path / "x.parquet")
    assert not os.path.exists(tmp_path / "x.parquet")
    write_panel(p, tmp_path / "x.parquet", write_identifiers=True)
    assert read_panel(tmp_path / "x.parquet").equals(p)


def test_missing_foreign_truncated_corrupted(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_panel(tmp_path / "nope.parquet")
    (tmp_path / "text.parquet").write_text("hello, not parquet")
    with pytest.raises(PanelFormatError, match="not a readable Parquet file"):
        read_panel(tmp_path / "text.parquet")
    pq.write_table(
        pa.table({"agent": [1, 2], "t": [0, 0], "x": [1.0, 2.0]}), tmp_path / "foreign.parquet"
    )
    with pytest.raises(PanelFormatError, match="not a jaxattr panel.*from_arrow"):
        read_panel(tmp_path / "foreign.parquet")
    p = _panel(N=400)
    path = tmp_path / "p.parquet"
    write_panel(p, path, row_group_size=100, compression="none", write_identifiers=True)
    data = path.read_bytes()
    (tmp_path / "trunc.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(PanelFormatError, match="truncated or corrupted"):
        read_panel(tmp_path / "trunc.parquet")
    # flip one byte at many places: every read either fails loudly or is exact
    n_fail = 0
    for off in np.linspace(4, len(data) - 9, 40).astype(int):
        bad = bytearray(data)
        bad[off] ^= 0x5A
        (tmp_path / "bad.parquet").write_bytes(bytes(bad))
        try:
            q = read_panel(tmp_path / "bad.parquet")
        except PanelFormatError:
            n_fail += 1
        else:
            assert q.equals(p), f"silent wrong panel after flipping byte {off}"
    assert n_fail >= 30


def test_a_changed_value_in_a_rewritten_file_fails_its_crc(tmp_path):
    """A file rewritten by another tool with one value changed (valid Parquet, page
    checksums and the header intact) is refused by the header's per-chunk CRC-32."""
    p = _panel(N=48)
    path = tmp_path / "p.parquet"
    write_panel(p, path, row_group_size=20, write_identifiers=True)
    table = pq.read_table(path)  # keeps the schema metadata: the jaxattr header
    j = len(table.column_names) - 1  # a feature column
    vals = table.column(j).to_numpy().copy()
    vals[27] += 1.0
    table = table.set_column(j, table.field(j), pa.array(vals, type=pa.float32()))
    pq.write_table(table, tmp_path / "edited.parquet", row_group_size=20)
    with pytest.raises(
        PanelFormatError, match="column .* of row group 1 does not match its CRC-32"
    ):
        read_panel(tmp_path / "edited.parquet")
    pq.write_table(pq.read_table(path), tmp_path / "same.parquet", row_group_size=20)
    assert read_panel(tmp_path / "same.parquet").equals(p)  # an unchanged rewrite reads


def test_inconsistent_header(tmp_path):
    p = _panel(N=8)
    t = to_arrow(p, write_identifiers=True)
    md = dict(t.schema.metadata)
    md[b"jaxattr.panel"] = md[b"jaxattr.panel"].replace(b'"N": 8', b'"N": 9')
    pq.write_table(t.replace_schema_metadata(md), tmp_path / "x.parquet")
    with pytest.raises(PanelFormatError, match="does not match its checksum"):
        read_panel(tmp_path / "x.parquet")
    # a consistent checksum over an inconsistent header (a foreign writer): still refused
    h = json.loads(md[b"jaxattr.panel"])
    h["checksum"] = _header_checksum(h)
    md[b"jaxattr.panel"] = json.dumps(h).encode()
    pq.write_table(t.replace_schema_metadata(md), tmp_path / "x.parquet")
    with pytest.raises(PanelFormatError, match="N = 9 agents but the file has 8 rows"):
        read_panel(tmp_path / "x.parquet")
    md[b"jaxattr.panel"] = b'{"format": "jaxattr.panel", "version": 99}'
    pq.write_table(t.replace_schema_metadata(md), tmp_path / "y.parquet")
    with pytest.raises(PanelFormatError, match="version 99 is not supported"):
        read_panel(tmp_path / "y.parquet")


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "out.txt"
    with atomic_write(path, "w") as f:
        f.write("old")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as f:
        f.write("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(path, "a"):
            pass
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with atomic_write(tmp_path / "no" / "x", "w"):
            pass


def test_arrow_interop_both_layouts():
    p = _panel(N=40)
    assert from_arrow(to_arrow(p, write_identifiers=True)).equals(p)
    long = to_arrow(p, layout="long", write_identifiers=True)
    assert long.num_rows == 40 * 4 and long.column_names[:3] == ["agent", "t", "time_label"]
    assert from_arrow(long).equals(p)
    # a foreign long table (e.g. from pandas): shuffled rows, any agent ids
    rng = np.random.default_rng(1)
    perm = rng.permutation(long.num_rows)
    foreign = pa.table(
        {
            "agent": long.column("agent").take(perm),
            "t": long.column("t").take(perm),
            "reach": long.column("reach").take(perm),
        }
    )
    q = from_arrow(foreign)
    assert q.feature_names == ["reach"] and q.shape == (4, 40, 1)
    order = np.argsort(q.agent_ids)
    np.testing.assert_array_equal(q.feature_major[:, 0, order], p.feature_major[:, 0, :])
    with pytest.raises(ValueError, match="exactly once"):
        from_arrow(foreign.slice(1))
    with pytest.raises(ValueError, match="needs an 'agent' column"):
        from_arrow(pa.table({"x": [1.0]}))
    with pytest.raises(ValueError, match="layout must be"):
        to_arrow(p, layout="diagonal", write_identifiers=True)


def test_import_jaxattr_io_is_lazy():
    code = (
        "import sys, jaxattr.io, jaxattr._panel, jaxattr.data, jaxattr._cli; "
        "bad = [m for m in ('pyarrow', 'matplotlib', 'torch', 'websockets') "
        "if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_read_cost_is_linear_in_the_columns(tmp_path, monkeypatch):
    """A read builds the Arrow schema a fixed number of times, not once per column: with
    T * d = 6,000 columns the old per-column lookup made read_panel 100x slower than pyarrow
    (issue 22). Counted, not timed, so the test holds on any machine."""
    T, N = 2000, 20
    x = np.arange(T * N * 3, dtype=np.float32).reshape(T, N, 3)
    path = tmp_path / "long.parquet"
    write_panel(Panel(x), path, row_group_size=7)
    calls = []
    orig = pq.ParquetFile.schema_arrow

    def counted(self):
        calls.append(1)
        return orig.fget(self)

    monkeypatch.setattr(pq.ParquetFile, "schema_arrow", property(counted))
    q = read_panel(path)
    assert q.equals(Panel(x))
    assert len(calls) <= 4, f"schema built {len(calls)} times for one read"
    calls.clear()
    parts = list(iter_panel(path, times=list(range(0, T, 3))))
    assert [s for s, _ in parts] == [0, 7, 14]
    np.testing.assert_array_equal(np.concatenate([p.features for _, p in parts], axis=1), x[::3])
    assert len(calls) <= 4 + 2 * len(parts), f"schema built {len(calls)} times for 3 groups"


def test_ten_thousand_steps(tmp_path):
    """T = 10,000 (20,000 columns) writes, reads and projects exactly."""
    T, N = 10_000, 8
    x = np.random.default_rng(1).random((T, N, 2), dtype=np.float32)
    p = Panel(x, feature_names=["a", "b"])
    path = tmp_path / "t10k.parquet"
    write_panel(p, path)
    assert read_panel(path).equals(p)
    q = read_panel(path, features=["b"], times=[9_999, 0])
    np.testing.assert_array_equal(q.features[:, :, 0], x[[9_999, 0], :, 1])
