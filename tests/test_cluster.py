"""A batch plan on a Dask cluster on 127.0.0.1: a worker killed mid-run loses nothing and
duplicates nothing; every result equals the single-process run."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import jaxattr
from jaxattr.scale import DaskExecutor, batch_status, load_plan, run_batch

distributed = pytest.importorskip("distributed")

PLAN = """
[defaults]
steps = 4

[panels]
p0 = "p0.parquet"
p1 = "p1.parquet"
p2 = "p2.parquet"
p3 = "p3.parquet"
p4 = "p4.parquet"
p5 = "p5.parquet"
p6 = "p6.parquet"
p7 = "p7.parquet"
p8 = "p8.parquet"
p9 = "p9.parquet"

[[jobs]]
values = ["linear", "heat", "variance", "gini"]
baselines = ["zero"]
"""
# 40 jobs from 4 compiled programs (10 panels of one shape x 4 values): enough jobs to kill a
# worker mid-run, while every worker process compiles as little as possible


def _results(out):
    res = {}
    for f in sorted(os.listdir(out / "jobs")):
        with np.load(out / "jobs" / f) as d:
            res[f] = {k: d[k] for k in d.files}
    return res


# ~15 s (a local Dask cluster, a worker killed mid-run): -m slow, which CI runs; the default
# suite runs DaskExecutor on an in-process cluster through its docstring example
@pytest.mark.slow
def test_killed_worker_loses_and_duplicates_nothing(tmp_path):
    rng = np.random.default_rng(5)
    for i in range(10):
        z = rng.gamma(2.0, 1.0, size=(2, 64, 3)).astype(np.float32)
        jaxattr.write_panel(jaxattr.Panel(z), tmp_path / f"p{i}.parquet")
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(PLAN)
    plan = load_plan(plan_file)
    assert len(plan.jobs) == 40

    # one worker per device: two single-threaded worker processes, each one CPU device
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    killed = {}
    try:
        client = distributed.Client(cluster, set_as_default=False)
        jobs_dir = tmp_path / "out" / "jobs"

        def kill_one():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                n = (
                    len([f for f in os.listdir(jobs_dir) if f.endswith(".npz")])
                    if jobs_dir.exists()
                    else 0
                )
                busy = [w for w, keys in client.processing().items() if keys]
                if n >= 6 and busy:
                    pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                    killed["at"], killed["pid"] = n, pid
                    os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_one)
        killer.start()
        with DaskExecutor(client) as ex:
            rep = run_batch(
                plan_file,
                tmp_path / "out",
                per_agent=True,
                progress=False,
                executor=ex,
                throttle=0.15,
            )
        killer.join()
        client.close()
        # the command line's route to the same cluster
        from jaxattr._cli import main

        assert (
            main(
                [
                    "batch",
                    str(plan_file),
                    "--out",
                    str(tmp_path / "cli"),
                    "--quiet",
                    "--per-agent",
                    "--executor",
                    "dask",
                    "--scheduler",
                    cluster.scheduler_address,
                ]
            )
            == 0
        )
    finally:
        cluster.close()
    assert "pid" in killed and 6 <= killed["at"] < 40, killed  # killed mid-run
    assert not rep["failed"] and not rep["elsewhere"]
    assert len(rep["done"]) == len(set(rep["done"]))  # no job computed twice
    assert sorted(set(rep["done"]) | set(rep["skipped"])) == sorted(j.id for j in plan.jobs)
    st = batch_status(plan_file, tmp_path / "out", per_agent=True)
    assert len(st["done"]) == 40 and not (st["missing"] or st["stale"] or st["running"])

    run_batch(plan_file, tmp_path / "single", per_agent=True, progress=False)
    b = _results(tmp_path / "single")
    for a in (_results(tmp_path / "out"), _results(tmp_path / "cli")):
        assert a.keys() == b.keys() and len(a) == 40
        for f in a:
            for k in a[f]:
                np.testing.assert_array_equal(a[f][k], b[f][k], err_msg=f"{f}:{k}")
