"""Data-layer benchmarks: synthetic world generation, Jetstream pipeline throughput, Parquet I/O.

Usage::

    python benchmarks/bench_data.py [--n-agents 1671587] [--pipeline-agents 20000]
    python benchmarks/bench_data.py --only long-panels [--repeats 3]
    python benchmarks/bench_data.py --only oasis [--oasis-users 100000 --oasis-steps 100]

Writes one JSON line per benchmark to stdout and appends them to
``benchmarks/results/data_cpu.jsonl``. Each line carries the machine (platform, CPU count),
Python, numpy and pyarrow versions, N, T and the timings. Each timing has a reference in the
same run: world generation vs one pass of writing the panel buffers (memory bound), the
pipeline vs bare ``json.loads`` over the same lines, Parquet vs ``np.save``/``np.load``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from jaxattr.data import build_panels, synthetic_world  # noqa: E402
from jaxattr.io import read_panel, write_panel  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "data_cpu.jsonl")


def machine() -> dict:
    import pyarrow

    return {
        "machine": f"{platform.platform()} {platform.processor() or platform.machine()}",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "device": "cpu",
        "dtype": "float32",
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def emit(rec: dict) -> None:
    rec = {**rec, **machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    line = json.dumps(rec)
    print(line, flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(line + "\n")


def bench_world(n: int, T: int) -> object:
    synthetic_world(10_000, T, seed=0)  # warm-up (imports, page faults of small arrays)
    t, c = time.perf_counter(), time.process_time()
    w = synthetic_world(n, T, seed=0)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    ref = np.empty((len(w.panels), T, 3, n), dtype=np.float32)
    t = time.perf_counter()
    ref[...] = 1.0
    dref = time.perf_counter() - t
    emit(
        {
            "bench": "world_generation",
            "N": n,
            "T": T,
            "topics": len(w.panels),
            "seconds": round(dt, 3),
            "cpu_seconds": round(dc, 3),
            "ref_fill_panels_seconds": round(dref, 3),
            # the speed target at full scale (N = 1,671,587, T = 14), checked here rather
            # than by a timed unit test
            "target_seconds": 60,
            "within_target": dt < 60,
        }
    )
    return w


def bench_pipeline(n: int, T: int, tmp: str) -> None:
    w = synthetic_world(n, T, seed=1)
    for gz in (False, True):
        d = os.path.join(tmp, f"js_{int(gz)}")
        out = w.to_jetstream(d, gzip=gz, background=1.0)
        size = sum(os.path.getsize(f) for f in out["files"])
        t, c = time.perf_counter(), time.process_time()
        res = build_panels(out["files"], out["topics"], profiles=out["profiles"])
        dt, dc = time.perf_counter() - t, time.process_time() - c
        lines = res.report["lines_read"]
        # reference: bare json.loads of every line (the floor of any stdlib-json pipeline)
        t = time.perf_counter()
        for f in out["files"]:
            with gzip.open(f, "rb") if gz else open(f, "rb") as fh:
                for raw in fh:
                    json.loads(raw)
        dref = time.perf_counter() - t
        ok = all(
            np.array_equal(res.panels[k].feature_major, w.panels[k].feature_major) for k in w.panels
        )
        emit(
            {
                "bench": "jetstream_pipeline",
                "gzip": gz,
                "N": n,
                "T": T,
                "lines": lines,
                "bytes": size,
                "seconds": round(dt, 3),
                "lines_per_s": round(lines / dt),
                "cpu_seconds": round(dc, 3),
                "lines_per_cpu_s": round(lines / dc),
                "parse_only_lines_per_s": res.report["lines_per_s"],
                "ref_json_loads_lines_per_s": round(lines / dref),
                "panel_equal_world": ok,
            }
        )


def bench_parquet(w, tmp: str) -> None:
    p = w.panels["sports"]
    path = os.path.join(tmp, "sports.parquet")
    nbytes = p.feature_major.nbytes
    for comp in ("zstd", "none"):
        t = time.perf_counter()
        write_panel(p, path, compression=comp)
        dw = time.perf_counter() - t
        t = time.perf_counter()
        q = read_panel(path)
        dr = time.perf_counter() - t
        t = time.perf_counter()
        read_panel(path, features=["activity"], times=[0], validate=False)
        dproj = time.perf_counter() - t
        assert q.equals(p)
        npy = os.path.join(tmp, "ref.npy")
        t = time.perf_counter()
        np.save(npy, p.feature_major)
        dsave = time.perf_counter() - t
        t = time.perf_counter()
        np.load(npy)
        dload = time.perf_counter() - t
        emit(
            {
                "bench": "parquet_round_trip",
                "compression": comp,
                "N": p.N,
                "T": p.T,
                "d": p.d,
                "buffer_mb": round(nbytes / 2**20, 1),
                "file_mb": round(os.path.getsize(path) / 2**20, 1),
                "write_seconds": round(dw, 3),
                "read_seconds": round(dr, 3),
                "read_one_column_seconds": round(dproj, 4),
                "exact": True,
                "ref_np_save_seconds": round(dsave, 3),
                "ref_np_load_seconds": round(dload, 3),
            }
        )


def bench_long_panels(tmp: str, repeats: int) -> None:
    """Panels long in T (one column per (step, feature)): read_panel and iter_panel against a
    bare ``pyarrow.parquet.read_table`` of the same file in the same run, ``repeats`` times
    each, interleaved; reports every run's seconds and the median ratio."""
    import pyarrow.parquet as pq

    from jaxattr._panel import Panel
    from jaxattr.io import iter_panel

    for T, N, d in ((365, 2_000, 10), (2_000, 1_000, 3)):
        x = np.random.default_rng(0).random((T, N, d), dtype=np.float32)
        p = Panel(x)
        path = os.path.join(tmp, f"long_{T}_{d}.parquet")
        write_panel(p, path)
        runs = {"bare_pyarrow": [], "read_panel": [], "iter_panel": []}
        for _ in range(repeats):
            for name, fn in (
                ("bare_pyarrow", lambda path=path: pq.read_table(path)),
                ("read_panel", lambda path=path: read_panel(path)),
                ("iter_panel", lambda path=path: sum(q.N for _, q in iter_panel(path))),
            ):
                t = time.perf_counter()
                fn()
                runs[name].append(round(time.perf_counter() - t, 3))
        assert read_panel(path).equals(p)
        med = {k: float(np.median(v)) for k, v in runs.items()}
        emit(
            {
                "bench": "long_panel_read",
                "N": N,
                "T": T,
                "d": d,
                "columns": T * d,
                "file_mb": round(os.path.getsize(path) / 2**20, 1),
                "repeats": repeats,
                "seconds": runs,
                "median_seconds": med,
                "read_panel_over_pyarrow": round(med["read_panel"] / med["bare_pyarrow"], 2),
                "iter_panel_over_pyarrow": round(med["iter_panel"] / med["bare_pyarrow"], 2),
            }
        )


def _oasis_db(path: str, n_users: int, n_steps: int, per_step: int, seed: int = 0) -> int:
    """An OASIS database (OASIS's schema, tests/oasis_schema.py) with an integer clock:
    per step, per_step each of posts, likes, comments, follows and reposts/quotes, by random
    users on random earlier posts. Returns the number of event rows."""
    import sqlite3

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from oasis_schema import create

    rng = np.random.default_rng(seed)
    con = sqlite3.connect(path)
    create(con)
    con.executemany(
        "INSERT INTO user (user_id, user_name, created_at) VALUES (?, ?, 0)",
        ((i, f"u{i}") for i in range(1, n_users + 1)),
    )
    n_posts, rows = 0, 0
    for s in range(n_steps):
        u = rng.integers(1, n_users + 1, size=(5, per_step)).tolist()
        ids = list(range(n_posts + 1, n_posts + per_step + 1))
        con.executemany(
            "INSERT INTO post (post_id, user_id, content, created_at) VALUES (?, ?, 'text', ?)",
            zip(ids, u[0], [s] * per_step, strict=True),
        )
        n_posts += per_step
        tgt = rng.integers(1, n_posts + 1, size=(3, per_step)).tolist()
        con.executemany(
            "INSERT INTO like (user_id, post_id, created_at) VALUES (?, ?, ?)",
            zip(u[1], tgt[0], [s] * per_step, strict=True),
        )
        con.executemany(
            "INSERT INTO comment (post_id, user_id, content, created_at) VALUES (?, ?, 'c', ?)",
            zip(tgt[1], u[2], [s] * per_step, strict=True),
        )
        con.executemany(
            "INSERT INTO follow (follower_id, followee_id, created_at) VALUES (?, ?, ?)",
            zip(u[3], rng.integers(1, n_users + 1, per_step).tolist(), [s] * per_step, strict=True),
        )
        ids = list(range(n_posts + 1, n_posts + per_step + 1))
        con.executemany(
            "INSERT INTO post (post_id, user_id, original_post_id, created_at) VALUES (?, ?, ?, ?)",
            zip(ids, u[4], tgt[2], [s] * per_step, strict=True),
        )
        n_posts += per_step
        rows += 5 * per_step
    con.commit()
    con.close()
    return rows


def bench_oasis(tmp: str, n_users: int, n_steps: int, per_step: int) -> None:
    """from_oasis on a database of n_users x n_steps; rows per second, with a bare
    ``SELECT`` of the same columns as the reference."""
    import sqlite3

    from jaxattr.data import from_oasis

    path = os.path.join(tmp, "oasis.db")
    t = time.perf_counter()
    rows = _oasis_db(path, n_users, n_steps, per_step)
    dgen = time.perf_counter() - t
    t = time.perf_counter()
    p = from_oasis(path)
    dt = time.perf_counter() - t
    t = time.perf_counter()
    con = sqlite3.connect(path)
    for q in (
        "SELECT user_id FROM user",
        "SELECT post_id, user_id, original_post_id, created_at, content, quote_content FROM post",
        "SELECT post_id, user_id, created_at, content FROM comment",
        "SELECT post_id, user_id, created_at FROM like",
        "SELECT follower_id, followee_id, created_at FROM follow",
    ):
        con.execute(q).fetchall()
    con.close()
    dsel = time.perf_counter() - t
    assert p.shape == (n_steps, n_users, 3)
    emit(
        {
            "bench": "oasis_to_panel",
            "N": n_users,
            "T": n_steps,
            "d": 3,
            "event_rows": rows,
            "db_mb": round(os.path.getsize(path) / 2**20, 1),
            "seconds": round(dt, 3),
            "rows_per_s": round(rows / dt),
            "ref_bare_select_seconds": round(dsel, 3),
            "generate_db_seconds": round(dgen, 3),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-agents", type=int, default=1_671_587)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--pipeline-agents", type=int, default=20_000)
    ap.add_argument(
        "--only", choices=["long-panels", "oasis"], help="run one group of benchmarks only"
    )
    ap.add_argument("--repeats", type=int, default=3, help="runs of each long-panel read")
    ap.add_argument("--oasis-users", type=int, default=100_000)
    ap.add_argument("--oasis-steps", type=int, default=100)
    ap.add_argument(
        "--oasis-events",
        type=int,
        default=4_000,
        help="rows per step of each of posts, likes, comments, follows, reposts",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only == "long-panels":
            bench_long_panels(tmp, args.repeats)
            return
        if args.only == "oasis":
            bench_oasis(tmp, args.oasis_users, args.oasis_steps, args.oasis_events)
            return
        bench_long_panels(tmp, args.repeats)
        bench_oasis(tmp, args.oasis_users, args.oasis_steps, args.oasis_events)
        bench_pipeline(args.pipeline_agents, args.days, tmp)
        w = bench_world(args.n_agents, args.days)
        bench_parquet(w, tmp)


if __name__ == "__main__":
    main()
