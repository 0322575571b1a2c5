"""Staging of unaligned host arrays, A/B: the eager front door from an unaligned NumPy array
with jaxattr's aligned staging copy (the default), without it (the reference: XLA copies
the array itself), and from an aligned array (XLA reads it in place).

Each mode runs in its own plain ``python`` process, and the modes alternate for
``--rounds`` rounds, so that one process's caches and allocator state do not favour
another. The reference mode raises the private size threshold above any array so that
nothing is staged. That changes only the reference, not the default being measured.

    python benchmarks/ab_staging.py            # heat, N = 1,000 x T = 10, 20, 50; N = 10^4 x T = 5

Prints the p10 / p50 per call in µs, one row per round and mode. No results file: it
accounts for one design choice and is not a tracked figure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

import jaxattr
import jaxattr._attribute as front
from jaxattr import values as V

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sweeps import call_times, host_at  # noqa: E402

SHAPES = [(10, 1000, 3), (20, 1000, 3), (50, 1000, 3), (5, 10000, 3)]
MODES = ("reference", "staged", "aligned")


def child(mode: str, calls: int) -> str:
    if mode == "reference":
        front._STAGE_MIN = 1 << 62  # nothing is staged: XLA copies unaligned arrays itself
    v = V.heat()
    cells = []
    for shape in SHAPES:
        z = np.random.default_rng(0).lognormal(size=shape).astype(np.float32)
        z = host_at(z, 0 if mode == "aligned" else 16)

        def call(z=z):
            return np.asarray(jaxattr.attribute(z, v).phi)

        p10, p50 = np.percentile(call_times(call, calls, warm=100) * 1e6, [10, 50])
        cells.append(f"{p10:5.0f} / {p50:5.0f}")
    return " | ".join(cells)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(child(args.child, args.calls))
        return 0
    head = " | ".join(f"{t} x {n:,}" for t, n, _ in SHAPES)
    print("heat, float32, p10 / p50 µs per call (T x N, d = 3)\n")
    print(f"| round | mode | {head} |")
    print("|---|---|" + "---|" * len(SHAPES))
    for r in range(args.rounds):
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--calls", str(args.calls)],
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            ).stdout.strip()
            print(f"| {r + 1} | {mode} | {out} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
