"""What every command group shares: the usage error, argument types, the panel and value
loaders, atomic text output, and the options defined once (``--value``, ``--baseline``,
``--method``, ``--steps``, ``--rule``, the multi-process group)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable

__all__ = [
    "Command",
    "UsageError",
    "add_attribution_options",
    "add_distributed_options",
    "add_value_option",
    "cwd_importable",
    "load_value",
    "positive_int",
    "print_help",
    "read_panel",
    "sizes",
    "value_help",
    "write_text",
]


class UsageError(ValueError):
    """Bad input from the command line: printed as one line, exit code 2."""


@dataclasses.dataclass(frozen=True)
class Command:
    """One row of the command table: ``jaxattr NAME`` (or a subcommand of one).

    Attributes:
        name, help: the command and its one-line help; description: the longer text of
            ``--help`` (default: help).
        arguments: ``parser -> None``, adds the command's own arguments.
        run: ``args -> exit code``; None for a group that only holds subcommands.
        subcommands: the group's commands (``jaxattr NAME SUB``).
        interrupted: what Ctrl-C leaves behind, said after "interrupted".
    """

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None
    run: Callable | None = None
    description: str | None = None
    subcommands: tuple = ()
    interrupted: str | None = None

    def register(self, subparsers) -> argparse.ArgumentParser:
        """Add this command (and its subcommands) to an argparse ``subparsers`` object."""
        p = subparsers.add_parser(
            self.name, help=self.help, description=self.description or self.help
        )
        self.arguments(p)
        if self.subcommands:
            names = ",".join(c.name for c in self.subcommands)
            sub = p.add_subparsers(
                dest=f"{self.name}_command", metavar=f"{{{names}}}", required=self.run is None
            )
            for c in self.subcommands:
                c.register(sub)
        p.set_defaults(cli_parser=p)
        if self.run is not None:
            p.set_defaults(func=self.run, interrupted=self.interrupted)
        return p


def print_help(args) -> int:
    """The ``run`` of a group called without a subcommand: its help, exit code 2."""
    args.cli_parser.print_help()
    return 2


# ------------------------------------------------------------------------------ types


def sizes(text: str):
    """``'100 1000 full'`` (or comma-separated) -> ``(100, 1000, 'full')``."""
    out = []
    for tok in text.replace(",", " ").split():
        if tok.lower() == "full":
            out.append("full")
            continue
        try:
            v = int(float(tok))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"sizes must be integers or 'full', got {tok!r}"
            ) from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"sizes must be >= 1, got {v}")
        out.append(v)
    if not out:
        raise argparse.ArgumentTypeError("sizes is empty")
    return tuple(out)


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


# ------------------------------------------------------------------------------ inputs


def read_panel(path: str):
    """The panel in ``path`` (Parquet written by ``jaxattr.write_panel``)."""
    from jaxattr import read_panel as read

    if not os.path.exists(path):
        raise UsageError(f"panel file {path!r} does not exist")
    return read(path)


def cwd_importable() -> None:
    """Make modules in the current directory importable for ``package.module:object``
    specs, as under ``python -m`` (appended to ``sys.path``: they never shadow installed
    packages)."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())


def load_value(spec: str):
    """``--value``: a built-in name, a saved model file or ``package.module:object``."""
    from jaxattr import values

    cwd_importable()
    return values.load(spec, what="--value")


def write_text(path: str, text: str) -> None:
    from jaxattr._util import atomic_write

    with atomic_write(path, "w", newline="") as f:
        f.write(text)


# ------------------------------------------------------------------------------ options


def value_help() -> str:
    """What ``--value`` accepts, read from the value registry."""
    from jaxattr import values

    return (
        f"value function: a built-in ({', '.join(values.BUILTIN)}), a saved value "
        "function file (a trained DeepSet) or package.module:object"
    )


def add_value_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--value", required=True, metavar="VALUE", help=value_help())


def add_attribution_options(p: argparse.ArgumentParser) -> None:
    """``--baseline``, ``--method``, ``--steps`` and ``--rule`` of every attribution run."""
    from jaxattr import kernels
    from jaxattr._methods import BASELINES, METHODS

    p.add_argument(
        "--baseline",
        default=None,
        choices=BASELINES,
        help="default: the value's own (zero; mean, equality, for gini_coefficient)",
    )
    p.add_argument("--method", default="auto", choices=METHODS)
    p.add_argument("--steps", type=positive_int, default=30, help="path points K")
    p.add_argument(
        "--rule",
        default="midpoint",
        choices=kernels.RULES,
        help="quadrature rule of a path method (default: %(default)s)",
    )


def add_distributed_options(parser: argparse.ArgumentParser) -> None:
    """The multi-process (``jax.distributed``) options of ``jaxattr attribute``."""
    g = parser.add_argument_group(
        "multi-process (jax.distributed)",
        "run one process per host (or per GPU); every process gets the same arguments but "
        "its own --process-id (or none of the three under SLURM / Open MPI, with "
        "--distributed), reads only its own row groups and writes its own shard",
    )
    g.add_argument(
        "--distributed",
        action="store_true",
        help="run as one process of a multi-process job; without --coordinator, "
        "JAX detects the cluster (SLURM, Open MPI) from the environment",
    )
    g.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="address of process 0's coordinator (implies --distributed)",
    )
    g.add_argument("--num-processes", type=positive_int, metavar="P", help="processes")
    g.add_argument("--process-id", type=int, metavar="I", help="this process, 0..P-1")
    g.add_argument(
        "--gather",
        action="store_true",
        help="gather all attributions and write one OUT/phi.parquet on process 0 "
        "(default: each process writes OUT/phi-I-of-P.parquet)",
    )
    g.add_argument(
        "--local-devices",
        type=positive_int,
        metavar="D",
        help="CPU only: devices per process (shards); GPUs are found as they are",
    )
    g.add_argument(
        "--init-timeout",
        type=positive_int,
        default=120,
        metavar="S",
        help="seconds to wait for every peer (and the heartbeat timeout of a peer "
        "that dies mid-run); then every process ends with exit code 2 and one line "
        "naming the peer (default 120)",
    )
