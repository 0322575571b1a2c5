"""Exactness of the closed forms for offset features, and what the per-call efficiency check
reports for them (docs/reliability.md, *Offsets in float32*).

For features ``offset + N(0, 1)`` (offsets 1e3 and 1e6), with and without one agent at 0,
every closed form is attributed in float32 against the zero and the mean baseline. Each row
reports the largest per-agent error of phi against a float64 computation on the same
float32 inputs and the same float32 baseline (for ``"mean"``: the float32 number nearest
the exact mean, which at 1e6 may sit 0.03 from it), relative to max |phi|, and the
efficiency error the call itself reports. A final block
repeats the zero-baseline cases with float64 inputs under ``jax_enable_x64``.

    python benchmarks/bench_offsets.py            # N = 20,011, T = 1, d = 3

JSON lines go to ``benchmarks/results/offsets_cpu.jsonl``; a Markdown table is printed.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

import jaxattr

RESULTS = Path(__file__).resolve().parent / "results" / "offsets_cpu.jsonl"
N = 20_011


def reference_phi(name, z, baseline):
    """float64 phi of one step for linear and variance (closed forms in float64), else None."""
    z = z.astype(np.float64)
    s = z.sum(1)
    b = np.zeros(3) if baseline == "zero" else z.mean(0).astype(np.float32).astype(np.float64)
    sb = np.full(N, b.sum())
    if name == "linear":
        return (s - sb) / N
    if name == "variance":
        mid = 0.5 * (s + sb)
        return (s - sb) * (2.0 / N) * (mid - mid.mean())
    return None


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    base = {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "N": N,
        "T": 1,
        "d": 3,
        "K": None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    cases = []
    for offset in (1e3, 1e6):
        for outlier in (True, False):
            z = offset + rng.normal(size=(N, 3))
            if outlier:
                z[0] = 0.0
            cases.append((offset, outlier, z))
    for offset, outlier, z in cases:
        z32 = z.astype(np.float32)
        for name in ("linear", "heat", "variance", "gini"):
            for baseline in ("zero", "mean"):
                att = jaxattr.attribute(z32[None], name, baseline=baseline)
                ref = reference_phi(name, z32, baseline)
                phi = np.asarray(att.phi[0], np.float64)
                err = (
                    None if ref is None else float(np.max(np.abs(phi - ref)) / np.max(np.abs(ref)))
                )
                rows.append(
                    base
                    | {
                        "dtype": "float32",
                        "offset": offset,
                        "outlier": outlier,
                        "value": name,
                        "baseline": baseline,
                        "phi_rel_err_vs_float64": err,
                        "efficiency_error": att.max_efficiency_error(),
                    }
                )
    jax.config.update("jax_enable_x64", True)
    for offset, outlier, z in cases:
        for name in ("variance", "gini"):
            att = jaxattr.attribute(z.astype(np.float32).astype(np.float64)[None], name)
            rows.append(
                base
                | {
                    "dtype": "float64",
                    "offset": offset,
                    "outlier": outlier,
                    "value": name,
                    "baseline": "zero",
                    "phi_rel_err_vs_float64": None,
                    "efficiency_error": att.max_efficiency_error(),
                }
            )
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(
        "| dtype | offset | agent at 0 | value | baseline | phi error vs float64 | "
        "efficiency error |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        e = r["phi_rel_err_vs_float64"]
        print(
            f"| {r['dtype']} | {r['offset']:.0e} | {'yes' if r['outlier'] else 'no'} | "
            f"{r['value']} | {r['baseline']} | "
            f"{'-' if e is None else f'{e:.1e}'} | {r['efficiency_error']:.1e} |"
        )
    print(
        f"\n{base['machine']}; jax {base['jax']}; N = {N}, T = 1, d = 3; "
        f"appended {len(rows)} rows to {RESULTS}"
    )


if __name__ == "__main__":
    main()
