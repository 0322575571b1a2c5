"""Command-line pieces of :mod:`jaxattr.scale` for the main ``jaxattr`` CLI.

- ``add_batch_parser(subparsers)`` registers ``jaxattr batch PLAN``;
- ``add_stream_parser(subparsers)`` registers ``jaxattr stream PANEL`` (out of core);
- ``add_distributed_arguments(parser)`` adds ``--coordinator`` etc. to ``jaxattr attribute``,
  which calls ``run_distributed_attribute(args)`` when ``args.coordinator`` is set.

``python -m jaxattr.scale {attribute,stream,batch} ...`` runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# One definition of these for every subcommand (the main CLI imports this module lazily,
# so there is no import cycle).
from jaxattr._cli import _load_value, _positive_int

__all__ = ["add_attribute_parser", "add_batch_parser", "add_distributed_arguments",
           "add_stream_parser", "main", "run_distributed_attribute"]


# ------------------------------------------------------------------------------ distributed


def add_distributed_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the multi-process options of ``jaxattr attribute`` to ``parser``."""
    g = parser.add_argument_group(
        "multi-process (jax.distributed)",
        "run one process per host (or per GPU); every process gets the same arguments but "
        "its own --process-id, reads only its own row groups and writes its own shard")
    g.add_argument("--coordinator", metavar="HOST:PORT",
                   help="address of process 0's coordinator (enables the distributed run)")
    g.add_argument("--num-processes", type=_positive_int, metavar="P", help="processes")
    g.add_argument("--process-id", type=int, metavar="I", help="this process, 0..P-1")
    g.add_argument("--gather", action="store_true",
                   help="gather all attributions and write one OUT/phi.parquet on process 0 "
                   "(default: each process writes OUT/phi-I-of-P.parquet)")
    g.add_argument("--local-devices", type=_positive_int, metavar="D",
                   help="CPU only: devices per process (shards); GPUs are found as they are")
    g.add_argument("--init-timeout", type=_positive_int, default=120, metavar="S",
                   help="seconds to wait for every peer before aborting (default 120)")
    return parser


def run_distributed_attribute(args) -> int:
    """Run ``jaxattr attribute`` as one process of a distributed job; returns 0 on success.

    Uses ``args.panel``, ``args.value``, ``args.baseline``, ``args.method``, ``args.steps``,
    ``args.out`` (a folder) and the options of :func:`add_distributed_arguments`.
    """
    from jaxattr.scale._distributed import distributed_attribute, initialize

    if args.num_processes is None or args.process_id is None:
        raise ValueError("--coordinator needs --num-processes and --process-id")
    if not os.path.exists(args.panel):
        raise FileNotFoundError(f"panel file {args.panel!r} does not exist")
    value = _load_value(args.value)
    initialize(args.coordinator, args.num_processes, args.process_id,
               local_devices=args.local_devices, timeout=args.init_timeout)
    t0 = time.perf_counter()
    res = distributed_attribute(args.panel, value, baseline=args.baseline, method=args.method,
                                steps=args.steps, out=args.out, gather=args.gather,
                                per_agent=bool(getattr(args, "per_agent", False)))
    lo, hi = res.agent_range
    print(f"process {res.process_index}/{res.process_count}: agents [{lo:,}, {hi:,}) of "
          f"{res.N:,}, {res.value_name!r} ({res.method}) in {time.perf_counter() - t0:.2f}s; "
          f"max efficiency error {res.max_efficiency_error():.2e}; wrote "
          f"{', '.join(res.paths) or 'nothing'}", flush=True)
    return 0


def add_attribute_parser(subparsers) -> argparse.ArgumentParser:
    """``attribute`` for ``python -m jaxattr.scale`` (the main CLI has its own)."""
    p = subparsers.add_parser("attribute", help="distributed attribution of a panel file")
    p.add_argument("panel")
    p.add_argument("--value", required=True)
    p.add_argument("--baseline", default="zero", choices=("zero", "mean", "first"))
    p.add_argument("--method", default="auto", choices=("auto", "closed_form", "path"))
    p.add_argument("--steps", type=_positive_int, default=30)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--per-agent", action="store_true",
                   help="also write per-agent phi keyed by integer index (privacy: off)")
    add_distributed_arguments(p)
    p.set_defaults(func=_attribute_cmd)
    return p


def _attribute_cmd(args) -> int:
    if not args.coordinator:
        raise ValueError("python -m jaxattr.scale attribute needs --coordinator; for one "
                         "process use `jaxattr attribute`")
    return run_distributed_attribute(args)


# ------------------------------------------------------------------------------ out of core


def add_stream_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``stream PANEL``: out-of-core attribution of a panel larger than memory."""
    p = subparsers.add_parser(
        "stream", help="attribute a panel larger than memory, streaming agent chunks",
        description="Two exact streaming passes over the row groups of a panel file "
        "(aggregates, then per-agent attributions written chunk by chunk). Closed forms "
        "(linear, heat, variance, gini) and mean-field value functions.")
    p.add_argument("panel")
    p.add_argument("--value", required=True)
    p.add_argument("--baseline", default="zero", choices=("zero", "mean", "first"))
    p.add_argument("--method", default="auto", choices=("auto", "closed_form", "path"))
    p.add_argument("--steps", type=_positive_int, default=30)
    p.add_argument("--out", help="output Parquet file of per-agent phi (agent_index, phi@t); "
                   "omit to report totals and efficiency only")
    p.add_argument("--chunk-agents", type=_positive_int, help="agents per chunk "
                   "(default: one row group)")
    p.set_defaults(func=_stream_cmd)
    return p


def _stream_cmd(args) -> int:
    from jaxattr.scale._stream import attribute_out_of_core

    if not os.path.exists(args.panel):
        raise FileNotFoundError(f"panel file {args.panel!r} does not exist")
    res = attribute_out_of_core(args.panel, _load_value(args.value), out=args.out,
                                baseline=args.baseline, method=args.method, steps=args.steps,
                                chunk_agents=args.chunk_agents, progress=True)
    print(f"streamed {res.value_name!r} ({res.method}) over T={res.T} x N={res.N:,}: max "
          f"efficiency error {res.max_efficiency_error():.2e}; "
          f"{sum(res.timings.values()):.2f}s")
    return 0


# ------------------------------------------------------------------------------ batch


def add_batch_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``batch PLAN``: run a plan of jobs, atomically and resumably."""
    p = subparsers.add_parser(
        "batch", help="run a plan of many attribution jobs (resumable)",
        description="Run every (panel x value x baseline x method) job of a plan file "
        "(TOML or JSON; see docs/scale.md). Each result is written atomically; a killed run "
        "resumes where it stopped without recomputing finished jobs.")
    p.add_argument("plan", help="plan file (.toml or .json)")
    p.add_argument("--out", help="output folder (default: the plan's 'out')")
    p.add_argument("--per-agent", action="store_true", default=None,
                   help="also store per-agent phi keyed by integer index (privacy: off)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--throttle", type=float, default=0.0, help=argparse.SUPPRESS)
    p.set_defaults(func=_batch_cmd)
    return p


def _batch_cmd(args) -> int:
    from jaxattr.scale._batch import run_batch

    rep = run_batch(args.plan, args.out, per_agent=args.per_agent, progress=not args.quiet,
                    throttle=args.throttle)
    return 1 if rep["failed"] else 0


# ------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    """``python -m jaxattr.scale``: the scale commands on their own."""
    parser = argparse.ArgumentParser(prog="python -m jaxattr.scale")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_attribute_parser(sub)
    add_stream_parser(sub)
    add_batch_parser(sub)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, KeyError, FileNotFoundError, RuntimeError) as e:
        print(f"{parser.prog} {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted (finished jobs are kept)",
              file=sys.stderr)
        return 130
