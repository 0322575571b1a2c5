"""Multi-process attribution with ``jax.distributed``: each process reads its own agents.

The agent axis of the feature-major ``(T, d, N)`` buffer is sharded over every device of
every process (``NamedSharding(mesh, P(None, None, "agents"))``). Process ``p`` owns the
contiguous agent range of its local devices; it reads only the Parquet row groups that
overlap that range, builds its block of the global array with
``jax.make_array_from_process_local_data``, and the engine's compiled core runs once over
the global mesh (XLA inserts the all-reduces of the aggregates; on CPU the collectives are
gloo's). N is padded to a multiple of the device count with zero-weight agents.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike, Float

from jaxattr._core import feature_split, run_arguments, run_compiled
from jaxattr._methods import baseline_name, resolve
from jaxattr._result import Summary
from jaxattr._util import Placed, atomic_write

__all__ = ["DistributedResult", "distributed_attribute", "initialize"]

AXIS = "agents"


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_devices: int | None = None,
    timeout: int = 120,
) -> None:
    """Join a ``jax.distributed`` job (call before any other JAX work in the process).

    Sets the CPU collectives to gloo and, with ``local_devices``, the CPU device count, then
    calls ``jax.distributed.initialize``.

    Args:
        coordinator: ``HOST:PORT`` of process 0's coordinator service. None: JAX detects the
            cluster (SLURM, Open MPI, ...) from the environment, and ``num_processes`` /
            ``process_id`` may be None too (each given one overrides the detected value).
        num_processes: P, processes in the job; process_id: this one's index in [0, P).
        local_devices: on CPU, how many devices this process exposes (each one a shard);
            ignored by GPU/TPU backends, which expose their devices.
        timeout: seconds to wait for every peer at start-up; also the heartbeat timeout after
            which a peer that died mid-run ends the others. A missing peer then aborts the
            process (the ``jaxattr`` command line turns that into exit code 2 and one line).

    Raises:
        ValueError: a malformed coordinator address or process index; no coordinator and
            no cluster that JAX can detect.

    Example:
        Each of P processes runs ``initialize("host0:1234", P, i)`` and then
        :func:`distributed_attribute`. Arguments are checked before anything starts:

        >>> from jaxattr.scale import initialize
        >>> try:
        ...     initialize("host0", num_processes=2, process_id=0)
        ... except ValueError as e:
        ...     print(e)
        coordinator must be HOST:PORT, got 'host0'
    """
    if coordinator is not None:
        host, _, port = str(coordinator).rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"coordinator must be HOST:PORT, got {coordinator!r}")
        if num_processes is None or process_id is None:
            raise ValueError("a coordinator needs num_processes and process_id")
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if num_processes is not None and process_id is not None and not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id}")
    if local_devices is not None:
        jax.config.update("jax_num_cpu_devices", int(local_devices))
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=coordinator,
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=int(timeout),
            heartbeat_timeout_seconds=max(int(timeout), 10),
        )
    except ValueError as e:
        if coordinator is None:
            raise ValueError(
                f"no --coordinator given and JAX detected no cluster ({e}); run "
                "under SLURM (srun) or Open MPI (mpirun), or pass --coordinator "
                "HOST:PORT --num-processes P --process-id I"
            ) from None
        raise


@dataclasses.dataclass(kw_only=True)
class DistributedResult(Summary):
    """What one process of :func:`distributed_attribute` holds at the end: the totals and
    checks of an :class:`jaxattr.Attribution` (global: every process holds the same), and
    its own agents' phi.

    Args:
        delta: ``(T,)`` ``f(Z_t) - f(B_t)``.
        value_features: ``(T,)`` ``f(Z_t)``.
        value_baseline: ``(T,)`` ``f(B_t)``.
        efficiency_error: ``(T,)`` relative efficiency gap.
        delta_negligible: ``(T,)`` where ``delta`` is within rounding noise of 0.
        method: the method used.
        value_name: the value function's name.
        rule: quadrature rule (None for a closed form).
        steps: path points (None for a closed form).
        time_labels: the panel's step labels.
        status: a :class:`jaxattr.Status` (default OK).
        message: what happened and what to do (default empty).
        process_index: this process.
        process_count: P.
        agent_range: ``(lo, hi)`` of this process's agents.
        phi_local: ``(T, hi - lo)`` their attributions.
        phi_features_local: ``(T, hi - lo, d)`` per-feature split, or None.
        phi: ``(T, N)`` all attributions (``gather=True``), or None.
        sum_phi: ``(T,)`` sums over all agents.
        N: agents.
        paths: files this process wrote.

    Raises:
        ValueError: from :attr:`phi_features`, a run without ``keep_features=True``.

    Attributes:
        process_index, process_count: this process and P.
        agent_range: ``(lo, hi)`` global agent indices whose phi this process holds.
        phi_local: ``(T, hi - lo)`` float32 attributions of those agents.
        phi: ``(T, N)`` all attributions, only with ``gather=True`` (else None).
        sum_phi: ``(T,)`` ``sum_i phi[t, i]`` over all processes: :meth:`by_time`.
        N: agents; paths: files this process wrote.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> path = os.path.join(d.name, "panel.parquet")
        >>> jaxattr.io.write_panel(panel, path)
        >>> res = scale.distributed_attribute(path, "heat")    # one process, all its devices
        >>> res.process_count, res.agent_range, res.phi_local.shape
        (1, (0, 8), (3, 8))
        >>> sorted(res.to_numpy())
        ['delta', 'efficiency_error', 'phi', 'value_baseline', 'value_features']
        >>> d.cleanup()
    """

    process_index: int
    process_count: int
    agent_range: tuple[int, int]
    phi_local: np.ndarray
    phi_features_local: np.ndarray | None = None
    phi: np.ndarray | None
    sum_phi: np.ndarray
    N: int
    paths: list[str]

    def by_time(self) -> np.ndarray:
        """``(T,)`` attributions summed over all agents (equals ``delta`` by efficiency)."""
        return self.sum_phi

    @property
    def phi_features(self) -> np.ndarray:
        """``(T, hi - lo, d)`` per-feature split of this process's agents.

        Raises:
            ValueError: not asked for (``keep_features=True``: a collective, so every
                process must ask when the job runs, not one of them later).
        """
        if self.phi_features_local is None:
            raise ValueError(
                "phi_features of a multi-process run is computed with the run: "
                "pass keep_features=True to distributed_attribute on every "
                "process"
            )
        return self.phi_features_local

    def to_numpy(self) -> dict[str, np.ndarray]:
        """This process's phi (and phi_features, if kept) and the global totals."""
        out = {
            "phi": self.phi_local,
            "delta": np.asarray(self.delta),
            "value_features": np.asarray(self.value_features),
            "value_baseline": np.asarray(self.value_baseline),
            "efficiency_error": np.asarray(self.efficiency_error),
        }
        if self.phi_features_local is not None:
            out["phi_features"] = self.phi_features_local
        return out


def _local_part(x, lo: int, hi: int, hi_valid: int, axis: int = -1) -> np.ndarray:
    """This process's agents ``[lo, hi_valid)`` of a global array sharded on ``axis``."""
    shape = list(x.shape)
    shape[axis] = hi - lo
    out = np.zeros(shape, x.dtype)
    for sh in x.addressable_shards:
        a = sh.index[axis].start or 0
        idx = [slice(None)] * x.ndim
        idx[axis] = slice(a - lo, a - lo + sh.data.shape[axis])
        out[tuple(idx)] = np.asarray(sh.data)
    idx = [slice(None)] * x.ndim
    idx[axis] = slice(0, max(0, hi_valid - lo))
    return out[tuple(idx)]


def _local_range(sharding, shape) -> tuple[int, int]:
    idx = sharding.addressable_devices_indices_map(shape).values()
    starts = [s[-1].start or 0 for s in idx]
    stops = [shape[-1] if s[-1].stop is None else s[-1].stop for s in idx]
    lo, hi = min(starts), max(stops)
    if sum(b - a for a, b in zip(starts, stops, strict=True)) != hi - lo:
        raise ValueError(
            "this process's devices do not hold one contiguous agent range; "
            "order the mesh devices by process (the default jax.devices())"
        )
    return lo, hi


def _read_block(path, lo: int, hi: int, n: int, features) -> np.ndarray | None:
    """Feature-major ``(T, d, hi - lo)`` of agents [lo, hi), zeros beyond N; reads only
    the row groups that overlap the range; None when no row group does (padding only)."""
    from jaxattr.io import panel_row_groups, read_panel

    groups = [g for g, (a, b) in enumerate(panel_row_groups(path)) if a < min(hi, n) and b > lo]
    if not groups:
        return None
    p = read_panel(path, row_groups=groups, features=features, agent_columns=[])
    first = panel_row_groups(path)[groups[0]][0]
    fm = p.feature_major[..., lo - first : min(hi, n) - first]
    if hi > n:
        fm = np.concatenate([fm, np.zeros(fm.shape[:-1] + (hi - n,), np.float32)], axis=-1)
    return np.ascontiguousarray(fm)


def _host(x) -> np.ndarray:
    """A small replicated (or any) global array as NumPy on every process."""
    if x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def distributed_attribute(
    path: str | os.PathLike[str],
    value: Any,
    *,
    baseline: str | Float[ArrayLike, " d"] | Float[ArrayLike, "T 1 d"] | None = None,
    method: str = "auto",
    steps: int = 30,
    rule: str = "midpoint",
    chunk: int | None = None,
    out: str | os.PathLike[str] | None = None,
    gather: bool = False,
    per_agent: bool = False,
    features: Sequence[str] | None = None,
    mesh: Mesh | None = None,
    keep_features: bool = False,
) -> DistributedResult:
    """Attribute a Parquet panel over all devices of all processes of a distributed job.

    Every process calls this with the same arguments (after :func:`initialize`). Process
    ``p`` reads only the row groups overlapping its agent range, attributes over the global
    mesh. Process 0 writes ``out/summary.json`` (f, delta, efficiency per step: aggregated).
    Per-agent attributions are written only with ``per_agent=True`` (privacy: per-agent
    results are opt-in and keyed by integer agent index):
    each process its shard ``out/phi-{p:05d}-of-{P:05d}.parquet`` (columns
    ``agent_index``, ``phi@<t>``), or with ``gather=True`` process 0 the whole
    ``out/phi.parquet``.

    Args:
        path: panel file (:func:`jaxattr.write_panel`), readable by every process.
        value: the value function (as :func:`jaxattr.attribute`).
        baseline: ``"zero"``, ``"mean"``, ``"first"`` or an array ``(d,)`` / ``(T, 1, d)``.
        method: ``"auto"``, ``"closed_form"`` or ``"path"``.
        steps: path points K of a path method.
        rule: quadrature rule of a path method.
        chunk: path points per pass of a path method.
        out: output folder (created), or None to write nothing.
        gather: collect all attributions on every process (``result.phi``) and, with
            ``per_agent``, write one file from process 0; needs T N floats per process.
        keep_features: also compute this process's ``phi_features`` (a collective: pass it
            on every process).
        per_agent: also write per-agent attributions keyed by integer agent index.
        features: feature names to read (default all).
        mesh: a 1-D mesh over the agent axis "agents" (default: all global devices).

    Returns:
        :class:`DistributedResult` for this process.

    Raises:
        ValueError: as :func:`jaxattr.attribute`; N not divisible by the device count with a
            value function that takes no mask.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> path = os.path.join(d.name, "panel.parquet")
        >>> jaxattr.io.write_panel(panel, path)
        >>> out = os.path.join(d.name, "out")
        >>> res = scale.distributed_attribute(path, "heat", out=out, per_agent=True)
        >>> sorted(os.listdir(out))     # process 0's summary, each process's shard
        ['phi-00000-of-00001.parquet', 'summary.json']
        >>> bool(np.allclose(scale.read_phi_shards(out), jaxattr.attribute(panel, "heat").phi,
        ...                  atol=1e-6))
        True
        >>> d.cleanup()
    """
    from jaxattr.io import open_panel_file, write_phi_file

    _, header = open_panel_file(path)
    T, N = header["T"], header["N"]
    d = header["d"] if features is None else len(features)
    plan = resolve(
        value,
        method=method,
        baseline=baseline,
        steps=steps,
        rule=rule,
        chunk=chunk,
        shape=(T, N, d),
        per_agent_arrays=False,
        where="distributed_attribute",
    )
    value = plan.value
    if mesh is None:
        mesh = Mesh(np.array(jax.devices()), (AXIS,))
    if AXIS not in mesh.axis_names:
        raise ValueError(f"mesh must have an axis {AXIS!r}, got {mesh.axis_names}")
    n_dev = mesh.shape[AXIS]
    n_pad = -(-N // n_dev) * n_dev
    if n_pad != N and not value.supports_mask:
        raise ValueError(
            f"N={N} is not divisible by the {n_dev} devices and value function "
            f"{value.name!r} takes no mask, so agents cannot be padded"
        )
    sharding = NamedSharding(mesh, P(None, None, AXIS))
    lo, hi = _local_range(sharding, (T, d, n_pad))
    block = _read_block(path, lo, hi, N, features)
    if block is None:
        block = np.zeros((T, d, hi - lo), np.float32)
    fm = jax.make_array_from_process_local_data(sharding, block, (T, d, n_pad))
    mask = None
    if n_pad != N:
        m = (np.arange(lo, hi) < N).astype(np.float32)
        mask = jax.make_array_from_process_local_data(NamedSharding(mesh, P(AXIS)), m, (n_pad,))
    args, kwargs = run_arguments(Placed(fm, 0, tuple(fm.shape), False), "tdn", plan, mask=mask)
    res = run_compiled(args, kwargs)
    phi, g = res.phi, res.grad
    fz, fb, delta, err, total = (
        _host(a).astype(np.float64) for a in (res.fz, res.fb, res.delta, res.err, res.total)
    )
    negligible = _host(res.negligible)
    if not np.isfinite(total).all():
        raise ValueError(
            "features contain NaN or inf; read the panel with jaxattr.read_panel to locate them"
        )
    chosen = plan.method_name
    hi_valid = min(hi, N)
    loc = _local_part(phi, lo, hi, hi_valid)  # this process's phi (agents < N only)
    feats = None
    if keep_features:  # a collective: every process asks for it
        feats = _local_part(feature_split(args, kwargs, g, n=n_pad)[0], lo, hi, hi_valid, axis=1)
    full = None
    if gather:
        from jax.experimental import multihost_utils

        full = np.asarray(multihost_utils.process_allgather(phi, tiled=True))[:, :N]
    pid, nproc = jax.process_index(), jax.process_count()
    paths: list[str] = []
    if out is not None:
        os.makedirs(out, exist_ok=True)
        meta = {
            "format": "jaxattr.attribution",
            "version": 1,
            "T": T,
            "N": N,
            "value": value.name,
            "method": chosen,
            "baseline": baseline_name(baseline, value),
            "rule": plan.rule,
            "steps": plan.steps,
            "time_labels": header["time_labels"],
            "value_features": fz.tolist(),
            "value_baseline": fb.tolist(),
            "delta": delta.tolist(),
            "efficiency_error": err.tolist(),
            "processes": nproc,
            "devices": n_dev,
        }
        if not per_agent:
            pass
        elif gather and full is not None:  # full is gathered exactly when gather is set
            if pid == 0:
                paths.append(os.path.join(out, "phi.parquet"))
                write_phi_file(paths[-1], T, meta, [(0, full)])
        elif loc.shape[1]:
            paths.append(os.path.join(out, f"phi-{pid:05d}-of-{nproc:05d}.parquet"))
            write_phi_file(paths[-1], T, dict(meta, agent_range=[lo, hi_valid]), [(lo, loc)])
        if pid == 0:
            paths.append(os.path.join(out, "summary.json"))
            with atomic_write(paths[-1]) as f:
                json.dump(meta, f, indent=1)
    return DistributedResult(
        process_index=pid,
        process_count=nproc,
        agent_range=(lo, hi_valid),
        phi_local=loc,
        phi_features_local=feats,
        phi=full,
        sum_phi=total,
        delta=delta,
        value_features=fz,
        value_baseline=fb,
        efficiency_error=err,
        delta_negligible=negligible,
        method=chosen,
        value_name=value.name,
        rule=plan.rule,
        steps=plan.steps,
        time_labels=list(header["time_labels"]),
        N=N,
        paths=paths,
    )


def read_phi_shards(out: str | os.PathLike[str]) -> Float[np.ndarray, "T N"]:
    """``(T, N)`` attributions from the per-process shards (or ``phi.parquet``) in ``out``.

    Args:
        out: the output folder of :func:`distributed_attribute` (``per_agent=True``).

    Returns:
        ``(T, N)`` float32 attributions, agents in index order.

    Raises:
        FileNotFoundError: no shards and no ``phi.parquet`` in ``out``.
        ValueError: shards of runs with different process counts, or shards that do not
            cover agents 0..N-1 exactly once.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr
        >>> from jaxattr import scale
        >>> d = tempfile.TemporaryDirectory()
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 8, 2), np.float32))
        >>> path = os.path.join(d.name, "panel.parquet")
        >>> jaxattr.io.write_panel(panel, path)
        >>> out = os.path.join(d.name, "out")
        >>> _ = scale.distributed_attribute(path, "heat", out=out, per_agent=True)
        >>> scale.read_phi_shards(out).shape
        (3, 8)
        >>> d.cleanup()
    """
    from jaxattr.scale._stream import read_phi

    if os.path.exists(os.path.join(out, "phi.parquet")):
        return read_phi(os.path.join(out, "phi.parquet"))
    import pyarrow.parquet as pq

    parts = sorted(f for f in os.listdir(out) if f.startswith("phi-") and f.endswith(".parquet"))
    if not parts:
        raise FileNotFoundError(
            f"no phi-*.parquet shards or phi.parquet in {out!r} (shards "
            "are written only with per_agent=True / --per-agent)"
        )
    sets = {f.rsplit("-of-", 1)[-1] for f in parts}
    if len(sets) > 1:
        raise ValueError(
            f"{out!r} holds shards of runs with different process counts "
            f"({sorted(sets)}): use a clean output folder per run"
        )
    idx = np.concatenate(
        [
            pq.read_table(os.path.join(out, f), columns=["agent_index"]).column(0).to_numpy()
            for f in parts
        ]
    )
    phis = [read_phi(os.path.join(out, f)) for f in parts]
    order = np.argsort(idx, kind="stable")
    if not np.array_equal(idx[order], np.arange(idx.size)):
        raise ValueError(
            f"shards in {out!r} do not cover agents 0..N-1 exactly once "
            "(missing, duplicated or stale shards); re-run into a clean folder"
        )
    return np.concatenate(phis, axis=1)[:, order]
