"""Build the wheel, then use it as a user would: each extra in a fresh virtual environment.

    python tests/scripts/check_wheel.py            # every check (a few minutes)
    python tests/scripts/check_wheel.py --only plot dataframes
    python tests/scripts/check_wheel.py --keep     # leave the temporary folder

Run by CI, not by the default test suite (it installs JAX once per environment). Steps:

1. ``pip wheel --no-deps . -w TMP``: the wheel must contain ``jaxattr/py.typed`` (so type
   checkers read the annotations), ``jaxattr/kernels/`` and the license file.
2. A fresh venv with ``pip install "WHEEL[plot]"`` runs the README's Python quickstart as
   written (the first ``python`` block after ``<!-- quickstart -->``), with that venv's
   python in an empty temporary folder, and checks the PNG it writes.
3. For each extra (plot, dataframes, mesa, cluster, capture) a fresh venv with only that
   extra uses the extra's feature: a feature that imports a package its extra does not
   carry fails here. The venvs share pip's cache, so JAX is downloaded once.

Exit status 0 when every check passed, 1 otherwise (each failure is printed with the
check's output).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Each snippet runs with the extra's venv python in an empty folder and prints "ok" last.
FEATURES = {
    "plot": r"""
import numpy as np, jaxattr
from jaxattr import values
z = np.random.default_rng(1).gamma(2.0, 1.0, size=(4, 50, 3)).astype(np.float32)
att = jaxattr.attribute(z, values.heat())  # a plain array attribution
for name in ("heatmap", "top_agents", "group_shares"):
    path = f"{name}.png"
    getattr(jaxattr.plot, name)(att, path)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n", name
print("ok")
""",
    "dataframes": r"""
import numpy as np, jaxattr
from jaxattr import values
z = np.random.default_rng(2).gamma(2.0, 1.0, size=(3, 6, 2)).astype(np.float32)
p = jaxattr.Panel(z, agent_ids=[f"a{i}" for i in range(6)], time_labels=[10, 11, 12])
att = jaxattr.attribute(p, values.variance())
phi = np.asarray(att.phi)
wide = att.to_pandas(layout="wide")
assert np.array_equal(wide.to_numpy(), phi) and list(wide.columns) == [f"a{i}" for i in range(6)]
long = att.to_polars()
assert np.array_equal(long["phi"].to_numpy(), phi.reshape(-1))
xa = att.to_xarray()
assert np.array_equal(xa["phi"].values, phi) and list(xa["time"].values) == [10, 11, 12]
assert list(xa["agent"].values) == [f"a{i}" for i in range(6)]
tab = att.to_arrow()
assert np.array_equal(tab.column("phi").to_numpy(), phi.reshape(-1))
print("ok")
""",
    "mesa": r"""
import mesa, numpy as np, jaxattr
from jaxattr import values
from jaxattr.data import from_mesa

class Saver(mesa.Agent):
    def __init__(self, model):
        super().__init__(model)
        self.wealth = 1.0
    def step(self):
        self.wealth += self.model.random.random()

class Economy(mesa.Model):
    def __init__(self, n=8, seed=0):
        super().__init__(seed=seed)
        Saver.create_agents(self, n)
        self.datacollector = mesa.DataCollector(agent_reporters={"Wealth": "wealth"})
        self.datacollector.collect(self)
    def step(self):
        self.agents.do("step")
        self.datacollector.collect(self)

m = Economy()
for _ in range(3):
    m.step()
p = from_mesa(m, features=["Wealth"])
assert p.shape == (4, 8, 1), p.shape
want = np.array(sorted((a.unique_id, a.wealth) for a in m.agents))[:, 1]
assert np.allclose(p.features[-1, :, 0], want)
att = jaxattr.attribute(p, values.gini_coefficient())
assert float(np.max(att.efficiency_error)) < 1e-4
print("ok")
""",
    "cluster": r"""
from distributed import Client, LocalCluster
from jaxattr.scale import DaskExecutor
with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                  dashboard_address=None) as cluster, Client(cluster) as client:
    with DaskExecutor(client) as ex:
        assert ex.map(pow, [(2, 3), (3, 2)]) == [8, 9]
print("ok")
""",
    "capture": r"""
import asyncio, glob, json, os
from websockets.asyncio.server import serve
from jaxattr.data._capture import capture_async
from jaxattr.data._jetstream import _json_loads
import orjson
assert _json_loads()[0] is orjson.loads  # the Jetstream build uses orjson

T0 = 20_240 * 86_400_000_000
events = [{"did": f"did:plc:u{i}", "time_us": T0 + i, "kind": "commit",
           "commit": {"rev": f"r{i}", "operation": "create",
                      "collection": "app.bsky.feed.like", "rkey": f"k{i}",
                      "record": {"subject": {"uri": "at://did:plc:x/a/b"}}}}
          for i in range(5)]

async def handler(ws):
    for ev in events:
        await ws.send(json.dumps(ev))
    await ws.wait_closed()

async def main():
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        return await asyncio.wait_for(capture_async(
            "out", url=f"ws://127.0.0.1:{port}/subscribe", max_events=5,
            reconnect_delay=0.05), 30)

stats = asyncio.run(main())
assert stats["written"] == 5, stats
lines = [json.loads(x) for f in glob.glob("out/*.jsonl") for x in open(f)]
assert sorted(e["time_us"] for e in lines) == [T0 + i for i in range(5)]
print("ok")
""",
}


def quickstart() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- quickstart -->\s*```python\n(.*?)```", text, re.S)
    if m is None:
        raise SystemExit("README.md: no ```python block right after <!-- quickstart -->")
    return m.group(1)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build_wheel(tmp: Path) -> Path:
    out = tmp / "dist"
    res = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(ROOT), "-w", str(out)]
    )
    if res.returncode != 0:
        raise SystemExit(f"pip wheel failed:\n{res.stdout}\n{res.stderr}")
    wheels = sorted(out.glob("jaxattr-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one jaxattr wheel in {out}, found {wheels}")
    return wheels[0]


def check_contents(wheel: Path) -> list[str]:
    names = set(zipfile.ZipFile(wheel).namelist())
    problems = []
    for need in ("jaxattr/py.typed", "jaxattr/__init__.py", "jaxattr/kernels/__init__.py"):
        if need not in names:
            problems.append(f"{wheel.name}: {need} is missing")
    if not any(n.endswith("/LICENSE") or n.endswith("licenses/LICENSE") for n in names):
        problems.append(f"{wheel.name}: the LICENSE file is missing")
    leaked = sorted(n for n in names if n.split("/")[0] in {"tests", "paper", "benchmarks"})
    if leaked:
        problems.append(f"{wheel.name}: ships repository folders: {leaked[:5]}")
    return problems


def fresh_venv(where: Path, requirement: str) -> tuple[Path | None, str]:
    """A new venv with ``requirement`` installed; (its python, pip's output on failure)."""
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    py = where / "bin" / "python"
    res = run([str(py), "-m", "pip", "install", "--quiet", requirement])
    if res.returncode != 0:
        return None, res.stdout + res.stderr
    return py, ""


def run_snippet(py: Path, code: str, tmp: Path, name: str) -> subprocess.CompletedProcess:
    cwd = tmp / f"run-{name}"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MPLBACKEND"] = "Agg"
    return run([str(py), "-c", code], cwd=cwd, env=env, timeout=600)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=sorted(FEATURES), help="these extras only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    extras = args.only or list(FEATURES)
    tmp = Path(tempfile.mkdtemp(prefix="jaxattr-wheel-"))
    failures: list[str] = []
    t0 = time.perf_counter()
    try:
        wheel = build_wheel(tmp)
        print(f"built {wheel.name}")
        for p in check_contents(wheel):
            failures.append(p)
            print(f"FAIL {p}")
        for extra in extras:
            t = time.perf_counter()
            py, err = fresh_venv(tmp / f"venv-{extra}", f"{wheel}[{extra}]")
            if py is None:
                failures.append(f"[{extra}]: pip install failed")
                print(f"FAIL [{extra}]: pip install failed\n{err[-3000:]}")
                continue
            checks = [(extra, FEATURES[extra])]
            if extra == "plot":
                checks.insert(0, ("README quickstart", quickstart()))
            for name, code in checks:
                res = run_snippet(py, code, tmp, re.sub(r"\W+", "-", name))
                lines = res.stdout.strip().splitlines()
                ok = res.returncode == 0 and bool(lines)
                if name == "README quickstart":
                    png = tmp / "run-README-quickstart" / "heatmap.png"
                    ok = ok and png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
                else:
                    ok = ok and lines[-1] == "ok"
                print(
                    f"{'ok  ' if ok else 'FAIL'} [{extra}] {name} ({time.perf_counter() - t:.0f} s)"
                )
                if not ok:
                    failures.append(f"[{extra}] {name}")
                    print(res.stdout[-2000:], res.stderr[-3000:], sep="\n")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failure(s) in {time.perf_counter() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
