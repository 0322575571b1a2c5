"""``jaxattr deepset train``: fit a DeepSet to an indicator on a panel and save it."""

from __future__ import annotations

import argparse
import json
import os

from ._common import Command, UsageError, load_value, print_help, read_panel

__all__ = ["DEEPSET"]


def _train_arguments(t: argparse.ArgumentParser) -> None:
    from jaxattr.values import BUILTIN

    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "panel",
        nargs="?",
        metavar="PANEL",
        help="panel file (Parquet written by jaxattr, or a .npy (T, N, d) array)",
    )
    src.add_argument(
        "--synthetic",
        type=int,
        metavar="N",
        help="train on a synthetic heavy-tailed world of N agents instead",
    )
    t.add_argument("--days", type=int, default=14, help="time steps of --synthetic (14)")
    t.add_argument("--topic", default=None, help="topic of --synthetic (default: the first)")
    t.add_argument(
        "--indicator",
        default="variance",
        help=f"target indicator: {', '.join(BUILTIN)} or package.module:object (default variance)",
    )
    t.add_argument("--out", required=True, metavar="MODEL", help="output model file")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--n-sets", type=int, default=2000, help="training + validation sets")
    t.add_argument("--min-size", type=int, default=50)
    t.add_argument("--max-size", type=int, default=1000)
    t.add_argument(
        "--path-fraction",
        type=float,
        default=0.5,
        help="share of sets scaled toward the zero baseline (0.5)",
    )
    t.add_argument(
        "--grad-weight",
        type=float,
        default=1.0,
        help="gradient-matching weight (0 = fit values only)",
    )
    t.add_argument("--width", type=int, default=32)
    t.add_argument("--depth", type=int, default=2)
    t.add_argument("--latent", type=int, default=16)
    t.add_argument("--pooling", choices=("mean", "sum"), default="mean")
    t.add_argument("--activation", default="softplus")
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--patience", type=int, default=30)
    t.add_argument("--val-fraction", type=float, default=0.1)
    t.add_argument("--report", metavar="JSON", help="also write the training report here")
    t.add_argument("--quiet", action="store_true", help="no progress lines")


def _panel(args):
    """The training panel: a file (Parquet or a ``.npy`` (T, N, d) array) or --synthetic."""
    import numpy as np

    if args.synthetic is not None:
        from jaxattr.data import synthetic_world

        panels = synthetic_world(n_agents=args.synthetic, n_days=args.days, seed=args.seed).panels
        if args.topic is None:
            return next(iter(panels.values()))
        if args.topic not in panels:
            raise UsageError(f"synthetic world has no topic {args.topic!r}; topics: {list(panels)}")
        return panels[args.topic]
    if not os.path.exists(args.panel):
        raise UsageError(f"no such panel file {args.panel!r}")
    if args.panel.endswith(".npy"):
        from jaxattr import Panel

        return Panel(np.load(args.panel, allow_pickle=False))
    return read_panel(args.panel)


def _train(args) -> int:
    from jaxattr._util import atomic_path
    from jaxattr.deepset import DeepSetConfig, make_dataset, save, train

    panel = _panel(args)
    data = make_dataset(
        panel,
        load_value(args.indicator),
        n_sets=args.n_sets,
        min_size=args.min_size,
        max_size=args.max_size,
        path_fraction=args.path_fraction,
        with_grad=args.grad_weight > 0,
        seed=args.seed,
    )
    config = DeepSetConfig(
        d=data.x.shape[2],
        width=args.width,
        depth=args.depth,
        latent=args.latent,
        pooling=args.pooling,
        activation=args.activation,
        feature_names=data.feature_names,
    )
    model, report = train(
        data,
        config=config,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        val_fraction=args.val_fraction,
        grad_weight=args.grad_weight,
        seed=args.seed,
        progress=not args.quiet,
    )
    save(
        args.out,
        model,
        report=report,
        metadata={"source": args.panel or f"synthetic:{args.synthetic}x{args.days}"},
    )
    if args.report:
        with atomic_path(args.report) as tmp, open(tmp, "w") as f:
            json.dump(report.to_json(), f, indent=1)
    print(f"{report}\nsaved {args.out}")
    return 0


DEEPSET = Command(
    "deepset",
    "learned DeepSet value networks",
    run=print_help,
    description="Train DeepSet value networks (jaxattr.deepset).",
    subcommands=(
        Command(
            "train",
            "train a DeepSet to imitate an indicator on random agent subsets",
            _train_arguments,
            _train,
            description="Draw random agent subsets from a panel (or a synthetic world), "
            "compute the indicator on each, fit a DeepSet with optax, and save it to "
            "--out; then `jaxattr attribute PANEL --value MODEL` attributes through "
            "it.",
        ),
    ),
)
