"""The aggregated tables of one attribution over a panel (what ``jaxattr attribute`` writes).

Per day: f, delta, the sum of phi and the efficiency error; follower-tier shares per day
and over the window; follower-percentile-bin × day attribution mass; and, only on request
(privacy, DESIGN §5), per-agent window attributions keyed by integer agent index.
"""

from __future__ import annotations

import numpy as np

from ._sampling import followers_of
from ._tables import Table
from ._tiers import follower_tiers, group_sums, percentile_bins, tier_shares

__all__ = ["attribution_tables"]


def attribution_tables(att, panel, *, n_bins: int = 100,
                       per_agent: bool = False) -> list[Table]:
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
    """
    phi = np.asarray(att.phi)
    t_steps = phi.shape[0]
    labels = [str(x) for x in panel.time_labels]
    tables = [Table("by_day", "", ["day", "f_features", "f_baseline", "delta", "sum_phi",
                                   "efficiency_error"],
                    [[labels[t], float(att.value_features[t]), float(att.value_baseline[t]),
                      float(att.delta[t]), float(phi[t].sum(dtype=np.float64)),
                      float(att.efficiency_error[t])] for t in range(t_steps)])]
    followers = followers_of(panel)
    tiers = follower_tiers(followers)
    day, win = tier_shares(phi, tiers.labels, tiers.n_tiers)
    rows = [[labels[t], *[float(x) for x in day[t]]] for t in range(t_steps)]
    rows.append(["window", *[float(x) for x in win]])
    tables.append(Table("tier_shares", "", ["day", *tiers.names], rows))
    bins = percentile_bins(followers, n_bins)
    mass = group_sums(phi, bins, n_bins).T                        # (n_bins, T)
    counts = np.bincount(bins, minlength=n_bins)
    tables.append(Table("percentile_bins", "", ["bin", "agents", *labels],
                        [[b, int(counts[b]), *[float(x) for x in mass[b]]]
                         for b in range(n_bins)]))
    if per_agent:
        by_agent = phi.sum(axis=0, dtype=np.float64)
        tot = by_agent.sum()
        share = by_agent / tot if tot != 0 else np.full_like(by_agent, np.nan)
        tables.append(Table("per_agent", "", ["agent_index", "tier", "phi_window", "share"],
                            [list(r) for r in zip(range(by_agent.size), tiers.labels.tolist(),
                                                  by_agent.tolist(), share.tolist(),
                                                  strict=True)]))
    return tables
