"""The aggregated tables of one attribution over a panel (what ``jaxattr attribute`` writes).

Per day: f, delta, the sum of phi and the efficiency error; follower-tier shares per day
and over the window; follower-percentile-bin × day attribution mass; and, only on request
(privacy: per-agent results are kept only when asked for, and then keyed by integer agent
index, never by account identifier), per-agent window attributions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._sampling import followers_of
from ._tables import Table
from ._tiers import follower_tiers, percentile_bins, safe_ratio

__all__ = ["attribution_tables"]


def attribution_tables(
    att: Any, panel: Any, *, n_bins: int = 100, per_agent: bool = False
) -> list[Table]:
    """Tables ``by_day``, ``tier_shares``, ``percentile_bins`` (and ``per_agent``).

    Tiers are the default follower-rank tiers (1% / 9% / 90%) of
    :func:`follower_tiers`; shares are within-day (and window) normalised, NaN where the
    total is zero. Sums are float64.

    Args:
        att: a :class:`jaxattr.Attribution` of ``panel``.
        panel: the :class:`jaxattr.Panel` it was computed on (followers, time labels).
        n_bins: follower-percentile bins.
        per_agent: also return ``per_agent`` (agent_index, tier, phi_window, share).

    Returns:
        A list of :class:`Table`; the last row of ``tier_shares`` is the window.

    Raises:
        ValueError: ``n_bins < 1``, or a panel whose followers contain NaN.
        IndexError: ``panel`` with fewer steps than ``att``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr.study import attribution_tables
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> att = jaxattr.attribute(panel, "linear")
        >>> tables = attribution_tables(att, panel, n_bins=4, per_agent=True)
        >>> [(t.name, len(t.rows)) for t in tables]
        [('by_day', 3), ('tier_shares', 4), ('percentile_bins', 4), ('per_agent', 100)]
    """
    t_steps = att.phi.shape[0]
    labels = [str(x) for x in panel.time_labels]
    sum_phi = att.by_time()
    tables = [
        Table(
            "by_day",
            "",
            ["day", "f_features", "f_baseline", "delta", "sum_phi", "efficiency_error"],
            [
                [
                    labels[t],
                    float(att.value_features[t]),
                    float(att.value_baseline[t]),
                    float(att.delta[t]),
                    float(sum_phi[t]),
                    float(att.efficiency_error[t]),
                ]
                for t in range(t_steps)
            ],
        )
    ]
    followers = followers_of(panel)
    tiers = follower_tiers(followers)
    tier_sums = att.by_group(tiers.labels, tiers.n_tiers)  # (T, G)
    day = safe_ratio(tier_sums, tier_sums.sum(axis=1))
    win = safe_ratio(tier_sums.sum(axis=0), tier_sums.sum())
    rows = [[labels[t], *[float(x) for x in day[t]]] for t in range(t_steps)]
    rows.append(["window", *[float(x) for x in win]])
    tables.append(Table("tier_shares", "", ["day", *tiers.names], rows))
    bins = percentile_bins(followers, n_bins)
    mass = att.by_group(bins, n_bins).T  # (n_bins, T)
    counts = np.bincount(bins, minlength=n_bins)
    tables.append(
        Table(
            "percentile_bins",
            "",
            ["bin", "agents", *labels],
            [[b, int(counts[b]), *[float(x) for x in mass[b]]] for b in range(n_bins)],
        )
    )
    if per_agent:
        by_agent = att.by_agent()
        tot = by_agent.sum()
        share = by_agent / tot if tot != 0 else np.full_like(by_agent, np.nan)
        tables.append(
            Table(
                "per_agent",
                "",
                ["agent_index", "tier", "phi_window", "share"],
                [
                    list(r)
                    for r in zip(
                        range(by_agent.size),
                        tiers.labels.tolist(),
                        by_agent.tolist(),
                        share.tolist(),
                        strict=True,
                    )
                ],
            )
        )
    return tables
