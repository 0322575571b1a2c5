"""Rank agreement between two attributions: Spearman, Kendall tau-b, top-k overlap.

One implementation for the study and the scenarios, with one policy at every size: inputs
must be finite and of equal length (``ValueError`` naming the argument and index), and a
correlation is NaN only where it is undefined (fewer than two items, or a constant input;
SciPy is not called there, so it raises no ``ConstantInputWarning``). The statistics are
SciPy's (``rankdata``, ``spearmanr``, ``kendalltau``), imported on first use so that
``import jaxattr`` does not load SciPy.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import ArrayLike, Float, Int

__all__ = [
    "as_finite_vector",
    "average_ranks",
    "kendall_tau",
    "percentile_bins",
    "rank_desc",
    "spearman",
    "top_k",
    "top_k_jaccard",
    "top_k_overlap",
]


def as_finite_vector(a, what: str) -> np.ndarray:
    """``a`` as a 1-D float64 array; ValueError if empty or not finite (naming the index)."""
    a = np.asarray(a, np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.isfinite(a).all():
        raise ValueError(
            f"{what} contains NaN or inf at index {int(np.flatnonzero(~np.isfinite(a))[0])}"
        )
    return a


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_finite_vector(a, "a"), as_finite_vector(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    return a, b


def average_ranks(a: Float[ArrayLike, " N"]) -> Float[np.ndarray, " N"]:
    """Ranks 1..N of ``a`` (ascending); ties share their average rank (float64).

    Args:
        a: ``(N,)`` finite numbers (any shape is flattened).

    Returns:
        ``(N,)`` float64 ranks (``scipy.stats.rankdata``, method ``"average"``).

    Raises:
        ValueError: ``a`` is empty or holds NaN/inf (the message names the index).

    Example:
        >>> from jaxattr.scenarios import average_ranks
        >>> average_ranks([3.0, 1.0, 3.0]).tolist()
        [2.5, 1.0, 2.5]
    """
    from scipy.stats import rankdata

    return rankdata(as_finite_vector(a, "a"), method="average").astype(np.float64)


def _constant(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a rank correlation of a and b is undefined (SciPy would warn and give NaN)."""
    return a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0


def spearman(a: Float[ArrayLike, " N"], b: Float[ArrayLike, " N"]) -> float:
    """Spearman's rho (``scipy.stats.spearmanr``): the Pearson correlation of average ranks;
    NaN if either input is constant or N < 2.

    Args:
        a: ``(N,)`` finite scores (e.g. one attribution).
        b: ``(N,)`` finite scores of the same agents.

    Returns:
        rho in [-1, 1], or NaN where it is undefined.

    Raises:
        ValueError: empty or non-finite input (naming ``a`` or ``b`` and the index), or
            lengths that differ.

    Example:
        >>> from jaxattr.scenarios import spearman
        >>> round(spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 40.0, 30.0]), 4)
        0.8
    """
    a, b = _pair(a, b)
    if _constant(a, b):
        return float("nan")
    from scipy.stats import spearmanr

    # the stubs type the result as a plain tuple; SignificanceResult has .statistic
    return float(spearmanr(a, b).statistic)  # pyright: ignore[reportAttributeAccessIssue]


def kendall_tau(a: Float[ArrayLike, " N"], b: Float[ArrayLike, " N"]) -> float:
    """Kendall's tau-b, ties corrected (``scipy.stats.kendalltau``, O(N log N)); NaN if
    either input is constant or N < 2.

    ``tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2))`` with C, D the concordant and discordant
    pairs, ``n0 = N(N-1)/2`` and n1, n2 the pairs tied in a and in b.

    Args:
        a: ``(N,)`` finite scores.
        b: ``(N,)`` finite scores of the same agents.

    Returns:
        tau-b in [-1, 1], or NaN where it is undefined.

    Raises:
        ValueError: empty or non-finite input (naming ``a`` or ``b`` and the index), or
            lengths that differ.

    Example:
        >>> from jaxattr.scenarios import kendall_tau
        >>> round(kendall_tau([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 40.0, 30.0]), 4)  # 5 vs 1 pairs
        0.6667
    """
    a, b = _pair(a, b)
    if _constant(a, b):
        return float("nan")
    from scipy.stats import kendalltau

    # the stubs type the result as a plain tuple; SignificanceResult has .statistic
    return float(kendalltau(a, b).statistic)  # pyright: ignore[reportAttributeAccessIssue]


def top_k(a: Float[ArrayLike, " N"], k: int) -> Int[np.ndarray, " k"]:
    """Indices of the ``k`` largest entries, largest first (ties: lower index first).

    Args:
        a: ``(N,)`` finite scores.
        k: how many (all N when ``k >= N``).

    Returns:
        ``(min(k, N),)`` int64 indices.

    Raises:
        ValueError: empty or non-finite ``a`` (the message names the index).

    Example:
        >>> from jaxattr.scenarios import top_k
        >>> top_k([0.1, 0.5, 0.3, 0.5], 3).tolist()
        [1, 3, 2]
    """
    a = as_finite_vector(a, "a")
    return np.argsort(-a, kind="stable")[: int(k)]


def _top_k_set(a: np.ndarray, k: int) -> set:
    """The top-k index set in O(N): the k-th largest value by partition, ties by index."""
    if k >= a.size:
        return set(range(a.size))
    kth = np.partition(a, a.size - k)[a.size - k]
    above = np.flatnonzero(a > kth)
    ties = np.flatnonzero(a == kth)[: k - above.size]
    return set(above.tolist()) | set(ties.tolist())


def _k(k, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return min(int(k), n)


def top_k_overlap(a: Float[ArrayLike, " N"], b: Float[ArrayLike, " N"], k: int = 10) -> int:
    """``|top_k(a) ∩ top_k(b)|`` (k is capped at N).

    Args:
        a: ``(N,)`` finite scores.
        b: ``(N,)`` finite scores of the same agents.
        k: size of each top set (an integer >= 1).

    Returns:
        The number of agents in both top-k sets, in ``[0, k]``.

    Raises:
        ValueError: empty or non-finite input, lengths that differ, or ``k < 1``.

    Example:
        >>> from jaxattr.scenarios import top_k_overlap
        >>> top_k_overlap([4.0, 3.0, 2.0, 1.0], [4.0, 1.0, 3.0, 2.0], k=2)  # {0, 1} vs {0, 2}
        1
    """
    a, b = _pair(a, b)
    k = _k(k, a.size)
    return len(_top_k_set(a, k) & _top_k_set(b, k))


def top_k_jaccard(a: Float[ArrayLike, " N"], b: Float[ArrayLike, " N"], k: int = 10) -> float:
    """``|A ∩ B| / |A ∪ B|`` of the two top-k index sets (k is capped at N).

    Args:
        a: ``(N,)`` finite scores.
        b: ``(N,)`` finite scores of the same agents.
        k: size of each top set (an integer >= 1).

    Returns:
        The Jaccard index in [0, 1].

    Raises:
        ValueError: empty or non-finite input, lengths that differ, or ``k < 1``.

    Example:
        >>> from jaxattr.scenarios import top_k_jaccard
        >>> round(top_k_jaccard([4.0, 3.0, 2.0, 1.0], [4.0, 1.0, 3.0, 2.0], k=2), 4)
        0.3333
    """
    a, b = _pair(a, b)
    k = _k(k, a.size)
    sa, sb = _top_k_set(a, k), _top_k_set(b, k)
    return len(sa & sb) / len(sa | sb)


def rank_desc(x: np.ndarray) -> np.ndarray:
    """Position of each agent when sorted by ``x`` descending (ties: lower index first)."""
    order = np.argsort(-x, kind="stable")
    rank = np.empty(x.shape[0], dtype=np.int64)
    rank[order] = np.arange(x.shape[0])
    return rank


def percentile_bins(followers: Float[ArrayLike, " N"], n_bins: int = 100) -> Int[np.ndarray, " N"]:
    """``(N,)`` follower-percentile bin per agent: 0 = top ``1/n_bins`` by followers.

    Bins are equal-size in rank (``bin = floor(rank · n_bins / N)``, rank 0 = most followed,
    ties by agent index).

    Args:
        followers: ``(N,)`` follower counts (larger = more visible).
        n_bins: number of bins (>= 1).

    Returns:
        ``(N,)`` int32 bin index per agent, 0 (top) to ``n_bins - 1``.

    Raises:
        ValueError: ``n_bins < 1`` or followers not 1-D and non-empty.

    Example:
        >>> from jaxattr.study import percentile_bins
        >>> percentile_bins([5.0, 50.0, 1.0, 10.0], n_bins=2).tolist()
        [1, 0, 1, 0]
    """
    f = np.asarray(followers, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"percentile_bins: followers must have shape (N,), got {f.shape}")
    if n_bins < 1:
        raise ValueError(f"percentile_bins: n_bins must be >= 1, got {n_bins}")
    return (rank_desc(f) * n_bins // f.size).astype(np.int32)
