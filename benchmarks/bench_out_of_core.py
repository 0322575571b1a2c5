"""Out-of-core attribution: peak memory and time vs the panel size, with the in-memory run
as the reference in the same invocation.

    python benchmarks/bench_out_of_core.py --n 100000000 --t 1      # 10^8 agents x 1 step
    python benchmarks/bench_out_of_core.py --n 10000000 --t 14      # 10^7 agents x 14 steps
    python benchmarks/bench_out_of_core.py --small                  # a quick check

The panel is generated and written to Parquet in streaming fashion (one row group at a
time), so generating it never holds the panel. Each measurement runs in a fresh child
process, so its peak RSS (``ru_maxrss``) is its own. The out-of-core result is compared
with the in-memory ``jaxattr.attribute`` (max |phi difference| relative to max |phi|).
Appends JSON lines to ``benchmarks/results/scale_out_of_core.jsonl`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "scale_out_of_core.jsonl")


def write_panel_streaming(path: str, n: int, t: int, row_group: int, seed: int = 0) -> None:
    """A (t, n, 3) gamma-distributed panel written one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import jaxattr
    from jaxattr._util import atomic_path
    from jaxattr.io._panel_file import _META_KEY, _header, _header_checksum

    names = list(jaxattr._panel.BLUESKY_FEATURES)
    header = _header(jaxattr.Panel(np.ones((t, 1, 3), np.float32), feature_names=names), [])
    header["N"] = n
    header["checksum"] = _header_checksum(header)  # the header is sealed (format v2)
    fields = [pa.field("agent_id", pa.int64(), nullable=False)]
    fields += [pa.field(f"{f}@{s}", pa.float32(), nullable=False) for s in range(t) for f in names]
    schema = pa.schema(fields, metadata={_META_KEY: json.dumps(header).encode()})
    rng = np.random.default_rng(seed)
    with (
        atomic_path(path) as tmp,
        pq.ParquetWriter(
            tmp,
            schema,
            compression="none",
            use_dictionary=False,
            write_statistics=["agent_id"],
            write_page_checksum=True,
        ) as w,
    ):
        for lo in range(0, n, row_group):
            m = min(n, lo + row_group) - lo
            cols = [pa.array(np.arange(lo, lo + m, dtype=np.int64))]
            cols += [pa.array(rng.standard_gamma(2.0, m, dtype=np.float32)) for _ in range(t * 3)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=m)


def child(args) -> None:
    """Run one measurement and print one JSON line (peak RSS of this process only)."""
    import jax

    import jaxattr
    from jaxattr.scale import attribute_out_of_core, read_phi

    t0 = time.perf_counter()
    if args.child == "stream":
        res = attribute_out_of_core(
            args.panel, args.value, out=args.out, chunk_agents=args.chunk_agents
        )
        out = {"efficiency_error": res.max_efficiency_error(), "passes": res.timings}
    else:
        panel = jaxattr.read_panel(args.panel, agent_columns=[], validate=False)
        t_read = time.perf_counter() - t0
        att = jaxattr.attribute(panel, args.value)
        phi = np.asarray(att.phi)
        out = {"efficiency_error": att.max_efficiency_error(), "read_s": t_read}
        if args.out:
            other = read_phi(args.out)
            scale = float(np.max(np.abs(phi)))
            out["max_rel_diff_vs_stream"] = float(np.max(np.abs(other - phi))) / scale
    out["wall_s"] = time.perf_counter() - t0
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    out["backend"] = jax.default_backend()
    print("JSON " + json.dumps(out), flush=True)


def measure(mode: str, panel: str, value: str, out: str | None, chunk: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--panel", panel, "--value", value]
    if out:
        cmd += ["--out", out]
    if chunk:
        cmd += ["--chunk-agents", str(chunk)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode:
        raise RuntimeError(f"{mode} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.split("JSON ", 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--t", type=int, default=14)
    ap.add_argument("--values", nargs="+", default=["heat"])
    ap.add_argument("--row-group", type=int, default=1 << 20)
    ap.add_argument("--chunk-agents", type=int, default=None)
    ap.add_argument("--dir", default="/tmp/jaxattr-bench-ooc")
    ap.add_argument("--no-reference", action="store_true", help="skip the in-memory run")
    ap.add_argument("--small", action="store_true", help="N=200,000 x 3 steps")
    ap.add_argument("--keep", action="store_true", help="keep the panel file")
    ap.add_argument("--child", choices=["stream", "memory"], help=argparse.SUPPRESS)
    ap.add_argument("--panel", help=argparse.SUPPRESS)
    ap.add_argument("--value", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.small:
        args.n, args.t, args.row_group = 200_000, 3, 1 << 15
    os.makedirs(args.dir, exist_ok=True)
    panel = os.path.join(args.dir, f"panel_{args.n}x{args.t}.parquet")
    t0 = time.perf_counter()
    if not os.path.exists(panel):
        write_panel_streaming(panel, args.n, args.t, args.row_group)
    gen_s = time.perf_counter() - t0
    size_gib = args.n * args.t * 3 * 4 / 2**30
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    rows = []
    for value in args.values:
        out = os.path.join(args.dir, f"phi_{value}_{args.n}x{args.t}.parquet")
        s = measure("stream", panel, value, out, args.chunk_agents)
        m = None if args.no_reference else measure("memory", panel, value, out, None)
        row = {
            "bench": "out_of_core",
            "machine": machine,
            "backend": s["backend"],
            "N": args.n,
            "T": args.t,
            "d": 3,
            "K": None,
            "dtype": "float32",
            "value": value,
            "row_group": args.row_group,
            "chunk_agents": args.chunk_agents,
            "panel_gib": size_gib,
            "panel_file_gib": os.path.getsize(panel) / 2**30,
            "generate_s": gen_s,
            "stream": s,
            "in_memory": m,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        rows.append(row)
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "a") as f:
            f.write(json.dumps(row) + "\n")
        os.remove(out)
    if not args.keep:
        os.remove(panel)
    print(
        "| N | T | value | panel (GiB) | stream s | stream peak RSS (GiB) | in-memory s "
        "| in-memory peak RSS (GiB) | max rel diff | efficiency error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s, m = r["stream"], r["in_memory"] or {}
        print(
            f"| {r['N']:,} | {r['T']} | {r['value']} | {r['panel_gib']:.2f} | "
            f"{s['wall_s']:.1f} | {s['peak_rss_gib']:.2f} | {m.get('wall_s', float('nan')):.1f}"
            f" | {m.get('peak_rss_gib', float('nan')):.2f} | "
            f"{m.get('max_rel_diff_vs_stream', float('nan')):.1e} | "
            f"{s['efficiency_error']:.1e} |"
        )


if __name__ == "__main__":
    main()
