"""The ``jaxattr`` command line: one ``main``, one command table, one error handler.

Each command group lives in its own module and declares its commands as :class:`Command`
rows (name, help, arguments, ``run: args -> exit code``, subcommands); :data:`COMMANDS`
is the table.
Outputs are aggregated (follower tiers, percentile bins, days) unless ``--per-agent`` is
given. Exit codes: 0 success; 2 bad input (one line on stderr: a usage error, a
``ValueError`` or ``OSError``, a missing optional dependency); 1 a bug (any other
exception, with its traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from .._util import apply_process_policy, cli_logging
from .._version import __version__
from ._attribute import ATTRIBUTE
from ._bluesky import BLUESKY
from ._common import Command, UsageError
from ._data import DATA
from ._deepset import DEEPSET
from ._paper import REPRODUCE
from ._scale import BATCH, STREAM
from ._scenarios import SCENARIOS
from ._study import DEMO, STUDY

__all__ = ["COMMANDS", "Command", "UsageError", "build_parser", "main", "run"]

#: ``jaxattr COMMAND``: every command, in help order.
COMMANDS = (DEMO, ATTRIBUTE, STUDY, REPRODUCE, BLUESKY, DATA, DEEPSET, BATCH, STREAM, SCENARIOS)


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxattr`` parser with every command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="jaxattr",
        description="Aumann-Shapley attribution of emergent macro phenomena "
        "to agents and time steps. Start with: jaxattr demo",
    )
    parser.add_argument("--version", action="version", version=f"jaxattr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
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
    sub = getattr(args, f"{args.command}_command", None)  # Command.register's dest
    return f"{args.command} {sub}" if sub else args.command


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
        print(
            f"{name}: internal error ({type(e).__name__}); this is a bug in jaxattr or in "
            "code it called: please report it with the traceback above",
            file=sys.stderr,
        )
        return 1


# ------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    """Run the command line; returns the exit code (see the module docstring).

    No re-exec and no environment to set: the command line owns its process, so it applies
    jaxattr's process policy (allocator, dispatch; ``jaxattr._util._process``) unconditionally.
    """
    apply_process_policy(force=True)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage and the error
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # a supervised child re-runs it
    with cli_logging():  # progress and messages (jaxattr.* loggers) on stderr
        return run(args)
