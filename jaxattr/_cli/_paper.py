"""``jaxattr reproduce``: runs the repository's ``paper/reproduce.py`` when there is one.

The reproduction of the paper is not installed with the library (the wheel holds only the
``jaxattr`` package; see docs/reproduction.md); it lives in the
``paper/`` folder of a repository checkout. From a checkout (the current directory or the
one this package was installed from in editable mode) the command runs that script with the
same arguments; from an installed wheel it says how to get it and exits 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ._common import Command

__all__ = ["REPRODUCE", "find_script"]

_SCRIPT = os.path.join("paper", "reproduce.py")


def find_script() -> str | None:
    """``paper/reproduce.py`` of the current directory or of this package's checkout."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for root in (os.getcwd(), here):
        path = os.path.join(root, _SCRIPT)
        if os.path.isfile(path):
            return path
    return None


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output folder (paper/reproduce.py's default if omitted)")
    p.add_argument("--quick", action="store_true", help="small sizes everywhere (minutes)")
    p.add_argument(
        "--panels",
        nargs="+",
        metavar="PANEL.parquet",
        help="captured topic panels instead of the synthetic world",
    )
    p.add_argument("--doc", metavar="PATH", help="also write the report here")
    p.add_argument("--stages", nargs="+", metavar="STAGE", help="run only these stages")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _forwarded(args) -> list[str]:
    out = []
    for name in ("out", "doc"):
        if getattr(args, name):
            out += [f"--{name}", getattr(args, name)]
    for name in ("panels", "stages"):
        if getattr(args, name):
            out += [f"--{name}", *getattr(args, name)]
    out += [f"--{name}" for name in ("quick", "quiet") if getattr(args, name)]
    return out


def _reproduce(args) -> int:
    script = find_script()
    if script is None:
        raise OSError(
            "the paper's reproduction is not installed with jaxattr: clone the "
            "repository and run `python paper/reproduce.py [--quick]` there"
        )
    return subprocess.call([sys.executable, script, *_forwarded(args)])


REPRODUCE = Command(
    "reproduce",
    "run the repository's paper/reproduce.py (not part of the installed library)",
    _arguments,
    _reproduce,
    interrupted="finished stages are kept; a re-run resumes",
    description="The reproduction of the paper lives in the paper/ folder of a repository "
    "checkout, not in the installed library. From a checkout this runs `python "
    "paper/reproduce.py ARGS`; elsewhere it says how to get it (exit 2).",
)
