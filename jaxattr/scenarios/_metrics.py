"""Rank agreement and deletion faithfulness of agent attributions."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxattr.values import as_value


def _vec(a, what):
    a = np.asarray(a, np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or inf at index "
                         f"{int(np.flatnonzero(~np.isfinite(a))[0])}")
    return a


def _pair(a, b):
    a, b = _vec(a, "a"), _vec(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    return a, b


def average_ranks(a) -> np.ndarray:
    """Ranks 1..N of ``a`` (ascending), ties get their average rank."""
    a = _vec(a, "a")
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], a.size]
    avg = (starts + ends + 1) / 2.0
    r = np.empty(a.size)
    r[order] = np.repeat(avg, ends - starts)
    return r


def spearman(a, b) -> float:
    """Spearman's rho: Pearson correlation of average ranks."""
    a, b = _pair(a, b)
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def kendall_tau(a, b) -> float:
    """Kendall's tau-b (ties corrected).

    ``tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2))``. Uses SciPy's O(N log N) routine when
    installed; otherwise an exact O(N²) count (N <= 5000).

    Raises:
        ValueError: lengths differ, NaN/inf, or N > 5000 without SciPy.
    """
    a, b = _pair(a, b)
    try:
        from scipy.stats import kendalltau  # noqa: PLC0415 - optional, lazy
    except ImportError:
        kendalltau = None
    if kendalltau is not None:
        return float(kendalltau(a, b).statistic)
    n = a.size
    if n > 5000:
        raise ValueError(f"kendall_tau without SciPy is O(N²); N={n} > 5000: install scipy")
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(n, 1)
    sa, sb = sa[iu], sb[iu]
    den = np.sqrt(np.count_nonzero(sa) * np.count_nonzero(sb))
    return float((sa * sb).sum() / den) if den > 0 else float("nan")


def top_k(a, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries (stable: lower index first on ties)."""
    a = _vec(a, "a")
    return np.argsort(-a, kind="stable")[: int(k)]


def top_k_overlap(a, b, k: int = 10) -> int:
    """``|top_k(a) ∩ top_k(b)|``."""
    a, b = _pair(a, b)
    return len(set(top_k(a, k).tolist()) & set(top_k(b, k).tolist()))


def top_k_jaccard(a, b, k: int = 10) -> float:
    """``|A ∩ B| / |A ∪ B|`` of the two top-k sets."""
    a, b = _pair(a, b)
    sa, sb = set(top_k(a, k).tolist()), set(top_k(b, k).tolist())
    return len(sa & sb) / len(sa | sb)


# ----------------------------------------------------------------- deletion
@functools.partial(jax.jit, static_argnames=("value",))
def _deleted_values(value, zt, bt, order, ks):
    n = zt.shape[1]
    rank = jnp.zeros((n,), jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
    mf = value.mean_field
    if mf is not None:
        g, h = mf
        gz, gb = g(zt), g(bt)
        full = jnp.mean(gz, axis=1)
        steps = jnp.cumsum((gb - gz)[:, order], axis=1) / n  # (m, N)
        steps = jnp.concatenate([jnp.zeros_like(steps[:, :1]), steps], axis=1)
        return jax.vmap(lambda k: h(full + steps[:, k]))(ks)
    return jax.lax.map(lambda k: value.fm(jnp.where(rank[None, :] < k, bt, zt)), ks)


def deletion_curve(value, z, baseline, scores, ks) -> np.ndarray:
    """Normalised risk drop after replacing the top-k agents by their baseline action.

    ``drop(k) = (f(Z) - f(Z with top_k(scores) -> B)) / (f(Z) - f(B))`` for each k in
    ``ks``; 1 means the k agents carry the whole risk above the baseline.

    Args:
        value: risk on ``(N, d)``. z, baseline: ``(N, d)``. scores: ``(N,)`` ranking
            (highest first). ks: the k sweep (ints in [0, N]).

    Returns:
        ``(len(ks),)`` float64.

    Raises:
        ValueError: shapes disagree, ks out of range, or ``f(Z) = f(B)`` (nothing to drop).
    """
    value = as_value(value)
    z = np.asarray(z, np.float64)
    b = np.broadcast_to(np.asarray(baseline, np.float64), z.shape)
    scores = _vec(scores, "scores")
    n = z.shape[0]
    if scores.size != n:
        raise ValueError(f"scores must have shape ({n},), got ({scores.size},)")
    ks = np.asarray(ks, np.int64).reshape(-1)
    if ks.size == 0 or ks.min() < 0 or ks.max() > n:
        raise ValueError(f"ks must be non-empty integers in [0, N={n}], got {ks.tolist()}")
    order = np.argsort(-scores, kind="stable")
    with jax.enable_x64(True):
        zt, bt = jnp.asarray(z.T), jnp.asarray(np.ascontiguousarray(b.T))
        fz, fb = float(value.fm(zt)), float(value.fm(bt))
        vals = np.asarray(_deleted_values(value, zt, bt, jnp.asarray(order, jnp.int32),
                                          jnp.asarray(ks, jnp.int32)))
    if fz == fb:
        raise ValueError("f(Z) equals f(baseline): the risk has nothing to drop, so the "
                         "deletion curve is undefined")
    return (fz - vals) / (fz - fb)


def deletion_auc(value, z, baseline, scores, ks) -> float:
    """Mean of :func:`deletion_curve` over the k sweep (higher = more faithful)."""
    return float(np.mean(deletion_curve(value, z, baseline, scores, ks)))


def default_ks(n: int) -> np.ndarray:
    """The k sweep: every k in 1..N/2 for N <= 200, else ~20 log-spaced k up to 10% of N."""
    if n <= 200:
        return np.arange(1, max(1, n // 2) + 1)
    return np.unique(np.geomspace(1, max(1, n // 10), 20).astype(np.int64))
