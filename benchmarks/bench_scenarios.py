"""Scenario tables: faithfulness vs sampled Shapley, robustness sweeps, mid-scale timing.

    python benchmarks/bench_scenarios.py --scenario economy|opinion|midscale|all [--seeds 0,1,2]

Prints each table as Markdown and appends every row as a JSON line (with the machine,
backend, N, T, K, d and dtype) to benchmarks/results/scenarios_cpu.jsonl. Every timing
calls ``block_until_ready()`` after a warm-up call; the first (compiling) call is reported
separately. The reference of each table runs in the same process: sampled Shapley (and
exact Shapley at N = 20) for faithfulness, the 400-point Gauss–Legendre rule in float64
for K convergence, and the measured cost of one risk evaluation for the Shapley cost
extrapolation at N = 10^5.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from jaxattr.scenarios import render, scenario_tables, write_jsonl

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="all", choices=["economy", "opinion", "midscale", "all"])
    p.add_argument("--seeds", default="0,1,2", help="comma-separated simulation seeds")
    p.add_argument("--permutations", type=int, default=2000, help="M of sampled Shapley")
    p.add_argument("--tables", default=None, help="comma-separated subset of tables")
    p.add_argument("--timing-sizes", default="10000,100000")
    p.add_argument(
        "--midscale-agents",
        type=int,
        default=10_000,
        help="N of the midscale faithfulness/robustness tables",
    )
    p.add_argument("--out", default=os.path.join(HERE, "results", "scenarios_cpu.jsonl"))
    args = p.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    names = ["economy", "opinion", "midscale"] if args.scenario == "all" else [args.scenario]
    tables = None if args.tables is None else tuple(args.tables.split(","))
    for name in names:
        t0 = time.perf_counter()
        chosen = tables
        if chosen is not None and name != "midscale":
            chosen = tuple(t for t in chosen if t != "timing")
        res = scenario_tables(
            name,
            seeds=seeds if name != "midscale" else seeds[:1],
            tables=chosen,
            n_permutations=args.permutations,
            n_agents=args.midscale_agents if name == "midscale" else None,
            timing_sizes=tuple(int(n) for n in args.timing_sizes.split(",")),
        )
        print(render(res))
        print(f"\n({name}: {time.perf_counter() - t0:.1f} s)\n", flush=True)
        write_jsonl(res, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
