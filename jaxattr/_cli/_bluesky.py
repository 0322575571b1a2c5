"""``jaxattr bluesky build`` and ``jaxattr bluesky capture``: Jetstream data to panels."""

from __future__ import annotations

import argparse
import json
import os

from ._common import Command, UsageError

__all__ = ["BLUESKY"]


def _build_arguments(b: argparse.ArgumentParser) -> None:
    from jaxattr.data import DEFAULT_BOT_PATTERN

    b.add_argument(
        "files", nargs="+", metavar="FILES", help="JSONL(.gz) files or directories holding them"
    )
    b.add_argument(
        "--topics",
        required=True,
        metavar="TOPICS",
        help="topic table (.toml or .json; see docs/data.md)",
    )
    b.add_argument(
        "--topic", action="append", metavar="NAME", help="build only this topic (repeatable)"
    )
    b.add_argument("--out", required=True, metavar="PANEL", help="output file or directory")
    b.add_argument(
        "--profiles",
        metavar="FILE",
        help="profile snapshot JSONL (did, followersCount, createdAt, handle)",
    )
    b.add_argument("--start", metavar="YYYY-MM-DD", help="first UTC day (default: first seen)")
    b.add_argument("--days", type=int, metavar="N", help="window length in days")
    b.add_argument("--min-account-age-days", type=float, default=7.0)
    b.add_argument("--bot-pattern", default=DEFAULT_BOT_PATTERN, metavar="REGEX")
    b.add_argument("--no-bot-filter", action="store_true")
    b.add_argument("--report", metavar="FILE", help="write the full run report (JSON)")
    b.add_argument(
        "--id-map",
        metavar="FILE",
        help="also write the index -> DID map (CSV); off by default for privacy",
    )
    b.add_argument("--quiet", action="store_true")


def _capture_arguments(c: argparse.ArgumentParser) -> None:
    from jaxattr.data import DEFAULT_URL

    c.add_argument("--out", required=True, metavar="DIR")
    c.add_argument("--url", default=DEFAULT_URL)
    c.add_argument("--max-events", type=int)
    c.add_argument("--max-seconds", type=float)


def _build(args) -> int:
    from jaxattr import write_panel
    from jaxattr._util import atomic_write
    from jaxattr.data import build_panels, jsonl_files, load_topics

    topics = load_topics(args.topics)
    if args.topic:
        names = {t.name: t for t in topics}
        missing = [n for n in args.topic if n not in names]
        if missing:
            raise UsageError(f"unknown topic(s) {missing}; the table has {list(names)}")
        topics = [names[n] for n in args.topic]
    files = jsonl_files(args.files)
    res = build_panels(
        files,
        topics,
        profiles=args.profiles,
        start=args.start,
        n_days=args.days,
        min_account_age_days=args.min_account_age_days,
        bot_pattern=None if args.no_bot_filter else args.bot_pattern,
    )
    out = args.out
    if len(res.panels) == 1 and not os.path.isdir(out):
        targets = {next(iter(res.panels)): out}
    else:
        os.makedirs(out, exist_ok=True)
        targets = {name: os.path.join(out, f"{name}.parquet") for name in res.panels}
    for name, path in targets.items():
        write_panel(res.panels[name], path)
    if args.id_map:
        res.write_id_map(args.id_map)
    report = {**res.report, "outputs": targets}
    if args.report:
        with atomic_write(args.report, "w") as f:
            json.dump(report, f, indent=1)
    if not args.quiet:
        summary = {
            k: report[k]
            for k in (
                "lines_read",
                "malformed_lines",
                "invalid_events",
                "duplicates",
                "events_kept",
                "users_filtered",
                "users_kept",
                "lines_per_s",
                "outputs",
            )
        }
        print(json.dumps(summary, indent=1))
    return 0


def _capture(args) -> int:
    from jaxattr.data import capture

    stats = capture(
        args.out,
        url=args.url,
        max_events=args.max_events,
        max_seconds=args.max_seconds,
    )
    print(json.dumps(stats))
    return 0


BLUESKY = Command(
    "bluesky",
    "Bluesky Jetstream data: build panels, capture",
    description="Bluesky Jetstream data tools.",
    subcommands=(
        Command(
            "build",
            "Jetstream JSONL -> one panel (Parquet) per topic",
            _build_arguments,
            _build,
            description="Build per-topic panels (reach, activity, resonance) from "
            "captured Jetstream JSONL files (plain or gzip, one per UTC day). With one "
            "topic --out is a file; with several, a directory of <topic>.parquet files. "
            "No DID is written unless --id-map is given.",
        ),
        Command(
            "capture",
            "record Jetstream to one JSONL file per UTC day",
            _capture_arguments,
            _capture,
            description="Record the Jetstream firehose; resumes from the last line on "
            "restart and after reconnects, never losing or duplicating a line.",
        ),
    ),
)
