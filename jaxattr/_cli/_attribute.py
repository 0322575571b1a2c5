"""``jaxattr attribute``: one panel, one value function; in memory or across processes."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ._common import (
    Command,
    UsageError,
    add_attribution_options,
    add_distributed_options,
    add_value_option,
    load_value,
    positive_int,
    read_panel,
    write_text,
)

__all__ = ["ATTRIBUTE"]


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("panel", help="panel file (.parquet)")
    add_value_option(p)
    add_attribution_options(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--bins", type=positive_int, default=100, help="follower-percentile bins (default 100)"
    )
    p.add_argument(
        "--per-agent",
        action="store_true",
        help="also write per-agent attributions keyed by integer index (privacy: off by default)",
    )
    add_distributed_options(p)


def _attribute(args) -> int:
    if args.coordinator or args.distributed:
        return _distributed(args)
    import jaxattr
    from jaxattr.study import attribution_tables

    panel = read_panel(args.panel)
    value = load_value(args.value)
    t0 = time.perf_counter()
    att = jaxattr.attribute(
        panel, value, baseline=args.baseline, method=args.method, steps=args.steps, rule=args.rule
    )
    np.asarray(att.phi)  # timed as before: computed and on the host
    dt = time.perf_counter() - t0
    tables = attribution_tables(att, panel, n_bins=args.bins, per_agent=args.per_agent)
    os.makedirs(args.out, exist_ok=True)
    written = []
    for table in tables:
        written.append(os.path.join(args.out, f"{table.name}.csv"))
        write_text(written[-1], table.to_csv())
    tiers = next(tb for tb in tables if tb.name == "tier_shares")
    t, n, d = panel.shape
    print(
        f"attributed {value.name!r} ({att.method}) over T={t} x N={n:,} x d={d} in "
        f"{dt:.2f}s; max efficiency error {att.max_efficiency_error():.2e}"
    )
    print(
        "tier shares over the window: "
        + ", ".join(
            f"{g} {s:.4f}" for g, s in zip(tiers.columns[1:], tiers.rows[-1][1:], strict=True)
        )
    )
    print("wrote " + ", ".join(written))
    return 0


def _distributed(args) -> int:
    """One process of a ``jax.distributed`` run (``--coordinator`` / ``--distributed``).

    The command runs supervised: a parent process runs it as a child and turns JAX's abort
    on a missing or dead peer into exit code 2 and one line (``_supervise``)."""
    from ._supervise import INIT_DONE, INIT_START, SUPERVISED, mark, supervise

    if args.coordinator and (args.num_processes is None or args.process_id is None):
        raise UsageError("--coordinator needs --num-processes and --process-id")
    if (
        args.num_processes is not None
        and args.process_id is not None
        and not 0 <= args.process_id < args.num_processes
    ):
        raise UsageError(
            f"--process-id must be in [0, {args.num_processes}), got {args.process_id}"
        )
    if not os.path.exists(args.panel):
        raise UsageError(f"panel file {args.panel!r} does not exist")
    if os.environ.get(SUPERVISED) != "1":
        return supervise(args, args.argv, "jaxattr attribute")
    from jaxattr.scale import distributed_attribute, initialize

    value = load_value(args.value)
    mark(INIT_START)
    initialize(
        args.coordinator,
        args.num_processes,
        args.process_id,
        local_devices=args.local_devices,
        timeout=args.init_timeout,
    )
    mark(INIT_DONE)
    t0 = time.perf_counter()
    res = distributed_attribute(
        args.panel,
        value,
        baseline=args.baseline,
        method=args.method,
        steps=args.steps,
        rule=args.rule,
        out=args.out,
        gather=args.gather,
        per_agent=args.per_agent,
    )
    lo, hi = res.agent_range
    print(
        f"process {res.process_index}/{res.process_count}: agents [{lo:,}, {hi:,}) of "
        f"{res.N:,}, {res.value_name!r} ({res.method}) in {time.perf_counter() - t0:.2f}s; "
        f"max efficiency error {res.max_efficiency_error():.2e}; wrote "
        f"{', '.join(res.paths) or 'nothing'}",
        flush=True,
    )
    return 0


ATTRIBUTE = Command(
    "attribute",
    "attribute a value function over a panel file",
    _arguments,
    _attribute,
    description="Attribute a macro value function to the agents and days of a panel "
    "(Parquet, written by jaxattr.write_panel). Writes aggregated outputs: per-day totals "
    "and efficiency, follower-tier shares, follower-percentile-bin x day mass. Per-agent "
    "attributions (keyed by the integer agent index, never by identifier) only with "
    "--per-agent.",
)
