"""Where a small call's time goes: the per-call floor taken apart, on any backend.

``bench_sweeps.py`` measures the floor (``np.asarray(attribute(z, heat).phi)`` at T = 1,
N = 1,000); this script says what it is made of, each part timed in the same process
(median of ``--calls`` calls):

* ``front door``: the call as users make it, from a device-resident array and from NumPy
  (as allocated, 64-byte aligned, and 16 bytes past; beside ``jax.device_put`` of either
  and ``np.copyto`` of the same bytes);
* ``core only``: the compiled core on prepared arguments, then the status read;
* ``device floor``: a trivial jitted program (``2 * x``) and its result read back, the
  least any call can cost on this backend;
* the kernels each call launches, from a ``jax.profiler`` trace (count and device time);
* the host functions that take the most time, from ``cProfile``;
* ``--policy``: the same front door in fresh processes with jaxattr's process policy on
  (the default) and off (``JAXATTR_MALLOC=system``), to see what the allocator setting
  costs or saves here.

    python benchmarks/profile_floor.py                 # T = 1, N = 1,000
    python benchmarks/profile_floor.py --n 1000000 --policy

Prints a report (no results file: it is a diagnosis, not a benchmark row).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np

import jaxattr
from jaxattr import values as V

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sweeps import call_times, host_at  # noqa: E402
from profile_core import trace_events  # noqa: E402


def _median_us(fn, calls: int) -> float:
    return float(np.median(call_times(fn, calls, warm=20))) * 1e6


def _trace(fn, calls: int) -> list[tuple[str, str, int, float]]:
    """(process, name, count per call, µs per call) of every complete trace event."""
    events, pname = trace_events(fn, calls)
    agg: dict = collections.defaultdict(lambda: [0, 0.0])
    for e in events:
        if e.get("ph") != "X":
            continue
        k = (pname.get(e.get("pid"), str(e.get("pid"))), e.get("name", ""))
        agg[k][0] += 1
        agg[k][1] += float(e.get("dur", 0.0))
    return sorted(
        ((p, n, c / calls, us / calls) for (p, n), (c, us) in agg.items()), key=lambda r: -r[3]
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--t", type=int, default=1)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--policy", action="store_true", help="also time with the policy off")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    z = np.random.default_rng(1).lognormal(size=(args.t, args.n, 3)).astype(np.float32)
    zd = jax.device_put(z)
    v = V.heat()
    front_np = _median_us(lambda: np.asarray(jaxattr.attribute(z, v).phi), args.calls)
    if args.child:
        print(json.dumps({"front_numpy_us": front_np}))
        return 0
    # where a NumPy array starts matters on the CPU: XLA reads a 64-byte-aligned one in
    # place and copies any other itself (jaxattr stages mid-sized ones, _Entry.stage)
    za, zu = host_at(z, 0), host_at(z, 16)
    front_al = _median_us(lambda: np.asarray(jaxattr.attribute(za, v).phi), args.calls)
    front_un = _median_us(lambda: np.asarray(jaxattr.attribute(zu, v).phi), args.calls)
    put_al = _median_us(lambda: jax.device_put(za).block_until_ready(), args.calls)
    put_un = _median_us(lambda: jax.device_put(zu).block_until_ready(), args.calls)
    buf = np.empty_like(za)
    host_copy = _median_us(lambda: np.copyto(buf, zu), args.calls)
    front_dev = _median_us(lambda: np.asarray(jaxattr.attribute(zd, v).phi), args.calls)
    front_dev_nowait = _median_us(lambda: jaxattr.attribute(zd, v), args.calls)

    from jaxattr._core import run_arguments, run_compiled
    from jaxattr._methods import resolve
    from jaxattr._util._memory import Placed

    plan = resolve(v, shape=(args.t, args.n, 3), dtype=np.dtype(np.float32))
    cargs, kw = run_arguments(Placed(zd, 0, tuple(zd.shape), False), "tnd", plan)
    core = _median_us(lambda: np.asarray(run_compiled(cargs, kw).code), args.calls)
    core_nowait = _median_us(lambda: run_compiled(cargs, kw), args.calls)
    twice = jax.jit(lambda x: 2 * x)
    dev_floor = _median_us(lambda: np.asarray(twice(zd)), args.calls)
    dev_floor_nowait = _median_us(lambda: twice(zd), args.calls)
    print(f"backend {jax.default_backend()} {jax.devices()[0].device_kind}, jax {jax.__version__}")
    print(f"T = {args.t}, N = {args.n:,}, d = 3, float32, median of {args.calls} calls (µs)")
    print(f"policy: {json.dumps(jaxattr.process_policy())}")
    for label, us in (
        ("front door from NumPy, phi read back", front_np),
        ("  the same, array 64-byte aligned", front_al),
        ("  the same, array 16 bytes past 64", front_un),
        ("jax.device_put of the aligned array", put_al),
        ("jax.device_put of the unaligned array", put_un),
        ("np.copyto of the unaligned array's bytes", host_copy),
        ("front door from device array, phi read back", front_dev),
        ("front door from device array, nothing read back", front_dev_nowait),
        ("core only (run_compiled), status read back", core),
        ("core only, nothing read back (dispatch)", core_nowait),
        ("device floor: jit(2 * x), read back", dev_floor),
        ("device floor: jit(2 * x), dispatch only", dev_floor_nowait),
    ):
        print(f"  {label:<52} {us:9.1f}")

    print("\ntrace of the front door from the device array, per call (top 30 by time):")
    rows = _trace(lambda: np.asarray(jaxattr.attribute(zd, v).phi), 30)
    for p, name, c, us in rows[:30]:
        print(f"  {us:9.1f} µs  x{c:5.1f}  [{p[:28]}] {name[:90]}")
    dev = [r for r in rows if "GPU" in r[0] or "TPU" in r[0]]
    if dev:
        print(
            f"  device events per call: {sum(r[2] for r in dev):.1f}, "
            f"{sum(r[3] for r in dev):.1f} µs"
        )

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(200):
        np.asarray(jaxattr.attribute(zd, v).phi)
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
    print("\ncProfile, 200 front-door calls, by own time:")
    print("\n".join(s.getvalue().splitlines()[:45]))

    if args.policy:
        base = [sys.executable, __file__, "--child", "--n", str(args.n), "--t", str(args.t)]
        for label, extra in (
            ("policy on (default)", {}),
            ("JAXATTR_MALLOC=system", {"JAXATTR_MALLOC": "system"}),
        ):
            env = {k: val for k, val in os.environ.items() if k != "JAXATTR_MALLOC"} | extra
            out = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120)
            line = (out.stdout.strip().splitlines() or [out.stderr[-300:]])[-1]
            print(f"fresh process, {label}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
