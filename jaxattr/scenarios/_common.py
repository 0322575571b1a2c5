"""What every scenario returns, smooth surrogates, and attribution of a run."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

import jaxattr
from jaxattr.values import ValueFunction

BASELINES = ("action", "zero", "mean", "pre-event")
"""The baseline kinds of a scenario run, for :meth:`ScenarioRun.baseline_at_target` and
:func:`attribute_run`: ``"action"`` (each agent's neutral non-acting state, the default),
``"zero"``, ``"mean"`` (the population mean at the step) and ``"pre-event"`` (each agent's
own state at the last step before the scenario's exogenous event).

Example:
    >>> from jaxattr.scenarios import BASELINES
    >>> BASELINES[0], len(BASELINES)
    ('action', 4)
"""


# ----------------------------------------------------------------- smooth surrogates
def soft_relu(x: Float[ArrayLike, "*shape"], beta: float = 4.0) -> Float[Array, "*shape"]:
    """Smooth ``max(0, x)``: ``softplus(beta x) / beta`` (C-infinity, error <= log 2 / beta).

    The scenario risks use it where a hinge would make the integrand of the path integral
    non-differentiable.

    Args:
        x: any array (elementwise).
        beta: sharpness; larger is closer to ``max(0, x)`` (the gap at 0 is ``log 2 / beta``).

    Returns:
        ``softplus(beta x) / beta``, same shape as ``x``.

    Raises:
        TypeError: ``x`` is not numeric (from ``jax.nn.softplus``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr.scenarios import soft_relu
        >>> [round(float(v), 3) for v in soft_relu(jnp.array([-1.0, 0.0, 2.0]))]
        [0.005, 0.173, 2.0]
    """
    return jax.nn.softplus(beta * x) / beta


def soft_step(x: Float[ArrayLike, "*shape"], sharpness: float = 8.0) -> Float[Array, "*shape"]:
    """Smooth indicator ``1[x > 0]``: ``sigmoid(sharpness x)`` (0.5 at 0, C-infinity).

    Args:
        x: any array (elementwise).
        sharpness: slope at 0; larger is closer to the step.

    Returns:
        Values in (0, 1), same shape as ``x``.

    Raises:
        TypeError: ``x`` is not numeric (from ``jax.nn.sigmoid``).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr.scenarios import soft_step
        >>> [round(float(v), 3) for v in soft_step(jnp.array([-1.0, 0.0, 1.0]))]
        [0.0, 0.5, 1.0]
    """
    return jax.nn.sigmoid(sharpness * x)


def soft_abs(x: Float[ArrayLike, "*shape"], eps: float = 0.05) -> Float[Array, "*shape"]:
    """Smooth ``|x|``: ``sqrt(x² + eps²) - eps`` (0 at 0, C-infinity, below ``|x|`` by <= eps).

    Args:
        x: any array (elementwise).
        eps: smoothing radius around 0.

    Returns:
        Non-negative values, same shape as ``x``.

    Raises:
        TypeError: ``x`` is not numeric.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxattr.scenarios import soft_abs
        >>> [round(float(v), 3) for v in soft_abs(jnp.array([-1.0, 0.0, 1.0]))]
        [0.951, 0.0, 0.951]
    """
    return jnp.sqrt(x * x + eps * eps) - eps


# ----------------------------------------------------------------- the run
@dataclasses.dataclass
class ScenarioRun:
    """One simulated trajectory with its risk and its neutral baseline action.

    Returned by :func:`simulate_economy`, :func:`simulate_opinion` and
    :func:`simulate_midscale`; you rarely build one yourself, but any simulator of your own
    can (the fields below are all it needs).

    Args:
        name: scenario name.
        panel: the ``(T, N, d)`` :class:`jaxattr.Panel` of per-agent states.
        risk: the macro risk on ``(N, d)``.
        baseline: ``Float[ndarray, "T N d"]`` neutral state of every agent at every step.
        risk_series: ``Float[ndarray, " T"]`` risk of each step.
        target_step: the step whose risk is attributed (see :func:`target_step`).
        pre_event_step: the last step before the exogenous event.
        variants: alternative risks by name (default none).
        info: scenario extras (default none).

    Raises:
        ValueError: from :meth:`baseline_at_target`, an unknown baseline kind.

    Attributes:
        name: scenario name (``"economy"``, ``"opinion"``, ``"midscale"``).
        panel: :class:`jaxattr.Panel` of the per-agent state, ``(T, N, d)``.
        risk: the smooth macro risk, a :class:`jaxattr.values.ValueFunction` on ``(N, d)``.
        baseline: ``(T, N, d)`` neutral non-acting state of every agent at every step.
        risk_series: ``(T,)`` risk of each step, ``risk(panel.features[t])``.
        target_step: the post-midpoint risk peak, ``argmax_{t >= T // 2} risk_series[t]``.
        pre_event_step: the last step before the scenario's exogenous event.
        variants: alternative risks for the value-function sensitivity sweep (name -> value).
        info: scenario extras (graph, parameters, agent traits).

    Example:
        >>> from jaxattr.scenarios import simulate_opinion
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> run
        ScenarioRun('opinion', T=4, N=8, d=5, target_step=2, risk='risky_expression')
        >>> run.target.shape, run.baseline_at_target("mean").shape
        ((8, 5), (8, 5))
    """

    name: str
    panel: Any
    risk: ValueFunction
    baseline: np.ndarray
    risk_series: np.ndarray
    target_step: int
    pre_event_step: int
    variants: dict = dataclasses.field(default_factory=dict)
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def features(self) -> np.ndarray:
        """``(T, N, d)`` features."""
        return self.panel.features

    @property
    def target(self) -> np.ndarray:
        """``(N, d)`` features at the target step."""
        return np.ascontiguousarray(self.panel.features[self.target_step])

    @property
    def target_baseline(self) -> np.ndarray:
        """``(N, d)`` baseline action at the target step."""
        return np.ascontiguousarray(self.baseline[self.target_step])

    def baseline_at_target(self, kind: str = "action") -> np.ndarray:
        """The ``(N, d)`` baseline of the target step for one of :data:`BASELINES`.

        ``action``: the neutral action; ``zero``: zeros; ``mean``: the population mean at the
        target step; ``pre-event``: each agent's state at ``pre_event_step``.

        Args:
            kind: one of :data:`BASELINES`.

        Returns:
            ``Float[ndarray, "N d"]``.

        Raises:
            ValueError: ``kind`` is not one of :data:`BASELINES`.
        """
        z = self.target
        if kind == "action":
            return self.target_baseline
        if kind == "zero":
            return np.zeros_like(z)
        if kind == "mean":
            return np.broadcast_to(z.mean(axis=0, keepdims=True), z.shape).copy()
        if kind == "pre-event":
            return np.ascontiguousarray(self.panel.features[self.pre_event_step])
        raise ValueError(f"baseline must be one of {BASELINES}, got {kind!r}")

    def __repr__(self) -> str:
        t, n, d = self.panel.shape
        return (
            f"ScenarioRun({self.name!r}, T={t}, N={n}, d={d}, target_step="
            f"{self.target_step}, risk={self.risk.name!r})"
        )


def target_step(risk_series: Float[ArrayLike, " T"]) -> int:
    """The post-midpoint peak ``argmax_{t >= T // 2} risk[t]`` (first one on ties).

    The scenarios put their exogenous event at or after ``T // 2``, so this is the step
    whose risk the event drives.

    Args:
        risk_series: ``(T,)`` risk of each step, ``T >= 1``.

    Returns:
        The step index, in ``[T // 2, T)``.

    Raises:
        ValueError: ``risk_series`` is not a non-empty 1-D sequence.

    Example:
        >>> from jaxattr.scenarios import target_step
        >>> target_step([9.0, 5.0, 1.0, 3.0, 2.0])  # the peak at 0 is before the midpoint
        3
    """
    r = np.asarray(risk_series)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(
            f"target_step: risk_series must have shape (T,) with T >= 1, got {r.shape}"
        )
    half = len(r) // 2
    return int(half + np.argmax(r[half:]))


def risk_series(value: ValueFunction, features) -> np.ndarray:
    """``(T,)`` risk of every step of a ``(T, N, d)`` trajectory."""
    zt = jnp.swapaxes(jnp.asarray(features, jnp.float32), 1, 2)
    return np.asarray(jax.jit(jax.vmap(value.fm))(zt))


def attribute_run(
    run: ScenarioRun,
    *,
    baseline: str | Float[ArrayLike, "N d"] | Float[ArrayLike, "T N d"] = "action",
    window: str = "target",
    value: ValueFunction | None = None,
    steps: int = 30,
    rule: str = "midpoint",
    **kwargs: Any,
) -> jaxattr.Attribution:
    """Aumann–Shapley attribution of a scenario's risk to its agents (and steps).

    ``phi[t, i] = sum_k (z - b)[t, i, k] ∫ d risk / dz[i, k](b_t + a (z_t - b_t)) da``.
    With ``window="target"`` the risk at the target step is attributed to the agents
    (``phi`` has shape ``(1, N)``); with ``window="all"`` the risk of every step is
    attributed to the agents at that step (``phi`` ``(T, N)``, the agents × steps map).

    Args:
        run: a :class:`ScenarioRun`.
        baseline: ``"action"`` (the neutral non-acting state, default), ``"zero"``,
            ``"mean"``, ``"pre-event"``, or an array ``(N, d)`` (target) / ``(T, N, d)``.
        window: ``"target"`` or ``"all"``.
        value: risk to attribute (default ``run.risk``).
        steps: path points K of the quadrature.
        rule: quadrature rule (``"midpoint"``, ``"gauss-legendre"``, ...).
        **kwargs: passed to :func:`jaxattr.attribute` (e.g. ``method``).

    Returns:
        :class:`jaxattr.Attribution` with ``phi`` ``(1, N)`` (target) or ``(T, N)`` (all).

    Raises:
        ValueError: unknown ``window`` or ``baseline``; an array baseline of the wrong shape
            and the validation errors of :func:`jaxattr.attribute`.

    Example:
        >>> from jaxattr.scenarios import simulate_opinion, attribute_run
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> att = attribute_run(run)
        >>> att.phi.shape, bool(att.efficiency_error.max() < 1e-2)
        ((1, 8), True)

        ``attribute_run(run, window="all")`` gives the ``(4, 8)`` agents × steps map.
    """
    value = run.risk if value is None else value
    if window == "target":
        b = baseline if not isinstance(baseline, str) else run.baseline_at_target(baseline)
        return jaxattr.attribute(
            run.target, value, baseline=np.asarray(b, np.float32), steps=steps, rule=rule, **kwargs
        )
    if window == "all":
        if isinstance(baseline, str):
            if baseline == "action":
                b = run.baseline
            elif baseline == "pre-event":
                b = np.broadcast_to(run.panel.features[run.pre_event_step], run.panel.shape).copy()
            elif baseline in ("zero", "mean"):
                b = baseline
            else:
                raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        else:
            b = baseline
        return jaxattr.attribute(run.panel, value, baseline=b, steps=steps, rule=rule, **kwargs)
    raise ValueError(f"window must be 'target' or 'all', got {window!r}")


def check_size(name: str, what: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: {what} must be an integer >= {low}, got {value!r}")
    return int(value)
