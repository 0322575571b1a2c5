"""``jaxattr stream`` (out of core) and ``jaxattr batch`` (a resumable plan of jobs)."""

from __future__ import annotations

import argparse
import os

from ._common import (
    Command,
    UsageError,
    add_attribution_options,
    add_value_option,
    cwd_importable,
    load_value,
    positive_int,
)

__all__ = ["BATCH", "STREAM"]


def _stream_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("panel")
    add_value_option(p)
    add_attribution_options(p)
    p.add_argument("--out", help="output Parquet file of per-agent phi (agent_index, phi@t); "
                   "omit to report totals and efficiency only")
    p.add_argument("--chunk-agents", type=positive_int, help="agents per chunk "
                   "(default: one row group)")


def _stream(args) -> int:
    from jaxattr.scale import attribute_out_of_core

    if not os.path.exists(args.panel):
        raise UsageError(f"panel file {args.panel!r} does not exist")
    res = attribute_out_of_core(args.panel, load_value(args.value), out=args.out,
                                baseline=args.baseline, method=args.method, steps=args.steps,
                                rule=args.rule, chunk_agents=args.chunk_agents, progress=True)
    print(f"streamed {res.value_name!r} ({res.method}) over T={res.T} x N={res.N:,}: max "
          f"efficiency error {res.max_efficiency_error():.2e}; "
          f"{sum(res.timings.values()):.2f}s")
    return 0


def _batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan", help="plan file (.toml or .json)")
    p.add_argument("--out", help="output folder (default: the plan's 'out')")
    p.add_argument("--per-agent", action="store_true", default=None,
                   help="also store per-agent phi keyed by integer index (privacy: off)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--throttle", type=float, default=0.0, help=argparse.SUPPRESS)


def _batch(args) -> int:
    from jaxattr.scale import run_batch

    cwd_importable()  # for package.module:object values in the plan
    rep = run_batch(args.plan, args.out, per_agent=args.per_agent, progress=not args.quiet,
                    throttle=args.throttle)
    return 1 if rep["failed"] else 0


STREAM = Command(
    "stream", "attribute a panel larger than memory, streaming agent chunks",
    _stream_arguments, _stream,
    description="Two exact streaming passes over the row groups of a panel file "
    "(aggregates, then per-agent attributions written chunk by chunk). Closed forms and "
    "mean-field value functions.")

BATCH = Command(
    "batch", "run a plan of many attribution jobs (resumable)", _batch_arguments, _batch,
    interrupted="finished jobs are kept",
    description="Run every (panel x value x baseline x method) job of a plan file (TOML or "
    "JSON; see docs/scale.md). Each result is written atomically; a killed run resumes "
    "where it stopped without recomputing finished jobs.")
