"""``Attribution``: the result of an attribution run, its checks and its aggregations."""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Shaped

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
    (``att.status == "ok"``).

    Members: ``OK`` (0), ``NONFINITE_FEATURES`` (1, a NaN or inf in the input),
    ``NONFINITE_VALUE`` (2, f not finite at the features or the baseline),
    ``NONFINITE_GRADIENT`` (3, finite values but non-finite attributions),
    ``EFFICIENCY_GAP`` (4, an efficiency error above ``efficiency_tol``).

    Args:
        value: the integer code (or use a member by name, ``Status.OK``).

    Raises:
        ValueError: ``Status(k)`` for an integer that is not a code.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.ones((1, 4, 2), np.float32)
        >>> z[0, 2, 1] = np.nan
        >>> att = jaxattr.attribute(z, jaxattr.values.linear(), throw=False)
        >>> att.status, att.status == "nonfinite_features", int(att.status)
        (<Status.NONFINITE_FEATURES: 1>, True, 1)
    """

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

    if TYPE_CHECKING:  # what the classes that mix this in define
        efficiency_error: Any
        delta_negligible: Any
        method: str
        value_name: str

    def max_efficiency_error(self) -> float:
        """The largest efficiency error over the steps (0.0 for no steps)."""
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

        Args:
            tol: the largest efficiency error accepted (relative to ``|delta|``).

        Raises:
            ValueError: naming the step, the gap and what to do.

        Example:
            >>> import numpy as np, jaxattr
            >>> z = np.random.default_rng(0).random((2, 5, 3), dtype=np.float32)
            >>> att = jaxattr.attribute(z, jaxattr.values.heat(), method="path", steps=1)
            >>> att.check_efficiency(tol=1e-9)
            Traceback (most recent call last):
            ...
            ValueError: efficiency gap ... exceeds 1e-09 for value 'heat' (path); raise `steps` ...
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
        delta: ``Float[ndarray, "T"]``, ``f(Z_t) - f(B_t)``.
        value_features: ``Float[ndarray, "T"]``, ``f(Z_t)``.
        value_baseline: ``Float[ndarray, "T"]``, ``f(B_t)``.
        efficiency_error: ``Float[ndarray, "T"]``,
            ``|sum_i phi[t, i] - delta[t]| / |delta[t]|``, the efficiency axiom checked on
            every run. Where ``delta`` is within rounding noise of zero
            (``delta_negligible``; e.g. a linear value against the mean baseline) the gap
            is measured against ``|f(Z_t)| + |f(B_t)|`` instead.
        delta_negligible: ``Bool[ndarray, "T"]``, where ``|delta|`` is within rounding
            noise of 0.
        method: ``"closed_form"``, ``"path"`` or ``"path-meanfield"``.
        value_name: the value function's name.
        rule: the quadrature rule of a path method (None for closed forms).
        steps: K, the path points of a path method (None for closed forms).
        time_labels: the T time labels.
        status: a :class:`Status`.
        message: what happened and what to do ("" when ``status`` is ok).

    Raises:
        TypeError: a missing or unknown field (the dataclass constructor).

    Example:
        >>> import numpy as np
        >>> s = Summary(delta=np.array([1.0]), value_features=np.array([1.0]),
        ...             value_baseline=np.array([0.0]), efficiency_error=np.array([2e-3]),
        ...             delta_negligible=np.array([False]), method="path", value_name="f",
        ...             rule="midpoint", steps=4, time_labels=[0])
        >>> s.max_efficiency_error()
        0.002
        >>> s.check_efficiency(tol=1e-4)
        Traceback (most recent call last):
        ...
        ValueError: efficiency gap 0.002 of |delta| at time step t=0 exceeds 0.0001 ...
    """

    delta: Float[np.ndarray, " T"]
    value_features: Float[np.ndarray, " T"]
    value_baseline: Float[np.ndarray, " T"]
    efficiency_error: Float[np.ndarray, " T"]
    delta_negligible: Bool[np.ndarray, " T"]
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
    ``efficiency_error``, ``delta_negligible``, ``status_code``) are its leaves, so an
    ``Attribution`` comes out of ``jax.jit``, ``jax.vmap`` (every field gains the batch
    axis) and ``jax.lax.scan`` like any pytree; names, labels and the method are static.
    It is returned by :func:`jaxattr.attribute`, not built by hand.

    Attributes:
        phi: ``Float[Array, "T N"]`` per-agent attributions,
            ``phi[t, i] = sum_k phi_features[t, i, k]``.
        delta: ``Float[Array, "T"]``, ``f(Z_t) - f(B_t)``.
        value_features: ``Float[Array, "T"]``, ``f(Z_t)``.
        value_baseline: ``Float[Array, "T"]``, ``f(B_t)``.
        efficiency_error: ``Float[Array, "T"]``,
            ``|sum_i phi[t, i] - delta[t]| / |delta[t]|`` (against ``|f(Z_t)| + |f(B_t)|``
            where ``delta_negligible``): efficiency, checked on every run.
        delta_negligible: ``Bool[Array, "T"]``, where ``|delta|`` is within rounding noise
            of 0.
        status_code: ``Int[Array, ""]``, the :class:`Status` code (read it as
            :attr:`status`).
        method: static, ``"closed_form"``, ``"path"`` or ``"path-meanfield"``.
        value_name: static, the value function's name.
        rule: static, the quadrature rule of a path method (None for a closed form).
        steps: static, K path points of a path method (None for a closed form).
        feature_names: static, the d feature names (``f0..`` for an array input).
        time_labels: static, the T time labels (``0..T-1`` for an array input).
        message: static, what went wrong and what to do (``""`` when ok).
        phi_features_: ``Float[Array, "T N d"]`` computed in the program
            (``keep_features=True`` under a transform), else None; read
            :attr:`phi_features`.
        source: static, how an eager result recomputes its per-feature split (held by
            reference), or None.
        agents: static, the agent identifiers of the Panel the result came from
            (:class:`jaxattr._export.AgentLabels`, held by reference), or None (an array
            input: agents are their integer indices). Used only to label exports and plots.

    Exports: :meth:`to_pandas`, :meth:`to_polars`, :meth:`to_arrow` (long or wide tables)
    and :meth:`to_xarray`; plots of any result in :mod:`jaxattr.plot`.

    Raises:
        TypeError: :meth:`build` with a missing or unknown field.

    Example:
        >>> import jax, numpy as np, jaxattr
        >>> z = np.arange(12, dtype=np.float32).reshape(2, 3, 2)     # (T, N, d)
        >>> att = jaxattr.attribute(z, jaxattr.values.linear())
        >>> np.asarray(att.phi, float).round(4).tolist()     # s_i / N, s_i = sum_k z_ik
        [[0.3333, 1.6667, 3.0], [4.3333, 5.6667, 7.0]]
        >>> att.by_time().round(4).tolist(), att.delta.round(4).tolist()
        ([5.0, 17.0], [5.0, 17.0])
        >>> batched = jax.vmap(lambda x: jaxattr.attribute(x, jaxattr.values.linear()))(
        ...     np.stack([z, 2 * z]))
        >>> batched.phi.shape, batched.status_code.shape
        ((2, 2, 3), (2,))
    """

    phi: Float[Array, "T N"]
    delta: Float[Array, " T"]
    value_features: Float[Array, " T"]
    value_baseline: Float[Array, " T"]
    efficiency_error: Float[Array, " T"]
    delta_negligible: Bool[Array, " T"]
    status_code: Int[Array, ""]
    method: str = eqx.field(static=True)
    value_name: str = eqx.field(static=True)
    rule: str | None = eqx.field(static=True, default=None)
    steps: int | None = eqx.field(static=True, default=None)
    feature_names: tuple = eqx.field(static=True, default=())
    time_labels: tuple = eqx.field(static=True, default=())
    message: str = eqx.field(static=True, default="")
    phi_features_: Float[Array, "T N d"] | None = None
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
        attrs = vars(obj)
        attrs.update(_DEFAULTS)
        attrs.update(fields)
        return obj

    @property
    def status(self):
        """:class:`Status` on an eager result; the int32 code array under a transform."""
        code = self.status_code
        if isinstance(code, jax.core.Tracer) or np.ndim(code):
            return code
        return Status(int(np.asarray(code)))

    @property
    def ok(self) -> bool | Bool[Array, "*batch"]:
        """Whether the run succeeded (a bool on eager results)."""
        return self.status == Status.OK

    @property
    def shape(self) -> tuple[int, ...]:
        """``(T, N)``, the shape of phi."""
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
    def by_agent(self) -> Float[np.ndarray, " N"]:
        """Attributions summed over time (float64, on the host).

        Returns:
            ``Float[ndarray, "N"]``, each agent's total over the window.

        Example:
            >>> import numpy as np, jaxattr
            >>> z = np.array([[[1.0], [3.0]], [[2.0], [2.0]]], np.float32)   # (T, N, d)
            >>> jaxattr.attribute(z, jaxattr.values.linear()).by_agent().tolist()
            [1.5, 2.5]
        """
        return np.asarray(self.phi).sum(axis=0, dtype=np.float64)

    def by_time(self) -> Float[np.ndarray, " T"]:
        """Attributions summed over agents (float64; equals ``delta`` by efficiency).

        Returns:
            ``Float[ndarray, "T"]``, each step's total.

        Example:
            >>> import numpy as np, jaxattr
            >>> z = np.array([[[1.0], [3.0]], [[2.0], [2.0]]], np.float32)
            >>> jaxattr.attribute(z, jaxattr.values.linear()).by_time().tolist()
            [2.0, 2.0]
        """
        return np.asarray(self.phi).sum(axis=1, dtype=np.float64)

    def by_group(
        self, labels: Int[ArrayLike, " N"], n_groups: int | None = None
    ) -> Float[np.ndarray, "T G"]:
        """Attributions summed within groups (float64, on the host).

        Args:
            labels: ``(N,)`` integer group of each agent, in ``[0, G)``.
            n_groups: G (default ``max(labels) + 1``); a label ``>= G`` is refused.

        Returns:
            ``Float[ndarray, "T G"]`` group sums per step.

        Raises:
            ValueError: wrong shape, negative or out-of-range labels.
            TypeError: non-integer labels.

        Example:
            >>> import numpy as np, jaxattr
            >>> z = np.ones((1, 4, 1), np.float32)
            >>> att = jaxattr.attribute(z, jaxattr.values.linear())
            >>> att.by_group(np.array([0, 1, 1, 1])).tolist()
            [[0.25, 0.75]]
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

    def shares(self, axis: str = "agent") -> Float[np.ndarray, "T N"] | Float[np.ndarray, " N"]:
        """Normalised shares ``phi / sum phi`` per step or over the window (float64).

        Args:
            axis: ``"agent"``: ``phi[t] / sum_i phi[t, i]`` per step, ``(T, N)``;
                ``"window"``: each agent's total over the window divided by the grand
                total, ``(N,)``.

        Returns:
            The shares; each step's (or the window's) shares sum to 1.

        Raises:
            ValueError: an unknown ``axis``; a total within rounding noise of zero (shares
                undefined), naming the step.

        Example:
            >>> import numpy as np, jaxattr
            >>> z = np.array([[[1.0], [3.0]]], np.float32)
            >>> att = jaxattr.attribute(z, jaxattr.values.linear())
            >>> att.shares().tolist(), att.shares("window").tolist()
            ([[0.25, 0.75]], [0.25, 0.75])
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
        """The result's arrays on the host.

        Returns:
            ``{"phi", "phi_features", "delta", "value_features", "value_baseline",
            "efficiency_error"}`` as NumPy arrays.

        Raises:
            ValueError: the features were modified after the attribution (see
                :attr:`phi_features`).

        Example:
            >>> import numpy as np, jaxattr
            >>> att = jaxattr.attribute(np.ones((2, 3, 4), np.float32), jaxattr.values.heat())
            >>> {k: v.shape for k, v in att.to_numpy().items()}["phi_features"]
            (2, 3, 4)
        """
        return {
            "phi": np.asarray(self.phi),
            "phi_features": np.asarray(self.phi_features),
            "delta": np.asarray(self.delta),
            "value_features": np.asarray(self.value_features),
            "value_baseline": np.asarray(self.value_baseline),
            "efficiency_error": np.asarray(self.efficiency_error),
        }

    # -- where users work: tables and arrays of their libraries (imported on first use) ----
    def to_pandas(self, layout: str = "long", agents: Shaped[ArrayLike, " N"] | None = None) -> Any:
        """phi as a ``pandas.DataFrame`` (``pip install 'jaxattr[dataframes]'``).

        Args:
            layout: ``"long"``: columns ``time``, ``agent``, ``phi``, one row per (step,
                agent), time-major; ``"wide"``: the time labels as the index, one column
                per agent.
            agents: ``(N,)`` agent labels. Default: the ``agent_ids`` of the Panel the
                result came from, else the integer indices ``0..N-1`` (pseudonymised).

        Returns:
            A ``pandas.DataFrame``; ``phi`` reshaped from the long table's ``phi`` column
            (time-major) is ``att.phi`` exactly.

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

    def to_polars(self, layout: str = "long", agents: Shaped[ArrayLike, " N"] | None = None) -> Any:
        """phi as a ``polars.DataFrame`` (``pip install 'jaxattr[dataframes]'``).

        Args:
            layout: ``"long"`` (columns ``time``, ``agent``, ``phi``) or ``"wide"`` (a
                ``time`` column, then one column per agent named ``str(agent)``).
            agents: ``(N,)`` agent labels (default: the Panel's ids, else ``0..N-1``).

        Returns:
            A ``polars.DataFrame``.

        Raises:
            ImportError: polars is not installed (names the extra).
            ValueError: an unknown layout, ``agents`` of the wrong length, repeated agent
                labels (or one labelled ``time``) in a wide table, a batched result.

        Example:
            >>> import numpy as np, jaxattr
            >>> att = jaxattr.attribute(np.ones((2, 3, 1), np.float32), jaxattr.values.linear())
            >>> att.to_polars("wide").columns
            ['time', '0', '1', '2']
        """
        from ._export import to_polars

        return to_polars(self, layout, agents)

    def to_arrow(self, layout: str = "long", agents: Shaped[ArrayLike, " N"] | None = None) -> Any:
        """phi as a ``pyarrow.Table`` (pyarrow is a dependency of jaxattr).

        Args:
            layout: ``"long"`` or ``"wide"``, as :meth:`to_polars`.
            agents: ``(N,)`` agent labels (default: the Panel's ids, else ``0..N-1``).

        Returns:
            A ``pyarrow.Table``.

        Raises:
            ValueError: an unknown layout, ``agents`` of the wrong length, repeated agent
                labels in a wide table, a batched result.

        Example:
            >>> import numpy as np, jaxattr
            >>> att = jaxattr.attribute(np.ones((2, 3, 1), np.float32), jaxattr.values.linear())
            >>> t = att.to_arrow()
            >>> t.column_names, t.num_rows
            (['time', 'agent', 'phi'], 6)
        """
        from ._export import to_arrow

        return to_arrow(self, layout, agents)

    def to_xarray(self, agents: Shaped[ArrayLike, " N"] | None = None) -> Any:
        """The result as an ``xarray.Dataset`` (``pip install 'jaxattr[dataframes]'``).

        Args:
            agents: ``(N,)`` agent labels (default: the Panel's ids, else ``0..N-1``).

        Returns:
            A Dataset: ``phi`` over ``(time, agent)`` with their labels as coordinates,
            ``delta``, ``value_features``, ``value_baseline`` and ``efficiency_error`` over
            ``time``; the value's name, method and feature names as attributes.

        Raises:
            ImportError: xarray is not installed (names the extra).
            ValueError: ``agents`` of the wrong length, a batched result.

        Example:
            >>> import numpy as np, jaxattr
            >>> att = jaxattr.attribute(np.ones((2, 3, 1), np.float32), jaxattr.values.linear())
            >>> ds = att.to_xarray()
            >>> ds["phi"].dims, ds.attrs["value"]
            (('time', 'agent'), 'linear')
        """
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
