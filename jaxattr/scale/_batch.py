"""Batch runs: a plan of many (panel × value function × baseline × method) jobs, resumable.

Each finished job is one ``.npz`` file written atomically (temp file, fsync, rename), named
by the job and holding the job's own specification. A run that is killed (even by SIGKILL)
leaves only complete result files; the next run skips every job whose file is there with
the same specification, removes stale temporary files, and computes the rest. One runner
per output folder at a time (an ``flock`` on ``.batch.lock``, released by the kernel when its
owner dies, so a killed runner's lock never blocks the next run).

A job's specification holds what its numbers depend on, by *content*, not by name: the
panel's fingerprint (a panel file's verified header checksum, which covers a CRC-32 of every
column chunk; the SHA-256 of the bytes for other files; the parameters of a synthetic
panel) and the value function's (a built-in's name, a model file's checksum, the SHA-256 of
a ``module:object``'s source file). A panel file replaced under the same name, or a model
re-trained under the same name, is recomputed.

Plan file (TOML, or JSON with the same structure); see ``docs/scale.md``::

    out = "batch-out"                 # optional; the command line's --out wins
    per_agent = false                 # also store phi (T, N) by integer agent index

    [defaults]                        # any job key, applied where a job omits it
    steps = 30

    [panels]                          # name = path of a panel file, or a synthetic topic
    ai = "panels/ai.parquet"
    demo = { synthetic = "final", n_agents = 20000, n_days = 14, seed = 0 }

    [[jobs]]                          # the product of the lists below
    panels = ["ai", "demo"]           # default: every panel
    values = ["linear", "heat", "variance", "gini"]   # or model files, package.module:object
    baselines = ["zero", "mean"]
    methods = ["auto"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import io
import itertools
import json
import os
import re
import sys
import time
from typing import Any

import numpy as np

from jaxattr._atomic import atomic_write
from jaxattr._validate import read_json_or_toml

__all__ = ["BatchJob", "FolderBusyError", "load_plan", "run_batch"]

_JOB_KEYS = {"panels", "values", "baselines", "methods", "steps", "rules"}
_MAX_JOBS = 100_000


class FolderBusyError(BlockingIOError):
    """Another live runner holds the output folder: a condition of the environment (wait, or
    use another folder), so the command line reports it in one line with exit code 2."""


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """One job of a plan: attribute ``value`` over panel ``panel`` with these settings."""

    panel: str
    value: str
    baseline: str
    method: str
    steps: int
    rule: str

    @property
    def id(self) -> str:
        raw = f"{self.panel}__{self.value}__{self.baseline}__{self.method}__K{self.steps}"
        if self.rule != "midpoint":
            raw += f"__{self.rule}"
        return re.sub(r"[^A-Za-z0-9_.=-]+", "-", raw)

    def spec(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Plan:
    """A parsed plan: panel sources by name, the expanded jobs, and output options."""

    panels: dict[str, Any]
    jobs: list[BatchJob]
    out: str | None
    per_agent: bool
    base_dir: str
    values: dict[str, Any] = dataclasses.field(default_factory=dict)  # spec -> value object
    # spec -> content identity of the value (None: not identifiable, never reused)
    value_fingerprints: dict[str, str | None] = dataclasses.field(default_factory=dict)


def _as_list(x, key: str, where: str) -> list:
    if isinstance(x, (str, int, float)):
        return [x]
    if not isinstance(x, list) or not x:
        raise ValueError(f"plan {where}: {key!r} must be a value or a non-empty list, got {x!r}")
    return x


def load_plan(path) -> Plan:
    """Read and expand a plan file (``.toml`` or ``.json``).

    Raises:
        FileNotFoundError: no such plan file.
        ValueError: a malformed plan, naming the entry and the key at fault.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"plan file {path!r} does not exist")
    doc = read_json_or_toml(path, "plan")
    return parse_plan(doc, base_dir=os.path.dirname(os.path.abspath(path)))


def parse_plan(doc: dict, base_dir: str = ".") -> Plan:
    """Expand a plan document (the dict of a plan file) into jobs; see the module docstring."""
    if not isinstance(doc, dict):
        raise ValueError("a plan must be a table/object at the top level")
    unknown = set(doc) - {"out", "per_agent", "defaults", "panels", "jobs"}
    if unknown:
        raise ValueError(f"plan: unknown top-level keys {sorted(unknown)}; allowed: out, "
                         "per_agent, defaults, panels, jobs")
    panels = doc.get("panels")
    if not isinstance(panels, dict) or not panels:
        raise ValueError("plan: [panels] must name at least one panel (name = path, or "
                         "name = { synthetic = TOPIC, n_agents = ..., n_days = ..., seed = ... })")
    for name, src in panels.items():
        if isinstance(src, dict):
            if "synthetic" not in src:
                raise ValueError(f"plan: panel {name!r} is a table without a 'synthetic' key")
            bad = set(src) - {"synthetic", "n_agents", "n_days", "seed"}
            if bad:
                raise ValueError(f"plan: panel {name!r} has unknown keys {sorted(bad)}")
            if not isinstance(src["synthetic"], str):
                raise ValueError(f"plan: panel {name!r}: synthetic must be a topic name, got "
                                 f"{src['synthetic']!r}")
            for k in ("n_agents", "n_days", "seed"):
                v = src.get(k, 1)
                if isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "seed" else 1):
                    raise ValueError(f"plan: panel {name!r}: {k} must be an integer >= "
                                     f"{0 if k == 'seed' else 1}, got {v!r}")
        elif not isinstance(src, str):
            raise ValueError(f"plan: panel {name!r} must be a path or a synthetic table, got "
                             f"{src!r}")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ValueError(f"plan: [defaults] must be a table, got {defaults!r}")
    out = doc.get("out")
    if out is not None and not isinstance(out, str):
        raise ValueError(f"plan: out must be a folder path, got {out!r}")
    per_agent = doc.get("per_agent", False)
    if not isinstance(per_agent, bool):
        raise ValueError(f"plan: per_agent must be true or false, got {per_agent!r}")
    jobs_doc = doc.get("jobs")
    if not isinstance(jobs_doc, list) or not jobs_doc:
        raise ValueError("plan: needs at least one [[jobs]] entry")
    jobs: list[BatchJob] = []
    seen: set[BatchJob] = set()
    values: dict[str, Any] = {}
    fingerprints: dict[str, str | None] = {}
    for j, entry in enumerate(jobs_doc):
        where = f"jobs[{j}]"
        if not isinstance(entry, dict):
            raise ValueError(f"plan {where}: must be a table")
        e = {**defaults, **entry}
        bad = set(e) - _JOB_KEYS - {"panel", "value", "baseline", "method", "rule"}
        if bad:
            raise ValueError(f"plan {where}: unknown keys {sorted(bad)}; allowed: "
                             f"{sorted(_JOB_KEYS)}")
        if e.get("values", e.get("value")) is None:
            raise ValueError(f"plan {where}: 'values' is required (e.g. values = [\"heat\"])")
        pick = {k: _as_list(e.get(k, e.get(k[:-1], d)), k, where) for k, d in (
            ("panels", list(panels)), ("values", None), ("baselines", "zero"),
            ("methods", "auto"), ("steps", 30), ("rules", "midpoint"))}
        for k, xs in pick.items():
            if k != "steps" and not all(isinstance(x, str) and x for x in xs):
                raise ValueError(f"plan {where}: {k} must be non-empty strings, got {xs!r}")
        n_combos = 1
        for xs in pick.values():
            n_combos *= len(xs)
        if len(jobs) + n_combos > _MAX_JOBS:
            raise ValueError(f"plan {where}: the plan expands to more than {_MAX_JOBS:,} jobs; "
                             "split it into several plans")
        for p in pick["panels"]:
            if p not in panels:
                raise ValueError(f"plan {where}: panel {p!r} is not in [panels] "
                                 f"({sorted(panels)})")
        for v in pick["values"]:
            if str(v) not in values:
                values[str(v)], fingerprints[str(v)] = _load_value(str(v), base_dir, where)
        for k in pick["steps"]:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"plan {where}: steps must be integers >= 1, got {k!r}")
        for combo in itertools.product(*pick.values()):
            p, v, b, m, k, r = combo
            job = BatchJob(panel=str(p), value=str(v), baseline=str(b), method=str(m),
                           steps=int(k), rule=str(r))
            if job not in seen:
                seen.add(job)
                jobs.append(job)
    ids = [job.id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("plan: two jobs map to the same file name; rename panels so their "
                         "names differ in letters, digits, '_', '.', '=' or '-'")
    return Plan(panels=panels, jobs=jobs, out=out, per_agent=per_agent, base_dir=base_dir,
                values=values, value_fingerprints=fingerprints)


def _load_value(spec: str, base_dir: str, where: str):
    """A plan's value spec, as ``--value`` takes it (model files are relative to the plan),
    and the value's content identity: ``(value, fingerprint or None)``."""
    from jaxattr.values import BUILTIN, load

    path = os.path.join(base_dir, spec)  # an absolute spec stays itself
    if spec not in BUILTIN and ":" not in spec and os.path.isfile(path):
        spec = path
    value = load(spec, what=f"plan {where}: value")
    return value, _value_fingerprint(spec, value)


def _value_fingerprint(spec: str, value) -> str | None:
    """What a value *is*: a built-in's name, a model file's verified checksum, the SHA-256 of
    a ``module:object``'s source file (a change in a module *it* imports is not seen), the
    content digest of a value object that has one; None when nothing identifies it."""
    from jaxattr.values import BUILTIN

    if spec in BUILTIN:
        return "builtin:" + spec
    if os.path.isfile(spec):
        from jaxattr.deepset import file_checksum

        return "model:" + file_checksum(spec)
    mod = sys.modules.get(spec.partition(":")[0])
    try:
        import inspect

        src = inspect.getsourcefile(mod) if mod is not None else None
        if src:
            return f"code:{spec}:{_sha256_file(src)}"
    except (TypeError, OSError):
        pass
    digest = getattr(value, "digest", None)
    return f"digest:{digest}" if isinstance(digest, str) and digest else None


# ------------------------------------------------------------------------------ running


@contextlib.contextmanager
def _lock(out: str):
    """One runner per output folder.

    Where ``fcntl`` exists the lock is an ``flock`` on ``.batch.lock``: the kernel drops it
    when its owner dies, however it dies, so a stale file (a killed runner, a reused pid,
    another host's pid) never blocks a run. Elsewhere the file's pid is checked instead.
    """
    path = os.path.join(out, ".batch.lock")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        fcntl = None
    if fcntl is None:  # pragma: no cover
        with _pid_lock(path, out):
            yield
        return
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise FolderBusyError(f"another batch runner (pid {pid}) is using {out!r}; wait "
                                  f"for it to finish or use another --out") from None
        try:  # the file may have been removed and re-created by a runner that just ended
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        os.close(fd)  # releases the flock


@contextlib.contextmanager
def _pid_lock(path: str, out: str):  # pragma: no cover - the non-POSIX fallback
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            with open(path) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and _alive(pid):
            raise FolderBusyError(f"another batch runner (pid {pid}) is using {out!r}; wait "
                                  f"for it or remove {path!r} if it is gone") from None
        os.remove(path)  # a killed runner's lock
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _load_panel(src, base_dir: str):
    if isinstance(src, str):
        from jaxattr._io import read_panel

        return read_panel(_panel_path(src, base_dir))
    from jaxattr.data import synthetic_world

    w = synthetic_world(int(src.get("n_agents", 20_000)), int(src.get("n_days", 14)),
                        topics=[src["synthetic"]], seed=int(src.get("seed", 0)))
    return w.panels[src["synthetic"]]


def _panel_path(src: str, base_dir: str) -> str:
    return src if os.path.isabs(src) else os.path.join(base_dir, src)


def _panel_fingerprint(src, base_dir: str) -> str | None:
    """Content identity of a panel source, or None when it cannot be read (the job then
    runs, and reports the reading error)."""
    if not isinstance(src, str):
        return "synthetic:" + json.dumps(src, sort_keys=True)
    path = _panel_path(src, base_dir)
    try:
        from jaxattr._io import open_panel_file

        _, header = open_panel_file(path)
        if isinstance(header.get("checksum"), str):  # covers every column chunk's CRC-32
            return "panel:" + header["checksum"]
    except (OSError, ValueError):
        pass
    try:
        return "sha256:" + _sha256_file(path)
    except OSError:
        return None


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_spec(path: str) -> dict | None:
    try:
        with np.load(path) as f:
            return json.loads(str(f["spec"]))
    except (OSError, ValueError, KeyError):
        return None


def _run_job(job: BatchJob, panel, value, per_agent: bool) -> dict[str, np.ndarray]:
    import jaxattr

    att = jaxattr.attribute(panel, value, baseline=job.baseline, method=job.method,
                            steps=job.steps, rule=job.rule)
    phi = np.asarray(att.phi)
    res = {"delta": np.asarray(att.delta), "sum_phi": phi.sum(axis=1, dtype=np.float64),
           "efficiency_error": np.asarray(att.efficiency_error),
           "value_features": np.asarray(att.value_features),
           "value_baseline": np.asarray(att.value_baseline), "method": np.asarray(att.method)}
    followers = panel.agents.get("followers") if hasattr(panel, "agents") else None
    if followers is not None:
        from jaxattr.study import percentile_bins

        bins = percentile_bins(followers, 100)
        res["percentile_bin_mass"] = np.stack(
            [np.bincount(bins, weights=phi[t], minlength=100) for t in range(phi.shape[0])])
    if per_agent:
        res["phi"] = phi
    return res


def run_batch(plan, out=None, *, per_agent: bool | None = None, progress: bool = True,
              throttle: float = 0.0, stream=None) -> dict[str, Any]:
    """Run every job of a plan that is not already done; resumable after any kill.

    Args:
        plan: a plan file path, or a :class:`Plan` from :func:`load_plan`.
        out: output folder (default: the plan's ``out``); results go to
            ``out/jobs/<job id>.npz`` and a summary to ``out/manifest.json``.
        per_agent: store phi ``(T, N)`` keyed by integer agent index (default: the plan's
            ``per_agent``, off); otherwise only aggregates (per-day totals, delta,
            efficiency, follower-percentile-bin x day mass when the panel has followers).
        progress: print one line per job.
        throttle: seconds to sleep after each computed job (demos and the kill test).
        stream: where progress goes (default ``sys.stdout``).

    Returns:
        ``{"done": [...], "skipped": [...], "failed": {id: message}, "out": out}``.

    Raises:
        ValueError: no output folder; FolderBusyError (an OSError): another live runner
            holds the folder.
    """
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    if out is None and plan.out:  # a plan's own 'out' is relative to the plan file
        out = os.path.join(plan.base_dir, plan.out)
    if not out:
        raise ValueError("run_batch: no output folder: pass out= (or --out) or set 'out' in "
                         "the plan")
    out = os.fspath(out)
    per_agent = plan.per_agent if per_agent is None else per_agent
    stream = stream or sys.stdout
    jobs_dir = os.path.join(out, "jobs")
    os.makedirs(jobs_dir, exist_ok=True)
    report: dict[str, Any] = {"done": [], "skipped": [], "failed": {}, "out": out}
    say = (lambda s: print(s, file=stream, flush=True)) if progress else (lambda s: None)
    with _lock(out):
        stale = glob.glob(os.path.join(jobs_dir, ".*.tmp"))
        for f in stale:  # temp files of a killed run; final files are never partial
            os.remove(f)
        if stale:
            say(f"removed {len(stale)} temporary file(s) of an interrupted run")
        total = len(plan.jobs)
        panel_fp = {name: _panel_fingerprint(src, plan.base_dir)
                    for name, src in plan.panels.items()}
        todo = []
        for job in plan.jobs:
            path = os.path.join(jobs_dir, job.id + ".npz")
            spec = job.spec() | {"per_agent": per_agent, "panel_fingerprint": panel_fp[job.panel],
                                 "value_fingerprint": plan.value_fingerprints.get(job.value)}
            known = spec["panel_fingerprint"] is not None and spec["value_fingerprint"] is not None
            if known and os.path.exists(path) and _read_spec(path) == spec:
                report["skipped"].append(job.id)
            else:
                todo.append((job, path, spec))
        if report["skipped"]:
            say(f"{len(report['skipped'])}/{total} jobs already done, skipped")
        t_start = time.perf_counter()
        panel_name, panel = None, None
        for n_done, (job, path, spec) in enumerate(
                sorted(todo, key=lambda x: list(plan.panels).index(x[0].panel)), 1):
            if job.panel != panel_name:
                panel = None  # hold one panel at a time
                try:
                    panel = _load_panel(plan.panels[job.panel], plan.base_dir)
                except (ValueError, TypeError, KeyError, OSError) as e:
                    panel = e  # a missing or corrupted panel fails its jobs, not the run
                panel_name = job.panel
            t0 = time.perf_counter()
            try:
                if isinstance(panel, Exception):
                    raise panel
                res = _run_job(job, panel, plan.values[job.value], per_agent)
            except (ValueError, TypeError, KeyError, OSError) as e:
                report["failed"][job.id] = str(e)
                say(f"[{len(report['skipped']) + n_done}/{total}] {job.id}: FAILED: {e}")
                continue
            buf = io.BytesIO()
            np.savez(buf, spec=np.asarray(json.dumps(spec)), **res)
            with atomic_write(path, "wb") as f:
                f.write(buf.getvalue())
            report["done"].append(job.id)
            dt = time.perf_counter() - t0
            left = len(todo) - n_done
            eta = (time.perf_counter() - t_start) / n_done * left
            say(f"[{len(report['skipped']) + n_done}/{total}] {job.id}: {dt:.2f}s, "
                f"method {res['method']}, max efficiency error "
                f"{float(np.max(res['efficiency_error'])):.1e}; {left} left, ~{eta:.0f}s")
            if throttle:
                time.sleep(throttle)
        manifest = {"jobs": {j.id: j.spec() for j in plan.jobs}, "panel_fingerprints": panel_fp,
                    "value_fingerprints": plan.value_fingerprints,
                    "done": sorted(set(report["done"]) | set(report["skipped"])),
                    "failed": report["failed"], "per_agent": per_agent}
        with atomic_write(os.path.join(out, "manifest.json")) as f:
            json.dump(manifest, f, indent=1)
    say(f"batch: {len(report['done'])} computed, {len(report['skipped'])} skipped, "
        f"{len(report['failed'])} failed; results in {jobs_dir}")
    return report
