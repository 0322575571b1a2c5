"""The ``jaxattr`` command line: one ``main``, one command table, one error handler.

Each command group lives in its own module and registers its commands with an
``add_<name>_parser(subparsers)`` function that sets ``func`` (``args -> exit code``).
Outputs are aggregated (follower tiers, percentile bins, days) unless ``--per-agent`` is
given. Exit codes: 0 success; 2 bad input (one line on stderr: a usage error, a
``ValueError`` or ``OSError``, a missing optional dependency); 1 a bug (any other
exception, with its traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import _attribute, _bluesky, _deepset, _scale, _scenarios, _study
from ._common import UsageError

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]

#: ``jaxattr COMMAND``: the registration function of every command, in help order.
COMMANDS = (
    ("demo", _study.add_demo_parser),
    ("attribute", _attribute.add_attribute_parser),
    ("study", _study.add_study_parser),
    ("bluesky", _bluesky.add_bluesky_parser),
    ("deepset", _deepset.add_deepset_parser),
    ("batch", _scale.add_batch_parser),
    ("stream", _scale.add_stream_parser),
    ("scenarios", _scenarios.add_scenarios_parser),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxattr`` parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="jaxattr", description="Aumann-Shapley attribution of emergent macro phenomena "
        "to agents and time steps. Start with: jaxattr demo")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _, add in COMMANDS:
        add(sub)
    return parser


# ------------------------------------------------------------------------------ errors


def _is_bad_input(e: BaseException) -> bool:
    """Bad input or a bad environment (exit 2, one line), as opposed to a bug (traceback).

    jaxattr raises ``ValueError`` for bad input; ``OSError`` is a missing or unreadable
    file. An ``ImportError`` is a missing optional dependency unless it names a module of
    jaxattr itself: then the package is broken, which is a bug, as are ``KeyError``,
    ``TypeError`` and everything else.
    """
    if isinstance(e, (ValueError, OSError)):
        return True
    if isinstance(e, ImportError):
        return not (e.name or "").split(".")[0] == "jaxattr"
    return False


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _command_name(args) -> str:
    words = [args.command]
    for key in ("bluesky_command", "deepset_command", "scenarios_command"):
        if getattr(args, key, None):
            words.append(getattr(args, key))
    return " ".join(words)


def run(args) -> int:
    """Run a parsed command under the one error handler; returns the exit code."""
    name = f"jaxattr {_command_name(args)}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        note = getattr(args, "interrupted", None)
        print(f"{name}: interrupted" + (f" ({note})" if note else ""), file=sys.stderr)
        return 130
    except Exception as e:
        if _is_bad_input(e):
            print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
            return 2
        traceback.print_exc()
        print(f"{name}: internal error ({type(e).__name__}); this is a bug in jaxattr or in "
              "code it called: please report it with the traceback above", file=sys.stderr)
        return 1


# ------------------------------------------------------------------------------ main


_HUGE = "glibc.malloc.hugetlb=1"


def _reexec_with_huge_pages() -> None:
    """Re-run this command with glibc's huge-page tunable, once, on Linux.

    XLA allocates a fresh buffer per output; with transparent huge pages in ``madvise``
    mode every 4 KiB page of it faults on first touch (measured: a fresh 94 MB output was
    written at ~1.6 GB/s vs ~27 GB/s warm; with the tunable, 5x faster). The tunable
    must be set before the process starts, hence the re-exec. ``JAXATTR_NO_REEXEC=1``
    turns it off.
    """
    if (sys.platform != "linux" or os.environ.get("JAXATTR_NO_REEXEC")
            or _HUGE in os.environ.get("GLIBC_TUNABLES", "")):
        return
    env = dict(os.environ, JAXATTR_NO_REEXEC="1")
    env["GLIBC_TUNABLES"] = ":".join(filter(None, [env.get("GLIBC_TUNABLES"), _HUGE]))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "jaxattr", *sys.argv[1:]], env)
    except OSError:
        pass  # run as is


def main(argv=None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    if argv is None:
        _reexec_with_huge_pages()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage and the error
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run(args)
