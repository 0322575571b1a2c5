"""``jaxattr data from-oasis | from-mesa | from-long``: simulator outputs and long tables to
panel files (``jaxattr bluesky build`` is the Jetstream route)."""

from __future__ import annotations

import argparse
import json
import os

from ._common import Command, UsageError, positive_int

__all__ = ["DATA"]


def _out_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out",
        required=True,
        metavar="PANEL",
        help="output panel file (Parquet); with --topics, a directory of <topic>.parquet files",
    )
    p.add_argument("--quiet", action="store_true")


def _write(panels: dict, out: str, quiet: bool, write_identifiers: bool = False) -> int:
    from jaxattr import write_panel

    if len(panels) == 1 and None in panels:
        targets = {None: out}
    else:
        os.makedirs(out, exist_ok=True)
        targets = {name: os.path.join(out, f"{name}.parquet") for name in panels}
    for name, path in targets.items():
        write_panel(panels[name], path, write_identifiers=write_identifiers)
    if not quiet:
        for name, path in targets.items():
            p = panels[name]
            print(f"{path}: T={p.T} x N={p.N:,} x d={p.d} ({', '.join(p.feature_names)})")
    return 0


# ------------------------------------------------------------------------------ OASIS
def _oasis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("db", metavar="DB", help="the OASIS run's SQLite database")
    p.add_argument(
        "--step-width",
        metavar="W",
        help="integer clock: clock steps per panel step (default 1); datetime "
        "clock (required): seconds or e.g. 1h, 30min, 1d",
    )
    p.add_argument(
        "--topics",
        metavar="TOPICS",
        help="topic table (.toml/.json): one panel per topic into --out DIR",
    )
    p.add_argument("--report", metavar="FILE", help="write the counts report (JSON)")
    _out_argument(p)


def _step_width(text):
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text  # a duration like "1h": from_oasis parses or refuses it


def _oasis(args) -> int:
    from jaxattr.data import from_oasis

    if not os.path.exists(args.db):
        raise UsageError(f"database {args.db!r} does not exist")
    res = from_oasis(args.db, step_width=_step_width(args.step_width), topics=args.topics)
    panels = res if isinstance(res, dict) else {None: res}
    if args.report:
        from jaxattr._util import atomic_write

        with atomic_write(args.report, "w") as f:
            json.dump(next(iter(panels.values())).meta["oasis"], f, indent=1)
    return _write(panels, args.out, args.quiet)


# ------------------------------------------------------------------------------ Mesa
def _mesa_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model",
        metavar="MODULE:CLASS",
        help="the Mesa model class (or a factory), e.g. "
        "mesa.examples.basic.boltzmann_wealth_model.model:BoltzmannWealth",
    )
    p.add_argument("--steps", type=positive_int, required=True, help="model steps to run")
    p.add_argument(
        "--kwargs",
        default="{}",
        metavar="JSON",
        help='keyword arguments of the model, e.g. \'{"n": 200, "seed": 42}\'',
    )
    p.add_argument(
        "--features", nargs="+", metavar="REPORTER", help="agent reporters to keep (default: all)"
    )
    p.add_argument("--fill", type=float, help="value for agents absent at a step")
    _out_argument(p)


def _mesa(args) -> int:
    import importlib

    from jaxattr.data import from_mesa

    from ._common import cwd_importable

    mod, sep, name = args.model.partition(":")
    if not sep or not mod or not name:
        raise UsageError(f"model must be MODULE:CLASS, got {args.model!r}")
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as e:
        raise UsageError(f"--kwargs is not JSON: {e}") from None
    if not isinstance(kwargs, dict):
        raise UsageError(f"--kwargs must be a JSON object, got {args.kwargs!r}")
    cwd_importable()
    try:
        factory = getattr(importlib.import_module(mod), name)
    except AttributeError:
        raise UsageError(f"module {mod!r} has no {name!r}") from None
    model = factory(**kwargs)
    for _ in range(args.steps):
        model.step()
    return _write({None: from_mesa(model, args.features, fill=args.fill)}, args.out, args.quiet)


# ------------------------------------------------------------------------------ long
def _long_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", metavar="TABLE", help="a long table: .parquet, .csv or .feather")
    p.add_argument("--step", default="step", help="step column (default: %(default)s)")
    p.add_argument("--agent", default="agent", help="agent column (default: %(default)s)")
    p.add_argument(
        "--features",
        nargs="+",
        metavar="COLUMN",
        help="feature columns (default: every other numeric column)",
    )
    p.add_argument("--fill", type=float, help="value for missing (step, agent) pairs")
    p.add_argument(
        "--allow-step-gaps", action="store_true", help="integer steps need not be consecutive"
    )
    p.add_argument(
        "--write-identifiers",
        action="store_true",
        help="allow text agent ids in the output (privacy: off)",
    )
    _out_argument(p)


def _long(args) -> int:
    import pyarrow as pa

    from jaxattr import Panel

    path = args.table
    if not os.path.exists(path):
        raise UsageError(f"table {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        elif ext == ".csv":
            import pyarrow.csv as pcsv

            table = pcsv.read_csv(path)
        elif ext in (".feather", ".arrow"):
            import pyarrow.feather as pf

            table = pf.read_table(path)
        else:
            raise UsageError(
                f"table {path!r}: unknown format {ext!r}; use .parquet, .csv or .feather"
            )
    except pa.ArrowException as e:
        raise UsageError(f"table {path!r} cannot be read ({type(e).__name__}: {e})") from None
    panel = Panel.from_long(
        table,
        step=args.step,
        agent=args.agent,
        features=args.features,
        fill=args.fill,
        allow_step_gaps=args.allow_step_gaps,
    )
    return _write({None: panel}, args.out, args.quiet, args.write_identifiers)


DATA = Command(
    "data",
    "simulator outputs (OASIS, Mesa) and long tables -> panel files",
    description="Turn what simulation frameworks write into panels (see docs/data.md); "
    "Bluesky Jetstream data is `jaxattr bluesky build`.",
    subcommands=(
        Command(
            "from-oasis",
            "an OASIS run's SQLite database -> a panel",
            _oasis_arguments,
            _oasis,
            description="Features reach, activity, resonance per OASIS user and step "
            "(docs/data.md). Agent ids are the OASIS user_id values.",
        ),
        Command(
            "from-mesa",
            "run a Mesa model and write its agent reporters as a panel",
            _mesa_arguments,
            _mesa,
            description="Instantiate MODULE:CLASS with --kwargs, run --steps steps and "
            "pivot its DataCollector's agent reporters into a panel.",
        ),
        Command(
            "from-long",
            "a long (step, agent, features...) table -> a panel",
            _long_arguments,
            _long,
            description="One row per step and agent; steps and agents sorted by value; "
            "duplicates, gaps and non-numeric features are errors.",
        ),
    ),
)
