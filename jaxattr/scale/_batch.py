"""Batch runs: a plan of many (panel × value function × baseline × method) jobs, resumable,
shared by any number of runners.

Each finished job is one ``.npz`` file written atomically (temp file, fsync, rename), named
by the job and holding the job's own specification. A run that is killed (even by SIGKILL)
leaves only complete result files; the next run skips every job whose file is there with
the same specification, removes the temporary files of dead writers, and computes the rest.
Several runners (processes, ``--shard`` slices, SLURM array tasks, executor workers) may
work on one output folder at once: each job is claimed first (``_claims``: an ``O_EXCL``
claim file with a heartbeat, taken over when its holder died), so each is computed once.
Jobs run in *groups* that share value, baseline, method, steps, rule and panel shape
(:func:`run_group`).

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
    demo = { synthetic = "sports", n_agents = 20000, n_days = 14, seed = 0 }

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
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import equinox as eqx
import jax
import numpy as np
from jax import monitoring

from jaxattr._attribute import attribute
from jaxattr._util import (
    Progress,
    atomic_write,
    get_logger,
    percentile_bins,
    read_json_or_toml,
    records_to,
)

__all__ = [
    "BatchJob",
    "batch_status",
    "group_jobs",
    "load_plan",
    "parse_shard",
    "run_batch",
    "run_group",
    "shard_jobs",
]

_JOB_KEYS = {"panels", "values", "baselines", "methods", "steps", "rules"}

_COMPILES = [0]  # XLA compiles in this process, from JAX's own monitoring events
_LOG = get_logger("scale")


def _count_compiles(event: str, duration_secs: float, **kwargs: Any) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1


monitoring.register_event_duration_secs_listener(_count_compiles)
_MAX_JOBS = 100_000


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """One job of a plan: attribute ``value`` over panel ``panel`` with these settings.

    Args:
        panel: the panel's name in the plan's ``[panels]``.
        value: the value spec (a built-in name, a model file, ``module:object``).
        baseline: the baseline name (``"zero"``, ``"mean"``, ``"first"``).
        method: ``"auto"``, ``"closed_form"`` or ``"path"``.
        steps: path points K.
        rule: quadrature rule.

    Raises:
        TypeError: a field missing (plans are validated by :func:`load_plan`).

    Example:
        >>> from jaxattr.scale import BatchJob
        >>> job = BatchJob("ai", "heat", "zero", "auto", 30, "midpoint")
        >>> job.id          # the result file is out/jobs/<id>.npz
        'ai__heat__zero__auto__K30'
        >>> job.spec()["steps"]
        30
    """

    panel: str
    value: str
    baseline: str
    method: str
    steps: int
    rule: str

    @property
    def id(self) -> str:
        """The job's file name stem (settings joined by ``__``, unsafe characters ``-``)."""
        raw = f"{self.panel}__{self.value}__{self.baseline}__{self.method}__K{self.steps}"
        if self.rule != "midpoint":
            raw += f"__{self.rule}"
        return re.sub(r"[^A-Za-z0-9_.=-]+", "-", raw)

    def spec(self) -> dict[str, Any]:
        """The settings as a dict (part of the job's stored specification)."""
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


def load_plan(path: str | os.PathLike[str]) -> Plan:
    """Read and expand a plan file (``.toml`` or ``.json``).

    The jobs of each ``[[jobs]]`` entry are the product of its lists (``panels``,
    ``values``, ``baselines``, ``methods``, ``steps``, ``rules``), with ``[defaults]``
    filling what an entry omits; duplicates are dropped. Paths in the plan are relative to
    the plan file; the value functions are loaded (and fingerprinted) here, the panels
    when the jobs run.

    Args:
        path: the plan file.

    Returns:
        The parsed plan: ``panels`` (name -> source), ``jobs`` (:class:`BatchJob`, in plan
        order), ``out``, ``per_agent``, ``base_dir``.

    Raises:
        FileNotFoundError: no such plan file.
        ValueError: a malformed plan, naming the entry and the key at fault.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> jaxattr.io.write_panel(panel, os.path.join(d.name, "p.parquet"))
        >>> plan = os.path.join(d.name, "plan.toml")
        >>> lines = ['out = "out"', "[panels]", 'p = "p.parquet"',
        ...          "[[jobs]]", 'values = ["linear", "heat"]']
        >>> with open(plan, "w") as f:
        ...     print(*lines, sep=os.linesep, file=f)
        >>> [job.id for job in scale.load_plan(plan).jobs]
        ['p__linear__zero__auto__K30', 'p__heat__zero__auto__K30']
        >>> d.cleanup()
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
        raise ValueError(
            f"plan: unknown top-level keys {sorted(unknown)}; allowed: out, "
            "per_agent, defaults, panels, jobs"
        )
    panels = doc.get("panels")
    if not isinstance(panels, dict) or not panels:
        raise ValueError(
            "plan: [panels] must name at least one panel (name = path, or "
            "name = { synthetic = TOPIC, n_agents = ..., n_days = ..., seed = ... })"
        )
    for name, src in panels.items():
        if isinstance(src, dict):
            if "synthetic" not in src:
                raise ValueError(f"plan: panel {name!r} is a table without a 'synthetic' key")
            bad = set(src) - {"synthetic", "n_agents", "n_days", "seed"}
            if bad:
                raise ValueError(f"plan: panel {name!r} has unknown keys {sorted(bad)}")
            if not isinstance(src["synthetic"], str):
                raise ValueError(
                    f"plan: panel {name!r}: synthetic must be a topic name, got "
                    f"{src['synthetic']!r}"
                )
            for k in ("n_agents", "n_days", "seed"):
                v = src.get(k, 1)
                if isinstance(v, bool) or not isinstance(v, int) or v < (0 if k == "seed" else 1):
                    raise ValueError(
                        f"plan: panel {name!r}: {k} must be an integer >= "
                        f"{0 if k == 'seed' else 1}, got {v!r}"
                    )
        elif not isinstance(src, str):
            raise ValueError(
                f"plan: panel {name!r} must be a path or a synthetic table, got {src!r}"
            )
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
            raise ValueError(
                f"plan {where}: unknown keys {sorted(bad)}; allowed: {sorted(_JOB_KEYS)}"
            )
        if e.get("values", e.get("value")) is None:
            raise ValueError(f"plan {where}: 'values' is required (e.g. values = [\"heat\"])")
        pick = {
            k: _as_list(e.get(k, e.get(k[:-1], d)), k, where)
            for k, d in (
                ("panels", list(panels)),
                ("values", None),
                ("baselines", "zero"),
                ("methods", "auto"),
                ("steps", 30),
                ("rules", "midpoint"),
            )
        }
        for k, xs in pick.items():
            if k != "steps" and not all(isinstance(x, str) and x for x in xs):
                raise ValueError(f"plan {where}: {k} must be non-empty strings, got {xs!r}")
        n_combos = 1
        for xs in pick.values():
            n_combos *= len(xs)
        if len(jobs) + n_combos > _MAX_JOBS:
            raise ValueError(
                f"plan {where}: the plan expands to more than {_MAX_JOBS:,} jobs; "
                "split it into several plans"
            )
        for p in pick["panels"]:
            if p not in panels:
                raise ValueError(f"plan {where}: panel {p!r} is not in [panels] ({sorted(panels)})")
        for v in pick["values"]:
            if str(v) not in values:
                values[str(v)], fingerprints[str(v)] = _load_value(str(v), base_dir, where)
        for k in pick["steps"]:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"plan {where}: steps must be integers >= 1, got {k!r}")
        for combo in itertools.product(*pick.values()):
            p, v, b, m, k, r = combo
            job = BatchJob(
                panel=str(p),
                value=str(v),
                baseline=str(b),
                method=str(m),
                steps=int(k),
                rule=str(r),
            )
            if job not in seen:
                seen.add(job)
                jobs.append(job)
    ids = [job.id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError(
            "plan: two jobs map to the same file name; rename panels so their "
            "names differ in letters, digits, '_', '.', '=' or '-'"
        )
    return Plan(
        panels=panels,
        jobs=jobs,
        out=out,
        per_agent=per_agent,
        base_dir=base_dir,
        values=values,
        value_fingerprints=fingerprints,
    )


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


def _load_panel(src, base_dir: str):
    if isinstance(src, str):
        from jaxattr.io import read_panel

        return read_panel(_panel_path(src, base_dir))
    from jaxattr.data import synthetic_world

    w = synthetic_world(
        int(src.get("n_agents", 20_000)),
        int(src.get("n_days", 14)),
        topics=[src["synthetic"]],
        seed=int(src.get("seed", 0)),
    )
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
        from jaxattr.io import open_panel_file

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


def _job_result(att, panel, per_agent: bool, index=None) -> dict[str, np.ndarray]:
    """The arrays of a job's ``.npz`` from its attribution (item ``index`` of a batched one)."""

    def take(x):
        x = np.asarray(x)
        return x if index is None else x[index]

    phi = take(att.phi)
    res = {
        "delta": take(att.delta),
        "sum_phi": phi.sum(axis=1, dtype=np.float64),
        "efficiency_error": take(att.efficiency_error),
        "value_features": take(att.value_features),
        "value_baseline": take(att.value_baseline),
        "method": np.asarray(att.method),
    }
    followers = panel.agents.get("followers") if hasattr(panel, "agents") else None
    if followers is not None:
        bins = percentile_bins(followers, 100)
        res["percentile_bin_mass"] = np.stack(
            [np.bincount(bins, weights=phi[t], minlength=100) for t in range(phi.shape[0])]
        )
    if per_agent:
        res["phi"] = phi
    return res


def _run_job(job: BatchJob, panel, value, per_agent: bool) -> dict[str, np.ndarray]:
    att = attribute(
        panel, value, baseline=job.baseline, method=job.method, steps=job.steps, rule=job.rule
    )
    return _job_result(att, panel, per_agent)


def _attribute_stack(stack, value, baseline, method, steps, rule):
    """One program for a stack of feature-major panels ``(B, T, d, N)``: ``jax.vmap`` of
    :func:`jaxattr.attribute` (the value's arrays traced, the settings static)."""
    return jax.vmap(
        lambda x: attribute(
            x,
            value,
            baseline=baseline,
            method=method,
            steps=steps,
            rule=rule,
            feature_major=True,
            throw=False,
        )
    )(stack)


_attribute_stack = eqx.filter_jit(_attribute_stack)

#: Features held at once by one batched call (bytes); a larger group runs in slices.
BATCH_BYTES = 1 << 28


def run_group(
    jobs: list[BatchJob], panels: dict[str, Any], value: Any, per_agent: bool
) -> list[dict[str, np.ndarray]]:
    """Run a *group* of jobs that share the value, baseline, method, steps, rule and panel
    shape (they differ only in the panel): the unit of execution of every runner.

    The group's panels are stacked and attributed by one ``jax.vmap`` call of one compiled
    program (in slices of at most :data:`BATCH_BYTES` of features); a single job runs
    eagerly.

    Args:
        jobs: the group's jobs.
        panels: panel name -> Panel, for every job's panel.
        value: the group's value function.
        per_agent: also return phi ``(T, N)``.

    Returns:
        One result dict (the arrays of the job's ``.npz``) per job, in order.

    Raises:
        ValueError: a job of the group failed (the runner then runs the group's jobs one by
            one, eagerly, to tell which and with what message).

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr.scale import BatchJob, run_group
        >>> rng = np.random.default_rng(0)
        >>> panels = {p: jaxattr.Panel(rng.random((3, 8, 2), np.float32)) for p in ("a", "b")}
        >>> jobs = [BatchJob(p, "heat", "zero", "auto", 30, "midpoint") for p in ("a", "b")]
        >>> out = run_group(jobs, panels, jaxattr.values.heat(), per_agent=True)
        >>> len(out), out[0]["phi"].shape, bool(out[0]["efficiency_error"].max() < 1e-4)
        (2, (3, 8), True)
    """
    if len(jobs) == 1:
        return [_run_job(jobs[0], panels[jobs[0].panel], value, per_agent)]
    j0 = jobs[0]
    per_slice = max(1, BATCH_BYTES // max(1, panels[j0.panel].feature_major.nbytes))
    out = []
    for lo in range(0, len(jobs), per_slice):
        part = jobs[lo : lo + per_slice]
        stack = np.stack([panels[j.panel].feature_major for j in part])
        att = _attribute_stack(stack, value, j0.baseline, j0.method, j0.steps, j0.rule)
        codes = np.asarray(att.status_code)
        if np.any(codes != 0):
            raise ValueError(f"{int(np.sum(codes != 0))} job(s) of the group failed")
        out += [_job_result(att, panels[j.panel], per_agent, b) for b, j in enumerate(part)]
    return out


def parse_shard(
    text: str | None, environ: Mapping[str, str] | None = None
) -> tuple[int, int] | None:
    """``"I/N"`` (0 <= I < N) -> ``(I, N)``; None reads SLURM array variables
    (``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`` of ``SLURM_ARRAY_TASK_COUNT``), and
    gives None outside an array job.

    Args:
        text: ``"I/N"`` (the ``--shard`` option) or None.
        environ: the environment to read (default ``os.environ``).

    Returns:
        ``(I, N)``, or None (no text and no SLURM array).

    Raises:
        ValueError: malformed text or out-of-range values.

    Example:
        >>> from jaxattr.scale import parse_shard
        >>> parse_shard("1/4"), parse_shard(None, environ={})
        ((1, 4), None)
        >>> parse_shard(None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4"})
        (3, 4)
    """
    env = os.environ if environ is None else environ
    if text is None:
        if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
            return None
        try:
            i = int(env["SLURM_ARRAY_TASK_ID"]) - int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
            n = int(env["SLURM_ARRAY_TASK_COUNT"])
        except ValueError:
            raise ValueError(
                "SLURM_ARRAY_TASK_ID/COUNT/MIN are not integers: "
                f"{env.get('SLURM_ARRAY_TASK_ID')!r}/"
                f"{env.get('SLURM_ARRAY_TASK_COUNT')!r}/"
                f"{env.get('SLURM_ARRAY_TASK_MIN')!r}; pass --shard I/N"
            ) from None
        where = "SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN / SLURM_ARRAY_TASK_COUNT"
    else:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m:
            raise ValueError(f"--shard must be I/N (e.g. 0/4), got {text!r}")
        i, n = int(m.group(1)), int(m.group(2))
        where = "--shard"
    if n < 1 or not 0 <= i < n:
        raise ValueError(
            f"{where}: shard {i} of {n} is out of range; I must be in 0..N-1 "
            "(an array of N tasks, numbered from its minimum)"
        )
    return i, n


def _panel_shape(src, base_dir: str):
    """(T, N, d) of a panel source without reading its data, or None when unreadable."""
    if not isinstance(src, str):
        return (int(src.get("n_days", 14)), int(src.get("n_agents", 20_000)), 3)
    try:
        from jaxattr.io import open_panel_file

        _, h = open_panel_file(_panel_path(src, base_dir))
        return (h["T"], h["N"], h["d"])
    except (OSError, ValueError):
        return None


def _group_key(job: BatchJob, shapes: dict) -> tuple:
    return (
        job.value,
        job.baseline,
        job.method,
        job.steps,
        job.rule,
        json.dumps(shapes.get(job.panel)),
    )


def group_jobs(jobs: list[BatchJob], shapes: dict[str, Any]) -> list[list[BatchJob]]:
    """Jobs grouped by (value, baseline, method, steps, rule, panel shape), groups and jobs
    in a deterministic order (the same in every process).

    A group is the unit of execution (:func:`run_group`: one compiled, vmapped call).

    Args:
        jobs: the jobs.
        shapes: panel name -> ``(T, N, d)`` (or None when unknown: such panels group
            together by name only).

    Returns:
        The groups, each a list of jobs.

    Raises:
        TypeError: a shape that is not JSON-serialisable.

    Example:
        >>> from jaxattr.scale import BatchJob
        >>> jobs = [BatchJob(p, v, "zero", "auto", 30, "midpoint")
        ...         for p in ("a", "b", "c") for v in ("heat", "linear")]
        >>> shapes = {"a": (3, 8, 2), "b": (3, 8, 2), "c": (3, 9, 2)}   # (T, N, d) per panel
        >>> [[j.id for j in g] for g in group_jobs(jobs, shapes)][:2]
        [['a__heat__zero__auto__K30', 'b__heat__zero__auto__K30'], ['c__heat__zero__auto__K30']]
    """
    groups: dict[tuple, list[BatchJob]] = {}
    for job in sorted(jobs, key=lambda j: (_group_key(j, shapes), j.id)):
        groups.setdefault(_group_key(job, shapes), []).append(job)
    return list(groups.values())


def shard_jobs(
    jobs: list[BatchJob], shard: tuple[int, int] | None, shapes: dict[str, Any]
) -> list[BatchJob]:
    """Shard I of N: the I-th of N contiguous, nearly equal slices of the jobs in group order
    (deterministic; a group is split only at a slice boundary).

    Args:
        jobs: the plan's jobs.
        shard: ``(I, N)`` (:func:`parse_shard`), or None for all jobs.
        shapes: panel name -> ``(T, N, d)``, as :func:`group_jobs`.

    Returns:
        This shard's jobs; the N shards together hold every job once.

    Raises:
        ValueError: a shard that is not a pair of integers.

    Example:
        >>> from jaxattr.scale import BatchJob
        >>> jobs = [BatchJob(p, v, "zero", "auto", 30, "midpoint")
        ...         for p in ("a", "b", "c") for v in ("heat", "linear")]
        >>> shapes = {"a": (3, 8, 2), "b": (3, 8, 2), "c": (3, 9, 2)}   # (T, N, d) per panel
        >>> [j.id for j in shard_jobs(jobs, (0, 2), shapes)]
        ['a__heat__zero__auto__K30', 'b__heat__zero__auto__K30', 'c__heat__zero__auto__K30']
    """
    if shard is None:
        return list(jobs)
    i, n = shard
    order = [j for g in group_jobs(jobs, shapes) for j in g]
    return order[len(order) * i // n : len(order) * (i + 1) // n]


class _Folder:
    """An output folder: job results, failure records and claims."""

    def __init__(self, out: str, claim_timeout: float):
        from ._claims import Claims

        self.out = out
        self.jobs_dir = os.path.join(out, "jobs")
        self.failed_dir = os.path.join(out, "failed")
        os.makedirs(self.jobs_dir, exist_ok=True)
        os.makedirs(self.failed_dir, exist_ok=True)
        self.claims = Claims(out, claim_timeout)

    def result(self, job_id: str) -> str:
        return os.path.join(self.jobs_dir, job_id + ".npz")

    def failure(self, job_id: str) -> str:
        return os.path.join(self.failed_dir, job_id + ".json")

    def done(self, job_id: str, spec: dict) -> bool:
        p = self.result(job_id)
        return os.path.exists(p) and _read_spec(p) == spec

    def failed(self, job_id: str, spec: dict) -> tuple[dict, float] | None:
        try:
            with open(self.failure(job_id)) as f:
                doc = json.load(f)
            mtime = os.stat(self.failure(job_id)).st_mtime
        except (OSError, ValueError):
            return None
        return (doc, mtime) if isinstance(doc, dict) and doc.get("spec") == spec else None

    def clean_temporary(self, job_id: str | None = None) -> int:
        """Remove temporary files of killed writers: of one job (its claim is held), or of
        every job without a live claim."""
        n = 0
        for f in glob.glob(os.path.join(self.jobs_dir, ".*.tmp")):
            jid = os.path.basename(f)[1:].split(".npz.")[0]
            if (jid == job_id) if job_id is not None else self.claims.state(jid) != "live":
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f)
                    n += 1
        return n


def _spec_of(plan: Plan, job: BatchJob, per_agent: bool, panel_fp: dict) -> dict:
    return job.spec() | {
        "per_agent": per_agent,
        "panel_fingerprint": panel_fp[job.panel],
        "value_fingerprint": plan.value_fingerprints.get(job.value),
    }


def _known(spec: dict) -> bool:
    return spec["panel_fingerprint"] is not None and spec["value_fingerprint"] is not None


def _run_jobs(
    plan: Plan,
    out: str,
    job_ids: list[str] | None,
    *,
    per_agent: bool,
    claim_timeout: float,
    throttle: float,
    say,
    started: float,
) -> dict:
    """Run the given jobs (all of the plan when None) in this process, cooperating with any
    other runner on ``out`` through claims. Returns the runner's report."""
    folder = _Folder(out, claim_timeout)
    by_id = {j.id: j for j in plan.jobs}
    jobs = plan.jobs if job_ids is None else [by_id[i] for i in job_ids]
    panel_fp = {
        name: _panel_fingerprint(src, plan.base_dir)
        for name, src in plan.panels.items()
        if any(j.panel == name for j in jobs)
    }
    shapes = {name: _panel_shape(plan.panels[name], plan.base_dir) for name in panel_fp}
    report: dict[str, Any] = {"done": [], "skipped": [], "failed": {}, "elsewhere": []}
    compiles0, t0 = _COMPILES[0], time.perf_counter()
    total = len(jobs)
    n = 0
    panels: dict = {}
    with folder.claims:
        removed = folder.clean_temporary()
        if removed:
            say(f"removed {removed} temporary file(s) of an interrupted run")
        t_start = time.perf_counter()
        args = (
            plan,
            folder,
            report,
            panel_fp,
            per_agent,
            panels,
            started,
            total,
            t_start,
            throttle,
            say,
        )
        for group in group_jobs(jobs, shapes):
            n = _sweep_group(group, n, *args)
        # one more pass over the jobs other runners held: a holder that died since (its
        # claim is now stale) or gave its claim back leaves them to this runner
        held = [by_id[i] for i in report["elsewhere"]]
        report["elsewhere"] = []
        for group in group_jobs(held, shapes):
            n = _sweep_group(group, n, *args)
    if report["skipped"]:
        say(f"{len(report['skipped'])}/{total} jobs already done, skipped")
    if report["elsewhere"]:
        say(f"{len(report['elsewhere'])}/{total} jobs held by other live runners, left to them")
    report["seconds"] = time.perf_counter() - t0
    report["compiles"] = _COMPILES[0] - compiles0
    return report


def _sweep_group(
    group,
    n,
    plan,
    folder,
    report,
    panel_fp,
    per_agent,
    panels,
    started,
    total,
    t_start,
    throttle,
    say,
) -> int:
    """Claim what is left of one group, run it and write its results; returns ``n`` (jobs
    this runner has run so far) updated."""
    mine: list[tuple[BatchJob, dict]] = []
    for job in group:
        spec = _spec_of(plan, job, per_agent, panel_fp)
        if _known(spec) and folder.done(job.id, spec):
            report["skipped"].append(job.id)
            say(None, 1)
            continue
        rec = folder.failed(job.id, spec)
        if rec is not None and rec[1] >= started:  # failed in this run, elsewhere
            report["failed"][job.id] = rec[0].get("error", "failed")
            continue
        if not folder.claims.acquire(job.id):
            report["elsewhere"].append(job.id)
            continue
        if _known(spec) and folder.done(job.id, spec):  # finished before our claim
            folder.claims.release(job.id)
            report["skipped"].append(job.id)
            continue
        folder.clean_temporary(job.id)
        mine.append((job, spec))
    if not mine:
        return n
    t0 = time.perf_counter()
    results = _run_claimed(plan, [j for j, _ in mine], per_agent, panels)
    dt = (time.perf_counter() - t0) / len(mine)
    for (job, spec), res in zip(mine, results, strict=True):
        n += 1
        if isinstance(res, Exception):
            report["failed"][job.id] = str(res)
            with atomic_write(folder.failure(job.id)) as f:
                json.dump(
                    {
                        "spec": spec,
                        "error": str(res),
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                    },
                    f,
                )
            folder.claims.release(job.id)
            say(f"[{n}/{total}] {job.id}: FAILED: {res}", 1)
            continue
        buf = io.BytesIO()
        np.savez(buf, spec=np.asarray(json.dumps(spec)), **res)
        with atomic_write(folder.result(job.id), "wb") as f:
            f.write(buf.getvalue())
        with contextlib.suppress(FileNotFoundError):
            os.remove(folder.failure(job.id))
        folder.claims.release(job.id)  # after the result: a later claimant sees it
        report["done"].append(job.id)
        eta = (time.perf_counter() - t_start) / n * (total - n - len(report["skipped"]))
        say(
            f"[{n + len(report['skipped'])}/{total}] {job.id}: {dt:.2f}s, method "
            f"{res['method']}, max efficiency error "
            f"{float(np.max(res['efficiency_error'])):.1e}; ~{max(eta, 0):.0f}s left",
            1,
        )
        if throttle:
            time.sleep(throttle)
    return n


def _run_claimed(plan: Plan, jobs: list[BatchJob], per_agent: bool, cache: dict) -> list:
    """Results (or the exception) of claimed jobs of one group: loads their panels (a
    missing or corrupted panel fails its own jobs), runs the group, and on an error runs the
    jobs one by one to tell which failed."""
    errors = (ValueError, TypeError, KeyError, OSError)
    names = sorted({j.panel for j in jobs})
    if sorted(cache) != names:  # hold one group's panels at a time
        cache.clear()
        for name in names:
            try:
                cache[name] = _load_panel(plan.panels[name], plan.base_dir)
            except errors as e:
                cache[name] = e
    value = plan.values[jobs[0].value]
    ok = [j for j in jobs if not isinstance(cache[j.panel], Exception)]
    out: dict[str, Any] = {j.id: cache[j.panel] for j in jobs if j not in ok}
    if ok:
        try:
            out.update(zip([j.id for j in ok], run_group(ok, cache, value, per_agent), strict=True))
        except errors:
            for j in ok:
                try:
                    out[j.id] = run_group([j], cache, value, per_agent)[0]
                except errors as e:
                    out[j.id] = e
    return [out[j.id] for j in jobs]


def _group_task(
    plan_path: str,
    out: str,
    job_ids: list[str],
    per_agent: bool,
    claim_timeout: float,
    throttle: float,
    started: float,
) -> dict:
    """One executor task: run a group of jobs of a plan file (loaded where the task runs)."""
    plan = load_plan(plan_path)
    return _run_jobs(
        plan,
        out,
        job_ids,
        per_agent=per_agent,
        claim_timeout=claim_timeout,
        throttle=throttle,
        say=Progress(_LOG, enabled=False),
        started=started,
    )


def _resolve_out(plan: Plan, out) -> str:
    if out is None and plan.out:  # a plan's own 'out' is relative to the plan file
        out = os.path.join(plan.base_dir, plan.out)
    if not out:
        raise ValueError(
            "run_batch: no output folder: pass out= (or --out) or set 'out' in the plan"
        )
    return os.fspath(out)


def run_batch(
    plan: str | os.PathLike[str] | Plan,
    out: str | os.PathLike[str] | None = None,
    *,
    per_agent: bool | None = None,
    progress: bool = True,
    throttle: float = 0.0,
    stream: TextIO | None = None,
    shard: tuple[int, int] | None = None,
    executor: Any = None,
    claim_timeout: float = 600.0,
) -> dict[str, Any]:
    """Run the jobs of a plan that are not done yet; resumable after any kill, and several
    runners (processes, SLURM array tasks, executor workers) may share one output folder.

    Args:
        plan: a plan file path, or a :class:`Plan` from :func:`load_plan` (an ``executor``
            needs the path: its workers load the plan themselves).
        out: output folder (default: the plan's ``out``); results go to
            ``out/jobs/<job id>.npz``, failures to ``out/failed/<job id>.json``, a summary
            to ``out/manifest.json``.
        per_agent: store phi ``(T, N)`` keyed by integer agent index (default: the plan's
            ``per_agent``, off); otherwise only aggregates.
        progress: report one line per job (INFO records of the ``jaxattr.scale`` logger; a
            progress bar instead on a terminal).
        throttle: seconds to sleep after each computed job (demos and the kill tests).
        stream: also show the records on this stream for the call (default None: only
            where logging is configured; the command line shows them on stderr).
        shard: ``(I, N)``: run only the I-th of N deterministic slices of the jobs (see
            :func:`shard_jobs`); None runs them all.
        executor: None (this process) or an executor (``jaxattr.scale.DaskExecutor``) that
            runs one task per group of jobs on its workers.
        claim_timeout: seconds without a heartbeat after which another host's claim on a job
            is taken over (a claim of a dead pid on this host is taken over at once).

    Returns:
        ``{"done": [...], "skipped": [...], "failed": {id: message}, "elsewhere": [...],
        "seconds", "compiles", "jobs_per_s", "out": out}`` (``elsewhere``: jobs another live
        runner held; ``compiles``: XLA compiles of the run, from JAX's monitoring events).

    Raises:
        ValueError: no output folder, or an executor given a Plan object; a malformed plan.
        FileNotFoundError: no such plan file.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> jaxattr.io.write_panel(panel, os.path.join(d.name, "p.parquet"))
        >>> plan = os.path.join(d.name, "plan.toml")
        >>> lines = ['out = "out"', "[panels]", 'p = "p.parquet"',
        ...          "[[jobs]]", 'values = ["linear", "heat"]']
        >>> with open(plan, "w") as f:
        ...     print(*lines, sep=os.linesep, file=f)
        >>> report = scale.run_batch(plan, progress=False)
        >>> sorted(report["done"]), report["failed"]
        (['p__heat__zero__auto__K30', 'p__linear__zero__auto__K30'], {})
        >>> scale.run_batch(plan, progress=False)["skipped"]   # a re-run skips finished jobs
        ['p__heat__zero__auto__K30', 'p__linear__zero__auto__K30']
        >>> d.cleanup()
    """
    with records_to(stream):
        return _run_batch(plan, out, per_agent, progress, throttle, shard, executor, claim_timeout)


def _run_batch(plan, out, per_agent, progress, throttle, shard, executor, claim_timeout) -> dict:
    """:func:`run_batch` once its records are routed (see ``stream``)."""
    started = time.time() - 1.0  # failure records older than this run are retried
    plan_path = None
    if not isinstance(plan, Plan):
        plan_path = os.path.abspath(os.fspath(plan))
        plan = load_plan(plan_path)
    out = _resolve_out(plan, out)
    per_agent = plan.per_agent if per_agent is None else per_agent
    os.makedirs(out, exist_ok=True)
    shapes = {name: _panel_shape(src, plan.base_dir) for name, src in plan.panels.items()}
    share = shard_jobs(plan.jobs, shard, shapes)
    say = Progress(_LOG, len(share), desc="batch", unit="job", enabled=progress)
    if shard is not None:
        say(f"shard {shard[0]}/{shard[1]}: {len(share)} of {len(plan.jobs)} jobs")
    if executor is None:
        report = _run_jobs(
            plan,
            out,
            [j.id for j in share],
            per_agent=per_agent,
            claim_timeout=claim_timeout,
            throttle=throttle,
            say=say,
            started=started,
        )
        say.close()
    else:
        if plan_path is None:
            raise ValueError(
                "run_batch: an executor needs the plan's file path (its workers "
                "load the plan themselves), not a Plan object"
            )
        groups = group_jobs(share, shapes)
        say(f"{len(share)} jobs in {len(groups)} groups to {executor!r}")
        tasks = [
            (plan_path, out, [j.id for j in g], per_agent, claim_timeout, throttle, started)
            for g in groups
        ]
        report = {"done": [], "skipped": [], "failed": {}, "elsewhere": [], "compiles": 0}
        t0 = time.perf_counter()
        for rep in executor.map(_group_task, tasks):
            say(None, len(rep["done"]) + len(rep["skipped"]) + len(rep["failed"]))
            for k in ("done", "skipped", "elsewhere"):
                report[k] += rep[k]
            report["failed"].update(rep["failed"])
            report["compiles"] += rep.get("compiles", 0)
        report["seconds"] = time.perf_counter() - t0
        say.close()
    report["out"] = out
    status = batch_status(
        plan, out, per_agent=per_agent, claim_timeout=claim_timeout, write_manifest=True
    )
    rate = len(report["done"]) / report["seconds"] if report["seconds"] > 0 else 0.0
    report["jobs_per_s"] = rate
    say(
        f"batch: {len(report['done'])} computed in {report['seconds']:.1f}s ({rate:.2f} jobs/s, "
        f"{report['compiles']} compiles), {len(report['skipped'])} skipped, "
        f"{len(report['failed'])} failed, {len(report['elsewhere'])} held by other runners; "
        f"folder: {len(status['done'])}/{len(plan.jobs)} done; results in "
        f"{os.path.join(out, 'jobs')}"
    )
    return report


def batch_status(
    plan: str | os.PathLike[str] | Plan,
    out: str | os.PathLike[str] | None = None,
    *,
    per_agent: bool | None = None,
    claim_timeout: float = 600.0,
    write_manifest: bool = False,
) -> dict[str, Any]:
    """Where every job of a plan stands in an output folder (read only; any runner may be
    working on it meanwhile).

    Args:
        plan, out, per_agent: as :func:`run_batch`.
        claim_timeout: as :func:`run_batch` (when another host's claim counts as stale).
        write_manifest: also rewrite ``out/manifest.json`` from what is found.

    Returns:
        ``{"done": [...], "failed": {id: message}, "running": [...], "stale": [...],
        "missing": [...], "out": out}``: a result with the job's current specification; a
        failure record and no result; a live claim; a claim whose holder died; nothing.

    Raises:
        FileNotFoundError: the output folder (or the plan file) does not exist.
        ValueError: no output folder given, or a malformed plan.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> jaxattr.io.write_panel(panel, os.path.join(d.name, "p.parquet"))
        >>> plan = os.path.join(d.name, "plan.toml")
        >>> lines = ['out = "out"', "[panels]", 'p = "p.parquet"',
        ...          "[[jobs]]", 'values = ["linear", "heat"]']
        >>> with open(plan, "w") as f:
        ...     print(*lines, sep=os.linesep, file=f)
        >>> _ = scale.run_batch(plan, progress=False)
        >>> st = scale.batch_status(plan)
        >>> len(st["done"]), st["missing"], st["failed"]
        (2, [], {})
        >>> d.cleanup()
    """
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    out = _resolve_out(plan, out)
    if not os.path.isdir(out):
        raise FileNotFoundError(f"output folder {out!r} does not exist: nothing has run yet")
    per_agent = plan.per_agent if per_agent is None else per_agent
    from ._claims import Claims

    claims = Claims(out, claim_timeout, create=False)  # read only: no folder, no heartbeat
    panel_fp = {name: _panel_fingerprint(src, plan.base_dir) for name, src in plan.panels.items()}
    st: dict[str, Any] = {"done": [], "failed": {}, "running": [], "stale": [], "missing": []}
    jobs_dir, failed_dir = os.path.join(out, "jobs"), os.path.join(out, "failed")
    for job in plan.jobs:
        spec = _spec_of(plan, job, per_agent, panel_fp)
        res = os.path.join(jobs_dir, job.id + ".npz")
        if os.path.exists(res) and _read_spec(res) == spec:
            st["done"].append(job.id)
            continue
        claim = claims.state(job.id)
        if claim == "live":
            st["running"].append(job.id)
            continue
        try:
            with open(os.path.join(failed_dir, job.id + ".json")) as f:
                doc = json.load(f)
            if isinstance(doc, dict) and doc.get("spec") == spec:
                st["failed"][job.id] = doc.get("error", "failed")
                continue
        except (OSError, ValueError):
            pass
        st["stale" if claim == "stale" else "missing"].append(job.id)
    if write_manifest:
        _write_manifest(plan, out, st, per_agent)
    st["out"] = out
    return st


def _write_manifest(plan: Plan, out: str, status: dict, per_agent: bool) -> None:
    panel_fp = {name: _panel_fingerprint(src, plan.base_dir) for name, src in plan.panels.items()}
    manifest = {
        "jobs": {j.id: j.spec() for j in plan.jobs},
        "panel_fingerprints": panel_fp,
        "value_fingerprints": plan.value_fingerprints,
        "done": sorted(status["done"]),
        "failed": status["failed"],
        "running": sorted(status["running"]),
        "missing": sorted(status["missing"] + status["stale"]),
        "per_agent": per_agent,
    }
    with atomic_write(os.path.join(out, "manifest.json")) as f:
        json.dump(manifest, f, indent=1)
