"""Rank agreement between two attributions: Spearman, Kendall tau-b, top-k overlap.

One implementation for the study and the scenarios, with one policy at every size: inputs
must be finite and of equal length (``ValueError`` naming the argument and index), and a
correlation is NaN only where it is undefined (fewer than two items, or a constant input).
Kendall's tau-b uses SciPy's O(N log N) routine when SciPy is installed, else an exact
O(N log² N) NumPy count with the same result (``tests/test_study.py`` checks both).
"""

from __future__ import annotations

import numpy as np

from jaxattr import kernels

__all__ = ["as_finite_vector", "average_ranks", "kendall_tau", "percentile_bins", "rank_desc",
           "spearman", "top_k", "top_k_jaccard", "top_k_overlap"]


def as_finite_vector(a, what: str) -> np.ndarray:
    """``a`` as a 1-D float64 array; ValueError if empty or not finite (naming the index)."""
    a = np.asarray(a, np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or inf at index "
                         f"{int(np.flatnonzero(~np.isfinite(a))[0])}")
    return a


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_finite_vector(a, "a"), as_finite_vector(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    return a, b


def average_ranks(a) -> np.ndarray:
    """Ranks 1..N of ``a`` (ascending); ties share their average rank (float64).

    Example:
        >>> average_ranks([3.0, 1.0, 3.0]).tolist()
        [2.5, 1.0, 2.5]
    """
    a = as_finite_vector(a, "a")
    # kernels' centered ranks are 2 r - N - 1 (integers, exact in float64)
    return (kernels.centered_ranks_numpy(a) + (a.size + 1)) / 2.0


def spearman(a, b) -> float:
    """Spearman's rho: the Pearson correlation of average ranks; NaN if either is constant."""
    a, b = _pair(a, b)
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt(np.sum(ra * ra) * np.sum(rb * rb))
    return float(np.sum(ra * rb) / den) if den > 0 else float("nan")


def kendall_tau(a, b) -> float:
    """Kendall's tau-b (ties corrected); NaN if either input is constant or N < 2.

    ``tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2))`` with C, D the concordant and discordant
    pairs, ``n0 = N(N-1)/2`` and n1, n2 the pairs tied in a and in b.
    """
    a, b = _pair(a, b)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    try:
        from scipy.stats import kendalltau
    except ImportError:
        return _kendall_numpy(a, b)
    return float(kendalltau(a, b).statistic)


def _tied_pairs(sorted_keys: np.ndarray) -> int:
    """Pairs of equal entries in a sorted array."""
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    t = np.diff(np.r_[starts, sorted_keys.size])
    return int(np.sum(t * (t - 1) // 2))


def _kendall_numpy(a: np.ndarray, b: np.ndarray) -> float:
    n = a.size
    order = np.lexsort((b, a))                  # by a, ties in a by b
    a, b = a[order], b[order]
    n0 = n * (n - 1) // 2
    n1 = _tied_pairs(a)
    n2 = _tied_pairs(np.sort(b))
    both = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    t = np.diff(np.r_[np.flatnonzero(both), n])
    n3 = int(np.sum(t * (t - 1) // 2))
    # Discordant pairs are the strict inversions of b in this order (a-ties are sorted by b).
    dense = np.unique(b, return_inverse=True)[1].reshape(-1).astype(np.int64)
    d = _inversions(dense)
    return float((n0 - n1 - n2 + n3 - 2 * d) / np.sqrt(float(n0 - n1) * float(n0 - n2)))


def _inversions(r: np.ndarray) -> int:
    """Pairs i < j with r[i] > r[j], by a bottom-up merge: log2(N) vectorised passes."""
    n, m = r.size, int(r.max()) + 1
    idx = np.arange(n)
    total, width = 0, 1
    while width < n:
        block = idx // (2 * width)
        right = (idx % (2 * width)) >= width
        key = block * m + r                    # each half-block is sorted already
        left_keys = key[~right]                # so these are sorted globally
        rb = block[right]
        # left entries of the same block that are <= a right entry, then the others are >
        not_greater = np.searchsorted(left_keys, key[right], side="right") - rb * width
        total += int(np.sum(width - not_greater))
        r = np.sort(key, kind="stable") % m   # merge each block
        width *= 2
    return total


def top_k(a, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries, largest first (ties: lower index first)."""
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


def top_k_overlap(a, b, k: int = 10) -> int:
    """``|top_k(a) ∩ top_k(b)|`` (k is capped at N)."""
    a, b = _pair(a, b)
    k = _k(k, a.size)
    return len(_top_k_set(a, k) & _top_k_set(b, k))


def top_k_jaccard(a, b, k: int = 10) -> float:
    """``|A ∩ B| / |A ∪ B|`` of the two top-k index sets (k is capped at N)."""
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


def percentile_bins(followers, n_bins: int = 100) -> np.ndarray:
    """``(N,)`` follower-percentile bin per agent: 0 = top ``1/n_bins`` by followers.

    Bins are equal-size in rank (``bin = floor(rank · n_bins / N)``, rank 0 = most followed).

    Raises:
        ValueError: ``n_bins < 1`` or followers not 1-D.
    """
    f = np.asarray(followers, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"percentile_bins: followers must have shape (N,), got {f.shape}")
    if n_bins < 1:
        raise ValueError(f"percentile_bins: n_bins must be >= 1, got {n_bins}")
    return (rank_desc(f) * n_bins // f.size).astype(np.int32)
