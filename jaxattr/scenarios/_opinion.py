"""Opinion network: N = 20 agents on a Barabási–Albert graph, bounded-confidence updates.

Each step every agent meets one random neighbour and, if their beliefs differ by less
than ``confidence``, moves ``mu`` of the way toward it (Deffuant et al.; on a BA graph as
in Stauffer & Meyer-Ortmanns 2004). From step ``T // 2`` an exogenous provocation pushes
beliefs toward +1 with a decaying strength, which drives the post-midpoint risk peak.
Each agent is also pulled back toward its initial belief (rate ``anchor``), so the
provocation's effect peaks and fades. The policy decides how much each agent posts and
which stance it expresses; views, likes and dislikes follow from the neighbours' attention
and agreement.

Features per step (d = 5): ``belief, posted, views, likes, dislikes``.

Risk (risky expression, C-infinity, mean-field with m = 2), with the smooth extremity
``ext(b) = sigmoid(8 (b² - 0.25))`` (surrogate of ``1[|b| > 0.5]``) and the loudness
``x_i = posted_i · ext(b_i) · (1 + log1p(views_i)) · (1 + likes_i) / (1 + 0.5 dislikes_i)``
::

    P = mean x (1 + tanh 4b) / 2,   Q = mean x (1 - tanh 4b) / 2      (the two camps)
    risk = log(1 + 3 (P + Q)) + 4 P Q                                 (loud and polarised)

``tanh(4b)`` is the smooth sign. Baseline action: neutral belief 0, no posting, so no
views, likes or dislikes.
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
from ._policies import Policy

FEATURES = ("belief", "posted", "views", "likes", "dislikes")
#: Observation columns handed to a policy.
OBS = ("belief", "activity", "degree", "mean_neighbour_belief", "last_views")
#: Action columns: posting intensity in [0, 1] and expressed stance in [-1, 1].
ACTIONS = ("posting", "stance")


@dataclasses.dataclass(frozen=True)
class OpinionRule(Policy):
    """Rule-based poster: extreme agents post more, and say what they believe.

    ``posting = activity · sigmoid(6 (|b| - 0.3))``, ``stance = b``.

    The default policy of :func:`simulate_opinion` (observations: the module's ``OBS``
    columns belief, activity, degree, mean neighbour belief, last views; actions: posting
    intensity and expressed stance).

    Args:
        name: label used in tables.

    Raises:
        IndexError: (from :meth:`act`) observations with fewer than 2 columns.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxattr.scenarios import OpinionRule
        >>> obs = jnp.array([[0.8, 1.0, 0.2, 0.0, 0.0], [0.0, 1.0, 0.2, 0.0, 0.0]])
        >>> a = jax.jit(OpinionRule().act)(jax.random.key(0), obs, 0)
        >>> [round(float(x), 2) for x in a[:, 0]]   # the extreme agent posts more
        [0.94, 0.14]
    """

    name: str = "rule"

    def act(
        self, key: Array, obs: Float[Array, "N 5"], step: Int[ArrayLike, ""]
    ) -> Float[Array, "N 2"]:
        """Posting intensity and stance of every agent (class formulas)."""
        b, activity = obs[:, 0], obs[:, 1]
        posting = activity * jax.nn.sigmoid(6.0 * (soft_abs(b) - 0.3))
        return jnp.stack([posting, b], axis=1)


def barabasi_albert(n: int, m: int = 2, *, seed: int = 0) -> Float[np.ndarray, "n n"]:
    """Adjacency ``(n, n)`` float32 of a Barabási–Albert graph (preferential attachment).

    Starts from a clique on ``m + 1`` nodes; each new node links to ``m`` distinct existing
    nodes with probability proportional to degree. Seeded NumPy generator: deterministic.

    Args:
        n: nodes (>= 2).
        m: edges of each new node (1 <= m < n).
        seed: seed of the NumPy generator.

    Returns:
        Symmetric 0/1 float32 adjacency with a zero diagonal.

    Raises:
        ValueError: ``n`` or ``m`` not an integer in range, or ``m >= n``.

    Example:
        >>> from jaxattr.scenarios import barabasi_albert
        >>> a = barabasi_albert(5, 2)
        >>> a.shape, bool((a == a.T).all()), int(a.sum()) // 2   # edges: 3 + 2 per new node
        ((5, 5), True, 7)
    """
    n = check_size("barabasi_albert", "n", n, 2)
    m = check_size("barabasi_albert", "m", m, 1)
    if m >= n:
        raise ValueError(f"barabasi_albert: m={m} must be < n={n}")
    rng = np.random.default_rng(seed)
    a = np.zeros((n, n), np.float32)
    a[: m + 1, : m + 1] = 1.0
    np.fill_diagonal(a, 0.0)
    for v in range(m + 1, n):
        deg = a[:v, :v].sum(axis=1)
        targets = rng.choice(v, size=m, replace=False, p=deg / deg.sum())
        a[v, targets] = a[targets, v] = 1.0
    return a


def _g(x):
    b, posted, views, likes, dislikes = (x[k] for k in range(5))
    ext = soft_step(b * b - 0.25)
    loud = posted * ext * (1.0 + jnp.log1p(views)) * (1.0 + likes) / (1.0 + 0.5 * dislikes)
    side = jnp.tanh(4.0 * b)
    return jnp.stack([loud * (1.0 + side) * 0.5, loud * (1.0 - side) * 0.5])


def _h(m):
    return jnp.log1p(3.0 * (m[0] + m[1])) + 4.0 * m[0] * m[1]


def opinion_risk() -> MeanFieldFM:
    """The risky-expression risk as a mean-field value function.

    ``risk = log(1 + 3 (P + Q)) + 4 P Q`` with P and Q the mean loudness of the two camps
    (positive and negative belief; see the module docstring of
    ``jaxattr.scenarios._opinion``): loud and polarised. Zero when nobody posts.

    Returns:
        A :class:`jaxattr.values.ValueFunction` on ``(N, 5)`` named ``"risky_expression"``.

    Raises:
        ValueError: (when evaluated) a step that is not ``(N, d)``.

    Example:
        >>> import jax, numpy as np
        >>> from jaxattr.scenarios import opinion_risk
        >>> risk = jax.jit(opinion_risk())
        >>> round(float(risk(np.full((4, 5), 0.5, np.float32))), 4)
        0.8301
        >>> float(risk(np.zeros((4, 5), np.float32)))
        0.0
    """
    return MeanFieldFM(g_fm=_g, h=_h, name="risky_expression")


def _loudness(x):
    """Per-agent loudness ``x_i`` (feature-major ``(5, n)`` -> ``(n,)``) and belief."""
    g = _g(x)
    return g[0] + g[1], x[0]


def opinion_variants() -> dict[str, MeanFieldFM]:
    """Weighted-sum, log-aggregate and pairwise-interaction risks on the loudness ``x_i``.

    ``sum: mean x``; ``log: log1p(3 mean x)``; ``pairwise: mean x + 2 (1/N²) Σ_ij x_i x_j
    cos(π (b_i - b_j) / 2)`` (O(N) through ``cos(u - v) = cos u cos v + sin u sin v``).
    They are the ``variants`` of an opinion run, compared by :func:`value_sensitivity`.

    Returns:
        ``{"weighted_sum", "log_aggregate", "pairwise"}`` -> value function on ``(N, 5)``.

    Raises:
        ValueError: (when evaluated) a step that is not ``(N, d)``.

    Example:
        >>> import jax, numpy as np
        >>> from jaxattr.scenarios import opinion_variants
        >>> z = np.full((4, 5), 0.5, np.float32)
        >>> {k: round(float(jax.jit(v)(z)), 4) for k, v in opinion_variants().items()}
        {'weighted_sum': 0.4216, 'log_aggregate': 0.8175, 'pairwise': 0.7772}
    """
    return loudness_variants(_loudness)


def loudness_variants(loud_fn):
    def g_sum(x):
        return loud_fn(x)[0][None]

    def g_pair(x):
        lx, b = loud_fn(x)
        u = 0.5 * jnp.pi * b
        return jnp.stack([lx, lx * jnp.cos(u), lx * jnp.sin(u)])

    return {
        "weighted_sum": MeanFieldFM(g_fm=g_sum, h=lambda m: m[0], name="weighted_sum"),
        "log_aggregate": MeanFieldFM(
            g_fm=g_sum, h=lambda m: jnp.log1p(3.0 * m[0]), name="log_aggregate"
        ),
        "pairwise": MeanFieldFM(
            g_fm=g_pair, h=lambda m: m[0] + 2.0 * (m[1] ** 2 + m[2] ** 2), name="pairwise"
        ),
    }


@functools.partial(jax.jit, static_argnames=("n_steps", "policy"))
def _simulate(key, adj, *, n_steps, policy, mu, confidence, provocation, anchor):
    n = adj.shape[0]
    k_b, k_a, k_s, k_run = jax.random.split(key, 4)
    belief0 = jax.random.uniform(k_b, (n,), minval=-0.8, maxval=0.8)
    activity = jax.random.uniform(k_a, (n,), minval=0.3, maxval=1.0)
    suscept = jax.random.uniform(k_s, (n,), minval=0.3, maxval=1.0)
    deg = jnp.sum(adj, axis=1)
    t_event = n_steps // 2
    logits = jnp.where(adj > 0, 0.0, -jnp.inf)

    def step(carry, xs):
        b, last_views = carry
        t, key_t = xs
        k_pol, k_meet = jax.random.split(key_t)
        nb_mean = (adj @ b) / deg
        obs = jnp.stack([b, activity, deg / n, nb_mean, last_views], axis=1)
        act = policy.act(k_pol, obs, t)
        posted = jnp.clip(act[:, 0], 0.0, 1.0)
        stance = jnp.clip(act[:, 1], -1.0, 1.0)
        attention = adj * activity[None, :]  # neighbour j's attention to i's posts
        views = posted * jnp.sum(attention, axis=1)
        agree = soft_step(confidence - jnp.abs(stance[:, None] - b[None, :]), 8.0)
        likes = posted * jnp.sum(attention * agree, axis=1)
        dislikes = views - likes
        feats = jnp.stack([b, posted, views, likes, dislikes], axis=1)
        # Deffuant step: meet one random neighbour, move toward it if within confidence.
        j = jax.random.categorical(k_meet, logits, axis=1)
        bj = b[j]
        close = (jnp.abs(bj - b) < confidence).astype(b.dtype)
        b_next = b + mu * close * (bj - b) + anchor * (belief0 - b)
        push = provocation * jnp.exp(-(t - t_event) / 4.0) * (t >= t_event)
        b_next = jnp.clip(b_next + push * suscept * (1.0 - b_next), -1.0, 1.0)
        return (b_next, views), feats

    keys = jax.random.split(k_run, n_steps)
    _, feats = jax.lax.scan(step, (belief0, jnp.zeros((n,))), (jnp.arange(n_steps), keys))
    return feats, activity


def simulate_opinion(
    n_agents: int = 20,
    n_steps: int = 30,
    *,
    seed: int = 0,
    policy: Policy | None = None,
    m: int = 2,
    mu: float = 0.3,
    confidence: float = 0.5,
    provocation: float = 0.6,
    anchor: float = 0.15,
) -> ScenarioRun:
    """Simulate bounded-confidence opinion dynamics on a BA graph (one ``lax.scan``).

    Args:
        n_agents: N (>= 3; default 20, the SocialLLM size).
        n_steps: T (>= 4).
        seed: seeds the graph (NumPy) and the ``jax.random`` key (beliefs, meetings).
        policy: a :class:`Policy` mapping ``OBS`` to ``ACTIONS``; default
            :class:`OpinionRule`.
        m: BA attachment edges per new node (< N).
        mu: convergence rate of a meeting.
        confidence: the bounded-confidence threshold.
        provocation: strength of the event at ``T // 2``.
        anchor: pull of each agent back toward its initial belief per step.

    Returns:
        :class:`ScenarioRun` with features ``(T, N, 5)``, the risky-expression risk and its
        variants, the neutral baseline (all zeros) and ``info["adjacency"]`` ``(N, N)``.

    Raises:
        ValueError: ``n_agents``, ``n_steps`` or ``m`` out of range (the message names which).

    Example:
        >>> from jaxattr.scenarios import simulate_opinion
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> run.panel.shape, run.info["adjacency"].shape, run.target_step
        ((4, 8, 5), (8, 8), 2)
    """
    n_agents = check_size("simulate_opinion", "n_agents", n_agents, 3)
    n_steps = check_size("simulate_opinion", "n_steps", n_steps, 4)
    policy = OpinionRule() if policy is None else policy
    adj = barabasi_albert(n_agents, m, seed=seed)
    feats, activity = _simulate(
        jax.random.key(seed),
        jnp.asarray(adj),
        n_steps=n_steps,
        policy=policy,
        mu=float(mu),
        confidence=float(confidence),
        provocation=float(provocation),
        anchor=float(anchor),
    )
    feats = np.asarray(feats, np.float32)
    risk = opinion_risk()
    series = risk_series(risk, feats)
    return ScenarioRun(
        name="opinion",
        panel=jaxattr.Panel(feats, feature_names=list(FEATURES)),
        risk=risk,
        baseline=np.zeros_like(feats),
        risk_series=series,
        target_step=target_step(series),
        pre_event_step=max(0, n_steps // 2 - 1),
        variants=opinion_variants(),
        info={
            "adjacency": adj,
            "activity": np.asarray(activity),
            "policy": policy.name,
            "seed": seed,
        },
    )
