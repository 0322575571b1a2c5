"""``jaxattr scenarios run NAME`` and ``jaxattr scenarios list``: simulations and tables."""

from __future__ import annotations

import argparse

from ._common import Command, UsageError

__all__ = ["SCENARIOS"]


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("name", choices=["economy", "opinion", "midscale", "all"])
    run.add_argument("--n-agents", type=int, default=None, help="N (scenario default if unset)")
    run.add_argument("--steps", type=int, default=None, help="T, simulated steps")
    run.add_argument("--seeds", type=str, default="0", help="comma-separated seeds, e.g. 0,1,2")
    run.add_argument(
        "--tables",
        type=str,
        default=None,
        help="comma-separated subset of faithfulness,convergence,baseline,path,"
        "value,timing (default: all that apply)",
    )
    run.add_argument(
        "--permutations", type=int, default=2000, help="M, permutations of sampled Shapley"
    )
    run.add_argument("--K", dest="K", type=int, default=30, help="path points of ours")
    run.add_argument(
        "--timing-sizes", type=str, default="10000,100000", help="N of the midscale timing table"
    )
    run.add_argument(
        "--jsonl", type=str, default=None, help="append the rows as JSON lines to this file"
    )


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}") from None


def _run(args) -> int:
    from jaxattr.scenarios import DEFAULT_TABLES, render, scenario_tables, write_jsonl

    names = ["economy", "opinion", "midscale"] if args.name == "all" else [args.name]
    tables = None if args.tables is None else tuple(t.strip() for t in args.tables.split(","))
    for name in names:
        chosen = tables
        if chosen is not None:
            chosen = tuple(t for t in chosen if t in DEFAULT_TABLES[name]) or chosen
        results = scenario_tables(
            name,
            n_agents=args.n_agents,
            n_steps=args.steps,
            seeds=_ints(args.seeds, "--seeds"),
            tables=chosen,
            n_permutations=args.permutations,
            steps=args.K,
            timing_sizes=_ints(args.timing_sizes, "--timing-sizes"),
        )
        print(render(results))
        print()
        if args.jsonl:
            write_jsonl(results, args.jsonl)
    return 0


def _list(args) -> int:
    from jaxattr.scenarios import DEFAULT_TABLES

    for name, tables in DEFAULT_TABLES.items():
        print(f"{name}: {', '.join(tables)}")
    return 0


SCENARIOS = Command(
    "scenarios",
    "multi-agent simulation scenarios: attribution, faithfulness and robustness tables",
    subcommands=(
        Command("run", "simulate a scenario and print its tables", _run_arguments, _run),
        Command("list", "list the scenarios and their tables", run=_list),
    ),
)
