"""Accelerator benchmark: closed forms and the path integral vs the device's memory roofline.

One command on a GPU machine (H100/H200), nothing else to set up:

    python benchmarks/bench_gpu.py                 # N in {1e6, 1,671,587, 1e7} x T=14, 1e8 x 1
    python benchmarks/bench_gpu.py --small         # quick check, runs on CPU too

The roofline is measured in the same run: a device-to-device copy of the same features
buffer (read + write of the same bytes), so ``bandwidth = 2 * bytes / t_copy``. An
attribution must at least read the features (T d N floats) and write phi (T N floats);
``roofline_ms = (T d N + T N) * 4 / bandwidth``, and ``x_roofline = t / roofline_ms``
(target for closed forms: <= 2). ``device_ms`` is the program's own time on the device
(every event on the device's timeline of a ``jax.profiler`` trace, per call), and
``sync_floor_ms`` the least any call that reads a result back costs on this machine (a
jitted ``x + 1`` on 4 bytes, read back), both measured in the same run: the front door's
time is about its device time plus that floor. Features are generated on the device (float32,
feature-major ``(T, d, N)``) so no host transfer is timed. Every timing: warm-up first
(compile time reported apart), ``block_until_ready()``, median of ``--repeats``.
Reference in the same run: the path integral's phi against the closed form's (heat).

JSON lines go to ``benchmarks/results/scale_gpu.jsonl`` (``scale_gpu_smoke.jsonl`` with
``--small``), with the device named; a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxattr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from profile_core import kernel_times  # noqa: E402


def sync_floor_ms(calls: int = 300) -> float:
    """Median ms of the least a call that reads a result back can cost here: a jitted
    ``x + 1`` on 4 bytes and its result copied to the host (dispatch + device sync + D2H)."""
    f = jax.jit(lambda x: x + 1)
    x = jnp.zeros((1,), jnp.float32)
    for _ in range(20):
        np.asarray(f(x))
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        np.asarray(f(x))
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def _time(fn, repeats: int) -> tuple[float, float, object]:
    """(compile+first-run seconds, median steady seconds, last output)."""
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        jax.block_until_ready(out)
        ts.append(time.perf_counter() - t0)
    return first, statistics.median(ts), out


@jax.jit
def _copy(x):
    return jnp.copy(x)


def _features(key, t, d, n):
    # gamma-like positive features, generated on the device in feature-major layout
    return jax.jit(lambda k: jax.random.uniform(k, (t, d, n), jnp.float32, 0.05, 3.0))(key)


def _peak_bytes(dev) -> int | None:
    try:
        stats = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 - not every backend reports memory stats
        return None
    return stats.get("peak_bytes_in_use")


def run(
    sizes,
    repeats: int,
    k: int,
    out_path: str,
    time_batches,
    values=("linear", "heat", "variance", "gini"),
) -> list[dict]:
    dev = jax.devices()[0]
    device = {"kind": dev.device_kind, "platform": dev.platform, "count": jax.device_count()}
    machine = {"platform": platform.platform(), "cpu_count": os.cpu_count()}
    rows = []
    key = jax.random.key(0)
    floor_ms = sync_floor_ms()
    print(f"sync floor (jit x + 1 on 4 bytes, read back): {floor_ms:.3f} ms", flush=True)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)

    def emit(row):  # appended as measured, so a run cut short keeps what it measured
        rows.append(row)
        print(_line(row), flush=True)
        with open(out_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    for n, t in sizes:
        d = 3
        key, sub = jax.random.split(key)
        fm = _features(sub, t, d, n)
        fm.block_until_ready()
        nbytes = fm.size * 4
        c_first, c_t, _ = _time(lambda fm=fm: _copy(fm), repeats)
        bw = 2 * nbytes / c_t
        roof = (t * d * n + t * n) * 4 / bw
        base = {
            "bench": "gpu",
            "device": device,
            "machine": machine,
            "backend": jax.default_backend(),
            "N": n,
            "T": t,
            "d": d,
            "dtype": "float32",
            "copy_ms": c_t * 1e3,
            "bandwidth_gbs": bw / 1e9,
            "roofline_ms": roof * 1e3,
            "sync_floor_ms": floor_ms,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        closed_heat = None
        for value in values:
            first, tt, att = _time(
                lambda v=value, fm=fm: jaxattr.attribute(fm, v, feature_major=True).phi, repeats
            )
            att = jaxattr.attribute(fm, value, feature_major=True)
            # the program's own device time (every event on the device's timeline)
            kernels = kernel_times(
                lambda v=value, fm=fm: jax.block_until_ready(
                    jaxattr.attribute(fm, v, feature_major=True).phi
                ),
                5,
            )
            device_ms = sum(kernels.values()) * 1e3
            if value == "heat":
                closed_heat = att.phi
            emit(
                base
                | {
                    "value": value,
                    "method": "closed_form",
                    "K": None,
                    "time_batch": t,
                    "ms": tt * 1e3,
                    "compile_s": first - tt,
                    "x_roofline": tt / roof,
                    "device_ms": device_ms,
                    "device_x_roofline": device_ms * 1e-3 / roof,
                    "efficiency_error": att.max_efficiency_error(),
                    "peak_device_bytes": _peak_bytes(dev),
                }
            )
        for tb in time_batches if closed_heat is not None else []:  # the path needs heat
            tb = min(tb or t, t)
            first, tt, _ = _time(
                lambda fm=fm, tb=tb: (
                    jaxattr.attribute(
                        fm, "heat", method="path", steps=k, time_batch=tb, feature_major=True
                    ).phi
                ),
                repeats,
            )
            att = jaxattr.attribute(
                fm, "heat", method="path", steps=k, time_batch=tb, feature_major=True
            )
            diff = float(jnp.max(jnp.abs(att.phi - closed_heat)) / jnp.max(jnp.abs(closed_heat)))
            emit(
                base
                | {
                    "value": "heat",
                    "method": att.method,
                    "K": k,
                    "time_batch": tb,
                    "ms": tt * 1e3,
                    "compile_s": first - tt,
                    "x_roofline": tt / roof,
                    "efficiency_error": att.max_efficiency_error(),
                    "max_rel_diff_vs_closed_form": diff,
                    "peak_device_bytes": _peak_bytes(dev),
                }
            )
        del fm, closed_heat, att
    return rows


def _line(r) -> str:
    return (
        f"{r['device']['kind']}: N={r['N']:,} T={r['T']} {r['value']} {r['method']} "
        f"K={r['K']} tb={r['time_batch']}: {r['ms']:.2f} ms (roofline {r['roofline_ms']:.2f}"
        f" ms, x{r['x_roofline']:.2f}), compile {r['compile_s']:.1f}s, efficiency "
        f"{r['efficiency_error']:.1e}"
        + (
            f", device {r['device_ms']:.2f} ms (x{r['device_x_roofline']:.2f})"
            if "device_ms" in r
            else ""
        )
    )


def table(rows) -> str:
    out = [
        "| device | N | T | value | method | K | time batch | ms | roofline ms | "
        "x roofline | device ms (x roofline) | efficiency error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        dev = f"{r['device_ms']:.2f} ({r['device_x_roofline']:.2f}x)" if "device_ms" in r else "-"
        out.append(
            f"| {r['device']['kind']} | {r['N']:,} | {r['T']} | {r['value']} | "
            f"{r['method']} | {r['K'] or '-'} | {r['time_batch']} | {r['ms']:.2f} | "
            f"{r['roofline_ms']:.2f} | {r['x_roofline']:.2f} | {dev} | "
            f"{r['efficiency_error']:.1e} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="N in {1e4, 1e5}, T=2 (CPU check)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--k", type=int, default=30, help="path points K")
    ap.add_argument(
        "--time-batches",
        type=int,
        nargs="+",
        default=[1, 0],
        help="time steps per batch for the path method (0 = all T)",
    )
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=None,
        help="NxT pairs, e.g. 10000000x14 100000000x1 (default: the four sizes above)",
    )
    ap.add_argument(
        "--values",
        nargs="+",
        default=["linear", "heat", "variance", "gini"],
        help="closed forms to time",
    )
    args = ap.parse_args()
    if args.small:
        sizes = [(10_000, 2), (100_000, 2)]
        out = args.out or os.path.join(HERE, "results", "scale_gpu_smoke.jsonl")
        args.repeats = min(args.repeats, 3)
    else:
        sizes = [(1_000_000, 14), (1_671_587, 14), (10_000_000, 14), (100_000_000, 1)]
        out = args.out or os.path.join(HERE, "results", "scale_gpu.jsonl")
    if args.sizes:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    if jax.default_backend() == "cpu" and not args.small:
        print("warning: no accelerator found; this is the CPU backend (use --small to check)")
    rows = run(sizes, args.repeats, args.k, out, args.time_batches, args.values)
    print()
    print(table(rows))
    print(f"\nappended {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
