"""What every scenario returns, smooth surrogates, and attribution of a run."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxattr
from jaxattr.values import ValueFunction

BASELINES = ("action", "zero", "mean", "pre-event")


# ----------------------------------------------------------------- smooth surrogates
def soft_relu(x, beta: float = 4.0):
    """Smooth ``max(0, x)``: ``softplus(beta x) / beta`` (C-infinity, error <= log 2 / beta)."""
    return jax.nn.softplus(beta * x) / beta


def soft_step(x, sharpness: float = 8.0):
    """Smooth indicator ``1[x > 0]``: ``sigmoid(sharpness x)``."""
    return jax.nn.sigmoid(sharpness * x)


def soft_abs(x, eps: float = 0.05):
    """Smooth ``|x|``: ``sqrt(x² + eps²) - eps`` (0 at 0, C-infinity)."""
    return jnp.sqrt(x * x + eps * eps) - eps


# ----------------------------------------------------------------- the run
@dataclasses.dataclass
class ScenarioRun:
    """One simulated trajectory with its risk and its neutral baseline action.

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


def target_step(risk_series) -> int:
    """The post-midpoint peak ``argmax_{t >= T // 2} risk[t]``."""
    r = np.asarray(risk_series)
    half = len(r) // 2
    return int(half + np.argmax(r[half:]))


def risk_series(value: ValueFunction, features) -> np.ndarray:
    """``(T,)`` risk of every step of a ``(T, N, d)`` trajectory."""
    zt = jnp.swapaxes(jnp.asarray(features, jnp.float32), 1, 2)
    return np.asarray(jax.jit(jax.vmap(value.fm))(zt))


def attribute_run(
    run: ScenarioRun,
    *,
    baseline: str | np.ndarray = "action",
    window: str = "target",
    value: ValueFunction | None = None,
    steps: int = 30,
    rule: str = "midpoint",
    **kwargs,
):
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
        steps, rule, kwargs: passed to :func:`jaxattr.attribute`.

    Returns:
        :class:`jaxattr.Attribution`.

    Raises:
        ValueError: unknown ``window`` or ``baseline``.

    Example:
        >>> from jaxattr.scenarios import simulate_opinion, attribute_run
        >>> att = attribute_run(simulate_opinion(n_steps=10))
        >>> att.phi.shape
        (1, 20)
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
