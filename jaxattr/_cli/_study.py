"""``jaxattr demo`` and ``jaxattr study``: the cross-scale study, end to end."""

from __future__ import annotations

import argparse
import os
import sys
import time

from ._common import (
    Command,
    UsageError,
    load_value,
    positive_int,
    read_panel,
    sizes,
    value_help,
)

__all__ = ["DEMO", "STUDY"]

_KEPT = "finished cells are kept"


# ------------------------------------------------------------------------------ demo


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="jaxattr-demo", help="output folder (default: %(default)s)")
    p.add_argument(
        "--agents",
        type=positive_int,
        default=None,
        help="agents of the synthetic world (default: 1,671,587)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the world and the draws")
    p.add_argument(
        "--sizes",
        type=sizes,
        default=None,
        help="subset sizes, e.g. '100 1000 full' (default: 100 1000 10000 100000 full)",
    )
    p.add_argument("--draws", type=positive_int, default=10, help="subsets per cell")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _tally(checks) -> dict:
    """``{check name: (rows that hold, rows)}`` in first-seen order."""
    out = {}
    for c in checks:
        held, total = out.get(c["check"], (0, 0))
        out[c["check"]] = (held + bool(c["ok"]), total + 1)
    return out


def _demo(args) -> int:
    from jaxattr.study import DEMO_SIZES, run_demo

    if args.agents is not None and args.agents < 2:
        raise UsageError(f"--agents must be >= 2, got {args.agents}")
    t0 = time.perf_counter()
    out = run_demo(
        args.out,
        agents=args.agents,
        seed=args.seed,
        sizes=args.sizes or DEMO_SIZES,
        draws=args.draws,
        figures=not args.no_figures,
        stream=None if args.quiet else sys.stderr,
    )
    print(out["summary"].to_markdown())
    req = [c for c in out["checks"] if c["required"]]
    rep = [c for c in out["checks"] if not c["required"]]
    n_acc = req[0]["n"] if req else "?"
    print(f"**Acceptance checks** (required, at n = {n_acc})\n")
    for name, (held, total) in _tally(req).items():
        print(f"- {name}: {held}/{total} hold")
    bad = [c for c in req if not c["ok"]]
    if bad:
        print("\nNot holding:")
        for c in bad:
            print(f"- {c['check']} {c['topic']}/{c['value']} n={c['n']}: {c['detail']}")
    if rep:
        print(
            "\nReported (not required; see tables/checks.md and docs/study.md): "
            + "; ".join(
                f"{name} within 2 SE in {held}/{total} cells"
                for name, (held, total) in _tally(rep).items()
            )
        )
    if out["reduced"]:
        print(
            "\nDemo grid: n = 100, 1000, 10^4, 10^5, full for BIAS_visibility and RAND; the "
            "milder BIAS_topic_x_follow and BIAS_topic_top stop at 10^4 to fit 5 minutes "
            "(jaxattr study runs the full grid)."
        )
    tm = out["timings"]
    print(
        f"\nwrote {len(out['paths'])} files under {os.path.abspath(args.out)} "
        f"(tables/, figures/, study.json); world {tm['world_s']:.1f}s, study "
        f"{tm['study_s']:.1f}s, figures {tm['figures_s']:.1f}s, total "
        f"{time.perf_counter() - t0:.1f}s"
    )
    return 0


# ------------------------------------------------------------------------------ study


def _study_arguments(p: argparse.ArgumentParser) -> None:
    from jaxattr.study import DEFAULT_VALUES, PROTOCOLS

    p.add_argument("panels", nargs="+", help="panel files (.parquet)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--values",
        nargs="+",
        default=list(DEFAULT_VALUES),
        metavar="VALUE",
        help=f"{value_help()}; several (default: all built-ins)",
    )
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    p.add_argument(
        "--sizes",
        type=sizes,
        default=(100, 1_000, 10_000, 100_000, "full"),
        help="subset sizes (default: '100 1000 10000 100000 full')",
    )
    p.add_argument("--draws", type=positive_int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--pool-fraction",
        type=float,
        default=0.01,
        help="BIAS_visibility pool fraction p (default 0.01)",
    )
    p.add_argument(
        "--tiers",
        type=float,
        nargs="+",
        default=[0.01, 0.09, 0.90],
        help="tier fractions, top first (default 0.01 0.09 0.90)",
    )
    p.add_argument("--baseline", default="zero", choices=("zero", "mean"))
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quiet", action="store_true")


def _study(args) -> int:
    from jaxattr.study import StudyConfig, all_tables, run_study, write_tables
    from jaxattr.values import BUILTIN

    panels = {}
    for path in args.panels:
        panel = read_panel(path)
        name = panel.meta.get("topic") or os.path.splitext(os.path.basename(path))[0]
        if name in panels:
            raise UsageError(f"two panels have topic {name!r}; give each file its own topic")
        panels[name] = panel
    # Built-ins stay names (they key the cache); anything else is loaded once here.
    vals = tuple(v if v in BUILTIN else load_value(v) for v in args.values)
    names = (
        ("top", "mid", "tail")
        if len(args.tiers) == 3
        else tuple(f"tier{k}" for k in range(len(args.tiers)))
    )
    cfg = StudyConfig(
        values=vals,
        protocols=tuple(args.protocols),
        sizes=args.sizes,
        draws=args.draws,
        seed=args.seed,
        pool_fraction=args.pool_fraction,
        tier_fractions=tuple(args.tiers),
        tier_names=names,
        baseline=args.baseline or "zero",
    )
    os.makedirs(args.out, exist_ok=True)
    res = run_study(panels, cfg, cache_dir=os.path.join(args.out, "cache"), progress=not args.quiet)
    tables = all_tables(res)
    paths = write_tables(tables, os.path.join(args.out, "tables"))
    if not args.no_figures:
        from jaxattr.study import save_figures

        paths += save_figures(res, os.path.join(args.out, "figures"))
    print(tables[0].to_markdown())
    print(tables[1].to_markdown())
    print(
        f"wrote {len(paths)} files under {os.path.abspath(args.out)}; "
        f"{res.timings['cached']} cells read from the cache"
    )
    return 0


DEMO = Command(
    "demo",
    "run the cross-scale study end to end on the synthetic world",
    _demo_arguments,
    _demo,
    interrupted=_KEPT,
    description="Generate the synthetic full-scale world (1,671,587 agents x 14 days, 5 "
    "topics), attribute the four value functions on the full panel and on subsets (4 "
    "protocols x n x 10 draws), print a summary and write tables (CSV, Markdown) and PNG "
    "figures. Re-running resumes from OUT/cache. The numbers describe a synthetic world, not "
    "Bluesky.",
)

STUDY = Command(
    "study",
    "run the cross-scale study on your panels (one file per topic)",
    _study_arguments,
    _study,
    interrupted=_KEPT,
    description="Cross-scale study on panel files (one per topic; the topic name is the "
    "panel's meta 'topic' or the file name): tier shares per protocol and n, Theorem 1's "
    "rescaling residual, rank agreement; tables (CSV, Markdown) and figures under OUT. "
    "Finished cells are cached under OUT/cache and skipped on a re-run.",
)
