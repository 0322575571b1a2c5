"""Agreement of ours with sampled Shapley on nonlinear value functions as M grows.

One synthetic step (the generator of ``bench_shapley_scaling``), zero baseline, float64.
For each value function and M, sampled Shapley (plain permutations) is compared with ours
(closed form): Kendall tau over all agents and the overlap of the top-10 agents; mean over
seeds. For variance (a quadratic) the Shapley value equals ours exactly, so the residual
disagreement there is sampling noise alone.

    .venv/bin/python benchmarks/bench_shapley_agreement.py      # ~1-3 min on 2 cores
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
    p.add_argument("--values", default="heat:1000,variance:1000,gini:300", help="value:N pairs")
    p.add_argument("--ms", default="10,30,100,300,1000")
    p.add_argument(
        "--max-m-generic",
        type=int,
        default=300,
        help="largest M for value functions without a mean-field route",
    )
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--out", default=str(HERE / "results" / "shapley_agreement.jsonl"))
    args = p.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    from bench_shapley_scaling import append_jsonl, machine, make_step
    from scipy.stats import kendalltau

    import jaxattr
    from jaxattr import shapley

    mach = machine()
    rows = []
    for spec in args.values.split(","):
        name, n = spec.split(":")
        n = int(n)
        value = jaxattr.values.get(name)
        z = make_step(n, seed=1)
        ours = np.asarray(jaxattr.attribute(z, value, method="closed_form").phi[0])
        top_ours = set(np.argsort(-ours)[: args.top].tolist())
        for m in (int(x) for x in args.ms.split(",")):
            if value.mean_field is None and m > args.max_m_generic:
                continue
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                res = shapley.sampled_shapley(
                    value, z, key=jax.random.key(seed), n_permutations=m, return_result=True
                )
                phi = np.asarray(res.phi)
                secs = time.perf_counter() - t0
                rows.append(
                    {
                        "bench": "shapley_agreement",
                        "machine": mach,
                        "backend": jax.default_backend(),
                        "value": name,
                        "N": n,
                        "d": 3,
                        "T": 1,
                        "M": m,
                        "seed": seed,
                        "dtype": "float64",
                        "route": res.route,
                        "kendall_tau": float(kendalltau(phi, ours).statistic),
                        "top_overlap": len(top_ours & set(np.argsort(-phi)[: args.top].tolist())),
                        "rel_l2": float(np.linalg.norm(phi - ours) / np.linalg.norm(ours)),
                        "mean_stderr": float(np.mean(np.asarray(res.stderr))),
                        "seconds_incl_compile": secs,
                        "time": time.time(),
                    }
                )
            print(f"{name} M={m} done", flush=True)
    append_jsonl(args.out, rows)
    print()
    print(
        f"Machine: {mach['cpu']}, {mach['cpu_count']} CPUs; float64; zero baseline; "
        f"mean over {args.seeds} seeds; ours = closed form.\n"
    )
    print(
        f"| value | N | M | Kendall τ (ours vs sampled) | top-{args.top} overlap | "
        "relative L2 gap |"
    )
    print("|---|---|---|---|---|---|")
    for key in dict.fromkeys((r["value"], r["N"], r["M"]) for r in rows):
        sub = [r for r in rows if (r["value"], r["N"], r["M"]) == key]
        print(
            f"| {key[0]} | {key[1]:,} | {key[2]} | "
            f"{np.mean([r['kendall_tau'] for r in sub]):.3f} | "
            f"{np.mean([r['top_overlap'] for r in sub]):.1f}/{args.top} | "
            f"{np.mean([r['rel_l2'] for r in sub]):.2e} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
