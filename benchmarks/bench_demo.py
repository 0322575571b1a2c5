"""Stage timings of ``jaxattr demo``: world, full-panel attribution, subset cells, outputs.

Usage::

    python benchmarks/bench_demo.py [--agents 1671587] [--topic sports] [--draws 10]

For one topic of the synthetic world it times: world generation; the full-panel
attribution of each value function (first call = compile + run, then the warm run, both
with ``block_until_ready``); one subset cell (10 draws stacked into one call) per n for each
value function, compile and warm separately; and the whole demo on a fresh folder is timed
by ``jaxattr demo`` itself (see docs/study.md). Reference in the same run: one NumPy pass
over the panel buffer (``fm.sum()``, memory bound) and the time to gather the subsets.

Writes JSON lines (machine, backend, N, T, K, d, dtype, stage, seconds) to stdout and appends
them to ``benchmarks/results/demo_cpu.jsonl``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402

import jaxattr  # noqa: E402
from jaxattr import study  # noqa: E402
from jaxattr.data import synthetic_world  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "demo_cpu.jsonl")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1_671_587)
    ap.add_argument("--topic", default="sports")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--sizes", default="100 1000 10000 100000")
    args = ap.parse_args(argv)
    base = {
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "K": None,
        "dtype": "float32",
        "method": "closed_form",
    }
    rows = []

    def emit(stage, seconds, **kw):
        rec = dict(base, stage=stage, seconds=round(seconds, 4), **kw)
        rows.append(rec)
        print(json.dumps(rec), flush=True)

    world, dt = _timed(lambda: synthetic_world(n_agents=args.agents, topics=[args.topic]))
    panel = world.panels[args.topic]
    t, n_all, d = panel.shape
    emit("world (1 topic)", dt, N=n_all, T=t, d=d)
    _, dt = _timed(lambda: panel.feature_major.sum())
    emit("reference: numpy pass over panel", dt, N=n_all, T=t, d=d)
    f = study.followers_of(panel)
    pools = study.protocol_pools(f, study.engagement_of(panel))
    for v in ("linear", "heat", "variance", "gini"):
        _, cold = _timed(lambda v=v: jaxattr.attribute(panel, v).phi)
        _, warm = _timed(lambda v=v: jaxattr.attribute(panel, v).phi)
        emit(f"full panel {v} (compile+run)", cold, N=n_all, T=t, d=d)
        emit(f"full panel {v} (warm)", warm, N=n_all, T=t, d=d)
    for n in (int(x) for x in args.sizes.split()):
        subsets = study.draw_subsets(
            pools["BIAS_visibility"], n_all, n, draws=args.draws, key=("bench",)
        )
        stacked, dt = _timed(lambda s=subsets: study.stack_subsets(panel, s))
        emit(f"reference: gather {args.draws} subsets", dt, N=n, T=t * args.draws, d=d)
        for v in ("linear", "heat", "variance", "gini"):
            _, cold = _timed(
                lambda v=v, s=subsets, st=stacked: study.subset_attribution(
                    panel, s, v, stacked=st
                )[0]
            )
            _, warm = _timed(
                lambda v=v, s=subsets, st=stacked: study.subset_attribution(
                    panel, s, v, stacked=st
                )[0]
            )
            emit(f"subset cell {v} (compile+run)", cold, N=n, T=t * args.draws, d=d)
            emit(f"subset cell {v} (warm)", warm, N=n, T=t * args.draws, d=d)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    print(
        f"\nmachine: {base['machine']}, {base['cpu_count']} CPUs, backend "
        f"{base['backend']}, float32, closed forms (K not used)\n"
    )
    print("| stage | N | T | d | seconds |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} | {r['N']:,} | {r['T']} | {r['d']} | {r['seconds']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
