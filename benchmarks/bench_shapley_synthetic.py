"""Synthetic benchmark of paper appendix D against two truths, one table per run.

Three games on one step z (N, d), zero baseline, features ~ U(0, 1):

- additive ``f = sum_i w_i s_i`` (``s_i = sum_k z_ik``, ``w_i ~ U(0.5, 1.5)``);
- quadratic with cross terms ``f = s^T A s / N``, ``A = (G + G^T)/2``, G standard Gaussian;
- softplus aggregator ``f = softplus(u^T s / sqrt(N))``, ``u ~ N(0, 1)``.

Every method is scored against **two truths**: the Aumann–Shapley value (analytic for the
first two, a 64-node Gauss–Legendre path integral for softplus) and the exact Shapley value
of the baseline-replacement game (enumeration of 2^N coalitions, so N <= 20; the
enumeration is checked against a brute-force subset formula in the tests). For the additive
and quadratic games the two coincide; for softplus they differ, and a sampled-Shapley
"error" against the AS value is then mostly the gap between the two definitions.

Methods: ours (path integral, K = 30), leave-one-out, sampled Shapley (M permutations; plain
and antithetic), sampled Banzhaf (MSR, M coalitions). Metrics: MAE and cosine against each
truth, top-k Kendall tau (the k agents with the largest |truth|), efficiency error
``|sum phi - delta| / |delta|``. The code is ``paper.experiments.shapley.synthetic_suite``,
the same that ``python paper/reproduce.py`` runs for tables 6–8.

    .venv/bin/python benchmarks/bench_shapley_synthetic.py            # N = 20, ~30 s on 2 cores
    .venv/bin/python benchmarks/bench_shapley_synthetic.py --n 50     # AS truth only above 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--d", type=int, default=3)
    p.add_argument("--samples", type=int, default=200, help="permutations / coalitions")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--out", default=str(HERE / "results" / "shapley_synthetic.jsonl"))
    args = p.parse_args(argv)

    import jax
    from bench_shapley_scaling import append_jsonl

    from paper.experiments.shapley import machine, synthetic_suite

    mach = machine()
    t0 = time.perf_counter()
    rows = synthetic_suite(
        n=args.n,
        d=args.d,
        seeds=args.seeds,
        samples=args.samples,
        steps=args.steps,
        top_k=args.top_k,
    )
    secs = time.perf_counter() - t0
    keep = [
        {k: v for k, v in r.items() if k not in ("phi", "truth_as", "truth_shapley")}
        | {
            "bench": "shapley_synthetic",
            "machine": mach,
            "backend": jax.default_backend(),
            "T": 1,
            "dtype": "float64",
            "suite_seconds": secs,
            "time": time.time(),
        }
        for r in rows
    ]
    append_jsonl(args.out, keep)
    print(markdown(rows, mach, args))
    return 0


def markdown(rows, mach, args):
    out = [
        f"Machine: {mach['cpu']}, {mach['cpu_count']} CPUs; float64; N = {args.n}, "
        f"d = {args.d}, zero baseline; mean over {args.seeds} seeds (± std for MAE); "
        f"top-k Kendall tau with k = {args.top_k}. *AS* = the Aumann–Shapley value, "
        "*Shapley* = the exact Shapley value of the game (enumeration).",
        "",
        "| function | method | MAE vs AS | MAE vs Shapley | cosine vs AS | "
        "cosine vs Shapley | top-k τ vs AS | top-k τ vs Shapley | efficiency error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = list(dict.fromkeys((r["game"], r["method"]) for r in rows))

    def ms(x):
        x = np.asarray(x, np.float64)
        return "–" if np.isnan(x).all() else f"{x.mean():.2e} ± {x.std():.1e}"

    def m(x, fmt):
        x = np.asarray(x, np.float64)
        return "–" if np.isnan(x).all() else format(x.mean(), fmt)

    def col(sub, k):
        return [r[k] for r in sub]

    for fn, meth in keys:
        sub = [r for r in rows if r["game"] == fn and r["method"] == meth]
        cells = [
            ms(col(sub, "mae_vs_as")),
            ms(col(sub, "mae_vs_shapley")),
            m(col(sub, "cosine_vs_as"), ".6f"),
            m(col(sub, "cosine_vs_shapley"), ".6f"),
            m(col(sub, "kendall_top_vs_as"), ".3f"),
            m(col(sub, "kendall_top_vs_shapley"), ".3f"),
            m(col(sub, "efficiency_error"), ".1e"),
        ]
        out.append(f"| {fn} | {meth} | " + " | ".join(cells) + " |")
    gaps = {
        fn: np.mean([r["truth_gap"] for r in rows if r["game"] == fn])
        for fn in dict.fromkeys(r["game"] for r in rows)
    }
    out += [
        "",
        "Mean |AS − Shapley| between the two truths: "
        + ", ".join(f"{k} {v:.2e}" for k, v in gaps.items())
        + ".",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
