"""A small heavy-tailed, Bluesky-like panel generator for training and tests.

Used when :mod:`jaxattr.data`'s synthetic world is not available. Results on it show the
machinery working; they are no claim about any real platform.
"""

from __future__ import annotations

import numpy as np

from .._panel import Panel

FEATURES = ("reach", "activity", "resonance")


def heavy_tailed_panel(
    n_agents: int = 10_000, n_steps: int = 14, *, seed: int = 0, peak_day: int | None = None
) -> Panel:
    """A ``(T, N, 3)`` panel of log1p features with heavy-tailed followers and activity.

    ``reach = log1p(followers)`` (static, Pareto tail), ``activity = log1p(posts that day)``
    (most agents inactive, activity rises with followers and around a peak day),
    ``resonance = log1p(replies received)`` (Poisson, rate growing with reach x activity).

    Args:
        n_agents: N >= 1.
        n_steps: T >= 1.
        seed: NumPy seed (equal seeds give equal panels).
        peak_day: day of the topic event (default T // 2).

    Returns:
        A ``(T, N, 3)`` :class:`jaxattr.Panel` with feature names
        ``reach, activity, resonance`` and an agent table column ``followers``.

    Raises:
        ValueError: ``n_agents < 1`` or ``n_steps < 1``.

    Example:
        >>> from jaxattr import deepset
        >>> panel = deepset.heavy_tailed_panel(8, 3, seed=1)
        >>> print(panel.shape, panel.feature_names)
        (3, 8, 3) ['reach', 'activity', 'resonance']
    """
    if n_agents < 1 or n_steps < 1:
        raise ValueError(
            f"heavy_tailed_panel: need n_agents >= 1 and n_steps >= 1, got {n_agents}, {n_steps}"
        )
    rng = np.random.default_rng(seed)
    peak = n_steps // 2 if peak_day is None else int(peak_day)
    followers = np.floor(rng.pareto(1.1, n_agents) * 20.0).astype(np.int64)
    reach = np.log1p(followers).astype(np.float32)
    pct = np.argsort(np.argsort(followers)) / max(n_agents - 1, 1)
    propensity = 0.02 + 0.25 * pct**3  # the well-followed post more
    days = np.arange(n_steps)
    intensity = 1.0 + 4.0 * np.exp(-0.5 * ((days - peak) / 1.5) ** 2)
    out = np.empty((n_steps, n_agents, 3), np.float32)
    for t in range(n_steps):
        active = rng.random(n_agents) < np.minimum(propensity * intensity[t], 0.95)
        posts = np.where(
            active,
            1
            + rng.geometric(0.35, n_agents)
            - 1
            + np.floor(rng.pareto(1.5, n_agents)).astype(np.int64),
            0,
        )
        rate = posts * (0.02 + 0.01 * followers**0.6) * intensity[t] / 2.0
        replies = rng.poisson(np.minimum(rate, 1e6))
        out[t, :, 0] = reach
        out[t, :, 1] = np.log1p(posts)
        out[t, :, 2] = np.log1p(replies)
    return Panel(out, feature_names=list(FEATURES), agents={"followers": followers})
