"""Regenerate docs/reproduction.md and diff it against the committed one, timings ignored.

    python tests/scripts/check_reproduction.py              # fresh full run in a temp dir
    python tests/scripts/check_reproduction.py --out build/reproduce   # resume there
    python tests/scripts/check_reproduction.py --against docs/reproduction.md --report X.md

The committed report writes every wall-clock value (and anything derived from one) inside
``⟦ ⟧``; :func:`jaxattr.study.compare_reports` blanks those spans and diffs the
rest. Exit code 0: same numbers; 1: the lines that differ are printed. ``--report`` compares
an existing report instead of running ``jaxattr reproduce``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", default=str(ROOT / "docs" / "reproduction.md"),
                   help="the committed report (default: docs/reproduction.md)")
    p.add_argument("--out", default=None,
                   help="output folder of the run (default: a fresh temporary folder)")
    p.add_argument("--report", default=None,
                   help="compare this report instead of running jaxattr reproduce")
    p.add_argument("--quick", action="store_true", help="run the quick configuration")
    args = p.parse_args(argv)

    from jaxattr.study import compare_reports, run_reproduce

    committed = Path(args.against).read_text(encoding="utf-8")
    if args.report is not None:
        fresh = Path(args.report).read_text(encoding="utf-8")
    else:
        out = args.out or tempfile.mkdtemp(prefix="jaxattr-reproduce-")
        # The committed report links its figures as <stem>/..., so render the fresh one
        # under the same file name to compare like with like.
        doc = os.path.join(out, "check", Path(args.against).name)
        os.makedirs(os.path.dirname(doc), exist_ok=True)
        run_reproduce(out, quick=args.quick, doc=doc)
        fresh = Path(doc).read_text(encoding="utf-8")
    diff = compare_reports(committed, fresh)
    if diff:
        print(f"{len(diff)} differing lines (timings ignored):")
        print("\n".join(diff))
        return 1
    print("same numbers (timings ignored)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
