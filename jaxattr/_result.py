"""``Attribution``: the result of an attribution run, its checks and its aggregations."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, Int

# A total is "zero" for shares when it is within this many float-rounding units of the
# scale of the attributions it sums (sqrt(sum phi²): the size of their rounding noise).
_SHARE_NOISE_ULPS = 64
# delta is "within rounding noise of zero" below this many float-rounding units of
# |f(Z)| + |f(B)| (the values come from blocked float32 sums: ~1e-7 relative each).
_DELTA_NOISE_ULPS = 64


def group_sums(
    phi: Float[ArrayLike, "T N"], labels: Int[ArrayLike, " N"], n_groups: int
) -> Float[np.ndarray, "T G"]:
    """``(T, G)`` float64 sums of ``phi[t, i]`` over the agents of each group: the one
    implementation behind ``Attribution.by_group``, the study's tier and bin masses, the
    command line's tables and the batch runner's.

    Host-side in float64 (``np.bincount``): a float32 scatter-add over millions of agents
    would lose digits that tier shares and bin masses report.

    Args:
        phi: ``(T, N)`` attributions.
        labels: ``(N,)`` integer group index per agent, in ``[0, G)``.
        n_groups: G (groups without agents get 0).

    Returns:
        ``(T, G)`` float64 sums.

    Raises:
        ValueError: a negative label, or labels whose length is not N (from
            ``np.bincount``).

    Example:
        >>> import numpy as np
        >>> from jaxattr.study import group_sums
        >>> group_sums(np.ones((2, 3)), np.array([0, 1, 1]), 2).tolist()
        [[1.0, 2.0], [1.0, 2.0]]
    """
    phi = np.asarray(phi)
    labels = np.asarray(labels)
    return np.stack(
        [np.bincount(labels, weights=phi[t], minlength=n_groups) for t in range(phi.shape[0])]
    )


def efficiency_error(total, delta, fz, fb, eps, xp=np):
    """``(|sum_i phi_i - delta| / |delta|, negligible)`` per step, for every runner.

    ``delta`` is negligible when it is within rounding noise of zero
    (``64 eps (|f(Z)| + |f(B)|)``; e.g. a linear value against the mean baseline, or a step
    equal to its baseline); the gap is then measured against ``|f(Z)| + |f(B)|``, the scale
    of that noise, so a wrong attribution is still caught. ``xp`` is NumPy or jax.numpy.
    """
    size = xp.abs(fz) + xp.abs(fb)
    negligible = xp.abs(delta) <= _DELTA_NOISE_ULPS * eps * size
    scale = xp.where(negligible, size, xp.abs(delta))
    tiny = xp.finfo(xp.asarray(total).dtype).tiny
    return xp.abs(total - delta) / xp.maximum(scale, tiny), negligible


class Status(enum.IntEnum):
    """What became of a run: ``Attribution.status`` (an integer code under ``jit``/``vmap``,
    this enum on an eager result). A member compares equal to its lower-case name too
    (``att.status == "ok"``)."""

    OK = 0
    NONFINITE_FEATURES = 1
    NONFINITE_VALUE = 2
    NONFINITE_GRADIENT = 3
    EFFICIENCY_GAP = 4

    def __eq__(self, other):
        if isinstance(other, str):
            return self.name.lower() == other
        return int(self) == other

    __hash__ = enum.IntEnum.__hash__

    def __str__(self) -> str:
        return self.name.lower()


#: Messages of a failure found inside a compiled program (no host to locate it).
STATUS_MESSAGES = {
    Status.NONFINITE_FEATURES: "non-finite features (NaN or inf): fill or drop them",
    Status.NONFINITE_VALUE: (
        "the value function is not finite at the features or the baseline (a NaN/inf in "
        "the features, or a point outside f's domain)"
    ),
    Status.NONFINITE_GRADIENT: (
        "non-finite attributions: the gradient of the value function is not finite "
        "somewhere on the path (check f's domain between the baseline and the features)"
    ),
    Status.EFFICIENCY_GAP: (
        "efficiency gap above efficiency_tol: raise `steps` or use rule='gauss-legendre' "
        "(path), or compute in float64 (closed form)"
    ),
}


def status_code(fz, fb, total, err, tol=None):
    """The :class:`Status` code of a run, computed inside the program (int32 scalar).

    A NaN/inf anywhere in the features propagates into ``sum phi``, so the sums are the
    finite check; which input was at fault is located host-side on an eager call.
    """
    values_ok = jnp.all(jnp.isfinite(fz)) & jnp.all(jnp.isfinite(fb))
    phi_ok = jnp.all(jnp.isfinite(total)) & jnp.all(jnp.isfinite(err))
    code = jnp.where(
        values_ok, jnp.where(phi_ok, Status.OK, Status.NONFINITE_GRADIENT), Status.NONFINITE_VALUE
    )
    if tol is not None:
        code = jnp.where((code == Status.OK) & jnp.any(err > tol), Status.EFFICIENCY_GAP, code)
    return code.astype(jnp.int32)


class EfficiencyChecks:
    """The efficiency checks every result reports (in memory, streamed, distributed)."""

    def max_efficiency_error(self) -> float:
        err = np.asarray(self.efficiency_error)
        return float(np.max(err)) if err.size else 0.0

    def _efficiency_message(self, tol: float) -> str | None:
        err = np.asarray(self.efficiency_error)
        if not err.size or float(np.nanmax(np.where(np.isnan(err), np.inf, err))) <= tol:
            return None
        t = int(np.argmax(np.where(np.isnan(err), np.inf, err)))
        hint = (
            "raise `steps` or use rule='gauss-legendre'"
            if self.method.startswith("path")
            else "compute in float64 (jax.config.update('jax_enable_x64', True))"
        )
        rel = (
            "of |f(Z)| + |f(B)| (delta is ~0 there)"
            if np.asarray(self.delta_negligible)[t]
            else "of |delta|"
        )
        return (
            f"efficiency gap {err[t]:.3g} {rel} at time step t={t} exceeds {tol:g} for "
            f"value {self.value_name!r} ({self.method}); {hint}"
        )

    def check_efficiency(self, tol: float = 1e-4) -> None:
        """Raise if any step's relative efficiency gap exceeds ``tol``.

        Raises:
            ValueError: naming the step, the gap and what to do.
        """
        msg = self._efficiency_message(tol)
        if msg is not None:
            raise ValueError(msg)


@dataclasses.dataclass(kw_only=True)
class Summary(EfficiencyChecks):
    """What every runner reports per time step, and the checks on it (host arrays).

    :class:`Attribution` (in memory) has the same fields with phi; the out-of-core and
    multi-process runners return handles with these totals and checks whose phi lives in
    files or on other processes (``jaxattr.scale``).

    Attributes:
        delta: ``(T,)`` ``f(Z_t) - f(B_t)``.
        value_features: ``(T,)`` ``f(Z_t)``; value_baseline: ``(T,)`` ``f(B_t)``.
        efficiency_error: ``(T,)`` ``|sum_i phi[t, i] - delta[t]| / |delta[t]|``, the
            efficiency axiom checked on every run. Where ``delta`` is within rounding noise
            of zero (``delta_negligible``; e.g. a linear value against the mean baseline)
            the gap is measured against ``|f(Z_t)| + |f(B_t)|`` instead.
        delta_negligible: ``(T,)`` bool, where ``|delta|`` is within rounding noise of 0.
        method: ``"closed_form"``, ``"path"`` or ``"path-meanfield"``; rule, steps: the
            quadrature used by a path method (None for closed forms).
        status: a :class:`Status`; message says what happened and what to do.
    """

    delta: Any
    value_features: Any
    value_baseline: Any
    efficiency_error: Any
    delta_negligible: np.ndarray
    method: str
    value_name: str
    rule: str | None
    steps: int | None
    time_labels: list[Any]
    status: Status = Status.OK
    message: str = ""


class SplitSource:
    """How an eager result recomputes its per-feature split: the placed inputs and the plan
    (held by reference, static in the pytree), and the split once computed."""

    def __init__(self, split):
        self._split = split
        self.cache = None

    def split(self):
        return self._split()


class Attribution(EfficiencyChecks, eqx.Module):
    """Per-agent, per-step attributions of one value function over a panel: a pytree.

    Array fields (``phi``, ``delta``, ``value_features``, ``value_baseline``,
    ``efficiency_error``, ``delta_negligible``, ``status``) are its leaves, so an
    ``Attribution`` comes out of ``jax.jit``, ``jax.vmap`` (every field gains the batch
    axis) and ``jax.lax.scan`` like any pytree; names, labels and the method are static.

    Attributes:
        phi: ``(T, N)`` per-agent attributions, ``phi[t, i] = sum_k phi_features[t, i, k]``.
        delta: ``(T,)`` ``f(Z_t) - f(B_t)``; value_features ``(T,)`` ``f(Z_t)``;
            value_baseline ``(T,)`` ``f(B_t)``.
        efficiency_error: ``(T,)`` ``|sum_i phi[t, i] - delta[t]| / |delta[t]|`` (against
            ``|f(Z_t)| + |f(B_t)|`` where ``delta_negligible``): efficiency, checked on
            every run.
        delta_negligible: ``(T,)`` bool, where ``|delta|`` is within rounding noise of 0.
        status: a :class:`Status` code (int32 scalar; a Status member on an eager result).
        method, value_name, rule, steps, feature_names, time_labels, message: static.
        agents: static, the agent identifiers of the Panel the result came from
            (:class:`jaxattr._export.AgentLabels`, held by reference), or None (an array
            input: agents are their integer indices). Used only to label exports and plots.

    Exports: :meth:`to_pandas`, :meth:`to_polars`, :meth:`to_arrow` (long or wide tables)
    and :meth:`to_xarray`; plots of any result in :mod:`jaxattr.plot`.
    """

    phi: Any
    delta: Any
    value_features: Any
    value_baseline: Any
    efficiency_error: Any
    delta_negligible: Any
    status_code: Any
    method: str = eqx.field(static=True)
    value_name: str = eqx.field(static=True)
    rule: str | None = eqx.field(static=True, default=None)
    steps: int | None = eqx.field(static=True, default=None)
    feature_names: tuple = eqx.field(static=True, default=())
    time_labels: tuple = eqx.field(static=True, default=())
    message: str = eqx.field(static=True, default="")
    phi_features_: Any = None
    source: Any = eqx.field(static=True, default=None, repr=False)
    agents: Any = eqx.field(static=True, default=None, repr=False)

    @classmethod
    def build(cls, **fields) -> Attribution:
        """The result from its fields, without equinox's generic ``__init__`` machinery
        (tens of microseconds per call: a measurable share of a small eager call)."""
        unknown = fields.keys() - _NAMES
        if unknown:
            raise TypeError(f"Attribution has no fields {sorted(unknown)}")
        missing = _REQUIRED - fields.keys()
        if missing:
            raise TypeError(f"Attribution needs the fields {sorted(missing)}")
        obj = object.__new__(cls)
        attrs = obj.__dict__
        attrs.update(_DEFAULTS)
        attrs.update(fields)
        return obj

    @property
    def status(self):
        """:class:`Status` on an eager result; the int32 code array under a transform."""
        code = self.status_code
        if isinstance(code, jax.core.Tracer) or np.ndim(code):
            return code
        return Status(int(code))

    @property
    def ok(self) -> bool:
        """Whether the run succeeded (eager results)."""
        return self.status == Status.OK

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.phi.shape)

    @property
    def phi_features(self):
        """``(T, N, d)`` per-feature split, ``(Z - B) * mean path gradient``.

        On an eager result it is computed on first access (where the path-averaged gradient
        is per agent, that re-runs the computation once) and cached, so the split costs
        nothing unless asked for; its sum over features is checked against ``phi``: a
        features array changed in place after :func:`jaxattr.attribute` raises instead of
        mixing data. Under a transform it is a lazily computed array of the same program
        (XLA drops it unless it is used).

        Raises:
            ValueError: the features were modified after the attribution was computed, or
                the result keeps no inputs to split.
        """
        if self.phi_features_ is not None:
            return self.phi_features_
        src = self.source
        if src is None:
            raise ValueError("this result keeps no inputs to split phi by feature")
        if src.cache is None:
            feats, phi_again = src.split()
            scale = float(jnp.max(jnp.abs(self.phi))) if self.phi.size else 0.0
            gap = float(jnp.max(jnp.abs(phi_again - self.phi))) if self.phi.size else 0.0
            if not gap <= 1e-4 * scale + 1e-30:
                raise ValueError(
                    "the features changed after attribute() computed phi (phi recomputed from "
                    f"them differs by {gap:.3g}, max |phi| = {scale:.3g}); attribute() reads a "
                    "NumPy array in place: do not modify it while its result is in use, or "
                    "pass a copy"
                )
            src.cache = feats
        return src.cache

    # -- aggregation ----------------------------------------------------------------
    def by_agent(self) -> np.ndarray:
        """``(N,)`` attributions summed over time (float64, on the host)."""
        return np.asarray(self.phi).sum(axis=0, dtype=np.float64)

    def by_time(self) -> np.ndarray:
        """``(T,)`` attributions summed over agents (float64; equals ``delta`` by
        efficiency)."""
        return np.asarray(self.phi).sum(axis=1, dtype=np.float64)

    def by_group(self, labels, n_groups: int | None = None) -> np.ndarray:
        """``(T, G)`` attributions summed within groups (float64, on the host).

        Args:
            labels: ``(N,)`` integer group of each agent, in ``[0, G)``.
            n_groups: G (default ``max(labels) + 1``); a label ``>= G`` is refused.

        Raises:
            ValueError / TypeError: wrong shape, non-integer, negative or out-of-range labels.
        """
        labels = np.asarray(labels)
        if labels.shape != (self.phi.shape[1],):
            raise ValueError(f"labels must have shape ({self.phi.shape[1]},), got {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        if labels.size and labels.min() < 0:
            raise ValueError(
                f"labels must be >= 0, got min {labels.min()} at agent {int(np.argmin(labels))}"
            )
        top = int(labels.max()) + 1 if labels.size else 0
        g = top if n_groups is None else int(n_groups)
        if top > g:
            bad = int(np.flatnonzero(labels >= g)[0])
            raise ValueError(
                f"labels must be < n_groups={g}, got {int(labels[bad])} at agent "
                f"{bad}; raise n_groups or relabel (attributions of those agents "
                "would be dropped)"
            )
        return group_sums(self.phi, labels, g)

    def shares(self, axis: str = "agent") -> np.ndarray:
        """Normalised shares ``phi / sum phi`` per step (``axis='agent'``) or over the window
        (float64, on the host).

        Raises:
            ValueError: a total within rounding noise of zero (shares undefined), naming the
                step.
        """
        phi = np.asarray(self.phi, np.float64)
        if axis == "agent":
            tot = phi.sum(axis=1)
            self._check_total(tot, np.sqrt(np.sum(phi * phi, axis=1)), self.delta_negligible)
            return phi / tot[:, None]
        if axis == "window":
            tot = np.asarray([phi.sum()])
            self._check_total(
                tot,
                np.sqrt([np.sum(phi * phi)]),
                np.asarray([bool(np.all(self.delta_negligible))]),
                window=True,
            )
            return phi.sum(axis=0) / tot[0]
        raise ValueError(f"axis must be 'agent' or 'window', got {axis!r}")

    def _check_total(self, tot, scale, negligible, window=False) -> None:
        eps = float(jnp.finfo(self.phi.dtype).eps)
        noise = _SHARE_NOISE_ULPS * eps * scale
        bad = np.flatnonzero((np.abs(tot) <= noise) | negligible)
        if bad.size:
            i = int(bad[0])
            where = "over the window" if window else f"at time step t={i}"
            raise ValueError(
                f"total attribution {where} is {tot[i]:.3g}, within rounding noise of zero "
                f"(noise scale {noise[i]:.2g}; delta = f(Z) - f(B) is ~0): shares phi / sum "
                "phi are undefined there. Use a baseline the features differ from (e.g. "
                "baseline='zero'), or compare phi itself"
            )

    def to_numpy(self) -> dict[str, np.ndarray]:
        """phi, phi_features, delta, efficiency_error and values as NumPy arrays."""
        return {
            "phi": np.asarray(self.phi),
            "phi_features": np.asarray(self.phi_features),
            "delta": np.asarray(self.delta),
            "value_features": np.asarray(self.value_features),
            "value_baseline": np.asarray(self.value_baseline),
            "efficiency_error": np.asarray(self.efficiency_error),
        }

    # -- where users work: tables and arrays of their libraries (imported on first use) ----
    def to_pandas(self, layout: str = "long", agents=None):
        """phi as a ``pandas.DataFrame`` (``pip install 'jaxattr[dataframes]'``).

        Args:
            layout: ``"long"``: columns ``time``, ``agent``, ``phi``, one row per (step,
                agent), time-major; ``"wide"``: the time labels as the index, one column
                per agent.
            agents: ``(N,)`` agent labels. Default: the ``agent_ids`` of the Panel the
                result came from, else the integer indices ``0..N-1`` (pseudonymised).

        Raises:
            ImportError: pandas is not installed (names the extra).
            ValueError: an unknown layout, ``agents`` of the wrong length, repeated agent
                labels in a wide table, a batched (vmapped) result.

        Example:
            >>> import numpy as np, jaxattr
            >>> att = jaxattr.attribute(np.ones((2, 3, 1), np.float32), jaxattr.values.linear())
            >>> att.to_pandas().shape, att.to_pandas("wide").shape
            ((6, 3), (2, 3))
        """
        from ._export import to_pandas

        return to_pandas(self, layout, agents)

    def to_polars(self, layout: str = "long", agents=None):
        """phi as a ``polars.DataFrame`` (``pip install 'jaxattr[dataframes]'``); layouts
        and labels as :meth:`to_pandas`, a wide table's first column is ``time`` and its
        agent columns are named ``str(agent)``."""
        from ._export import to_polars

        return to_polars(self, layout, agents)

    def to_arrow(self, layout: str = "long", agents=None):
        """phi as a ``pyarrow.Table``; layouts and labels as :meth:`to_polars`."""
        from ._export import to_arrow

        return to_arrow(self, layout, agents)

    def to_xarray(self, agents=None):
        """An ``xarray.Dataset`` (``pip install 'jaxattr[dataframes]'``): ``phi`` over
        ``(time, agent)`` with their labels as coordinates (see :meth:`to_pandas`),
        ``delta``, ``value_features``, ``value_baseline`` and ``efficiency_error`` over
        ``time``; the value's name, method and feature names as attributes."""
        from ._export import to_xarray

        return to_xarray(self, agents)

    def __repr__(self) -> str:
        if isinstance(self.phi, jax.core.Tracer) or self.phi.ndim != 2:
            return (
                f"Attribution(value={self.value_name!r}, method={self.method!r}, "
                f"phi={getattr(self.phi, 'shape', None)})"
            )
        t, n = self.phi.shape
        return (
            f"Attribution(value={self.value_name!r}, method={self.method!r}, T={t}, N={n}, "
            f"max efficiency_error={self.max_efficiency_error():.2e}, "
            f"status={self.status})"
        )


_FIELDS = dataclasses.fields(Attribution)
_NAMES = frozenset(f.name for f in _FIELDS)
_DEFAULTS = {f.name: f.default for f in _FIELDS if f.default is not dataclasses.MISSING}
_REQUIRED = _NAMES - _DEFAULTS.keys()
