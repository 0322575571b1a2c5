"""Where a closed form's time goes: XLA's own per-kernel timings of the front door.

``bench_core.py`` says how far each closed form is from the copy roofline; this script says
why. It runs ``jaxattr.attribute(x, value)`` as users call it (plain process, a warm-up
first), records ``--calls`` calls with ``jax.profiler`` (a Perfetto trace in a temporary
folder, parsed here; no TensorBoard needed) and reports the time of each compiled kernel
(XLA fusion, sort, copy, YNNPACK reduce) per call, beside the roofline measured in the same
run: the features read once and phi written once at the STREAM-style copy bandwidth.

    python benchmarks/profile_core.py                       # linear, heat, variance; jax.Array
    python benchmarks/profile_core.py --input panel --values variance

A closed form needs two passes over the features (the moments, then phi) and one over phi
(the efficiency check's sum), so its kernels name those passes. One JSON line per kernel and
run goes to stdout and to ``benchmarks/results/profile_<backend>.jsonl``; a Markdown table
follows.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxattr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import RESULTS, copy_bandwidth, machine  # noqa: E402


def trace_events(fn, calls: int) -> tuple[list[dict], dict]:
    """``(events, process names by pid)`` of a ``jax.profiler`` Perfetto trace of ``calls``
    calls of ``fn``, parsed here (no TensorBoard needed)."""
    with tempfile.TemporaryDirectory() as d:
        jax.profiler.start_trace(d, create_perfetto_trace=True)
        for _ in range(calls):
            fn()
        jax.profiler.stop_trace()
        traces = sorted(Path(d).rglob("perfetto_trace.json.gz"))
        if not traces:
            raise RuntimeError(f"jax.profiler wrote no perfetto_trace.json.gz under {d}")
        with gzip.open(traces[-1]) as fh:
            doc = json.load(fh)
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    pnames = {
        e.get("pid"): str(e.get("args", {}).get("name", ""))
        for e in events
        if e.get("ph") == "M" and e.get("name") == "process_name"
    }
    return events, pnames


def kernel_times(fn, calls: int) -> dict[str, float]:
    """Seconds per call of each compiled kernel that ``fn`` runs, from a profiler trace."""
    events, pnames = trace_events(fn, calls)
    # On an accelerator the host threads that launch a kernel carry its name too: count only
    # the device's own timeline (its process is named after the device, e.g. /device:GPU:0).
    device_pids = {p for p, n in pnames.items() if "GPU" in n or "TPU" in n}
    total: dict[str, float] = collections.defaultdict(float)
    for e in events:
        name = e.get("name", "")
        if e.get("ph") != "X" or name.startswith("end:"):
            continue
        if device_pids:  # everything on the device's timeline is the program's work
            if e.get("pid") not in device_pids:
                continue
        elif not any(k in name for k in ("fusion", "sort", "copy", "dot")):
            continue
        total[name] += e["dur"] * 1e-6 / calls  # microseconds in the trace
    return dict(total)


def device_copy_bandwidth(x: jax.Array, reps: int) -> float:
    """Bytes/s of a jitted device-to-device copy of ``x`` (read + write), the best of ``reps``."""
    copy = jax.jit(jnp.copy)
    jax.block_until_ready(copy(x))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(copy(x))
        best = min(best, time.perf_counter() - t0)
    return 2 * x.nbytes / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", choices=("jax", "numpy", "panel"), default="jax")
    ap.add_argument("--values", nargs="+", default=["linear", "heat", "variance"])
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--small", action="store_true", help="N = 100,000, T = 3 smoke run")
    ap.add_argument("--n", type=int, default=1_671_587, help="agents")
    ap.add_argument("--t", type=int, default=14, help="time steps")
    args = ap.parse_args(argv)

    n, t = (100_000, 3) if args.small else (args.n, args.t)
    z = np.random.default_rng(0).lognormal(sigma=0.7, size=(t, n, 3)).astype(np.float32)
    x = {"jax": jnp.asarray(z), "numpy": z, "panel": jaxattr.Panel(z)}[args.input]
    if jax.default_backend() == "cpu":
        bw = copy_bandwidth(z, 7)
    else:  # the device's own copy of the same bytes (jax.Array input: no host transfer)
        bw = device_copy_bandwidth(jnp.asarray(z), 7)
    roof = (z.nbytes + t * n * 4) / bw
    out = RESULTS / f"profile_{jax.default_backend()}.jsonl"
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for name in args.values:

        def call(name=name):
            return jax.block_until_ready(jaxattr.attribute(x, name).phi)

        for _ in range(3):
            call()
        t0 = time.perf_counter()
        for _ in range(args.calls):
            call()
        wall = (time.perf_counter() - t0) / args.calls
        kernels = kernel_times(call, args.calls)
        for kernel, s in sorted(kernels.items(), key=lambda kv: -kv[1]):
            if s < 0.01 * wall:  # kernels under 1% of the call are left out
                continue
            rec = {
                **machine(),
                "bench": f"profile/{args.input}/{name}",
                "kernel": kernel,
                "kernel_s": s,
                "call_s": wall,
                "roofline_s": roof,
                "copy_GBps": bw / 1e9,
                "N": n,
                "T": t,
                "d": 3,
                "dtype": "float32",
            }
            rows.append(rec)
            line = json.dumps(rec)
            print(line, flush=True)
            with out.open("a") as fh:
                fh.write(line + "\n")

    print(f"\nroofline {roof * 1e3:.1f} ms (copy {bw / 1e9:.1f} GB/s), N = {n:,}, T = {t}, d = 3\n")
    print("| value | kernel | ms per call | x roofline | whole call, untraced mean |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['bench'].split('/')[-1]} | {r['kernel']} | {r['kernel_s'] * 1e3:.2f} | "
            f"{r['kernel_s'] / roof:.2f}x | {r['call_s'] * 1e3:.1f} ms |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
