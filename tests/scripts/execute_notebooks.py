"""Execute the notebooks: in place (outputs committed) or as a check that they run.

    python tests/scripts/execute_notebooks.py            # re-execute every notebook in place
    python tests/scripts/execute_notebooks.py study      # only notebooks/study.ipynb
    python tests/scripts/execute_notebooks.py --check    # CI: small sizes, nothing written

In place, each notebook runs at its documented sizes and is written back with its outputs
(figures as small inline PNGs; no execution timestamps, so a re-run only changes what the
code prints). ``--check`` runs copies with the small sizes the notebooks read from the
environment (``JAXATTR_NB_AGENTS``, ``JAXATTR_NOTEBOOK_SMALL``) and fails on the first
error; ``.ci/run`` calls it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SMALL_ENV = {"JAXATTR_NB_AGENTS": "5000", "JAXATTR_NOTEBOOK_SMALL": "1"}


def execute(path: Path, *, check: bool, timeout: int) -> float:
    """Run one notebook top to bottom; write it back unless ``check``. Returns seconds."""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    # The kernel inherits this process's environment: the repository first on the path so
    # the notebooks import this checkout's jaxattr.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    cwd = tempfile.mkdtemp(prefix="nb-") if check else str(path.parent)
    t0 = time.perf_counter()
    nbclient.NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": cwd}},
    ).execute()
    secs = time.perf_counter() - t0
    if not check:
        for cell in nb.cells:  # nothing volatile beyond the printed outputs
            cell.metadata.pop("execution", None)
        nbformat.write(nb, path)
    return secs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    p.add_argument(
        "--check", action="store_true", help="run copies at small sizes and write nothing (CI)"
    )
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
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
    if args.check:
        os.environ.update(SMALL_ENV)
        os.environ.setdefault("MPLBACKEND", "Agg")
    for path in paths:
        secs = execute(path, check=args.check, timeout=args.timeout)
        print(
            f"{path.name}: {'ran' if args.check else 'executed in place'} in {secs:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
