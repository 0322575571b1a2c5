"""Batch runs: atomic results, and a real SIGKILL mid-run resumes without recomputing."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jaxattr
from jaxattr.scale import batch_status, load_plan, run_batch
from jaxattr.scale._batch import parse_plan

PLAN = """
out = "ignored-by-tests"
[defaults]
steps = 4

[panels]
a = "a.parquet"
b = "b.parquet"

[[jobs]]
values = ["linear", "heat", "gini"]
baselines = ["zero", "mean"]

[[jobs]]
panels = ["b"]
values = "heat"
methods = "path"
"""


@pytest.fixture
def plan_file(tmp_path):
    rng = np.random.default_rng(3)
    for name, n in (("a", 300), ("b", 300)):
        z = rng.gamma(2.0, 1.0, size=(2, n, 3)).astype(np.float32)
        jaxattr.write_panel(jaxattr.Panel(z), tmp_path / f"{name}.parquet")
    path = tmp_path / "plan.toml"
    path.write_text(PLAN)
    return path


def _results(out):
    res = {}
    for f in sorted(os.listdir(out / "jobs")):
        with np.load(out / "jobs" / f) as d:
            res[f] = {k: d[k] for k in d.files}
    return res


def test_plan_expands_and_validates(plan_file):
    plan = load_plan(plan_file)
    assert len(plan.jobs) == 2 * 3 * 2 + 1
    assert plan.jobs[0].id == "a__linear__zero__auto__K4"
    with pytest.raises(ValueError, match=r"jobs\[0\]: panel 'c' is not in \[panels\]"):
        parse_plan({"panels": {"a": "a.parquet"}, "jobs": [{"panels": "c", "values": "heat"}]})
    with pytest.raises(ValueError, match=r"jobs\[0\]: 'values' is required"):
        parse_plan({"panels": {"a": "a.parquet"}, "jobs": [{}]})
    with pytest.raises(ValueError, match="unknown keys"):
        parse_plan({"panels": {"a": "x"}, "jobs": [{"values": "heat", "valuez": 1}]})


def test_run_then_rerun_skips(plan_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="jaxattr.scale")  # progress is logging records
    out = tmp_path / "out"
    rep = run_batch(plan_file, out, per_agent=True)
    assert len(rep["done"]) == 13 and not rep["failed"]
    first = _results(out)
    # per-agent phi is the engine's, and the job's spec travels with its result
    ref = jaxattr.attribute(jaxattr.read_panel(tmp_path / "a.parquet"), "gini", baseline="mean")
    np.testing.assert_array_equal(first["a__gini__mean__auto__K4.npz"]["phi"], np.asarray(ref.phi))
    spec = json.loads(str(first["b__heat__zero__path__K4.npz"]["spec"]))
    assert spec["method"] == "path" and spec["steps"] == 4
    mtimes = {f: os.stat(out / "jobs" / f).st_mtime_ns for f in first}
    rep = run_batch(plan_file, out, per_agent=True)
    assert rep["done"] == [] and len(rep["skipped"]) == 13
    assert {f: os.stat(out / "jobs" / f).st_mtime_ns for f in first} == mtimes
    assert "13/13 jobs already done, skipped" in caplog.text


def test_sigkill_midway_then_resume_equals_uninterrupted(plan_file, tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "jaxattr",
        "batch",
        str(plan_file),
        "--out",
        str(out),
        "--per-agent",
        "--throttle",
        "0.4",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    jobs = out / "jobs"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            done = [f for f in os.listdir(jobs) if f.endswith(".npz")] if jobs.exists() else []
            if len(done) >= 4:
                break
            if proc.poll() is not None:
                pytest.fail("runner finished before it could be killed")
            time.sleep(0.05)
        else:
            pytest.fail("runner made no progress in 90 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    finished = sorted(f for f in os.listdir(jobs) if f.endswith(".npz"))
    assert 4 <= len(finished) < 13
    for f in finished:  # every final file is complete and readable
        with np.load(jobs / f) as d:
            assert "spec" in d.files
    mtimes = {f: os.stat(jobs / f).st_mtime_ns for f in finished}
    st = batch_status(plan_file, out, per_agent=True)  # the dead runner holds nothing
    assert not st["running"] and sorted(st["done"]) == [f[:-4] for f in finished]

    res = subprocess.run(cmd[:-2], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    # progress and the summary are log records, which the command line shows on stderr
    assert f"{len(finished)}/13 jobs already done, skipped" in res.stderr
    assert f"{13 - len(finished)} computed" in res.stderr
    assert {f: os.stat(jobs / f).st_mtime_ns for f in finished} == mtimes  # not recomputed
    assert not [f for f in os.listdir(jobs) if f.endswith(".tmp")]

    clean = tmp_path / "clean"
    run_batch(plan_file, clean, per_agent=True, progress=False)
    a, b = _results(out), _results(clean)
    assert a.keys() == b.keys() and len(a) == 13
    for f in a:
        for k in a[f]:
            np.testing.assert_array_equal(a[f][k], b[f][k], err_msg=f"{f}:{k}")


def test_cli_errors(tmp_path):
    from jaxattr._cli import main

    assert main(["batch", str(tmp_path / "missing.toml")]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[panels]\na = 'a.parquet'\n")
    assert main(["batch", str(bad), "--out", str(tmp_path / "o")]) == 2
    good = tmp_path / "good.toml"
    good.write_text(PLAN)
    for extra in (
        ["--merge"],
        ["--executor", "dask"],
        ["--scheduler", "tcp://127.0.0.1:1"],
        ["--shard", "2/2"],
        ["--shard", "x"],
    ):
        assert main(["batch", str(good), "--out", str(tmp_path / "never"), *extra]) == 2


def test_claims_exclusive_stale_by_dead_pid_or_timeout(tmp_path):
    """A live claim refuses another runner; a claim of a dead pid on this host is taken
    over at once; another host's claim is taken over only after the timeout without a
    heartbeat; the holder's heartbeat keeps its claim fresh."""
    from jaxattr.scale._claims import HOST, Claims

    a, b = Claims(str(tmp_path), timeout=0.4), Claims(str(tmp_path), timeout=0.4)
    with a:
        assert a.acquire("j1") and not b.acquire("j1")
        time.sleep(0.6)  # a's heartbeat (every timeout/4) keeps j1 fresh
        assert not b.acquire("j1") and b.state("j1") == "live"
    assert not os.path.exists(a.path("j1"))  # leaving gives claims back
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    c = Claims(str(tmp_path), timeout=3600)
    with open(c.path("j2"), "w") as f:
        json.dump({"host": HOST, "pid": int(dead.stdout), "runner": "x"}, f)
    assert c.state("j2") == "stale" and c.acquire("j2")
    with open(c.path("j3"), "w") as f:  # another host: alive as far as we can tell
        json.dump({"host": "elsewhere", "pid": 1, "runner": "y"}, f)
    assert not c.acquire("j3")
    old = time.time() - 7200
    os.utime(c.path("j3"), (old, old))
    assert c.state("j3") == "stale" and c.acquire("j3")
    with open(c.path("j3")) as f:
        assert json.load(f)["pid"] == os.getpid()


def test_second_runner_leaves_held_jobs_to_their_holder(plan_file, tmp_path, capsys):
    """A runner on a folder where another live runner holds jobs neither fails (it was
    'internal error ... please report it') nor computes those jobs: it reports them."""
    from jaxattr._cli import main
    from jaxattr.scale._claims import Claims

    out = tmp_path / "held"
    plan = load_plan(plan_file)
    other = Claims(str(out), timeout=600)
    with other:
        for job in plan.jobs[:5]:
            assert other.acquire(job.id)
        rc = main(["batch", str(plan_file), "--out", str(out)])
        text = capsys.readouterr().err  # the runner's log records: stderr
        assert rc == 0, text
        assert "5/13 jobs held by other live runners" in text and "8 computed" in text
        assert main(["batch", str(plan_file), "--out", str(out), "--merge"]) == 1
        text = capsys.readouterr().out
        assert "8/13 done, 0 failed, 5 running" in text
        assert sorted(
            ln.split()[1] for ln in text.splitlines() if ln.startswith("running")
        ) == sorted(j.id for j in plan.jobs[:5])


def test_values_by_name_file_or_module_and_a_bad_panel_fails_its_jobs_only(tmp_path, monkeypatch):
    """A plan's values may be built-ins, model files or ``module:object`` (an unknown one
    refuses the plan before anything runs); a corrupted panel fails its own jobs and the
    rest of the plan still runs."""
    rng = np.random.default_rng(5)
    z = rng.gamma(2.0, 1.0, size=(2, 50, 3)).astype(np.float32)
    jaxattr.write_panel(jaxattr.Panel(z), tmp_path / "a.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "plan_values_mod.py").write_text(
        "import jax.numpy as jnp\n\ndef energy(z):\n    return jnp.mean(z ** 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[panels]\na = "a.parquet"\nbroken = "broken.parquet"\n'
        '[[jobs]]\nvalues = ["heat", "plan_values_mod:energy"]\nsteps = 8\n'
    )
    rep = run_batch(plan, tmp_path / "out", progress=False)
    assert sorted(rep["done"]) == [
        "a__heat__zero__auto__K8",
        "a__plan_values_mod-energy__zero__auto__K8",
    ]
    assert "not a readable Parquet file" in rep["failed"]["broken__heat__zero__auto__K8"]
    with np.load(tmp_path / "out" / "jobs" / "a__plan_values_mod-energy__zero__auto__K8.npz") as f:
        ref = jaxattr.attribute(z, lambda x: (x**2).mean(), steps=8)
        np.testing.assert_allclose(f["delta"], np.asarray(ref.delta), rtol=1e-6)
        spec = json.loads(str(f["spec"]))
    assert spec["value_fingerprint"].startswith("code:plan_values_mod:energy:")
    assert spec["panel_fingerprint"].startswith("panel:")
    again = run_batch(plan, tmp_path / "out", progress=False)
    assert len(again["skipped"]) == 2 and len(again["failed"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[panels]\na = "a.parquet"\n[[jobs]]\nvalues = ["heat", "nope"]\n')
    with pytest.raises(ValueError, match="'nope' is neither a built-in"):
        run_batch(bad, tmp_path / "out2", progress=False)


def _computed(stdout: str) -> list[str]:
    """Job ids a runner reports as computed (its progress lines)."""
    import re

    return [m.group(1) for m in re.finditer(r"^\[\d+/\d+\] (\S+): [\d.]+s, method", stdout, re.M)]


def test_shards_partition_the_plan_and_slurm_default(plan_file):
    from jaxattr.scale import parse_shard, shard_jobs
    from jaxattr.scale._batch import _panel_shape

    plan = load_plan(plan_file)
    shapes = {n: _panel_shape(s, plan.base_dir) for n, s in plan.panels.items()}
    for n in (1, 2, 3, 5, 13, 20):
        parts = [shard_jobs(plan.jobs, (i, n), shapes) for i in range(n)]
        ids = [j.id for p in parts for j in p]
        assert sorted(ids) == sorted(j.id for j in plan.jobs)  # each job in one shard
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert parts == [
            shard_jobs(list(reversed(plan.jobs)), (i, n), shapes) for i in range(n)
        ]  # deterministic whatever the order
    assert parse_shard("1/4") == (1, 4) and parse_shard(None, {}) is None
    env = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "3"}
    assert parse_shard(None, env) == (2, 3)
    for bad in ("4/4", "1/0", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


@pytest.mark.slow  # ~9 s (three runner processes); CI runs -m slow
def test_two_shards_and_an_unsharded_runner_finish_every_job_once(plan_file, tmp_path):
    """Three runner processes start together on one folder: --shard 0/2, --shard 1/2 and an
    unsharded one. Every job is computed by exactly one of them, and the results equal a
    single runner's."""
    out = tmp_path / "shared"
    base = [
        sys.executable,
        "-m",
        "jaxattr",
        "batch",
        str(plan_file),
        "--out",
        str(out),
        "--per-agent",
        "--throttle",
        "0.15",
    ]
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "", "SLURM_ARRAY_TASK_COUNT": ""}
    env = {k: v for k, v in env.items() if not k.startswith("SLURM_ARRAY")}
    procs = [
        subprocess.Popen(
            base + extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        for extra in (["--shard", "0/2"], ["--shard", "1/2"], [])
    ]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=180)[0])
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        assert p.returncode == 0, outs[-1] if outs else ""
    computed = [_computed(o) for o in outs]
    flat = [j for c in computed for j in c]
    plan = load_plan(plan_file)
    assert sorted(flat) == sorted(j.id for j in plan.jobs), outs  # each exactly once
    assert sum(map(bool, computed)) >= 2  # they did share the work
    st = batch_status(plan_file, out, per_agent=True)
    assert len(st["done"]) == 13 and not (st["missing"] or st["running"] or st["failed"])
    assert not os.listdir(out / "claims")
    clean = tmp_path / "clean"
    run_batch(plan_file, clean, per_agent=True, progress=False)
    a, b = _results(out), _results(clean)
    assert a.keys() == b.keys()
    for f in a:
        for k in a[f]:
            np.testing.assert_array_equal(a[f][k], b[f][k], err_msg=f"{f}:{k}")


def test_jobs_a_holder_gives_back_are_picked_up_in_the_same_run(plan_file, tmp_path):
    """A job held by another runner at first is not lost: a runner makes one more pass over
    such jobs at its end, and runs those whose holder has given them back (or died)."""
    import threading

    from jaxattr.scale._claims import Claims

    out = tmp_path / "o"
    plan = load_plan(plan_file)
    other = Claims(str(out), timeout=600)
    first = plan.jobs[0].id
    assert other.acquire(first)
    threading.Timer(1.0, other.release, args=(first,)).start()
    rep = run_batch(plan_file, out, progress=False, throttle=0.15)
    assert sorted(rep["done"]) == sorted(j.id for j in plan.jobs) and not rep["elsewhere"]


def test_groups_run_as_one_vmapped_program_equal_to_eager_calls(tmp_path, monkeypatch):
    """Jobs that share value, settings and panel shape run as one jax.vmap call over the
    stacked panels (4 groups of 5 panels: 4 calls), and the results equal one eager
    attribute() per job; the report counts compiles and jobs per second."""
    from jaxattr.scale import _batch

    stacks = []
    batched = _batch._attribute_stack

    def spy(stack, *args):
        stacks.append(stack.shape)
        return batched(stack, *args)

    monkeypatch.setattr(_batch, "_attribute_stack", spy)
    rng = np.random.default_rng(5)
    panels = {}
    for i in range(5):
        z = rng.lognormal(size=(3, 200, 3)).astype(np.float32)
        panels[f"p{i}"] = jaxattr.Panel(z)
        jaxattr.write_panel(panels[f"p{i}"], tmp_path / f"p{i}.parquet")
    lines = "\n".join(f'p{i} = "p{i}.parquet"' for i in range(5))
    (tmp_path / "plan.toml").write_text(
        f"[panels]\n{lines}\n\n[[jobs]]\n"
        'values = ["heat", "variance"]\n'
        'baselines = ["zero", "mean"]\n'
    )
    rep = run_batch(tmp_path / "plan.toml", tmp_path / "out", per_agent=True, progress=False)
    assert len(rep["done"]) == 20 and not rep["failed"]
    assert stacks == [(5, 3, 3, 200)] * 4
    assert rep["compiles"] >= 1 and rep["jobs_per_s"] > 0
    res = _results(tmp_path / "out")
    for i in (0, 4):
        for value in ("heat", "variance"):
            want = jaxattr.attribute(panels[f"p{i}"], value, baseline="mean")
            got = res[f"p{i}__{value}__mean__auto__K30.npz"]
            np.testing.assert_allclose(got["phi"], np.asarray(want.phi), rtol=2e-6, atol=1e-9)
            # delta = F(x) - F(baseline): with the mean baseline it can be a rounding-level
            # difference of two float32 values, so compare within a few ulp of |F|.
            scale = np.abs(np.asarray(want.value_features)).max()
            np.testing.assert_allclose(
                got["delta"],
                np.asarray(want.delta),
                rtol=2e-5,
                atol=8 * np.finfo(np.float32).eps * scale,
            )
