"""``jaxattr reproduce``: every offline experiment of the paper, one report."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import Command

__all__ = ["REPRODUCE"]


def _arguments(p: argparse.ArgumentParser) -> None:
    from jaxattr.study import STAGES

    p.add_argument("--out", default="jaxattr-reproduce",
                   help="output folder (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes everywhere: a smoke run in a few minutes")
    p.add_argument("--panels", nargs="+", default=None, metavar="PANEL.parquet",
                   help="captured topic panels to use instead of the synthetic world")
    p.add_argument("--doc", default=None, metavar="PATH",
                   help="also write the report here, figures in a folder beside it "
                   "(the committed one: docs/reproduction.md)")
    p.add_argument("--stages", nargs="+", default=None, choices=STAGES, metavar="STAGE",
                   help=f"run only these stages (default: all of {', '.join(STAGES)})")
    p.add_argument("--focus", default=None,
                   help="the topic standing in for the paper's Mythos (default: tech, or "
                   "the first topic)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _reproduce(args) -> int:
    import dataclasses

    from jaxattr.study import ReproConfig, run_reproduce

    for path in args.panels or ():
        if not os.path.exists(path):
            raise FileNotFoundError(f"panel file {path!r} does not exist")
    cfg = ReproConfig.quick() if args.quick else ReproConfig.full()
    if args.focus is not None:
        cfg = dataclasses.replace(cfg, focus=args.focus)
    out = run_reproduce(args.out, config=cfg, panels=args.panels, doc=args.doc,
                        stages=args.stages, figures=not args.no_figures,
                        stream=None if args.quiet else sys.stderr)
    held = sum(c["ok"] for c in out["checks"])
    print(f"{held}/{len(out['checks'])} quantitative checks hold; report: "
          f"{os.path.abspath(out['report'])}"
          + (f" and {os.path.abspath(out['doc'])}" if out["doc"] else "")
          + f" ({out['seconds']:.0f} s)")
    for c in out["checks"]:
        if not c["ok"]:
            print(f"- {c['id']} ({c['artefact']}): {c['ours']}")
    return 0


REPRODUCE = Command(
    "reproduce", "run every offline experiment of the paper and write reproduction.md",
    _arguments, _reproduce, interrupted="finished stages are kept; a re-run resumes",
    description="Run every experiment of the paper that can run offline (the cross-scale "
    "study at full scale on the synthetic world, or on captured panels with --panels; the "
    "missing tables; the Shapley comparisons; the simulators) and write tables (CSV, "
    "Markdown), PNG figures and one reproduction.md that puts each paper table beside ours "
    "with a verdict. Finished stages are cached under OUT/stages, so a re-run resumes. "
    "Wall-clock values in the report are marked with ⟦ ⟧.")
