"""Wall time of Aumann–Shapley attribution against the Shapley family (paper table 9).

One step, d = 3, value functions heat and variance, N in {10, 20, 1e2, ..., 1e6}. Methods:
ours (closed form; path integral K = 30), leave-one-out, sampled Shapley (M permutations,
mean-field prefix sums), sampled Banzhaf (MSR, 200 coalitions), exact Shapley and exact
Banzhaf (2^N coalitions), and two NumPy peers run in the same process: a naive permutation
sampler (every prefix coalition evaluated from scratch, O(M·N²)) and a prefix-sum sampler
for mean-based f (O(M·N)). SHAP's PermutationExplainer is added when ``shap`` is installed.

Every cell is measured when its predicted time (from the method's largest measured cell and
its cost law) fits ``--cell-budget``, else extrapolated by the cost law and marked so.
JAX cells: a warm-up call (compile + run), then the median of up to 3 timed calls with
``block_until_ready()``; compile time = first call - steady call.

    .venv/bin/python benchmarks/bench_shapley_scaling.py            # ~5-10 min on 2 cores
    .venv/bin/python benchmarks/bench_shapley_scaling.py --ns 10,100,1000 --cell-budget 2
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def append_jsonl(path, rows) -> None:
    """Append one JSON line per row to ``path`` (shared by the Shapley benchmarks)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")


def make_step(n: int, seed: int = 0) -> np.ndarray:
    """One synthetic step (N, 3): a = log1p(followers), b, c = log1p(counts)."""
    rng = np.random.default_rng(seed)
    a = np.log1p(rng.pareto(1.2, n) * 50)
    b = np.log1p(rng.poisson(2.0, n))
    c = np.log1p(rng.poisson(1.0, n) * (b > 0))
    return np.stack([a, b, c], axis=1)


# The NumPy peers, the timed methods and the timing rule live in the repository's paper/
# folder, where `python paper/reproduce.py` runs the same code for the paper's tables 4, 9.
from paper.experiments.shapley import build_methods as _build_methods  # noqa: E402
from paper.experiments.shapley import machine, time_cell  # noqa: E402


def build_methods(value_name, args):
    return _build_methods(
        value_name,
        permutations=args.permutations,
        coalitions=args.coalitions,
        steps=args.steps,
        shap_permutations=args.shap_permutations,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ns", default="10,20,100,1000,10000,100000,1000000")
    p.add_argument("--values", default="heat,variance")
    p.add_argument("--permutations", type=int, default=100)
    p.add_argument("--coalitions", type=int, default=200)
    p.add_argument("--shap-permutations", type=int, default=10)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument(
        "--cell-budget",
        type=float,
        default=10.0,
        help="seconds a single timed call may be predicted to take",
    )
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--out", default=str(HERE / "results" / "shapley_scaling.jsonl"))
    args = p.parse_args(argv)

    import jax

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    ns = [int(float(x)) for x in args.ns.split(",")]
    mach = machine()
    backend = jax.default_backend()
    rows = []
    for value_name in args.values.split(","):
        methods = build_methods(value_name, args)
        for mkey, (label, run, law, max_n, is_jax, samples) in methods.items():
            ref = None  # (N, seconds) of the largest measured cell
            for n in ns:
                z = make_step(n).astype(args.dtype)
                log_pred = None if ref is None else math.log(ref[1]) + law(n) - law(ref[0])
                pred = (
                    None
                    if log_pred is None
                    else (math.exp(log_pred) if log_pred < 700 else math.inf)
                )
                allowed = max_n is None or n <= max_n
                if max_n is not None and allowed:
                    pred = None  # exponential laws extrapolate badly from overhead-bound cells
                rec = {
                    "bench": "shapley_scaling",
                    "machine": mach,
                    "backend": backend,
                    "value": value_name,
                    "method": mkey,
                    "label": label,
                    "N": n,
                    "T": 1,
                    "d": 3,
                    "K": args.steps if mkey == "ours_path" else None,
                    "samples": samples,
                    "dtype": args.dtype,
                    "time": time.time(),
                }
                if allowed and (pred is None or pred <= args.cell_budget):
                    secs, comp, reps = time_cell(run, z, is_jax, args.cell_budget)
                    rec.update(seconds=secs, compile_s=comp, reps=reps, status="measured")
                    ref = (n, secs)
                elif ref is not None:
                    rec.update(
                        seconds=pred if math.isfinite(pred) else None,
                        log10_seconds=log_pred / math.log(10),
                        compile_s=None,
                        reps=0,
                        status="extrapolated",
                        extrapolated_from=ref[0],
                        reason=(
                            "refused: exact enumeration is for N <= 20"
                            if not allowed
                            else "over the cell budget"
                        ),
                    )
                else:
                    rec.update(seconds=None, status="skipped")
                rows.append(rec)
                print(
                    f"{value_name:9s} {mkey:17s} N={n:>8d} {rec['status']:12s} "
                    f"{rec['seconds'] if rec['seconds'] is not None else float('nan'):.4g} s",
                    flush=True,
                )
    append_jsonl(args.out, rows)
    print()
    print(markdown(rows, mach, backend, args))
    return 0


def _fmt(r):
    if r is not None and r.get("seconds") is None and r.get("log10_seconds") is not None:
        return f"10^{r['log10_seconds'] - math.log10(3600 * 24 * 365):.0f} yr *"
    if r is None or r.get("seconds") is None:
        return "—"
    s = r["seconds"]
    txt = (
        f"{s * 1e3:.3g} ms"
        if s < 1
        else f"{s:.3g} s"
        if s < 3600 * 24 * 365
        else f"{s / (3600 * 24 * 365):.2g} yr"
    )
    if s >= 3600 * 24 * 365 * 1e4:
        txt = f"10^{math.log10(s / (3600 * 24 * 365)):.0f} yr"
    return txt + (" *" if r["status"] == "extrapolated" else "")


def markdown(rows, mach, backend, args) -> str:
    out = [
        f"Machine: {mach['cpu']}, {mach['cpu_count']} CPUs ({mach['platform']}); "
        f"JAX backend {backend}; dtype {args.dtype}; d = 3, T = 1 step; "
        "* = extrapolated by the method's cost law from its largest measured cell "
        f"(per-cell budget {args.cell_budget:g} s).",
        "",
    ]
    for value_name in sorted({r["value"] for r in rows}, key=lambda v: args.values.index(v)):
        sub = [r for r in rows if r["value"] == value_name]
        methods = list(dict.fromkeys(r["method"] for r in sub))
        labels = {r["method"]: r["label"] for r in sub}
        ns = sorted({r["N"] for r in sub})
        cell = {(r["method"], r["N"]): r for r in sub}
        peers = [m for m in ("sampled_shapley", "numpy_prefix", "numpy_naive") if m in methods]
        head = (
            ["N"]
            + [labels[m] for m in methods]
            + [f"speed-up of ours (closed form) over {labels[m]}" for m in peers]
            + ["speed-up of JAX sampled Shapley over NumPy prefix-sum sampler"]
        )
        out += [f"**{value_name}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for n in ns:
            line = [f"{n:,}"] + [_fmt(cell.get((m, n))) for m in methods]
            ours = cell.get(("ours_closed", n))

            def ratio(a, b):
                if not a or not b or a.get("seconds") is None or b.get("seconds") is None:
                    return "—"
                star = " *" if "extrapolated" in (a["status"], b["status"]) else ""
                r = b["seconds"] / a["seconds"]
                return (f"{r:.3g}×" if r < 1e6 else f"10^{math.log10(r):.1f}×") + star

            line += [ratio(ours, cell.get((m, n))) for m in peers]
            line += [ratio(cell.get(("sampled_shapley", n)), cell.get(("numpy_prefix", n)))]
            out.append("| " + " | ".join(line) + " |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
