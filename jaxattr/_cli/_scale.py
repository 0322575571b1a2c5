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
    p.add_argument(
        "--out",
        help="output Parquet file of per-agent phi (agent_index, phi@t); "
        "omit to report totals and efficiency only",
    )
    p.add_argument(
        "--chunk-agents", type=positive_int, help="agents per chunk (default: one row group)"
    )


def _stream(args) -> int:
    from jaxattr.scale import attribute_out_of_core

    if not os.path.exists(args.panel):
        raise UsageError(f"panel file {args.panel!r} does not exist")
    res = attribute_out_of_core(
        args.panel,
        load_value(args.value),
        out=args.out,
        baseline=args.baseline,
        method=args.method,
        steps=args.steps,
        rule=args.rule,
        chunk_agents=args.chunk_agents,
        progress=True,
    )
    print(
        f"streamed {res.value_name!r} ({res.method}) over T={res.T} x N={res.N:,}: max "
        f"efficiency error {res.max_efficiency_error():.2e}; "
        f"{sum(res.timings.values()):.2f}s"
    )
    return 0


def _batch_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan", help="plan file (.toml or .json)")
    p.add_argument("--out", help="output folder (default: the plan's 'out')")
    p.add_argument(
        "--per-agent",
        action="store_true",
        default=None,
        help="also store per-agent phi keyed by integer index (privacy: off)",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only the I-th of N deterministic slices of the jobs (0-based; "
        "default inside a SLURM array: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN "
        "of SLURM_ARRAY_TASK_COUNT)",
    )
    p.add_argument(
        "--executor",
        choices=["local", "dask"],
        default="local",
        help="where groups of jobs run: this process, or a Dask cluster (--scheduler)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://host:8786) for --executor dask",
    )
    p.add_argument(
        "--claim-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds without a heartbeat after which another host's claim on a "
        "job is taken over (a dead pid on this host: at once; default 600)",
    )
    p.add_argument(
        "--merge",
        "--status",
        dest="merge",
        action="store_true",
        help="run nothing: list done, failed, running and missing jobs, write "
        "manifest.json; exit 0 when every job is done, else 1",
    )
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--throttle", type=float, default=0.0, help=argparse.SUPPRESS)


def _batch(args) -> int:
    from jaxattr.scale import batch_status, load_plan, parse_shard, run_batch

    cwd_importable()  # for package.module:object values in the plan
    if args.merge:
        plan = load_plan(args.plan)
        st = batch_status(
            plan,
            args.out,
            per_agent=args.per_agent,
            claim_timeout=args.claim_timeout,
            write_manifest=True,
        )
        n = len(plan.jobs)
        print(
            f"{st['out']}: {len(st['done'])}/{n} done, {len(st['failed'])} failed, "
            f"{len(st['running'])} running, {len(st['stale'])} stale claims, "
            f"{len(st['missing'])} missing"
        )
        for job_id, msg in sorted(st["failed"].items()):
            print(f"failed  {job_id}: {' '.join(str(msg).split())}")
        for k in ("running", "stale", "missing"):
            for job_id in sorted(st[k]):
                print(f"{k:<7} {job_id}")
        return 0 if len(st["done"]) == n else 1
    shard = parse_shard(args.shard)
    executor = None
    if args.executor == "dask":
        if not args.scheduler:
            raise UsageError("--executor dask needs --scheduler ADDRESS (tcp://host:8786)")
        from jaxattr.scale import DaskExecutor

        executor = DaskExecutor(args.scheduler)
    elif args.scheduler:
        raise UsageError("--scheduler is for --executor dask")
    try:
        rep = run_batch(
            args.plan,
            args.out,
            per_agent=args.per_agent,
            progress=not args.quiet,
            throttle=args.throttle,
            shard=shard,
            executor=executor,
            claim_timeout=args.claim_timeout,
        )
    finally:
        if executor is not None:
            executor.close()
    return 1 if rep["failed"] else 0


STREAM = Command(
    "stream",
    "attribute a panel larger than memory, streaming agent chunks",
    _stream_arguments,
    _stream,
    description="Two exact streaming passes over the row groups of a panel file "
    "(aggregates, then per-agent attributions written chunk by chunk). Closed forms and "
    "mean-field value functions.",
)

BATCH = Command(
    "batch",
    "run a plan of many attribution jobs (resumable)",
    _batch_arguments,
    _batch,
    interrupted="finished jobs are kept",
    description="Run every (panel x value x baseline x method) job of a plan file (TOML or "
    "JSON; see docs/scale.md). Each result is written atomically; a killed run resumes "
    "where it stopped without recomputing finished jobs. Several runners (--shard slices, "
    "SLURM array tasks, a Dask cluster) share one output folder through per-job claims; "
    "--merge lists what is done, failed and missing.",
)
