"""The ``jaxattr`` command line: ``demo``, ``attribute``, ``study`` (and plug-in commands).

Every subcommand is registered by an ``add_<name>_parser(subparsers)`` function that sets
``func`` (``args -> exit code``); bad input ends with exit code 2 and a one-line message.
Outputs are aggregated (follower tiers, percentile bins, days) unless ``--per-agent`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

__all__ = ["add_attribute_parser", "add_demo_parser", "add_study_parser", "main"]


class UsageError(ValueError):
    """Bad input from the command line: printed as one line, exit code 2."""


# ------------------------------------------------------------------------------ helpers


def _sizes(text: str):
    out = []
    for tok in text.replace(",", " ").split():
        if tok.lower() == "full":
            out.append("full")
            continue
        try:
            v = int(float(tok))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"sizes must be integers or 'full', got {tok!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"sizes must be >= 1, got {v}")
        out.append(v)
    if not out:
        raise argparse.ArgumentTypeError("sizes is empty")
    return tuple(out)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _read_panel(path: str):
    if not os.path.exists(path):
        raise UsageError(f"panel file {path!r} does not exist")
    try:
        from jaxattr import read_panel
    except ImportError:
        from jaxattr._io import read_panel
    return read_panel(path)


def _load_value(spec: str):
    """A built-in value name, or a path to a saved value function (a trained DeepSet)."""
    from jaxattr import values

    if os.path.exists(spec):
        try:
            from jaxattr.deepset import load_value
        except ImportError as e:
            raise UsageError(f"--value {spec!r} is a file, but loading saved value functions "
                             f"needs jaxattr.deepset.load_value ({e})") from None
        return load_value(spec)
    if spec in values.BUILTIN:
        return values.get(spec)
    raise UsageError(f"--value {spec!r} is neither a built-in value function "
                     f"({', '.join(sorted(values.BUILTIN))}) nor an existing file")


def _write_text(path: str, text: str) -> None:
    from jaxattr._atomic import atomic_write

    with atomic_write(path, "w", newline="") as f:
        f.write(text)


def _csv(columns, rows) -> str:
    from jaxattr.study import Table

    return Table("t", "", list(columns), [list(r) for r in rows]).to_csv()


# ------------------------------------------------------------------------------ demo


def add_demo_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``jaxattr demo``."""
    p = subparsers.add_parser(
        "demo", help="run the cross-scale study end to end on the synthetic world",
        description="Generate the synthetic full-scale world (1,671,587 agents x 14 days, "
        "5 topics), attribute the four value functions on the full panel and on subsets "
        "(4 protocols x n x 10 draws), print a summary and write tables (CSV, Markdown) and "
        "PNG figures. Re-running resumes from OUT/cache. The numbers describe a synthetic "
        "world, not Bluesky.")
    p.add_argument("--out", default="jaxattr-demo", help="output folder (default: %(default)s)")
    p.add_argument("--agents", type=_positive_int, default=None,
                   help="agents of the synthetic world (default: 1,671,587)")
    p.add_argument("--seed", type=int, default=0, help="seed of the world and the draws")
    p.add_argument("--sizes", type=_sizes, default=None,
                   help="subset sizes, e.g. '100 1000 full' (default: 100 1000 10000 100000 "
                   "full)")
    p.add_argument("--draws", type=_positive_int, default=10, help="subsets per cell")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_demo)
    return p


def _tally(checks) -> dict:
    """``{check name: (rows that hold, rows)}`` in first-seen order."""
    out = {}
    for c in checks:
        held, total = out.get(c["check"], (0, 0))
        out[c["check"]] = (held + bool(c["ok"]), total + 1)
    return out


def _demo(args) -> int:
    from jaxattr.study._demo import DEMO_SIZES, run_demo

    if args.agents is not None and args.agents < 2:
        raise UsageError(f"--agents must be >= 2, got {args.agents}")
    t0 = time.perf_counter()
    out = run_demo(args.out, agents=args.agents, seed=args.seed,
                   sizes=args.sizes or DEMO_SIZES, draws=args.draws,
                   figures=not args.no_figures, stream=None if args.quiet else sys.stderr)
    print(out["summary"].to_markdown())
    req = [c for c in out["checks"] if c["required"]]
    rep = [c for c in out["checks"] if not c["required"]]
    n_acc = req[0]["n"] if req else "?"
    print(f"**Acceptance checks** (required, at n = {n_acc})\n")
    for name, (held, total) in _tally(req).items():
        print(f"- {name}: {held}/{total} hold")
    bad = [c for c in req if not c["ok"]]
    if bad:
        print("\nNot holding:")
        for c in bad:
            print(f"- {c['check']} {c['topic']}/{c['value']} n={c['n']}: {c['detail']}")
    if rep:
        print("\nReported (not required; see tables/checks.md and docs/study.md): "
              + "; ".join(f"{name} within 2 SE in {held}/{total} cells"
                          for name, (held, total) in _tally(rep).items()))
    if out["reduced"]:
        print("\nDemo grid: n = 100, 1000, 10^4, 10^5, full for BIAS_visibility and RAND; the "
              "milder BIAS_topic_x_follow and BIAS_topic_top stop at 10^4 to fit 5 minutes "
              "(jaxattr study runs the full grid).")
    tm = out["timings"]
    print(f"\nwrote {len(out['paths'])} files under {os.path.abspath(args.out)} "
          f"(tables/, figures/, study.json); world {tm['world_s']:.1f}s, study "
          f"{tm['study_s']:.1f}s, figures {tm['figures_s']:.1f}s, total "
          f"{time.perf_counter() - t0:.1f}s")
    return 0


# ------------------------------------------------------------------------------ attribute


def add_attribute_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``jaxattr attribute``."""
    p = subparsers.add_parser(
        "attribute", help="attribute a value function over a panel file",
        description="Attribute a macro value function to the agents and days of a panel "
        "(Parquet, written by jaxattr.write_panel). Writes aggregated outputs: per-day totals "
        "and efficiency, follower-tier shares, follower-percentile-bin x day mass. Per-agent "
        "attributions (keyed by the integer agent index, never by identifier) only with "
        "--per-agent.")
    p.add_argument("panel", help="panel file (.parquet)")
    p.add_argument("--value", required=True,
                   help="linear, heat, variance, gini, or a saved value function file")
    p.add_argument("--baseline", default="zero", choices=("zero", "mean", "first"))
    p.add_argument("--method", default="auto", choices=("auto", "closed_form", "path"))
    p.add_argument("--steps", type=_positive_int, default=30, help="path points K")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--bins", type=_positive_int, default=100,
                   help="follower-percentile bins (default 100)")
    p.add_argument("--per-agent", action="store_true",
                   help="also write per-agent attributions keyed by integer index "
                   "(privacy: off by default)")
    try:
        from jaxattr.scale._cli import add_distributed_arguments
    except ImportError:
        pass
    else:
        add_distributed_arguments(p)
    p.set_defaults(func=_attribute)
    return p


def _attribute(args) -> int:
    if getattr(args, "coordinator", None):
        from jaxattr.scale._cli import run_distributed_attribute

        return run_distributed_attribute(args)
    import jaxattr
    from jaxattr.study import follower_tiers, followers_of, percentile_bins, tier_shares

    panel = _read_panel(args.panel)
    value = _load_value(args.value)
    t0 = time.perf_counter()
    att = jaxattr.attribute(panel, value, baseline=args.baseline, method=args.method,
                            steps=args.steps)
    phi = np.asarray(att.phi)
    dt = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    labels = [str(x) for x in panel.time_labels]
    rows = [[labels[t], float(att.value_features[t]), float(att.value_baseline[t]),
             float(att.delta[t]), float(phi[t].sum(dtype=np.float64)),
             float(att.efficiency_error[t])] for t in range(phi.shape[0])]
    written = [os.path.join(args.out, "by_day.csv")]
    _write_text(written[-1], _csv(["day", "f_features", "f_baseline", "delta", "sum_phi",
                                   "efficiency_error"], rows))
    followers = followers_of(panel)
    tiers = follower_tiers(followers)
    day, win = tier_shares(phi, tiers.labels, tiers.n_tiers)
    rows = [[labels[t], *[float(x) for x in day[t]]] for t in range(phi.shape[0])]
    rows.append(["window", *[float(x) for x in win]])
    written.append(os.path.join(args.out, "tier_shares.csv"))
    _write_text(written[-1], _csv(["day", *tiers.names], rows))
    bins = percentile_bins(followers, args.bins)
    mass = np.stack([np.bincount(bins, weights=phi[t], minlength=args.bins)
                     for t in range(phi.shape[0])], axis=1)
    rows = [[b, int(np.sum(bins == b)), *[float(x) for x in mass[b]]] for b in range(args.bins)]
    written.append(os.path.join(args.out, "percentile_bins.csv"))
    _write_text(written[-1], _csv(["bin", "agents", *labels], rows))
    if args.per_agent:
        by_agent = phi.sum(axis=0, dtype=np.float64)
        tot = by_agent.sum()
        share = by_agent / tot if tot != 0 else np.full_like(by_agent, np.nan)
        written.append(os.path.join(args.out, "per_agent.csv"))
        _write_text(written[-1], _csv(["agent_index", "tier", "phi_window", "share"],
                                      zip(range(by_agent.size), tiers.labels.tolist(),
                                          by_agent.tolist(), share.tolist(), strict=True)))
    t, n, d = panel.shape
    print(f"attributed {value.name!r} ({att.method}) over T={t} x N={n:,} x d={d} in "
          f"{dt:.2f}s; max efficiency error {att.max_efficiency_error():.2e}")
    print("tier shares over the window: " + ", ".join(
        f"{g} {s:.4f}" for g, s in zip(tiers.names, win, strict=True)))
    print("wrote " + ", ".join(written))
    return 0


# ------------------------------------------------------------------------------ study


def add_study_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``jaxattr study``."""
    from jaxattr.study import PROTOCOLS

    p = subparsers.add_parser(
        "study", help="run the cross-scale study on your panels (one file per topic)",
        description="Cross-scale study on panel files (one per topic; the topic name is the "
        "panel's meta 'topic' or the file name): tier shares per protocol and n, Theorem 1's "
        "rescaling residual, rank agreement; tables (CSV, Markdown) and figures under OUT. "
        "Finished cells are cached under OUT/cache and skipped on a re-run.")
    p.add_argument("panels", nargs="+", help="panel files (.parquet)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--values", nargs="+", default=["linear", "heat", "variance", "gini"],
                   help="value functions (built-in names or saved value files)")
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    p.add_argument("--sizes", type=_sizes, default=(100, 1_000, 10_000, 100_000, "full"),
                   help="subset sizes (default: '100 1000 10000 100000 full')")
    p.add_argument("--draws", type=_positive_int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pool-fraction", type=float, default=0.01,
                   help="BIAS_visibility pool fraction p (default 0.01)")
    p.add_argument("--tiers", type=float, nargs="+", default=[0.01, 0.09, 0.90],
                   help="tier fractions, top first (default 0.01 0.09 0.90)")
    p.add_argument("--baseline", default="zero", choices=("zero", "mean"))
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_study)
    return p


def _study(args) -> int:
    from jaxattr.study import StudyConfig, all_tables, run_study, write_tables

    panels = {}
    for path in args.panels:
        panel = _read_panel(path)
        name = panel.meta.get("topic") or os.path.splitext(os.path.basename(path))[0]
        if name in panels:
            raise UsageError(f"two panels have topic {name!r}; give each file its own topic")
        panels[name] = panel
    vals = tuple(v if not os.path.exists(v) else _load_value(v) for v in args.values)
    for v in vals:
        if isinstance(v, str):
            _load_value(v)
    names = ("top", "mid", "tail") if len(args.tiers) == 3 else tuple(
        f"tier{k}" for k in range(len(args.tiers)))
    cfg = StudyConfig(values=vals, protocols=tuple(args.protocols), sizes=args.sizes,
                      draws=args.draws, seed=args.seed, pool_fraction=args.pool_fraction,
                      tier_fractions=tuple(args.tiers), tier_names=names,
                      baseline=args.baseline)
    os.makedirs(args.out, exist_ok=True)
    res = run_study(panels, cfg, cache_dir=os.path.join(args.out, "cache"),
                    progress=not args.quiet)
    tables = all_tables(res)
    paths = write_tables(tables, os.path.join(args.out, "tables"))
    if not args.no_figures:
        from jaxattr.study._figures import save_figures

        paths += save_figures(res, os.path.join(args.out, "figures"))
    print(tables[0].to_markdown())
    print(tables[1].to_markdown())
    print(f"wrote {len(paths)} files under {os.path.abspath(args.out)}; "
          f"{res.timings['cached']} cells read from the cache")
    return 0


# ------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxattr`` parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="jaxattr", description="Aumann-Shapley attribution of emergent macro phenomena "
        "to agents and time steps. Start with: jaxattr demo")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_demo_parser(sub)
    add_attribute_parser(sub)
    add_study_parser(sub)
    try:
        from jaxattr.study._reproduce_cli import add_reproduce_parser
    except ImportError:
        pass
    else:
        add_reproduce_parser(sub)
    try:
        from jaxattr._cli_data import add_bluesky_parser
    except ImportError:
        pass
    else:
        add_bluesky_parser(sub)
    try:
        from jaxattr.deepset._cli import add_deepset_parser
    except ImportError:
        pass
    else:
        add_deepset_parser(sub)
    try:
        from jaxattr.scale._cli import add_batch_parser, add_stream_parser
    except ImportError:
        pass
    else:
        add_batch_parser(sub)
        add_stream_parser(sub)
    try:
        from jaxattr.scenarios._cli import add_scenarios_parser
    except ImportError:
        pass
    else:
        add_scenarios_parser(sub)
    return parser


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
    """Run the command line; returns the exit code (2 for bad input, with a one-line message)."""
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
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"jaxattr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"jaxattr {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jaxattr {args.command}: interrupted (finished cells are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
