"""DeepSet value network: imitate variance, then attribute through it at full scale.

1. Train a DeepSet on random subsets of a synthetic world (``jaxattr.data.synthetic_world``)
   to imitate ``variance``; report held-out R² on real (unscaled) subsets of a second world.
2. Attribute through it on the full world (default N = 1,671,587, T = 14) with the
   agent-streaming mean-field path kernel (Gauss–Legendre, K = 30): time (compile
   separately), peak RSS, efficiency error, Spearman of phi against the variance closed
   form on the same panel (the reference, timed in the same run).

Writes one JSON line to benchmarks/results/deepset_<host>.jsonl and prints a Markdown table.

    python benchmarks/bench_deepset.py                 # full scale (minutes on 2 cores)
    python benchmarks/bench_deepset.py --n 100000      # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import time

import jax
import numpy as np
from scipy.stats import spearmanr

import jaxattr
from jaxattr import deepset
from jaxattr.data import synthetic_world


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def divisor_near(n: int, target: int) -> int:
    best = n
    for k in range(1, int(n**0.5) + 1):
        if n % k == 0:
            for c in (k, n // k):
                if abs(c - target) < abs(best - target):
                    best = c
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_671_587)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--n-sets", type=int, default=1500)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--model", help="reuse a trained model file instead of training")
    ap.add_argument("--save", help="save the trained model here")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    rec = {
        "bench": "deepset",
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "backend": jax.default_backend(),
        "N": args.n,
        "T": args.days,
        "K": args.steps,
        "d": 3,
        "dtype": "float32",
        "rule": "gauss-legendre",
    }

    # -- 1. training -------------------------------------------------------------------
    topic = "election"
    if args.model:
        model = deepset.load(args.model)
        rec["train"] = deepset.read_header(args.model).get("report")
    else:
        train_panel = synthetic_world(n_agents=50_000, seed=1).panels[topic]
        data = deepset.make_dataset(
            train_panel,
            "variance",
            n_sets=args.n_sets,
            min_size=50,
            max_size=500,
            with_grad=True,
            seed=0,
        )
        cfg = deepset.DeepSetConfig(
            d=3,
            width=args.width,
            latent=8,
            readout_width=args.width,
            feature_names=data.feature_names,
        )
        model, report = deepset.train(
            data,
            config=cfg,
            epochs=args.epochs,
            batch_size=16,
            grad_weight=1.0,
            seed=0,
            log_every=5,
        )
        rec["train"] = {
            k: v for k, v in report.to_json().items() if k not in ("train_loss", "val_loss")
        }
        if args.save:
            deepset.save(args.save, model, report=report)
    held_panel = synthetic_world(n_agents=50_000, seed=2).panels[topic]
    real = deepset.make_dataset(
        held_panel, "variance", n_sets=500, min_size=50, max_size=500, path_fraction=0.0, seed=7
    )
    rec["heldout_r2_real_subsets"] = deepset.evaluate(model, real)["r2"]
    rec["n_params"] = model.n_params

    # -- 2. full-scale attribution ------------------------------------------------------
    t0 = time.perf_counter()
    panel = synthetic_world(n_agents=args.n, n_days=args.days, seed=0).panels[topic]
    rec["build_world_s"] = time.perf_counter() - t0
    v = deepset.DeepSetValue(model)
    chunk = divisor_near(args.n, 16_384)
    rec["agent_chunk"] = chunk
    kw = dict(rule="gauss-legendre", steps=args.steps, agent_chunk=chunk)
    # Compile time: the same program structure on a slice of 6 agent chunks (a full-size
    # warm-up would double a run of minutes); the full-size call is timed once.
    small = panel.features[:, : 6 * chunk]
    t0 = time.perf_counter()
    jaxattr.attribute(small, v, **kw).phi.block_until_ready()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jaxattr.attribute(small, v, **kw).phi.block_until_ready()
    rec["compile_s"] = max(first - (time.perf_counter() - t0), 0.0)
    t0 = time.perf_counter()
    att = jaxattr.attribute(panel, v, **kw)
    att.phi.block_until_ready()
    rec["attribute_s"] = time.perf_counter() - t0
    rec["efficiency_error_max"] = float(att.efficiency_error.max())
    rec["peak_rss_gib"] = peak_rss_gib()

    # midpoint vs Gauss–Legendre at the same K, on the 6-chunk slice
    gl = jaxattr.attribute(small, v, **kw)
    mid = jaxattr.attribute(small, v, rule="midpoint", steps=args.steps, agent_chunk=chunk)
    rec["efficiency_error_max_gl_slice"] = float(gl.efficiency_error.max())
    rec["efficiency_error_max_midpoint"] = float(mid.efficiency_error.max())
    rec["max_rel_gap_midpoint_vs_gl"] = float(
        np.abs(np.asarray(mid.phi) - np.asarray(gl.phi)).max() / np.abs(np.asarray(gl.phi)).max()
    )

    # reference: variance closed form on the same panel
    ref = jaxattr.attribute(panel, "variance")
    ref.phi.block_until_ready()
    t0 = time.perf_counter()
    ref = jaxattr.attribute(panel, "variance")
    ref.phi.block_until_ready()
    rec["reference_closed_form_s"] = time.perf_counter() - t0
    phi, rphi = np.asarray(att.phi), np.asarray(ref.phi)
    rec["spearman_vs_closed_form_min_over_t"] = float(
        min(spearmanr(phi[t], rphi[t]).statistic for t in range(phi.shape[0]))
    )
    rec["delta_rel_err_max"] = float(
        np.max(
            np.abs(np.asarray(att.delta) - np.asarray(ref.delta)) / np.abs(np.asarray(ref.delta))
        )
    )
    rec["peak_rss_gib"] = peak_rss_gib()

    out = args.out or os.path.join(
        os.path.dirname(__file__), "results", f"deepset_{socket.gethostname()}.jsonl"
    )
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec, indent=1))
    print(
        "\n| N | T | K | d | dtype | attribute (s) | compile (s) | closed-form ref (s) | "
        "eff. err GL | eff. err midpoint | Spearman vs closed form | held-out R² | peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.n:,} | {args.days} | {args.steps} | 3 | float32 | {rec['attribute_s']:.1f} "
        f"| {rec['compile_s']:.1f} | {rec['reference_closed_form_s']:.2f} "
        f"| {rec['efficiency_error_max']:.1e} | {rec['efficiency_error_max_midpoint']:.1e} "
        f"| {rec['spearman_vs_closed_form_min_over_t']:.4f} "
        f"| {rec['heldout_r2_real_subsets']:.4f} | {rec['peak_rss_gib']:.1f} GiB |"
    )


if __name__ == "__main__":
    main()
