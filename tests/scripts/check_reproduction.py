"""Re-run the paper's reproduction and compare its numbers and verdicts with the committed run.

    python tests/scripts/check_reproduction.py                 # fresh full run, temp dir
    python tests/scripts/check_reproduction.py --out DIR       # resume / reuse a run there
    python tests/scripts/check_reproduction.py --results DIR/results.json   # no run

The committed reference is ``docs/reproduction.json`` (written beside ``docs/reproduction.md``
by the same full run). Compared, claim by claim: the verdict (every claim, the timing ones
included: a timing verdict that flips is reported, as a timing flip), and the checked value
of every non-timing claim within ``REL`` relative / ``ABS`` absolute tolerance (the runs are
seeded; the tolerance absorbs float reduction order across machines); and every verdict of
the sensitivity sweep. The report's prose is not compared. Exit 0: the same; 1: the
differences are printed; 2: the two runs used different configurations.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

REL = 1e-6  # relative tolerance of a checked value
ABS = 1e-9  # absolute tolerance (values near zero: residuals, errors)


def _same_value(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    return a == b


def compare(ref: dict, new: dict) -> list[str]:
    """The differences between two ``results.json`` records, one line each."""
    out = []
    old = {c["id"]: c for c in ref["checks"]}
    cur = {c["id"]: c for c in new["checks"]}
    for cid in sorted(set(old) | set(cur)):
        a, b = old.get(cid), cur.get(cid)
        if a is None or b is None:
            out.append(f"{cid}: only in the {'new' if a is None else 'committed'} run")
            continue
        tag = " (timing)" if a.get("timing") else ""
        if a["verdict"] != b["verdict"]:
            out.append(f"{cid}{tag}: verdict {a['verdict']} -> {b['verdict']}")
        if not a.get("timing") and not _same_value(a["value"], b["value"]):
            out.append(f"{cid}: value {a['value']!r} -> {b['value']!r}")
    sa, sb = ref.get("sweep") or {}, new.get("sweep") or {}
    pa = {(p["param"], str(p["value"])): p["verdicts"] for p in sa.get("points", [])}
    pb = {(p["param"], str(p["value"])): p["verdicts"] for p in sb.get("points", [])}
    for key in sorted(set(pa) | set(pb)):
        va, vb = pa.get(key, {}), pb.get(key, {})
        for cid in sorted(set(va) | set(vb)):
            if va.get(cid) != vb.get(cid):
                out.append(f"sweep {key[0]} = {key[1]}: {cid} {va.get(cid)} -> {vb.get(cid)}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--against",
        default=str(ROOT / "docs" / "reproduction.json"),
        help="the committed results (default: docs/reproduction.json)",
    )
    p.add_argument("--out", default=None, help="output folder of the run (default: temp)")
    p.add_argument("--results", default=None, help="compare this results.json, no run")
    args = p.parse_args(argv)
    ref = json.loads(Path(args.against).read_text(encoding="utf-8"))
    if args.results is not None:
        new = json.loads(Path(args.results).read_text(encoding="utf-8"))
    else:
        from paper import config
        from paper.reproduce import reproduce

        cfg = config.Config.quick() if ref["config"]["name"] == "quick" else config.Config.full()
        out = args.out or tempfile.mkdtemp(prefix="paper-reproduce-")
        reproduce(out, cfg)
        new = json.loads((Path(out) / "results.json").read_text(encoding="utf-8"))
    if ref["config"] != new["config"]:
        print("the two runs used different configurations; nothing compared")
        return 2
    diff = compare(ref, new)
    if diff:
        print(f"{len(diff)} differences:")
        print("\n".join(diff))
        return 1
    print(f"same verdicts and numbers ({len(ref['checks'])} claims, timing values ignored)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
