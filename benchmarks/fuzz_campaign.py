"""The fuzz campaign: every input boundary, counted; 0 crashes, 0 hangs, 0 silent changes.

Usage::

    nice -n 10 python benchmarks/fuzz_campaign.py --target all          # docs/reliability.md
    python benchmarks/fuzz_campaign.py --target panels --count 2000     # a quick look
    python benchmarks/fuzz_campaign.py --target jetstream --atheris-runs 20000

Targets (each a harness in ``benchmarks/fuzz_harness.py``):

- ``jetstream``: files of synthetic-world lines, ~30 % of them damaged (byte mutations,
  type confusion in every field, deep nesting, huge numbers, truncation, non-UTF-8); each
  file is built and compared with the build of its lines minus those a reference
  classifier rejects: same panel bit for bit, every rejection counted under its counter.
  Plus cut gzip files and profile snapshots.
- ``panels``: small Parquet panels with byte flips, truncation, foreign files and schema
  or header edits (some re-sealed with a correct header checksum), read whole, projected
  and streamed: refused with a clear error, or exactly the panel.
- ``models``: DeepSet files (signed and unsigned) with byte flips, truncation, header edits
  and size lies (most re-sealed with a recomputed checksum, as a careless or hostile
  writer would): refused, or exactly the model; never another model under the key.
- ``topics``, ``plans``: damaged topic tables and batch plans (JSON/TOML).
- ``cli``: damaged command lines for ``jaxattr attribute/bluesky build/batch/stream``
  through ``jaxattr._cli.main``: exit 0 or 2 with a message, no exception.
- with ``--atheris-runs``: the Jetstream line harness under atheris (coverage-guided,
  libFuzzer), in a child process; needs ``pip install 'jaxattr[fuzz]'``.

The campaign runs in resumable parts (``--part``): each part is a child process with its own
seed and a wall-clock limit, a per-input alarm (``--input-timeout``, a hang if exceeded),
and writes one JSON line to ``benchmarks/results/fuzz.jsonl``: the target, inputs tried,
accepted/refused, crashes, hangs, silent changes, seconds, machine. A part already in the
results file with the same target, seed and count is skipped, so a killed campaign resumes.
Inputs that break a property are saved under ``benchmarks/results/fuzz_found/`` (copy them
into ``tests/fuzz_corpus/`` as regression tests).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

RESULTS = os.path.join(HERE, "results", "fuzz.jsonl")
FOUND = os.path.join(HERE, "results", "fuzz_found")
# inputs per part: a part is ~1-5 minutes on one busy core
PART = {
    "jetstream": 100,
    "panels": 10_000,
    "models": 10_000,
    "topics": 10_000,
    "plans": 10_000,
    "cli": 300,
}
# the full campaign: >= 10^6 Jetstream lines (each file ~500 lines), 10^5 panels and models
DEFAULT_COUNT = {
    "jetstream": 5_000,
    "panels": 100_000,
    "models": 100_000,
    "topics": 20_000,
    "plans": 20_000,
    "cli": 1_500,
}


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def machine() -> dict:
    import jax
    import pyarrow

    return {
        "machine": f"{platform.platform()} {platform.processor() or platform.machine()}",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "jax": jax.__version__,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def _save(kind: str, target: str, seed: int, i: int, data: bytes, suffix: str, msg: str):
    os.makedirs(FOUND, exist_ok=True)
    base = os.path.join(FOUND, f"{target}-{kind}-s{seed}-{i}")
    with open(base + suffix, "wb") as f:
        f.write(data)
    with open(base + ".txt", "w") as f:
        f.write(msg + "\n")


# ----------------------------------------------------------------------------- one part
def run_part(target: str, seed: int, count: int, input_timeout: float) -> dict:
    """Run ``count`` inputs of one target in this process; returns the counts."""
    import fuzz_harness as fh

    import jaxattr
    from jaxattr import deepset

    rng = np.random.default_rng(seed)
    tmp = tempfile.mkdtemp(
        prefix=f"jaxattr-fuzz-{target}-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
    c = {"inputs": 0, "accepted": 0, "refused": 0, "crashes": 0, "hangs": 0, "silent": 0}
    extra = {"lines": 0, "mutated_lines": 0, "rejected_lines": 0} if target == "jetstream" else {}
    signal.signal(signal.SIGALRM, _alarm)
    t0 = time.perf_counter()
    state: dict = {}

    def one(i):  # returns (outcome dict, the input bytes, suffix) for saving
        if target == "jetstream":
            if "lines" not in state:
                state["lines"], state["topics"], state["profiles"] = fh.jetstream_seed(
                    seed % 7, 120, tmp=os.path.join(tmp, "seed")
                )
            lines = list(state["lines"])
            r = rng.random()
            if r < 0.05:
                out = fh.check_truncated_gzip(rng, lines, state["topics"], tmp)
                return out, out.pop("data"), ".jsonl.gz"
            if r < 0.08:
                import json as _json

                dids = sorted({_json.loads(x)["did"] for x in lines[:200]})
                return fh.check_profiles(rng, dids, tmp), b"", ".jsonl"
            mutated = [False] * len(lines)
            frac = float(rng.choice([0.01, 0.1, 0.3, 0.6]))
            for j in range(len(lines)):
                if rng.random() < frac:
                    lines[j] = fh.mutate_line(rng, lines[j])
                    mutated[j] = True
            mlb = int(rng.choice([1 << 16, 700, 1 << 23]))
            data = b"".join(lines)
            out = fh.check_jetstream_lines(lines, mutated, state["topics"], tmp, max_line_bytes=mlb)
            extra["lines"] += out["lines"]
            extra["mutated_lines"] += out["mutated"]
            extra["rejected_lines"] += sum(out["rejected"].values())
            return out, data, ".jsonl"
        if target == "panels":
            if i % 50 == 0 or "panel" not in state:
                p, opts = fh.panel_seed(rng)
                path = os.path.join(tmp, "seed.parquet")
                jaxattr.write_panel(p, path, **opts)
                with open(path, "rb") as f:
                    state["panel"], state["data"] = p, f.read()
            bad, kind, hdr = fh.corrupt_panel(rng, state["data"], state["panel"], tmp)
            path = os.path.join(tmp, "bad.parquet")
            with open(path, "wb") as f:
                f.write(bad)
            return fh.check_panel_file(rng, path, state["panel"], hdr), bad, ".parquet"
        if target == "models":
            if "models" not in state:
                state["models"] = fh.model_seeds()
                state["raw"] = {}
                for j, m in enumerate(state["models"]):
                    for signed in (False, True):
                        path = os.path.join(tmp, "seed.deepset")
                        deepset.save(path, m, key=fh.KEY if signed else None)
                        with open(path, "rb") as f:
                            state["raw"][j, signed] = f.read()
            j = int(rng.integers(0, len(state["models"])))
            signed = bool(rng.random() < 0.5)
            bad, resealed = fh.corrupt_model(rng, state["raw"][j, signed])
            path = os.path.join(tmp, "bad.deepset")
            with open(path, "wb") as f:
                f.write(bad)
            return (
                fh.check_model_file(path, state["models"][j], bad, resealed, signed),
                bad,
                ".deepset",
            )
        if target in ("topics", "plans"):
            out = (fh.check_topic_table if target == "topics" else fh.check_plan)(rng, tmp)
            return out, out.pop("data"), ".txt"
        if target == "cli":
            if "fx" not in state:
                os.makedirs(os.path.join(tmp, "fixture"))
                state["fx"] = fh.cli_fixture(os.path.join(tmp, "fixture"))
            run = os.path.join(tmp, "run")
            fx = fh.cli_fresh(state["fx"], run)
            os.chdir(run)  # relative --out paths land here, not in the repository
            argv = fh.cli_argv(rng, fx)
            with open(os.path.join(tmp, "argv.json"), "w") as f:
                json.dump(argv, f)
            return fh.check_cli(argv), json.dumps(argv).encode(), ".argv.json"
        raise ValueError(f"unknown target {target!r}")

    def latest():  # the input file a check was reading when it failed
        files = [
            os.path.join(tmp, n)
            for n in os.listdir(tmp)  # not the oracle's own
            if os.path.isfile(os.path.join(tmp, n)) and n not in ("b.jsonl", "ref.jsonl")
        ]
        if not files:
            return b"", ".bin"
        path = max(files, key=os.path.getmtime)
        with open(path, "rb") as f:
            return f.read(), "-" + os.path.basename(path)

    for i in range(count):
        signal.setitimer(signal.ITIMER_REAL, input_timeout)
        try:
            out, _, _ = one(i)
            c[out["outcome"]] += 1
        except Hang:
            c["hangs"] += 1
            _save("hang", target, seed, i, *latest(), f"input {i} exceeded {input_timeout}s")
        except fh.Violation as e:
            c["silent" if e.kind == "silent" else "crashes"] += 1
            _save(e.kind, target, seed, i, *latest(), str(e))
        except Exception as e:  # noqa: BLE001 - a harness-level escape is a crash too
            c["crashes"] += 1
            _save("crash", target, seed, i, *latest(), f"{type(e).__name__}: {e}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        c["inputs"] += 1
    shutil.rmtree(tmp, ignore_errors=True)
    return {**c, **extra, "seconds": round(time.perf_counter() - t0, 1)}


# ----------------------------------------------------------------------------- atheris
ATHERIS_CHILD = r"""
import os, sys, tempfile
import atheris
sys.path[:0] = [{root!r}, {here!r}]
with atheris.instrument_imports(include=["jaxattr.data"]):
    import jaxattr.data._jetstream
import fuzz_harness as fh
tmp = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
seed, topics, _ = fh.jetstream_seed(0, 30, tmp=os.path.join(tmp, "seed"))
seed = seed[:60]

def test_one(data):
    line = data if data.endswith(b"\n") else data + b"\n"
    fh.check_jetstream_lines(seed + [line], [False] * len(seed) + [True], topics, tmp,
                             max_line_bytes=4096)

atheris.Setup(sys.argv, test_one)
atheris.Fuzz()
"""


def run_atheris(runs: int, seed: int, timeout: float) -> dict:
    """The Jetstream line harness under atheris: ``runs`` executions, coverage-guided from
    a corpus of real lines; a crash or property failure stops it with the input saved."""
    import fuzz_harness as fh

    try:
        import atheris  # noqa: F401
    except ImportError:
        return {"skipped": "atheris is not installed (pip install 'jaxattr[fuzz]')"}
    work = tempfile.mkdtemp(prefix="jaxattr-atheris-")
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus)
    lines, _, _ = fh.jetstream_seed(0, 30, tmp=os.path.join(work, "seed"))
    for i, ln in enumerate(lines[:200]):
        with open(os.path.join(corpus, f"seed{i}"), "wb") as f:
            f.write(ln)
    script = os.path.join(work, "harness.py")
    with open(script, "w") as f:
        f.write(ATHERIS_CHILD.format(root=os.path.join(HERE, ".."), here=HERE))
    os.makedirs(FOUND, exist_ok=True)
    cmd = [
        sys.executable,
        script,
        f"-runs={runs}",
        f"-seed={seed + 1}",
        "-max_len=4096",
        f"-timeout={int(timeout)}",
        f"-artifact_prefix={FOUND}/atheris-",
        "-print_final_stats=1",
        corpus,
    ]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=max(600, runs))
    log = p.stdout + p.stderr
    stats = {}
    for ln in log.splitlines():
        if ln.startswith("stat::"):
            k, _, v = ln[6:].partition(":")
            if v.strip().isdigit():
                stats[k.strip()] = int(v)
    cov = re.findall(r"cov: (\d+)", log)
    crashed = p.returncode != 0
    tail = "\n".join(log.splitlines()[-15:])
    return {
        "inputs": stats.get("number_of_executed_units", runs if not crashed else None),
        "lines": 61 * stats.get("number_of_executed_units", 0),
        "crashes": int(crashed and "timeout" not in tail.lower()),
        "hangs": int(crashed and "timeout" in tail.lower()),
        "silent": 0,
        "corpus_units_added": stats.get("new_units_added"),
        "coverage_edges": int(cov[-1]) if cov else None,
        "returncode": p.returncode,
        "seconds": round(time.perf_counter() - t0, 1),
        "log_tail": tail if crashed else None,
    }


# ----------------------------------------------------------------------------- driver
def _done(target: str, seed: int, count: int) -> bool:
    if not os.path.exists(RESULTS):
        return False
    with open(RESULTS) as f:
        for ln in f:
            try:
                r = json.loads(ln)
            except ValueError:
                continue
            if (r.get("target"), r.get("seed"), r.get("count")) == (
                target,
                seed,
                count,
            ) and "inputs" in r:
                return True
    return False


def _append(rec: dict) -> None:
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(rec) + "\n")


def main(argv=None) -> int:
    global RESULTS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="all", choices=["all", *PART, "atheris"])
    ap.add_argument(
        "--count", type=int, default=None, help="inputs per target (default: the full run's)"
    )
    ap.add_argument("--seed", type=int, default=16, help="base seed (part p uses seed + p)")
    ap.add_argument(
        "--input-timeout",
        type=float,
        default=30.0,
        help="seconds one input may take before it counts as a hang",
    )
    ap.add_argument(
        "--atheris-runs",
        type=int,
        default=0,
        help="also run the coverage-guided Jetstream harness this many times",
    )
    ap.add_argument("--results", default=RESULTS, help="JSON-lines file (default: %(default)s)")
    ap.add_argument("--child", nargs=3, metavar=("TARGET", "SEED", "COUNT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    RESULTS = args.results
    if args.child:
        t, s, n = args.child
        print(json.dumps(run_part(t, int(s), int(n), args.input_timeout)))
        return 0
    cmd = "python benchmarks/fuzz_campaign.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    targets = (
        list(PART) if args.target == "all" else [] if args.target == "atheris" else [args.target]
    )
    totals = {}
    for target in targets:
        count = args.count or DEFAULT_COUNT[target]
        for part, lo in enumerate(range(0, count, PART[target])):
            n = min(PART[target], count - lo)
            seed = args.seed * 1000 + part
            if _done(target, seed, n):
                continue
            limit = max(120.0, n * args.input_timeout / 4)
            try:
                p = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--input-timeout",
                        str(args.input_timeout),
                        "--child",
                        target,
                        str(seed),
                        str(n),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=limit,
                )
                res = (
                    json.loads(p.stdout.strip().splitlines()[-1])
                    if p.returncode == 0
                    else {
                        "inputs": 0,
                        "crashes": 1,
                        "hangs": 0,
                        "silent": 0,
                        "error": p.stderr[-2000:],
                    }
                )
            except subprocess.TimeoutExpired:
                res = {
                    "inputs": 0,
                    "crashes": 0,
                    "hangs": 1,
                    "silent": 0,
                    "error": f"part exceeded {limit:.0f}s",
                }
            rec = {
                "bench": "fuzz",
                "target": target,
                "part": part,
                "seed": seed,
                "count": n,
                **res,
                **machine(),
                "command": cmd,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            _append(rec)
            print(json.dumps({k: rec[k] for k in rec if k not in ("command",)}), flush=True)
    if args.atheris_runs or args.target == "atheris":
        res = run_atheris(args.atheris_runs or 20_000, args.seed, args.input_timeout)
        rec = {
            "bench": "fuzz",
            "target": "jetstream-atheris",
            "seed": args.seed,
            "count": args.atheris_runs,
            **res,
            **machine(),
            "command": cmd,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        _append(rec)
        print(json.dumps(rec), flush=True)
    # totals over every part of this seed in the results file (this run and its resumes)
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            for ln in f:
                r = json.loads(ln)
                if r.get("bench") != "fuzz" or not (
                    r.get("seed", -1) // 1000 == args.seed
                    or (r["target"] == "jetstream-atheris" and r.get("seed") == args.seed)
                ):
                    continue
                t = totals.setdefault(
                    r["target"],
                    dict.fromkeys(
                        ["inputs", "lines", "accepted", "refused", "crashes", "hangs", "silent"], 0
                    ),
                )
                for k in t:
                    t[k] += int(r.get(k) or 0)
    print("\n| target | inputs | lines | accepted | refused | crashes | hangs | silent |")
    print("|---|---|---|---|---|---|---|---|")
    for t, v in totals.items():
        print(
            f"| {t} | {v['inputs']:,} | {v['lines']:,} | {v['accepted']:,} | "
            f"{v['refused']:,} | {v['crashes']} | {v['hangs']} | {v['silent']} |"
        )
    return int(any(v["crashes"] or v["hangs"] or v["silent"] for v in totals.values()))


if __name__ == "__main__":
    sys.exit(main())
