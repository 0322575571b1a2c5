"""Notebook run times at the small sizes CI uses, against a kernel that only imports jaxattr.

Usage::

    python benchmarks/bench_notebooks.py [deepset study ...] [--target 120]

Each notebook runs top to bottom as ``tests/scripts/execute_notebooks.py --check`` runs it
(``JAXATTR_NB_AGENTS=5000``, ``JAXATTR_NOTEBOOK_SMALL=1``, nothing written). The reference,
measured in the same run, is a one-cell notebook that imports jaxattr: the fixed cost of a
kernel start and the import, which no notebook can go below. Writes one JSON line per
notebook to stdout and appends them to ``benchmarks/results/notebooks_cpu.jsonl`` with the
target (seconds per notebook, default 120: the budget the notebooks are written for) and
whether it was met. The tests only check that the notebooks run (``-m slow``), never how long.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "scripts"))

from execute_notebooks import NOTEBOOKS, SMALL_ENV, execute  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "notebooks_cpu.jsonl"


def reference_seconds(timeout: int) -> float:
    """Seconds to start a kernel and run ``import jaxattr`` in it."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import jaxattr")])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference.ipynb"
        nbformat.write(nb, path)
        return execute(path, check=True, timeout=timeout)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    p.add_argument("--target", type=float, default=120.0, help="seconds per notebook")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = p.parse_args(argv)
    paths = (
        [NOTEBOOKS / f"{n}.ipynb" for n in args.names]
        if args.names
        else sorted(NOTEBOOKS.glob("*.ipynb"))
    )
    missing = [str(x) for x in paths if not x.exists()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    os.environ.update(SMALL_ENV)
    os.environ.setdefault("MPLBACKEND", "Agg")
    ref = reference_seconds(args.timeout)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    print("| notebook | seconds | reference (kernel + import) | target |")
    print("|---|---|---|---|")
    for path in paths:
        secs = execute(path, check=True, timeout=args.timeout)
        rec = {
            "bench": "notebook",
            "notebook": path.name,
            "seconds": round(secs, 2),
            "ref_kernel_import_seconds": round(ref, 2),
            "target_seconds": args.target,
            "within_target": secs < args.target,
            "sizes": SMALL_ENV,
            "machine": f"{platform.platform()} {platform.machine()}",
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_1min": round(os.getloadavg()[0], 2),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        with open(RESULTS, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"| {path.name} | {secs:.1f} | {ref:.1f} | {args.target:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
