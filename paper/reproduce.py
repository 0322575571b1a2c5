"""Reproduce the paper: run every stage, check every claim, write ``reproduction.md``.

    python paper/reproduce.py [--quick] [--out DIR] [--panels A.parquet ...] [--doc PATH]
                              [--stages STAGE ...]

Writes ``DIR/reproduction.md`` and ``DIR/results.json`` (every check's value and verdict
and the sweep: what ``tests/scripts/check_reproduction.py`` compares; with ``--doc
docs/reproduction.md`` also ``docs/reproduction.json``). Finished
stages are cached under ``DIR/stages``, so a re-run resumes. Exit code 0 after a complete
run (whatever the verdicts), 2 on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from paper import checks  # noqa: E402
from paper import config as C  # noqa: E402
from paper.experiments.shapley import machine  # noqa: E402
from paper.experiments.stages import STAGES, run_stages, to_json, write_atomic  # noqa: E402
from paper.render import Report, render  # noqa: E402

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "template.md")


def reproduce(
    out: str, cfg: C.Config, *, panels=None, stages=None, doc=None, stream=sys.stderr
) -> dict:
    """Run, check, render; returns ``{"report", "results", "checks", "seconds"}``."""
    import jax

    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    ran = run_stages(out, cfg, panels=panels, stages=stages, stream=stream)
    results = {k: v["result"] for k, v in ran["results"].items()}
    run = checks.Run(results, focus=cfg.focus)
    evaluated = checks.evaluate(run)
    wall = time.perf_counter() - t0
    stage_s = sum(v["seconds"] for v in ran["results"].values())
    m = machine()
    env = {
        "config": dataclasses.asdict(cfg),
        "synthetic": ran["synthetic"],
        "machine": f"{m['cpu'] or m['platform']}, {m['cpu_count']} cores",
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "wall": f"{wall:.0f} s this call, {stage_s:.0f} s of stage compute",
        "stages": {
            k: {"seconds": v["seconds"], "cached": v.get("cached", False)}
            for k, v in ran["results"].items()
        },
    }
    with open(TEMPLATE, encoding="utf-8") as f:
        template = f.read()
    rep = Report(results, evaluated, env, run.focus)
    text = render(template, rep)
    report = os.path.join(out, "reproduction.md")
    write_atomic(report, text)
    if doc is not None:
        write_atomic(doc, text)
    summary = {
        "config": env["config"],
        "checks": [
            {
                "id": c["id"],
                "artefact": c["artefact"],
                "verdict": c["verdict"],
                "timing": c.get("timing", False),
                "value": c["result"]["value"] if c["result"] else None,
            }
            for c in evaluated
        ],
        "sweep": {
            "points": [{k: p[k] for k in ("param", "value", "verdicts")} for p in rep.sweep_points]
        },
    }
    write_atomic(os.path.join(out, "results.json"), to_json(summary))
    if doc is not None:  # the committed numbers beside the committed report
        write_atomic(os.path.splitext(doc)[0] + ".json", to_json(summary))
    return {"report": report, "checks": evaluated, "seconds": wall, "results": results}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="paper-reproduce", help="output folder (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="small sizes everywhere (minutes)")
    p.add_argument(
        "--panels",
        nargs="+",
        default=None,
        metavar="PANEL.parquet",
        help="captured topic panels instead of the synthetic world",
    )
    p.add_argument(
        "--doc",
        default=None,
        metavar="PATH",
        help="also write the report here (the committed one: docs/reproduction.md)",
    )
    p.add_argument(
        "--stages",
        nargs="+",
        default=None,
        choices=STAGES,
        metavar="STAGE",
        help=f"run only these stages (default: all of {', '.join(STAGES)})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    cfg = C.Config.quick() if args.quick else C.Config.full()
    try:
        for path in args.panels or ():
            if not os.path.exists(path):
                raise FileNotFoundError(f"panel file {path!r} does not exist")
        res = reproduce(
            args.out,
            cfg,
            panels=args.panels,
            stages=args.stages,
            doc=args.doc,
            stream=None if args.quiet else sys.stderr,
        )
    except (ValueError, OSError) as e:
        print(f"paper/reproduce.py: error: {' '.join(str(e).split())}", file=sys.stderr)
        return C.EXIT_BAD_INPUT
    vs = [c["verdict"] for c in res["checks"]]
    print(
        f"{vs.count('agree')}/{len(vs)} claims agree, {vs.count('differ')} differ; report: "
        f"{os.path.abspath(res['report'])} ({res['seconds']:.0f} s)"
    )
    for c in res["checks"]:
        if c["verdict"] == "differ":
            print(f"- {c['id']} ({c['artefact']}): {c['result']['ours']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
