"""Follower-rank tiers, follower-percentile bins and tier shares (docs/study.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from jaxtyping import ArrayLike, Float, Int

from jaxattr._result import group_sums
from jaxattr._util import percentile_bins, rank_desc

__all__ = ["Tiers", "follower_tiers", "group_sums", "percentile_bins", "tier_shares"]

DEFAULT_FRACTIONS = (0.01, 0.09, 0.90)
DEFAULT_NAMES = ("top", "mid", "tail")


@dataclasses.dataclass(frozen=True)
class Tiers:
    """A partition of N agents into follower-rank tiers (made by :func:`follower_tiers`).

    Args:
        labels: ``(N,)`` tier index per agent.
        names: tier names.
        fractions: the requested fractions.
        counts: ``(G,)`` agents per tier.

    Raises:
        TypeError: a field missing (a plain frozen dataclass: :func:`follower_tiers`
            validates the inputs it is built from).

    Attributes:
        labels: ``(N,)`` int8 tier index per agent (0 = top).
        names: tier names, e.g. ``("top", "mid", "tail")``.
        fractions: the requested population fractions.
        counts: ``(G,)`` agents per tier.

    Example:
        >>> import numpy as np
        >>> from jaxattr.study import follower_tiers
        >>> t = follower_tiers(np.arange(10.0), fractions=(0.2, 0.8), names=("top", "rest"))
        >>> t.labels.tolist(), t.n_tiers, t.population_fractions.tolist()
        ([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], 2, [0.2, 0.8])
    """

    labels: np.ndarray
    names: tuple[str, ...]
    fractions: tuple[float, ...]
    counts: np.ndarray

    @property
    def n_tiers(self) -> int:
        """G, the number of tiers."""
        return len(self.names)

    @property
    def population_fractions(self) -> np.ndarray:
        """``(G,)`` realised fractions ``counts / N`` (rounding of the requested ones)."""
        return self.counts / self.counts.sum()


def follower_tiers(
    followers: Float[ArrayLike, " N"],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    names: Sequence[str] = DEFAULT_NAMES,
) -> Tiers:
    """Split agents once by follower rank into tiers of the given population fractions.

    Tier g holds the agents of descending-follower rank in
    ``[round(N·F_{g-1}), round(N·F_g))`` with ``F`` the cumulative fractions (ties broken by
    agent index, so the split is deterministic).

    Args:
        followers: ``(N,)`` follower counts (any real numbers; larger = more visible).
        fractions: G positive fractions summing to 1, top tier first. Default 1% / 9% / 90%.
        names: G tier names.

    Returns:
        :class:`Tiers`.

    Raises:
        ValueError: fractions not positive or not summing to 1, names of the wrong length,
            followers not 1-D or containing NaN.

    Example:
        >>> import numpy as np
        >>> from jaxattr.study import follower_tiers
        >>> t = follower_tiers(np.arange(1000.0))
        >>> t.counts.tolist()
        [10, 90, 900]
    """
    f = np.asarray(followers, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(
            f"follower_tiers: followers must have shape (N,) with N >= 1, got {f.shape}"
        )
    if np.isnan(f).any():
        raise ValueError(
            f"follower_tiers: followers contain NaN at agent {int(np.flatnonzero(np.isnan(f))[0])}"
        )
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size < 1 or (fr <= 0).any() or abs(fr.sum() - 1) > 1e-9:
        raise ValueError(
            f"follower_tiers: fractions must be positive and sum to 1, got {tuple(fractions)}"
        )
    names = tuple(str(x) for x in names)
    if len(names) != fr.size:
        raise ValueError(f"follower_tiers: {len(names)} names for {fr.size} fractions")
    n = f.size
    edges = np.round(np.cumsum(fr) * n).astype(np.int64)
    edges[-1] = n
    labels = np.searchsorted(edges, rank_desc(f), side="right").astype(np.int8)
    counts = np.bincount(labels, minlength=fr.size)
    return Tiers(labels=labels, names=names, fractions=tuple(float(x) for x in fr), counts=counts)


def safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den[..., None]`` with NaN where the total is zero (shares undefined)."""
    den = np.asarray(den, dtype=np.float64)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def tier_shares(
    phi: Float[ArrayLike, "*batch T n"], labels: Int[ArrayLike, "*batch n"], n_tiers: int
) -> tuple[Float[np.ndarray, "*batch T G"], Float[np.ndarray, "*batch G"]]:
    """Within-subset normalised tier shares, per day and over the window.

    ``RG_G(S)[t] = sum_{i in S∩G} phi[t, i] / sum_{i in S} phi[t, i]`` (per day) and the same
    with phi summed over t (window). A zero total gives NaN (the shares are undefined).

    Args:
        phi: ``(..., T, n)`` attributions of the agents of S.
        labels: ``(..., n)`` tier index of each agent of S (broadcasts over the leading axes).
        n_tiers: G.

    Returns:
        ``(per_day (..., T, G), window (..., G))`` float64.

    Raises:
        ValueError: labels that do not broadcast to phi's agents, or a negative label.

    Example:
        >>> import numpy as np
        >>> from jaxattr.study import tier_shares
        >>> day, win = tier_shares(np.ones((2, 4)), np.array([0, 1, 1, 1]), 2)
        >>> win.tolist()
        [0.25, 0.75]
    """
    phi = np.asarray(phi, dtype=np.float64)
    labels = np.broadcast_to(np.asarray(labels), phi.shape[:-2] + phi.shape[-1:])
    lead = phi.shape[:-2]
    flat_phi = phi.reshape((-1,) + phi.shape[-2:])
    flat_lab = labels.reshape((-1, labels.shape[-1]))
    sums = np.stack(
        [group_sums(p, lab, n_tiers) for p, lab in zip(flat_phi, flat_lab, strict=True)]
    )
    sums = sums.reshape(lead + sums.shape[1:])  # (..., T, G)
    day = safe_ratio(sums, phi.sum(axis=-1))
    win_sums = sums.sum(axis=-2)
    win = safe_ratio(win_sums, phi.sum(axis=(-2, -1)))
    return day, win
