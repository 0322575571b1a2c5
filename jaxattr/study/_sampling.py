"""Sampling protocols of the cross-scale study (docs/study.md; paper appendix N).

Every protocol fixes an ordered *pool* of agents and draws n of them uniformly without
replacement; when n exceeds the pool, the subset is the whole pool plus a uniform random
complement from the other agents, so every protocol reaches the full panel at n = N.

- ``BIAS_visibility``: pool = top ``p`` of agents by ``z(log1p followers) + z(log1p
  engagement)`` (z-scores over the full panel).
- ``BIAS_topic_x_follow``: pool = top agents by ``followers × engagement``, pool size = the
  topic's active count (paper appendix N: "matched to the topic's active count").
- ``BIAS_topic_top``: pool = top agents by engagement alone, same pool size.

The topic's *active count* is read as the number of agents active in the topic on a typical
day: the mean over steps of the agents with activity or resonance > 0 that day
(:func:`active_count_of`). Sizing the milder pools as the count of agents with any
engagement over the whole window (this module's earlier reading) makes both pools the same
set, every engaged agent, so their scores never matter; with the daily count they are the
top of two different orderings and differ.
- ``RAND``: pool = every agent (uniform draws).

Draws use NumPy generators seeded from ``(seed, topic, protocol, n, draw)`` through
:class:`numpy.random.SeedSequence`, so a cell's subsets do not depend on which other cells
ran first (the runner can resume in any order).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float, Int

__all__ = [
    "PROTOCOLS",
    "active_count_of",
    "draw_subsets",
    "engagement_of",
    "followers_of",
    "protocol_pools",
]

PROTOCOLS = ("BIAS_visibility", "BIAS_topic_x_follow", "BIAS_topic_top", "RAND")
"""The sampling protocols, most biased first (pools: :func:`protocol_pools`).

Example:
    >>> from jaxattr.study import PROTOCOLS
    >>> PROTOCOLS[0], PROTOCOLS[-1]
    ('BIAS_visibility', 'RAND')
"""


def followers_of(panel: Any) -> Float[np.ndarray, " N"]:
    """``(N,)`` follower counts of a panel's agents.

    The agent-table column ``followers`` if present, else ``expm1(reach)`` at the first step
    (reach = log1p followers), else the first feature at the first step.

    Args:
        panel: a :class:`jaxattr.Panel`.

    Returns:
        ``(N,)`` float64 follower counts.

    Raises:
        AttributeError: ``panel`` is not a Panel (no ``agents`` / ``feature_major``).

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.zeros((2, 4, 3), np.float32)               # (T, N, d)
        >>> z[:, :, 0] = np.log1p([10, 100, 0, 5])            # reach = log1p(followers)
        >>> z[0, :, 1] = np.log1p([1, 0, 0, 2])               # activity on day 0
        >>> z[1, :, 2] = np.log1p([0, 3, 0, 0])               # resonance on day 1
        >>> panel = jaxattr.Panel(z, feature_names=["reach", "activity", "resonance"])
        >>> from jaxattr.study import followers_of
        >>> followers_of(panel).round(3).tolist()
        [10.0, 100.0, 0.0, 5.0]
    """
    if "followers" in panel.agents:
        return np.asarray(panel.agents["followers"], dtype=np.float64)
    fm = panel.feature_major
    if "reach" in panel.feature_names:
        return np.expm1(fm[0, panel.feature_names.index("reach")].astype(np.float64))
    return fm[0, 0].astype(np.float64)


def engagement_of(panel: Any) -> Float[np.ndarray, " N"]:
    """``(N,)`` topic engagement over the window: posts + reposts + replies received.

    With features ``activity`` = log1p(posts + reposts) and ``resonance`` = log1p(replies)
    this is ``sum_t expm1(activity) + expm1(resonance)``; a panel without those names uses
    the sum over steps of every feature but the first.

    Args:
        panel: a :class:`jaxattr.Panel`.

    Returns:
        ``(N,)`` float64 engagement.

    Raises:
        AttributeError: ``panel`` is not a Panel.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.zeros((2, 4, 3), np.float32)               # (T, N, d)
        >>> z[:, :, 0] = np.log1p([10, 100, 0, 5])            # reach = log1p(followers)
        >>> z[0, :, 1] = np.log1p([1, 0, 0, 2])               # activity on day 0
        >>> z[1, :, 2] = np.log1p([0, 3, 0, 0])               # resonance on day 1
        >>> panel = jaxattr.Panel(z, feature_names=["reach", "activity", "resonance"])
        >>> from jaxattr.study import engagement_of
        >>> engagement_of(panel).round(3).tolist()
        [1.0, 3.0, 0.0, 2.0]
    """
    fm = panel.feature_major
    names = panel.feature_names
    if "activity" in names and "resonance" in names:
        ks = [names.index("activity"), names.index("resonance")]
        out = np.zeros(fm.shape[2], np.float64)
        for k in ks:
            out += np.expm1(fm[:, k].astype(np.float64)).sum(axis=0)
        return out
    if fm.shape[1] == 1:
        return fm[:, 0].astype(np.float64).sum(axis=0)
    return fm[:, 1:].astype(np.float64).sum(axis=(0, 1))


def active_count_of(panel: Any) -> int:
    """The topic's active count: agents engaged on a typical day (mean over steps, rounded).

    An agent is active on day t when its activity or resonance (with those feature names;
    else every feature but the first) is > 0 that day. At least 1.

    Args:
        panel: a :class:`jaxattr.Panel`.

    Returns:
        The count, an int >= 1.

    Raises:
        AttributeError: ``panel`` is not a Panel.

    Example:
        >>> import numpy as np, jaxattr
        >>> z = np.zeros((2, 4, 3), np.float32)               # (T, N, d)
        >>> z[:, :, 0] = np.log1p([10, 100, 0, 5])            # reach = log1p(followers)
        >>> z[0, :, 1] = np.log1p([1, 0, 0, 2])               # activity on day 0
        >>> z[1, :, 2] = np.log1p([0, 3, 0, 0])               # resonance on day 1
        >>> panel = jaxattr.Panel(z, feature_names=["reach", "activity", "resonance"])
        >>> from jaxattr.study import active_count_of
        >>> active_count_of(panel)     # 2 agents active on day 0, 1 on day 1
        2
    """
    fm = panel.feature_major
    names = list(panel.feature_names)
    if "activity" in names and "resonance" in names:
        ks = [names.index("activity"), names.index("resonance")]
    else:
        ks = list(range(1, fm.shape[1])) or [0]
    per_day = np.zeros(fm.shape[0], np.int64)
    for t in range(fm.shape[0]):
        act = np.zeros(fm.shape[2], bool)
        for k in ks:
            act |= fm[t, k] > 0
        per_day[t] = np.count_nonzero(act)
    return max(1, int(round(float(per_day.mean()))))


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def _top(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties: lower index first)."""
    k = int(min(max(k, 0), score.size))
    if k == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-score, kind="stable")
    return order[:k].astype(np.int64)


def protocol_pools(
    followers: Float[ArrayLike, " N"],
    engagement: Float[ArrayLike, " N"],
    *,
    pool_fraction: float = 0.01,
    active_count: int | None = None,
) -> dict[str, Int[np.ndarray, " P"]]:
    """The ordered pool of each protocol.

    Args:
        followers: ``(N,)`` follower counts (>= 0).
        engagement: ``(N,)`` topic engagement over the window (>= 0).
        pool_fraction: ``p`` of BIAS_visibility, the fraction of agents in its pool
            (default 1%).
        active_count: size of the two milder pools, the topic's active count
            (:func:`active_count_of` of the panel); None: the number of agents with
            engagement > 0 over the window (then both milder pools are that same set).

    Returns:
        ``{protocol: (P,) int64 agent indices}``; RAND's pool is every agent.

    Raises:
        ValueError: mismatched shapes, negative or NaN inputs, p outside (0, 1], an
            ``active_count`` outside ``[1, N]``.

    Example:
        >>> from jaxattr.study import protocol_pools
        >>> pools = protocol_pools([10.0, 100.0, 0.0, 5.0], [1.0, 3.0, 0.0, 2.0],
        ...                        pool_fraction=0.25, active_count=2)
        >>> pools["BIAS_visibility"].tolist(), pools["BIAS_topic_top"].tolist(), pools["RAND"].size
        ([1], [1, 3], 4)
    """
    f = np.asarray(followers, dtype=np.float64)
    e = np.asarray(engagement, dtype=np.float64)
    if f.ndim != 1 or f.shape != e.shape:
        raise ValueError(
            f"protocol_pools: followers {f.shape} and engagement {e.shape} must "
            "both have shape (N,)"
        )
    for name, x in (("followers", f), ("engagement", e)):
        bad = np.flatnonzero(~(x >= 0))
        if bad.size:
            raise ValueError(
                f"protocol_pools: {name} must be >= 0 and finite, got {x[bad[0]]} "
                f"at agent {int(bad[0])}"
            )
    if not 0 < pool_fraction <= 1:
        raise ValueError(f"protocol_pools: pool_fraction must be in (0, 1], got {pool_fraction}")
    n = f.size
    if active_count is None:
        active = int(np.count_nonzero(e > 0))
    else:
        if isinstance(active_count, bool) or not 1 <= int(active_count) <= n:
            raise ValueError(
                f"protocol_pools: active_count must be in [1, N={n}], got {active_count!r}"
            )
        active = int(active_count)
    vis = _z(np.log1p(f)) + _z(np.log1p(e))
    return {
        "BIAS_visibility": _top(vis, int(np.ceil(pool_fraction * n))),
        "BIAS_topic_x_follow": _top(f * e, active),
        "BIAS_topic_top": _top(e, active),
        "RAND": np.arange(n, dtype=np.int64),
    }


def _seed_words(*parts) -> list[int]:
    h = hashlib.sha256(repr(parts).encode()).digest()
    return [int.from_bytes(h[i : i + 4], "little") for i in range(0, 16, 4)]


def draw_subsets(
    pool: Int[ArrayLike, " P"],
    n_total: int,
    n: int,
    *,
    draws: int = 10,
    seed: int = 0,
    key: tuple = (),
) -> Int[np.ndarray, "draws n"]:
    """Draw ``draws`` subsets of size n: n uniform from the pool, or pool + random complement.

    Args:
        pool: ``(P,)`` agent indices of the protocol's pool.
        n_total: N, the number of agents of the panel.
        n: subset size, ``1 <= n <= N``; ``n = N`` returns the full panel (one draw).
        draws: number of independent subsets.
        seed: base seed; with ``key`` it seeds each draw.
        key: identifies the cell (e.g. ``(topic, protocol)``), so cells draw independently.

    Returns:
        ``(draws, n)`` int64 agent indices, each row sorted ascending (a set of agents).

    Raises:
        ValueError: n outside ``[1, N]``, draws < 1, pool indices out of range.

    Example:
        >>> import numpy as np
        >>> from jaxattr.study import draw_subsets
        >>> s = draw_subsets(np.arange(5), 100, 10, draws=2)
        >>> s.shape, bool(np.isin(np.arange(5), s[0]).all())
        ((2, 10), True)
    """
    pool = np.asarray(pool, dtype=np.int64)
    if not 1 <= n <= n_total:
        raise ValueError(f"draw_subsets: n must be in [1, N={n_total}], got {n}")
    if draws < 1:
        raise ValueError(f"draw_subsets: draws must be >= 1, got {draws}")
    if pool.size and (pool.min() < 0 or pool.max() >= n_total):
        raise ValueError(f"draw_subsets: pool indices must lie in [0, {n_total})")
    if n == n_total:
        return np.arange(n_total, dtype=np.int64)[None]
    out = np.empty((draws, n), np.int64)
    complement = np.zeros(0, np.int64)
    if n > pool.size:
        keep = np.ones(n_total, bool)
        keep[pool] = False
        complement = np.flatnonzero(keep)
    for j in range(draws):
        rng = np.random.default_rng(_seed_words(seed, *key, n, j))
        if n <= pool.size:
            pick = pool[rng.choice(pool.size, n, replace=False)]
        else:
            extra = complement[rng.choice(complement.size, n - pool.size, replace=False)]
            pick = np.concatenate([pool, extra])
        out[j] = np.sort(pick)
    return out
