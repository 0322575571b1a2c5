"""Economy scenario: household agents (EconAgent-like) and a smooth macro-pressure risk.

Each step every household chooses labour, a consumption rate and an investment rate
(the policy); income, consumption, saving and wealth follow, and the price level, the
wage and the interest rate respond to excess demand (a Taylor-type rule). A supply shock
(productivity drops by ``shock`` around step ``T // 2 + 2``) drives the post-midpoint
risk peak.

Features per step (d = 7): ``consumption, income, consumption_rate, investment_rate,
labour, saving_rate, wealth`` (wealth at the start of the step, scaled units).

Risk (C-infinity, mean-field with m = 7 aggregates), with ``x_i = wealth_i + income_i``::

    ED    = (mean c + mean inv_rate·x - mean income) / (mean income + 0.5)  excess demand
    S     = mean soft_relu(c - income - 0.1 wealth)                          budget stress
    CONC  = (mean x² - (mean x)²) / ((mean x)² + 0.25)                       concentration
    INST  = mean c² - (mean c)²                                              instability
    risk  = log(1 + mean x) · softplus(ED + 2 S + 0.5 CONC + INST - 1)       wealth-amplified

``soft_relu`` replaces ``max(0, ·)`` (see :func:`soft_relu`), softplus the outer hinge;
the ``+ 0.5`` and ``+ 0.25`` floors keep the ratios finite at an all-zero baseline.
Baseline action: labour, consumption, income, and the three rates zeroed; wealth kept.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

import jaxattr

from ._common import ScenarioRun, check_size, risk_series, soft_relu, target_step
from ._policies import Policy

FEATURES = (
    "consumption",
    "income",
    "consumption_rate",
    "investment_rate",
    "labour",
    "saving_rate",
    "wealth",
)
#: Observation columns handed to a policy.
OBS = (
    "wealth",
    "skill",
    "last_income",
    "price",
    "wage",
    "interest_rate",
    "thrift",
    "risk_appetite",
)
#: Action columns a policy returns (each clipped to [0, 1]; rates rescaled to sum <= 1).
ACTIONS = ("labour", "consumption_rate", "investment_rate")


@dataclasses.dataclass(frozen=True)
class EconomyRule(Policy):
    """Rule-based household: work more when the wage pays, spend more when prices rise.

    ``labour = sigmoid(0.8 + 1.2 log(wage·skill) - 0.6 log1p(wealth) + noise)``,
    ``c_rate = 0.1 + 0.6 sigmoid(0.3 - 0.6 log1p(wealth) + 3 (price - 1) + 0.3 (thrift - 1))``,
    ``i_rate = (1 - c_rate) 0.5 sigmoid(2 risk_appetite - 1 + 5 r - 3 (price - 1))``.

    The default policy of :func:`simulate_economy`; observations are the module's ``OBS``
    columns, actions its ``ACTIONS`` (labour, consumption rate, investment rate).

    Args:
        noise: standard deviation of the Gaussian noise in the labour (and half of it in
            the consumption) decision; 0 makes the rule deterministic.
        name: label used in tables.

    Raises:
        IndexError: (from :meth:`act`) observations with fewer than the 8 ``OBS`` columns.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxattr.scenarios import EconomyRule
        >>> obs = jnp.array([[1.0, 1.0, 0.0, 1.0, 1.0, 0.01, 1.0, 0.5]])  # one household
        >>> a = jax.jit(EconomyRule(noise=0.0).act)(jax.random.key(0), obs, 0)
        >>> a.shape, [round(float(x), 3) for x in a[0]]
        ((1, 3), [0.595, 0.383, 0.158])
    """

    noise: float = 0.3
    name: str = "rule"

    def act(
        self, key: Array, obs: Float[Array, "N 8"], step: Int[ArrayLike, ""]
    ) -> Float[Array, "N 3"]:
        """Labour, consumption rate and investment rate of every household (class formulas)."""
        w, skill, _, price, wage, r, thrift, appetite = (obs[:, k] for k in range(8))
        eps = self.noise * jax.random.normal(key, w.shape, obs.dtype)
        labour = jax.nn.sigmoid(0.8 + 1.2 * jnp.log(wage * skill) - 0.6 * jnp.log1p(w) + eps)
        c_rate = 0.1 + 0.6 * jax.nn.sigmoid(
            0.3 - 0.6 * jnp.log1p(w) + 3.0 * (price - 1.0) + 0.3 * (thrift - 1.0) + 0.5 * eps
        )
        i_rate = (
            (1.0 - c_rate)
            * 0.5
            * jax.nn.sigmoid(2.0 * appetite - 1.0 + 5.0 * r - 3.0 * (price - 1.0))
        )
        return jnp.stack([labour, c_rate, i_rate], axis=1)


def _g(x):
    """Per-agent aggregates of the economy risk; ``x`` is feature-major ``(7, n)``."""
    c, inc, _, i_rate, _, _, w = (x[k] for k in range(7))
    cash = w + inc
    return jnp.stack(
        [c, inc, i_rate * cash, soft_relu(c - inc - 0.1 * w), cash, cash * cash, c * c]
    )


def _h(m):
    mc, minc, minv, stress, mx, mx2, mc2 = (m[k] for k in range(7))
    ed = (mc + minv - minc) / (minc + 0.5)
    conc = (mx2 - mx * mx) / (mx * mx + 0.25)
    inst = mc2 - mc * mc
    pressure = ed + 2.0 * stress + 0.5 * conc + inst - 1.0
    return jnp.log1p(mx) * jax.nn.softplus(pressure)


def economy_risk() -> MeanFieldFM:
    """The economy's macro-pressure risk as a mean-field value function.

    ``risk = log(1 + mean x) · softplus(ED + 2 S + 0.5 CONC + INST - 1)`` on the 7 features
    of :func:`simulate_economy` (the module docstring of ``jaxattr.scenarios._economy``
    defines the excess demand ED, budget stress S, concentration CONC and instability INST);
    mean-field with ``m = 7`` aggregates, so attribution and Shapley references are O(N).

    Returns:
        A :class:`jaxattr.values.ValueFunction` on ``(N, 7)`` named ``"economy_pressure"``.

    Raises:
        ValueError: (when evaluated) a step that is not ``(N, d)``.

    Example:
        >>> import jax, numpy as np
        >>> from jaxattr.scenarios import economy_risk
        >>> risk = economy_risk()
        >>> risk.name, round(float(jax.jit(risk)(np.ones((4, 7), np.float32))), 4)
        ('economy_pressure', 1.1326)
    """
    return MeanFieldFM(g_fm=_g, h=_h, name="economy_pressure")


class MeanFieldFM(jaxattr.values.ValueFunction):
    """Mean-field value ``h(mean_i g(z_i))`` with ``g`` written feature-major ``(d, n)``.

    Args:
        g_fm: per-agent aggregates, ``(d, n) -> (m, n)``.
        h: the outer function, ``(m,) -> ()``.
        name: label used in tables.
    """

    g_fm: Callable
    h: Callable
    name: str = eqx.field(default="mean_field", static=True)
    supports_mask = True

    def fm(self, zt, mask=None):
        gz = self.g_fm(zt)
        if mask is None:
            return self.h(jnp.mean(gz, axis=-1))
        return self.h(jnp.sum(gz * mask, axis=-1) / jnp.sum(mask))

    @property
    def mean_field(self) -> tuple[Callable, Callable]:
        return self.g_fm, self.h


@functools.partial(jax.jit, static_argnames=("n_agents", "n_steps", "policy", "shock"))
def _simulate(key, *, n_agents, n_steps, policy, shock):
    k_skill, k_w, k_th, k_ap, k_run = jax.random.split(key, 5)
    skill = jnp.exp(0.5 * jax.random.normal(k_skill, (n_agents,)))
    wealth0 = jnp.exp(0.8 * jax.random.normal(k_w, (n_agents,)))
    thrift = jax.random.uniform(k_th, (n_agents,), minval=0.5, maxval=1.5)
    appetite = jax.random.uniform(k_ap, (n_agents,))
    t_shock = n_steps // 2 + 2

    def step(carry, xs):
        w, last_inc, price, wage, r = carry
        t, key_t = xs
        k_pol, k_ret = jax.random.split(key_t)
        ones = jnp.ones_like(w)
        obs = jnp.stack(
            [w, skill, last_inc, price * ones, wage * ones, r * ones, thrift, appetite], axis=1
        )
        act = jnp.clip(policy.act(k_pol, obs, t), 0.0, 1.0)
        labour, c_rate, i_rate = act[:, 0], act[:, 1], act[:, 2]
        tot = jnp.maximum(c_rate + i_rate, 1.0)  # rates may not exceed cash on hand
        c_rate, i_rate = c_rate / tot, i_rate / tot
        income = wage * skill * labour
        cash = w + income
        consumption = c_rate * cash
        invest = i_rate * cash
        saving_rate = 1.0 - c_rate - i_rate
        ret = 0.03 + 0.08 * jax.random.normal(k_ret, ())
        w_next = (cash - consumption - invest) * (1.0 + r) + invest * (1.0 + ret)
        productivity = 1.0 - shock * jnp.exp(-0.5 * ((t - t_shock) / 1.5) ** 2)
        supply = productivity * jnp.mean(skill * labour)
        demand = jnp.mean(consumption) / price
        inflation = jnp.exp(0.3 * jnp.tanh((demand - supply) / supply)) - 1.0
        price_next = price * (1.0 + inflation)
        wage_next = wage * (1.0 + 0.6 * inflation)
        r_next = jnp.maximum(0.01 + 0.5 * inflation, 0.0)
        feats = jnp.stack([consumption, income, c_rate, i_rate, labour, saving_rate, w], axis=1)
        macro = jnp.stack([price, wage, r])
        return (w_next, income, price_next, wage_next, r_next), (feats, macro)

    init = (wealth0, jnp.zeros((n_agents,)), jnp.float32(1.0), jnp.float32(1.0), jnp.float32(0.01))
    keys = jax.random.split(k_run, n_steps)
    _, (feats, macro) = jax.lax.scan(step, init, (jnp.arange(n_steps), keys))
    return feats, macro, skill


def simulate_economy(
    n_agents: int = 100,
    n_steps: int = 40,
    *,
    seed: int = 0,
    policy: Policy | None = None,
    shock: float = 0.35,
) -> ScenarioRun:
    """Simulate the household economy (one ``lax.scan``, seeded and deterministic).

    Args:
        n_agents: N households (>= 2).
        n_steps: T (>= 4).
        seed: integer seed of the ``jax.random`` key (traits, policy noise, returns).
        policy: a :class:`Policy` mapping ``OBS`` to ``ACTIONS``; default
            :class:`EconomyRule`.
        shock: size of the productivity drop around step ``T // 2 + 2`` (0 = none).

    Returns:
        :class:`ScenarioRun` with features ``(T, N, 7)`` (``FEATURES``), the
        macro-pressure risk, and the baseline action (flows and rates 0, wealth kept).

    Raises:
        ValueError: ``n_agents`` or ``n_steps`` not an integer in range (the message names
            which).

    Example:
        >>> from jaxattr.scenarios import simulate_economy
        >>> run = simulate_economy(n_agents=8, n_steps=4, seed=1)
        >>> run.panel.shape, run.info["macro_names"]
        ((4, 8, 7), ('price', 'wage', 'interest_rate'))
        >>> bool((run.baseline[..., 6] == run.features[..., 6]).all())  # wealth is kept
        True
    """
    n_agents = check_size("simulate_economy", "n_agents", n_agents, 2)
    n_steps = check_size("simulate_economy", "n_steps", n_steps, 4)
    policy = EconomyRule() if policy is None else policy
    feats, macro, skill = _simulate(
        jax.random.key(seed), n_agents=n_agents, n_steps=n_steps, policy=policy, shock=float(shock)
    )
    feats = np.asarray(feats, np.float32)
    panel = jaxattr.Panel(feats, feature_names=list(FEATURES))
    baseline = np.zeros_like(feats)
    baseline[..., 6] = feats[..., 6]
    risk = economy_risk()
    series = risk_series(risk, feats)
    return ScenarioRun(
        name="economy",
        panel=panel,
        risk=risk,
        baseline=baseline,
        risk_series=series,
        target_step=target_step(series),
        pre_event_step=max(0, n_steps // 2 - 1),
        info={
            "macro": np.asarray(macro),
            "macro_names": ("price", "wage", "interest_rate"),
            "skill": np.asarray(skill),
            "policy": policy.name,
            "seed": seed,
        },
    )
