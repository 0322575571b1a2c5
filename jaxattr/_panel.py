"""The Panel: per-agent, per-time-step features of a population.

The features are held *feature-major*, one contiguous ``(T, d, N)`` float32 buffer, because
XLA on CPU reduces over a long minor axis several times faster than over a minor axis of
size d = 3 (measured: summing (14, 1.67M, 3) took 59 ms, (14, 3, 1.67M) 8.8 ms).
``Panel.features`` is the ``(T, N, d)`` view of that buffer, without a copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Bool, Float, Int, Real, Shaped

from ._util import aligned_empty, is_aligned

__all__ = ["BLUESKY_FEATURES", "Panel"]

#: Feature names of a Bluesky / synthetic-world panel: reach a = log1p(followers),
#: activity b and resonance c = log1p counts of the day (docs/data.md).
BLUESKY_FEATURES = ("reach", "activity", "resonance")


def _first_nonfinite(fm: np.ndarray) -> tuple[int, int, int] | None:
    """(t, agent, feature) of the first non-finite entry of a (T, d, N) buffer, or None."""
    T = fm.shape[0]
    for t in range(T):  # per step keeps the temporary mask at d*N bytes
        ok = np.isfinite(fm[t])
        if not ok.all():
            # report the smallest agent index at this step, then its first bad feature
            bad = ~ok
            i = int(np.argmax(bad.any(axis=0)))
            k = int(np.argmax(bad[:, i]))
            return t, i, k
    return None


class Panel:
    """Features ``(T, N, d)`` of N agents over T time steps, plus labels and an agent table.

    Storage is one feature-major ``(T, d, N)`` float32 buffer (see the module docstring);
    ``features`` is a ``(T, N, d)`` view of it.

    Args:
        features: array of shape ``(T, N, d)`` (or ``(N, d)``, read as T = 1), real numbers;
            cast to float32. Ignored when built with :meth:`from_feature_major`.
        feature_names: d distinct names, default ``f0..f{d-1}``. Bluesky panels use
            ``("reach", "activity", "resonance")``.
        time_labels: T labels (ISO dates, integers), default ``0..T-1``.
        agent_ids: N opaque ids. Default: the integers ``0..N-1`` (pseudonymised indices).
        agents: optional agent table, a mapping of column name to a 1-D array of length N
            (static attributes: ``followers``, ``first_seen``, tier labels, ...).
        meta: optional JSON-serialisable dict of panel metadata (e.g. ``{"topic": ...}``).
        validate: check for NaN/inf (costs one pass over the buffer). Shapes, dtypes and
            label lengths are always checked.

    Raises:
        ValueError: wrong ndim, empty axis, non-numeric dtype, NaN or inf (naming the first
            offending time step, agent and feature), label or agent-table length mismatch.
        TypeError: if ``agents`` is not a mapping or ``meta`` not a dict.

    Example:
        >>> p = Panel(np.ones((2, 5, 3)), feature_names=["reach", "activity", "resonance"])
        >>> p.shape, p.feature_major.shape
        ((2, 5, 3), (2, 3, 5))
        >>> p.feature("activity").shape, p.subset([0, 3]).N, p.select_time([1]).T
        ((2, 5), 2, 1)
        >>> Panel(np.full((1, 2, 1), np.nan))
        Traceback (most recent call last):
        ...
        ValueError: Panel features contain nan at time step 0 (label 0), agent 0 (id 0), ...
    """

    def __init__(
        self,
        features: Real[ArrayLike, "T N d"] | Real[ArrayLike, "N d"] | None,
        *,
        feature_names: Sequence[str] | None = None,
        time_labels: Sequence[Any] | None = None,
        agent_ids: Shaped[ArrayLike, " N"] | None = None,
        agents: Mapping[str, Shaped[ArrayLike, " N"]] | None = None,
        meta: dict[str, Any] | None = None,
        validate: bool = True,
        _feature_major: Real[ArrayLike, "T d N"] | None = None,
    ) -> None:
        if _feature_major is not None:
            fm = np.asarray(_feature_major)
            if fm.ndim != 3:
                raise ValueError(
                    f"Panel.from_feature_major: buffer must have shape (T, d, N), got {fm.shape}"
                )
            _check_dtype(fm.dtype, "Panel.from_feature_major")
            fm = np.ascontiguousarray(fm, dtype=np.float32)
            if not is_aligned(fm):  # once here, so every attribution aliases it exactly
                fm = _copy_into(aligned_empty(fm.shape, np.float32), fm)
        else:
            if features is None:
                raise ValueError("Panel: features is None; pass a (T, N, d) array")
            x = np.asarray(features)
            if x.ndim == 2:
                x = x[None]
            if x.ndim != 3:
                raise ValueError(f"Panel features must have shape (T, N, d), got {x.shape}")
            _check_dtype(x.dtype, "Panel")
            fm = _copy_into(
                aligned_empty((x.shape[0], x.shape[2], x.shape[1]), np.float32),
                x.transpose(0, 2, 1),
            )
        # The buffer is made read-only (a buffer the panel was given too: it takes
        # ownership), so nothing attributed from it (a lazily computed phi_features, an
        # accelerator's cached device copy) can go stale under an in-place edit. Edit a
        # copy instead: Panel(p.features.copy(), ...).
        for arr in (fm, fm.base):  # the base too when it is just this buffer's allocation
            if isinstance(arr, np.ndarray) and arr.nbytes <= fm.nbytes + 64:
                arr.flags.writeable = False
        fm = fm.view()
        fm.flags.writeable = False
        T, d, N = fm.shape
        if T == 0 or N == 0 or d == 0:
            raise ValueError(
                f"Panel is empty: (T, N, d) = {(T, N, d)}; every axis needs at least one entry"
            )
        self._fm = fm
        # an accelerator's copy of the buffer (jaxattr._attribute): (buffer, dtype, placed)
        self._device_cache: tuple[Any, Any, Any] | None = None
        self.feature_names = _names(feature_names, d)
        self.time_labels = _labels(time_labels, T)
        self.agent_ids = _agent_ids(agent_ids, N)
        self.agents = _agent_table(agents, N)
        if meta is not None and not isinstance(meta, dict):
            raise TypeError(f"Panel meta must be a dict, got {type(meta).__name__}")
        self.meta = dict(meta or {})
        if validate:
            self.check_finite()

    # ----------------------------------------------------------------------------- building
    @classmethod
    def from_feature_major(cls, fm: Real[ArrayLike, "T d N"], **kwargs: Any) -> Panel:
        """Build a Panel from a ``(T, d, N)`` buffer without transposing it.

        A C-contiguous float32 buffer that starts on a 64-byte boundary is used as is (no
        copy) and becomes read-only: the panel owns it from then on. Any other buffer is
        copied once into an aligned one, which the CPU backend then aliases on every
        attribution.

        Args:
            fm: the features, feature-major ``(T, d, N)``.
            **kwargs: the keyword arguments of :class:`Panel` (names, labels, agents, ...).

        Returns:
            The Panel; ``panel.feature_major`` is ``fm`` (or its aligned copy).

        Raises:
            ValueError: as :class:`Panel` (a buffer that is not 3-D, NaN/inf, ...).

        Example:
            >>> fm = np.zeros((2, 3, 5), np.float32)             # (T, d, N)
            >>> Panel.from_feature_major(fm).shape                  # (T, N, d)
            (2, 5, 3)
        """
        return cls(None, _feature_major=fm, **kwargs)

    @classmethod
    def from_long(
        cls,
        table,
        *,
        step: str = "step",
        agent: str = "agent",
        features=None,
        fill: float | None = None,
        meta: dict | None = None,
        allow_step_gaps: bool = False,
        validate: bool = True,
    ) -> Panel:
        """Pivot a long table (pandas, polars or Arrow; one row per step and agent) into a
        Panel.

        Steps and agents are sorted by value (agents kept as ``agent_ids``); see
        docs/data.md, *Long tables*, for dates, datetimes and text ids.

        Args:
            table: a pandas DataFrame (``step``/``agent`` may be index levels), a polars
                DataFrame or a ``pyarrow.Table``.
            step: the step column.
            agent: the agent column.
            features: the feature columns, in this order (default: every other numeric
                column).
            fill: the value of a (step, agent) pair with no row (default: an error).
            meta: the panel's metadata.
            allow_step_gaps: integer steps may skip values (only the steps seen are kept).
            validate: check for NaN/inf.

        Returns:
            The Panel ``(T, N, d)``.

        Raises:
            ValueError: a (step, agent) pair twice, a missing pair without ``fill``, a gap
                in integer steps, nulls, a non-numeric feature column (each named).

        Example:
            >>> import pyarrow as pa
            >>> table = pa.table({"step": [0, 0, 1, 1], "agent": [5, 9, 5, 9],
            ...                   "wealth": [1.0, 2.0, 3.0, 4.0]})
            >>> p = Panel.from_long(table)
            >>> p.shape, p.agent_ids.tolist(), p.feature("wealth").tolist()
            ((2, 2, 1), [5, 9], [[1.0, 2.0], [3.0, 4.0]])
        """
        from ._long import pivot_long

        parts = pivot_long(
            table,
            step=step,
            agent=agent,
            features=features,
            fill=fill,
            allow_step_gaps=allow_step_gaps,
        )
        return cls.from_feature_major(parts.pop("fm"), **parts, meta=meta, validate=validate)

    def to_long(self, kind: str = "arrow", *, step: str = "step", agent: str = "agent") -> Any:
        """The panel as a long table; :meth:`from_long` inverts it.

        Args:
            kind: ``"arrow"``, ``"pandas"`` or ``"polars"``.
            step: the name of the step column (holds the time labels).
            agent: the name of the agent column (holds the agent ids).

        Returns:
            A table with columns ``step``, ``agent`` and one per feature, T·N rows.

        Raises:
            ValueError: an unknown ``kind``, or column names that clash.
            ImportError: pandas or polars is not installed.

        Example:
            >>> p = Panel(np.ones((2, 3, 1)), feature_names=["wealth"])
            >>> t = p.to_long()
            >>> t.column_names, t.num_rows, Panel.from_long(t).equals(p)
            (['step', 'agent', 'wealth'], 6, True)
        """
        from ._long import to_long

        return to_long(self, kind=kind, step=step, agent=agent)

    def _replace(
        self, fm, *, time_labels=None, agent_ids=None, agents=None, feature_names=None
    ) -> Panel:
        return Panel.from_feature_major(
            fm,
            feature_names=self.feature_names if feature_names is None else feature_names,
            time_labels=self.time_labels if time_labels is None else time_labels,
            agent_ids=self.agent_ids if agent_ids is None else agent_ids,
            agents=self.agents if agents is None else agents,
            meta=self.meta,
            validate=False,
        )

    # ---------------------------------------------------------------------------- accessors
    @property
    def features(self) -> Float[np.ndarray, "T N d"]:
        """``(T, N, d)`` float32 read-only view of the feature-major buffer (no copy)."""
        return self._fm.transpose(0, 2, 1)

    @property
    def feature_major(self) -> Float[np.ndarray, "T d N"]:
        """``(T, d, N)`` C-contiguous float32 read-only buffer used by the engine."""
        return self._fm

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, N, d)``."""
        T, d, N = self._fm.shape
        return T, N, d

    @property
    def T(self) -> int:
        """Number of time steps."""
        return self._fm.shape[0]

    @property
    def N(self) -> int:
        """Number of agents."""
        return self._fm.shape[2]

    @property
    def d(self) -> int:
        """Number of features per agent and step."""
        return self._fm.shape[1]

    @property
    def topic(self) -> Any:
        """The panel's topic name (``meta["topic"]``), or None."""
        return self.meta.get("topic")

    def feature(self, name: str) -> Float[np.ndarray, "T N"]:
        """``(T, N)`` view of one feature by name.

        Raises:
            KeyError: if ``name`` is not a feature name.
        """
        try:
            k = self.feature_names.index(name)
        except ValueError:
            raise KeyError(
                f"Panel has no feature {name!r}; features are {self.feature_names}"
            ) from None
        return self._fm[:, k, :]

    def __repr__(self) -> str:
        T, N, d = self.shape
        topic = f", topic={self.topic!r}" if self.topic is not None else ""
        return (
            f"Panel(T={T}, N={N}, d={d}, features={self.feature_names}"
            f"{topic}, agents={sorted(self.agents)})"
        )

    # ---------------------------------------------------------------------------- checking
    def check_finite(self) -> None:
        """Raise if any feature is NaN or inf, naming the first time step, agent and feature.

        Raises:
            ValueError: on the first non-finite entry (in time order).
        """
        bad = _first_nonfinite(self._fm)
        if bad is not None:
            t, i, k = bad
            v = self._fm[t, k, i]
            raise ValueError(
                f"Panel features contain {v} at time step {t} (label {self.time_labels[t]!r}), "
                f"agent {i} (id {self.agent_ids[i].item()!r}), feature {k} "
                f"({self.feature_names[k]!r}); clean or impute the input before building the "
                "panel"
            )

    def equals(self, other: object) -> bool:
        """Exact equality: features bit for bit, labels, ids, agent table and metadata."""
        if not isinstance(other, Panel) or self.shape != other.shape:
            return False
        if (
            self.feature_names != other.feature_names
            or list(self.time_labels) != list(other.time_labels)
            or self.meta != other.meta
            or set(self.agents) != set(other.agents)
        ):
            return False
        if not np.array_equal(self._fm.view(np.uint32), other._fm.view(np.uint32)):
            return False
        if not (
            self.agent_ids.dtype == other.agent_ids.dtype
            and np.array_equal(self.agent_ids, other.agent_ids)
        ):
            return False
        for k, v in self.agents.items():
            w = other.agents[k]
            if v.dtype != w.dtype or not np.array_equal(v, w):
                return False
        return True

    # --------------------------------------------------------------------------- selection
    def subset(self, idx: Int[ArrayLike, " n"] | Bool[ArrayLike, " N"]) -> Panel:
        """Panel of a subset of agents (one gather over the agent axis; labels follow).

        Args:
            idx: integer indices ``(n,)`` into ``0..N-1`` (order kept, repeats refused) or a
                boolean mask ``(N,)``.

        Returns:
            A new Panel with n agents; its agent ids and agent table are the selected rows.

        Raises:
            ValueError: out-of-range or repeated indices, wrong mask length, empty selection.
            TypeError: non-integer, non-boolean indices.
        """
        idx = _agent_index(idx, self.N)
        fm = np.take(self._fm, idx, axis=2)
        agents = {k: v[idx] for k, v in self.agents.items()}
        return self._replace(fm, agent_ids=self.agent_ids[idx], agents=agents)

    def select_time(self, sel: int | slice | Sequence[Any] | np.ndarray) -> Panel:
        """Panel of a subset of time steps.

        Args:
            sel: an int, a slice, a sequence of ints (positions, whatever the labels), a
                boolean mask ``(T,)``, or a sequence of (non-int) time labels.

        Returns:
            A new Panel with the selected steps in the given order.

        Raises:
            KeyError: an unknown time label.
            ValueError: out-of-range index or empty selection.
        """
        T = self.T
        if isinstance(sel, slice):
            ts = np.arange(T)[sel]
        elif isinstance(sel, (int, np.integer)):
            ts = np.array([int(sel)])
        else:
            seq = list(sel) if not isinstance(sel, np.ndarray) else sel
            arr = np.asarray(seq)
            if arr.dtype == bool:
                if arr.shape != (T,):
                    raise ValueError(
                        f"select_time: boolean mask must have shape ({T},), got {arr.shape}"
                    )
                ts = np.flatnonzero(arr)
            elif arr.dtype.kind in "iu":
                ts = arr.astype(np.int64)
            else:
                pos = {lab: j for j, lab in enumerate(self.time_labels)}
                try:
                    ts = np.array([pos[x] for x in seq], dtype=np.int64)
                except KeyError as e:
                    raise KeyError(
                        f"select_time: unknown time label {e.args[0]!r}; labels are "
                        f"{self.time_labels[:5]}..."
                    ) from None
        ts = np.asarray(ts, dtype=np.int64).reshape(-1)
        if ts.size == 0:
            raise ValueError("select_time: the selection is empty")
        if ts.min() < -T or ts.max() >= T:
            raise ValueError(f"select_time: time index out of range for T = {T}: {ts.tolist()}")
        ts = ts % T
        fm = np.ascontiguousarray(self._fm[ts])
        return self._replace(fm, time_labels=[self.time_labels[t] for t in ts])

    def select_features(self, names: Sequence[str]) -> Panel:
        """Panel with the named features only, in the given order.

        Raises:
            KeyError: an unknown feature name.
        """
        ks = []
        for n in names:
            if n not in self.feature_names:
                raise KeyError(f"Panel has no feature {n!r}; features are {self.feature_names}")
            ks.append(self.feature_names.index(n))
        fm = np.ascontiguousarray(self._fm[:, ks, :])
        return self._replace(fm, feature_names=list(names))


# ------------------------------------------------------------------------------- helpers
def _copy_into(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    out[...] = x
    return out


def _check_dtype(dtype, where: str) -> None:
    if dtype.kind not in "fiub":
        raise ValueError(f"{where}: features must be real numbers, got dtype {dtype}")


def _names(names, d: int) -> list[str]:
    if names is None:
        return [f"f{k}" for k in range(d)]
    if isinstance(names, str):
        raise TypeError("Panel feature_names must be a sequence of str, got one str")
    names = [str(n) for n in names]
    if len(names) != d:
        raise ValueError(f"Panel: {len(names)} feature_names for d = {d} features: {names}")
    if len(set(names)) != d or any(not n for n in names):
        raise ValueError(f"Panel feature_names must be distinct and non-empty, got {names}")
    return names


def _labels(labels, T: int) -> list:
    if labels is None:
        return list(range(T))
    labels = [x.item() if isinstance(x, np.generic) else x for x in labels]
    if len(labels) != T:
        raise ValueError(f"Panel: {len(labels)} time_labels for T = {T} time steps")
    return labels


def _agent_ids(ids, N: int) -> np.ndarray:
    if ids is None:
        return np.arange(N, dtype=np.int64)
    ids = np.asarray(ids)
    if ids.shape != (N,):
        raise ValueError(f"Panel agent_ids must have shape ({N},), got {ids.shape}")
    return ids


def _agent_table(agents, N: int) -> dict[str, np.ndarray]:
    if agents is None:
        return {}
    if not isinstance(agents, Mapping):
        raise TypeError(
            f"Panel agents must be a mapping of column -> array, got {type(agents).__name__}"
        )
    out = {}
    for k, v in agents.items():
        if not isinstance(k, str) or not k:
            raise ValueError(f"Panel agent table column names must be non-empty str, got {k!r}")
        a = np.asarray(v)
        if a.shape != (N,):
            raise ValueError(
                f"Panel agent table column {k!r} must have shape ({N},), got {a.shape}"
            )
        if a.dtype == object:
            raise ValueError(
                f"Panel agent table column {k!r} has dtype object; use a numeric, "
                "bool or fixed-width str array"
            )
        out[k] = a
    return out


def _agent_index(idx, N: int) -> np.ndarray:
    a = np.asarray(idx)
    if a.size == 0:
        raise ValueError("subset: the selection is empty")
    if a.dtype == bool:
        if a.shape != (N,):
            raise ValueError(f"subset: boolean mask must have shape ({N},), got {a.shape}")
        a = np.flatnonzero(a)
    elif a.dtype.kind not in "iu":
        raise TypeError(f"subset: indices must be integers or a boolean mask, got {a.dtype}")
    a = a.reshape(-1).astype(np.int64, copy=False)
    if a.size == 0:
        raise ValueError("subset: the selection is empty")
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi >= N:
        raise ValueError(f"subset: agent index out of range [0, {N}): min {lo}, max {hi}")
    seen = np.zeros(N, dtype=bool)
    seen[a] = True
    if int(np.count_nonzero(seen)) != a.size:
        raise ValueError("subset: repeated agent indices; a subset is a set of agents")
    return a


def pad_stack(
    panels: Sequence[Panel | Real[ArrayLike, "T N_b d"]],
    *,
    n_agents: int | None = None,
    dtype: Any = np.float32,
    feature_major: bool = False,
) -> tuple[Float[np.ndarray, "B T N_max d"], Float[np.ndarray, "B N_max"]]:
    """Stack panels of different N into one ``(B, T, N_max, d)`` batch and a padding mask.

    The batch convention of the field: agents beyond a panel's own N are zero and carry
    mask 0, and ``attribute(..., mask=m)`` treats them as absent (f and every other agent's
    phi unchanged, phi = 0 for them), so one ``jax.vmap`` call attributes the whole batch::

        stack, mask = jaxattr.pad_stack(panels)
        phi = jax.vmap(lambda z, m: jaxattr.attribute(z, value, mask=m).phi)(stack, mask)

    The stack is allocated 64-byte aligned, so the CPU backend reads it without a copy.

    Args:
        panels: B panels, each a :class:`Panel` or an array ``(T, N_b, d)`` (one T and d).
        n_agents: N_max (default: the largest N_b).
        dtype: of the stack and the mask.
        feature_major: return the stack as ``(B, T, d, N_max)``, one contiguous row per
            feature, for ``attribute(..., feature_major=True)``. On a GPU this layout spares
            the closed forms a pass: from ``(T, N, d)`` XLA GPU first copies the features
            into one plane per feature (measured on an H200, heat at N = 10^7 x 14: 0.79 ms
            of 1.68 ms of device time; `benchmarks/results/profile_gpu_h200.jsonl`). On a
            CPU keep the default: there the agent-major stack is the faster one
            (``python benchmarks/bench_sweeps.py --only floor --device-batch 300`` times
            both).

    Returns:
        ``(stack, mask)``: ``Float[ndarray, "B T N_max d"]`` (``"B T d N_max"`` with
        ``feature_major``) and ``Float[ndarray, "B N_max"]``.

    Raises:
        ValueError: no panels, different T or d, an N_b above ``n_agents``.

    Example:
        >>> import jax, jaxattr
        >>> stack, mask = pad_stack([np.ones((2, 3, 2)), np.ones((2, 5, 2))])
        >>> stack.shape, mask.tolist()
        ((2, 2, 5, 2), [[1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
        >>> phi = jax.vmap(lambda z, m: jaxattr.attribute(z, jaxattr.values.linear(), mask=m).phi)(
        ...     stack, mask)
        >>> np.asarray(phi[0, 0], float).round(4).tolist()     # padding agents get 0
        [0.6667, 0.6667, 0.6667, 0.0, 0.0]
    """
    arrays = [p.features if isinstance(p, Panel) else np.asarray(p) for p in panels]
    if not arrays:
        raise ValueError("pad_stack: no panels given")
    arrays = [a[None] if a.ndim == 2 else a for a in arrays]
    bad = [i for i, a in enumerate(arrays) if a.ndim != 3]
    if bad:
        raise ValueError(
            f"pad_stack: panel {bad[0]} must have shape (T, N, d), got {arrays[bad[0]].shape}"
        )
    t, _, d = arrays[0].shape
    for i, a in enumerate(arrays):
        _check_dtype(a.dtype, f"pad_stack: panel {i}")
        if a.shape[0] != t or a.shape[2] != d:
            raise ValueError(
                f"pad_stack: panel {i} has (T, d) = ({a.shape[0]}, {a.shape[2]}), "
                f"panel 0 has ({t}, {d}); a batch shares T and d"
            )
    n_max = max(a.shape[1] for a in arrays) if n_agents is None else int(n_agents)
    over = [i for i, a in enumerate(arrays) if a.shape[1] > n_max]
    if over:
        raise ValueError(
            f"pad_stack: panel {over[0]} has N = {arrays[over[0]].shape[1]} > n_agents = {n_max}"
        )
    mask = np.zeros((len(arrays), n_max), dtype)
    if feature_major:
        stack = aligned_empty((len(arrays), t, d, n_max), dtype)
        for i, a in enumerate(arrays):
            n = a.shape[1]
            stack[i, :, :, :n] = a.transpose(0, 2, 1)
            stack[i, :, :, n:] = 0
            mask[i, :n] = 1
        return stack, mask
    stack = aligned_empty((len(arrays), t, n_max, d), dtype)
    for i, a in enumerate(arrays):
        n = a.shape[1]
        stack[i, :, :n] = a
        stack[i, :, n:] = 0
        mask[i, :n] = 1
    return stack, mask
