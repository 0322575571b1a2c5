"""Mid-scale propagation: 10^4 to 10^5 agents, stances and message prototypes.

A handful of stance groups and message prototypes (the part an LLM would generate:
personas, stances, prototype messages with a virality) seed an otherwise deterministic
propagation on a follow graph: each agent follows ``k`` accounts drawn in proportion to
their (heavy-tailed) follower counts; exposure is the influence-weighted output of the
followed accounts; beliefs move toward the stance of what an agent sees, with a smooth
bounded-confidence weight; posting and resharing are the policy's actions. At step
``T // 2`` a viral prototype (stance +0.9) is injected through the top 1% most
influential agents for three steps, which drives the post-midpoint risk peak.

Features per step (d = 5): ``belief, exposure, posting, reshare, influence``.

Risk (influence-weighted propagation, C-infinity, mean-field), with
``ext(b) = sigmoid(8 (b² - 0.25))`` (surrogate of ``1[|b| > 0.5]``) and
``x_i = influence_i · (posting_i + reshare_i) · ext(b_i) · (1 + 0.2 log1p(exposure_i))``::

    risk = log(1 + 3 mean_i x_i)

Variants for the sensitivity sweep: ``weighted_sum`` (mean x), ``log_aggregate`` (the
risk), ``pairwise`` (mean x + 2 (1/N²) Σ_ij x_i x_j cos(π (b_i - b_j) / 2), computed in
O(N)). Baseline action: neutral belief 0, no posting, no resharing; the exposure an
agent receives and its influence weight (context, not actions) are kept.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

import jaxattr

from ._common import ScenarioRun, check_size, risk_series, soft_abs, soft_step, target_step
from ._economy import MeanFieldFM
from ._opinion import loudness_variants
from ._policies import Policy

FEATURES = ("belief", "exposure", "posting", "reshare", "influence")
#: Observation columns handed to a policy.
OBS = ("belief", "activity", "susceptibility", "exposure", "seen_stance", "influence")
#: Action columns: posting and reshare intensities (>= 0).
ACTIONS = ("posting", "reshare")


@dataclasses.dataclass(frozen=True)
class MidscaleRule(Policy):
    """Post when convinced, reshare what is close to one's own belief.

    ``posting = activity · sigmoid(4 (|b| - 0.3))``,
    ``reshare = susceptibility · e / (1 + e) · sigmoid(4 (1 - |seen - b|))``, e = exposure.

    The default policy of :func:`simulate_midscale` (observations: the module's ``OBS``
    columns belief, activity, susceptibility, exposure, seen stance, influence; actions:
    posting and reshare intensities).

    Args:
        name: label used in tables.

    Raises:
        IndexError: (from :meth:`act`) observations with fewer than 5 columns.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxattr.scenarios import MidscaleRule
        >>> obs = jnp.array([[0.8, 1.0, 0.5, 1.0, 0.8, 1.0]])
        >>> a = jax.jit(MidscaleRule().act)(jax.random.key(0), obs, 0)
        >>> [round(float(x), 3) for x in a[0]]
        [0.859, 0.246]
    """

    name: str = "rule"

    def act(
        self, key: Array, obs: Float[Array, "N 6"], step: Int[ArrayLike, ""]
    ) -> Float[Array, "N 2"]:
        """Posting and reshare intensities of every agent (class formulas)."""
        b, activity, suscept, expo, seen = (obs[:, k] for k in range(5))
        posting = activity * jax.nn.sigmoid(4.0 * (soft_abs(b) - 0.3))
        reshare = suscept * expo / (1.0 + expo) * jax.nn.sigmoid(4.0 * (1.0 - jnp.abs(seen - b)))
        return jnp.stack([posting, reshare], axis=1)


def _loudness(x):
    b, expo, post, reshare, w = (x[k] for k in range(5))
    return w * (post + reshare) * soft_step(b * b - 0.25) * (1.0 + 0.2 * jnp.log1p(expo)), b


def _g(x):
    return _loudness(x)[0][None]


def _h(m):
    return jnp.log1p(3.0 * m[0])


def midscale_risk() -> MeanFieldFM:
    """The influence-weighted propagation risk as a mean-field value function.

    ``risk = log(1 + 3 mean_i x_i)`` with ``x_i = influence_i (posting_i + reshare_i)
    ext(b_i) (1 + 0.2 log1p(exposure_i))`` and ``ext`` the smooth extremity (module
    docstring of ``jaxattr.scenarios._midscale``).

    Returns:
        A :class:`jaxattr.values.ValueFunction` on ``(N, 5)`` named ``"propagation_risk"``.

    Raises:
        ValueError: (when evaluated) a step that is not ``(N, d)``.

    Example:
        >>> import jax, numpy as np
        >>> from jaxattr.scenarios import midscale_risk
        >>> round(float(jax.jit(midscale_risk())(np.full((4, 5), 0.5, np.float32))), 4)
        0.5938
    """
    return MeanFieldFM(g_fm=_g, h=_h, name="propagation_risk")


def midscale_variants() -> dict[str, MeanFieldFM]:
    """Weighted-sum, log-aggregate and pairwise-interaction risks on the loudness ``x_i``.

    As :func:`opinion_variants`, with the mid-scale loudness of :func:`midscale_risk`:
    ``weighted_sum`` (mean x), ``log_aggregate`` (the risk itself) and ``pairwise``.

    Returns:
        ``{"weighted_sum", "log_aggregate", "pairwise"}`` -> value function on ``(N, 5)``.

    Raises:
        ValueError: (when evaluated) a step that is not ``(N, d)``.

    Example:
        >>> import jax, numpy as np
        >>> from jaxattr.scenarios import midscale_risk, midscale_variants
        >>> z = np.full((4, 5), 0.5, np.float32)
        >>> v = midscale_variants()
        >>> list(v), float(jax.jit(v["log_aggregate"])(z)) == float(jax.jit(midscale_risk())(z))
        (['weighted_sum', 'log_aggregate', 'pairwise'], True)
    """
    return loudness_variants(_loudness)


@functools.partial(
    jax.jit, static_argnames=("n_agents", "n_steps", "policy", "k_follow", "n_prototypes")
)
def _simulate(key, *, n_agents, n_steps, policy, k_follow, n_prototypes, mu, anchor):
    n = n_agents
    ks = jax.random.split(key, 8)
    group = jax.random.categorical(ks[0], jnp.log(jnp.array([0.3, 0.4, 0.3])), shape=(n,))
    belief0 = jnp.clip(0.6 * (group - 1.0) + 0.25 * jax.random.normal(ks[1], (n,)), -1.0, 1.0)
    activity = jnp.minimum(jnp.exp(-1.0 + 0.8 * jax.random.normal(ks[2], (n,))), 3.0)
    suscept = jax.random.uniform(ks[3], (n,), minval=0.2, maxval=1.0)
    followers = jax.random.uniform(ks[4], (n,), minval=1e-4, maxval=1.0) ** (-1.0 / 1.5)
    influence = jnp.log1p(followers)
    influence = influence / jnp.mean(influence)
    cdf = jnp.cumsum(followers) / jnp.sum(followers)
    follows = jnp.minimum(jnp.searchsorted(cdf, jax.random.uniform(ks[5], (n, k_follow))), n - 1)
    proto_stance = jnp.linspace(-0.9, 0.9, n_prototypes)
    proto_viral = jax.random.uniform(ks[6], (n_prototypes,), minval=0.5, maxval=1.5)
    seeded = influence >= jnp.quantile(influence, 0.99)
    t_event = n_steps // 2

    def step(carry, t):
        b, out, stance_out, viral_out = carry
        signal = out * viral_out
        expo = jnp.sum(signal[follows], axis=1) / k_follow
        seen = jnp.sum((signal * stance_out)[follows], axis=1) / k_follow / (expo + 1e-3)
        obs = jnp.stack([b, activity, suscept, expo, seen, influence], axis=1)
        act = jnp.maximum(policy.act(jax.random.fold_in(ks[7], t), obs, t), 0.0)
        event = ((t >= t_event) & (t < t_event + 3)).astype(b.dtype)
        posting = act[:, 0] + event * seeded
        reshare = act[:, 1]
        feats = jnp.stack([b, expo, posting, reshare, influence], axis=1)
        proto = jnp.argmin(jnp.abs(proto_stance[None, :] - b[:, None]), axis=1)
        stance_next = jnp.where(seeded & (event > 0), 0.9, proto_stance[proto])
        viral_next = jnp.where(seeded & (event > 0), 3.0, proto_viral[proto])
        pull = expo / (1.0 + expo) * soft_step(0.8 - jnp.abs(seen - b), 8.0)
        b_next = jnp.clip(b + mu * pull * (seen - b) + anchor * (belief0 - b), -1.0, 1.0)
        out_next = (posting + reshare) * influence
        return (b_next, out_next, stance_next, viral_next), feats

    init = (belief0, jnp.zeros((n,)), jnp.zeros((n,)), jnp.ones((n,)))
    _, feats = jax.lax.scan(step, init, jnp.arange(n_steps))
    return feats, follows, seeded


def simulate_midscale(
    n_agents: int = 10_000,
    n_steps: int = 20,
    *,
    seed: int = 0,
    policy: Policy | None = None,
    k_follow: int = 8,
    n_prototypes: int = 6,
    mu: float = 0.4,
    anchor: float = 0.1,
) -> ScenarioRun:
    """Simulate the mid-scale propagation (one ``lax.scan``, seeded and deterministic).

    Args:
        n_agents: N (10^4 to 10^5 is the intended range; >= 10 works).
        n_steps: T (>= 4).
        seed: the ``jax.random`` key seed.
        policy: a :class:`Policy` mapping ``OBS`` to ``ACTIONS``; default
            :class:`MidscaleRule`.
        k_follow: accounts followed per agent (>= 1).
        n_prototypes: message prototypes (>= 2).
        mu: belief update rate.
        anchor: pull back toward the initial belief.

    Returns:
        :class:`ScenarioRun` with features ``(T, N, 5)``, the propagation risk and its
        variants, and the neutral baseline (belief, posting, reshare 0; context kept).

    Raises:
        ValueError: a size argument not an integer in range (the message names which).

    Example:
        >>> from jaxattr.scenarios import simulate_midscale
        >>> run = simulate_midscale(n_agents=20, n_steps=4)
        >>> run.panel.shape, run.info["follows"].shape
        ((4, 20, 5), (20, 8))
    """
    n_agents = check_size("simulate_midscale", "n_agents", n_agents, 10)
    n_steps = check_size("simulate_midscale", "n_steps", n_steps, 4)
    k_follow = check_size("simulate_midscale", "k_follow", k_follow, 1)
    n_prototypes = check_size("simulate_midscale", "n_prototypes", n_prototypes, 2)
    policy = MidscaleRule() if policy is None else policy
    feats, follows, seeded = _simulate(
        jax.random.key(seed),
        n_agents=n_agents,
        n_steps=n_steps,
        policy=policy,
        k_follow=k_follow,
        n_prototypes=n_prototypes,
        mu=float(mu),
        anchor=float(anchor),
    )
    feats = np.asarray(feats, np.float32)
    baseline = np.zeros_like(feats)
    baseline[..., 1] = feats[..., 1]
    baseline[..., 4] = feats[..., 4]
    risk = midscale_risk()
    series = risk_series(risk, feats)
    return ScenarioRun(
        name="midscale",
        panel=jaxattr.Panel(feats, feature_names=list(FEATURES)),
        risk=risk,
        baseline=baseline,
        risk_series=series,
        target_step=target_step(series),
        pre_event_step=max(0, n_steps // 2 - 1),
        variants=midscale_variants(),
        info={
            "follows": np.asarray(follows),
            "seeded": np.asarray(seeded),
            "policy": policy.name,
            "seed": seed,
        },
    )
