"""Experiments of ``paper/reproduce.py`` on the study panels (paper tables 5, 10–12, 14, App. N).

Each function takes the topic panels (a :class:`jaxattr.data.World`'s ``panels`` or panels
read from Parquet), computes one paper artefact and returns plain JSON-serialisable
records; :mod:`._reproduce` caches them, builds the tables and writes the document. The
subsets are drawn exactly as the cross-scale runner draws them (same protocol pools, same
``(seed, topic, protocol, n, draw)`` seeds), so a cell here and the study's cell of the same
protocol and size hold the same agents.

- :func:`topic_extras`: per topic, the alternative top-tier anchors (Table 14), the
  follower-only visibility pool (App. N) and top-k recovery (Table 12), all from one
  full-panel attribution per value function.
- :func:`baseline_table`: zero, population-mean and pre-event baselines (Table 10).
- :func:`k_sweep`: heat's midpoint path integral against its closed form over K, with
  wall-clock (Table 5).
- :func:`closed_vs_path`: closed forms against the K-point path integral across N over
  five seeds (Table 11).
"""

from __future__ import annotations

import contextlib
import itertools
import time

import numpy as np

from jaxattr.study import (
    active_count_of,
    draw_subsets,
    engagement_of,
    follower_tiers,
    followers_of,
    kendall_tau,
    protocol_pools,
    spearman,
    stack_subsets,
    subset_attribution,
    tier_shares,
    top_k_jaccard,
)

__all__ = [
    "anchor_groups",
    "baseline_table",
    "closed_vs_path",
    "k_sweep",
    "topic_extras",
    "window_phi",
    "x64",
]

VALUES = ("linear", "heat", "variance", "gini")


@contextlib.contextmanager
def x64():
    """float64 for the block, set globally and restored after.

    Not ``jax.enable_x64(True)``: that context is thread-local, and gini's rank kernel runs
    in a host callback that XLA may call from a worker thread, where the context is off, so
    the callback's float64 result is canonicalised to float32 and the call fails
    ("Incorrect output dtype ... Expected: float64, Actual: float32"), depending on which
    thread runs it.
    """
    import jax

    old = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", old)


def window_phi(panel, value, *, baseline="zero", **kwargs) -> np.ndarray:
    """``(N,)`` attribution of every agent summed over the window, float64.

    ``sum_t phi[t, i]`` of :func:`jaxattr.attribute` on the whole panel.
    """
    import jaxattr

    att = jaxattr.attribute(panel, value, baseline=baseline, **kwargs)
    return np.asarray(att.phi).sum(axis=0, dtype=np.float64)


def _window_days(panel, days: int | None):
    t = panel.feature_major.shape[0]
    return t if days is None else max(1, min(int(days), t))


def anchor_groups(panel, *, fraction: float = 0.01, days: int | None = 7) -> dict:
    """The three top-tier anchors of the paper's Appendix K, as ``(N,)`` boolean masks.

    - ``followers``: top ``fraction`` by follower count (the main text's top tier);
    - ``posts``: top ``fraction`` by topic posts + reposts over the first ``days`` days
      (``sum_t expm1(activity)``; activity counts posts and reposts, DESIGN §2);
    - ``replies``: top ``fraction`` by replies received over the same days
      (``sum_t expm1(resonance)``).

    Ranks break ties by agent index (as the follower tiers do), so agents with equal
    counts at the cut (often zero posts) enter in index order.

    Raises:
        ValueError: a panel without ``activity`` and ``resonance`` features.
    """
    names = list(panel.feature_names)
    if "activity" not in names or "resonance" not in names:
        raise ValueError(
            f"anchor_groups: the post and reply anchors need features "
            f"'activity' and 'resonance', got {names}"
        )
    fm = panel.feature_major
    t = _window_days(panel, days)
    posts = np.expm1(fm[:t, names.index("activity")].astype(np.float64)).sum(axis=0)
    replies = np.expm1(fm[:t, names.index("resonance")].astype(np.float64)).sum(axis=0)
    out = {}
    for name, score in (("followers", followers_of(panel)), ("posts", posts), ("replies", replies)):
        out[name] = follower_tiers(score, (fraction, 1.0 - fraction), ("top", "rest")).labels == 0
    return out


def _jaccard_sets(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.count_nonzero(a & b)
    union = np.count_nonzero(a | b)
    return inter / union if union else float("nan")


def _group_share(w: np.ndarray, member: np.ndarray) -> float:
    """``sum_{i in G} w_i / sum_i w_i`` (NaN for a zero total)."""
    tot = w.sum()
    return float(w[member].sum() / tot) if tot != 0 else float("nan")


def _top_set(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries (ties: lower index first), as a sorted array."""
    k = min(k, x.size)
    return np.sort(np.argsort(-x, kind="stable")[:k])


def topic_extras(
    topic: str,
    panel,
    *,
    values=VALUES,
    n: int = 100,
    draws: int = 10,
    seed: int = 0,
    pool_fraction: float = 0.01,
    tier_fractions=(0.01, 0.09, 0.90),
    top_k: int = 10,
    topk_sizes=(100, 10_000),
    anchor_days: int | None = 7,
) -> dict:
    """Tables 14 (anchors), App. N (follower-only pool) and 12 (top-k) for one topic.

    For every value function the full panel is attributed once (zero baseline) and its
    window attribution reused by every row. Subsets of size n are drawn as the study draws
    them (``key=(topic, protocol)``), so BIAS_visibility and RAND here are the study's cells.

    - **anchors** (Table 14): for each anchor group G, its share of the full-panel window
      attribution and its mean within-subset share over the BIAS_visibility draws
      (``RG_G(S) = sum_{i in S∩G} phi~_i``), the gap in percentage points, and the mean
      number of G's agents in S; plus the Jaccard overlap of the followers anchor with the
      other two.
    - **follower_pool** (App. N): BIAS_visibility with a follower-only score, pool = top
      ``pool_fraction`` by ``z(log1p followers)`` (i.e. by followers), drawn with
      ``key=(topic, "BIAS_follower_only")``; the top follower tier's mean share against the
      composite pool's.
    - **topk** (Table 12): for BIAS_visibility and RAND at each size of ``topk_sizes``,
      mean over draws of (i) the within-subset top-k Jaccard between the subset's own
      attribution and the full-panel attribution of the same agents (the study's
      ``rho`` table column), (ii) the Jaccard between the subset's top-k and the full
      panel's global top-k, and (iii) the recall of the global top-k (how many of the
      full panel's top-k agents are in S at all, over k).

    Returns:
        ``{"topic", "N", "anchors": [...], "anchor_overlap": {...}, "follower_pool": [...],
        "topk": [...]}`` (lists of row dicts).
    """
    import jaxattr

    fol = followers_of(panel)
    eng = engagement_of(panel)
    n_all = panel.N
    pools = protocol_pools(
        fol, eng, pool_fraction=pool_fraction, active_count=active_count_of(panel)
    )
    tiers = follower_tiers(fol, tier_fractions)
    groups = anchor_groups(panel, fraction=tier_fractions[0], days=anchor_days)
    n = min(int(n), n_all)
    subsets = {
        "BIAS_visibility": draw_subsets(
            pools["BIAS_visibility"],
            n_all,
            n,
            draws=draws,
            seed=seed,
            key=(topic, "BIAS_visibility"),
        )
    }
    fol_pool = _follower_only_pool(fol, pool_fraction)
    subsets["BIAS_follower_only"] = draw_subsets(
        fol_pool, n_all, n, draws=draws, seed=seed, key=(topic, "BIAS_follower_only")
    )
    topk_subsets = {}
    for proto in ("BIAS_visibility", "RAND"):
        for m in topk_sizes:
            m = min(int(m), n_all)
            if m >= n_all:
                continue
            topk_subsets[(proto, m)] = draw_subsets(
                pools[proto], n_all, m, draws=draws, seed=seed, key=(topic, proto)
            )
    stacked = {k: stack_subsets(panel, s) for k, s in subsets.items()}
    stacked_topk = {k: stack_subsets(panel, s) for k, s in topk_subsets.items()}

    anchors, follower_pool, topk = [], [], []
    for v in values:
        vname = v if isinstance(v, str) else jaxattr.values.as_value(v).name
        full = window_phi(panel, v)
        # ---- anchors (Table 14)
        phi, _, _ = subset_attribution(
            panel, subsets["BIAS_visibility"], v, stacked=stacked["BIAS_visibility"]
        )
        w = phi.sum(axis=1)  # (D, n) window phi
        for aname, member in groups.items():
            in_s = member[subsets["BIAS_visibility"]]  # (D, n)
            shares = np.array([_group_share(w[j], in_s[j]) for j in range(w.shape[0])])
            full_share = _group_share(full, member)
            m = float(np.nanmean(shares)) if np.isfinite(shares).any() else float("nan")
            sd = float(np.nanstd(shares, ddof=1)) if np.isfinite(shares).sum() > 1 else float("nan")
            anchors.append(
                {
                    "topic": topic,
                    "value": vname,
                    "anchor": aname,
                    "n": n,
                    "draws": int(w.shape[0]),
                    "group_size": int(member.sum()),
                    "agents_in_S": float(in_s.sum(axis=1).mean()),
                    "biased_share_mean": m,
                    "biased_share_std": sd,
                    "full_share": full_share,
                    "gap_pp": 100 * (m - full_share),
                }
            )
        # ---- follower-only visibility pool (App. N)
        for proto in ("BIAS_visibility", "BIAS_follower_only"):
            phi_p, _, _ = subset_attribution(panel, subsets[proto], v, stacked=stacked[proto])
            _, win = tier_shares(phi_p, tiers.labels[subsets[proto]], tiers.n_tiers)
            top = win[:, 0]
            follower_pool.append(
                {
                    "topic": topic,
                    "value": vname,
                    "pool": proto,
                    "n": n,
                    "pool_size": int(
                        (pools["BIAS_visibility"] if proto == "BIAS_visibility" else fol_pool).size
                    ),
                    "top_agents": float((tiers.labels[subsets[proto]] == 0).sum(axis=1).mean()),
                    "top_share_mean": float(np.nanmean(top)),
                    "top_share_std": float(np.nanstd(top, ddof=1)),
                    "full_top_share": _group_share(full, tiers.labels == 0),
                    "delta_pp": 100
                    * (float(np.nanmean(top)) - _group_share(full, tiers.labels == 0)),
                }
            )
        # ---- top-k recovery (Table 12)
        glob = _top_set(full, top_k)
        for (proto, m), sub in topk_subsets.items():
            phi_k, _, _ = subset_attribution(panel, sub, v, stacked=stacked_topk[(proto, m)])
            wk = phi_k.sum(axis=1)
            within, global_j, recall = [], [], []
            for j in range(sub.shape[0]):
                if wk[j].sum() == 0:
                    continue  # shares undefined, as the study skips such draws
                within.append(top_k_jaccard(wk[j], full[sub[j]], top_k))
                mine = sub[j][_top_set(wk[j], top_k)]
                global_j.append(len(np.intersect1d(mine, glob)) / len(np.union1d(mine, glob)))
                recall.append(np.isin(glob, sub[j]).sum() / glob.size)
            topk.append(
                {
                    "topic": topic,
                    "value": vname,
                    "protocol": proto,
                    "n": m,
                    "draws": len(within),
                    "k": top_k,
                    "jaccard_within_S": float(np.mean(within)) if within else np.nan,
                    "jaccard_vs_global_topk": float(np.mean(global_j)) if within else np.nan,
                    "global_topk_recall": float(np.mean(recall)) if within else np.nan,
                }
            )
    overlap = {
        "posts": _jaccard_sets(groups["followers"], groups["posts"]),
        "replies": _jaccard_sets(groups["followers"], groups["replies"]),
        "posts_vs_replies": _jaccard_sets(groups["posts"], groups["replies"]),
    }
    return {
        "topic": topic,
        "N": int(n_all),
        "anchors": anchors,
        "anchor_overlap": overlap,
        "follower_pool": follower_pool,
        "topk": topk,
    }


def _follower_only_pool(followers: np.ndarray, pool_fraction: float) -> np.ndarray:
    """BIAS_visibility's pool with the follower term alone: top p by z(log1p followers)."""
    size = int(np.ceil(pool_fraction * followers.size))
    return np.argsort(-np.log1p(followers), kind="stable")[:size].astype(np.int64)


# ------------------------------------------------------------------------------ Table 10


BASELINES = ("zero", "mean", "first")
BASELINE_LABELS = {"zero": "zero", "mean": "population mean", "first": "pre-event (day 1)"}


def _pair_metrics(a: np.ndarray, b: np.ndarray, ks) -> dict:
    out = {f"jaccard_top{k}": top_k_jaccard(a, b, k) for k in ks}
    out["kendall"] = kendall_tau(a, b)
    out["spearman"] = spearman(a, b)
    return out


def baseline_table(
    topic: str,
    panel,
    *,
    values=VALUES,
    settings=(("BIAS_visibility", 100), ("RAND", 10_000), ("full", None)),
    draws: int = 5,
    seed: int = 0,
    pool_fraction: float = 0.01,
    ks=(10, 100),
    full_values=("linear", "heat", "variance"),
) -> list[dict]:
    """Baseline robustness on the study panel (Table 10): zero, population mean, pre-event.

    For each setting (a protocol and subset size, ``draws`` subsets as seeds; or the full
    panel, one run) and value function, the window attribution of the agents of S under
    each baseline (``study.subset_attribution``: the subset is its own population, so
    "mean" is the subset's own per-day mean and "first" each agent's own day-1 features),
    then per pair of baselines: top-k Jaccard for each k, Kendall tau-b and Spearman over
    the agents of S.

    Args:
        full_values: value functions also compared on the full panel. gini is left out by
            default: under the per-agent pre-event baseline it has no closed form, and its
            K = 30 path integral sorts all N agents at every node and day (about 75 s for
            the full synthetic panel on 2 cores).

    Returns:
        rows ``{"topic", "value", "setting", "n", "draw", "pair", <metrics>}``, one per draw.
    """
    fol = followers_of(panel)
    pools = protocol_pools(
        fol, engagement_of(panel), pool_fraction=pool_fraction, active_count=active_count_of(panel)
    )
    rows = []
    for proto, n in settings:
        if proto == "full":
            subs, label = np.arange(panel.N, dtype=np.int64)[None], "full"
        else:
            n = min(int(n), panel.N)
            subs = draw_subsets(
                pools[proto], panel.N, n, draws=draws, seed=seed, key=(topic, proto)
            )
            label = f"{proto} n={n}"
        stacked = stack_subsets(panel, subs)
        for v in values:
            if proto == "full" and v not in full_values:
                continue
            w = {
                b: subset_attribution(panel, subs, v, baseline=b, stacked=stacked)[0].sum(axis=1)
                for b in BASELINES
            }  # (D, n) each
            for j in range(subs.shape[0]):
                for a, b in itertools.combinations(BASELINES, 2):
                    rec = {
                        "topic": topic,
                        "value": v,
                        "setting": label,
                        "n": int(subs.shape[1]),
                        "draw": j,
                        "pair": f"{BASELINE_LABELS[a]} vs {BASELINE_LABELS[b]}",
                    }
                    rec.update(_pair_metrics(w[a][j], w[b][j], ks))
                    rows.append(rec)
    return rows


# ------------------------------------------------------------------------------ Table 5


K_SWEEP = (5, 10, 20, 30, 50, 100, 300)


def _time_call(fn, repeats: int = 3) -> float | None:
    """Minimum wall time of ``repeats`` warm calls (one untimed call compiles first).

    ``repeats = 0`` times nothing and returns None.
    """
    if repeats < 1:
        return None
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def k_sweep(
    topic: str,
    panel,
    *,
    n: int = 10_000,
    steps=K_SWEEP,
    seed: int = 0,
    time_full: bool = True,
    repeats: int = 3,
) -> dict:
    """Heat's midpoint path integral against its closed form over K (Table 5).

    On a uniform (RAND) subset of n agents of the topic panel, all T days, zero baseline:
    ``err(K) = sum_{t,i} |phi_K - phi_closed| / sum_{t,i} |phi_closed|`` in float64 (so the
    error is the quadrature's, not float32 rounding), the least-squares slope of
    ``log err`` on ``log K`` (midpoint: -2), and the wall-clock of the float32 path integral
    at each K on the subset and, with ``time_full``, on the whole panel (the study's size);
    ``repeats = 0`` skips the timing (None).

    Returns:
        ``{"topic", "n", "T", "rows": [{"K", "rel_error", "seconds_subset",
        "seconds_full"}], "slope", "seconds_closed_subset", "seconds_closed_full"}``.
    """

    import jaxattr

    n = min(int(n), panel.N)
    idx = draw_subsets(np.arange(panel.N), panel.N, n, draws=1, seed=seed, key=(topic, "k_sweep"))[
        0
    ]
    sub32 = np.ascontiguousarray(panel.features[:, idx, :])  # (T, n, d) float32
    with x64():
        z64 = sub32.astype(np.float64)
        ref = np.asarray(jaxattr.attribute(z64, "heat", method="closed_form").phi)
        norm = np.abs(ref).sum()
        errs = []
        for k in steps:
            phi = np.asarray(jaxattr.attribute(z64, "heat", method="path", steps=int(k)).phi)
            errs.append(float(np.abs(phi - ref).sum() / norm))
    ks = np.asarray(steps, np.float64)
    e = np.asarray(errs)
    ok = e > 1e-14
    slope = float(np.polyfit(np.log(ks[ok]), np.log(e[ok]), 1)[0]) if ok.sum() >= 2 else None

    def timed(x, value="heat", **kw):
        return _time_call(
            lambda: jaxattr.attribute(x, value, **kw).phi.block_until_ready(), repeats
        )

    heat = jaxattr.values.heat()

    def generic(z):  # heat as a plain callable: no closed form, no mean-field route
        return heat(z)

    rows = []
    for k, err in zip(steps, errs, strict=True):
        rows.append(
            {
                "K": int(k),
                "rel_error": err,
                "seconds_subset": timed(sub32, method="path", steps=int(k)),
                "seconds_subset_generic": timed(sub32, generic, method="path", steps=int(k)),
                "seconds_full": timed(panel, method="path", steps=int(k)) if time_full else None,
            }
        )
    return {
        "topic": topic,
        "n": n,
        "T": int(sub32.shape[0]),
        "rows": rows,
        "slope": slope,
        "seconds_closed_subset": timed(sub32, method="closed_form"),
        "seconds_closed_full": timed(panel, method="closed_form") if time_full else None,
    }


# ------------------------------------------------------------------------------ Table 11


def closed_vs_path(
    topic: str,
    panel,
    *,
    sizes=(100, 1_000, 10_000, 100_000),
    seeds: int = 5,
    steps: int = 30,
    values=VALUES,
) -> list[dict]:
    """Closed forms against the K-point midpoint path integral across N (Table 11).

    For each N and seed a uniform subset of N agents of the topic panel (all T days,
    ``key=(topic, "closed_vs_path")``, draw = seed) is attributed in float64 both ways
    (zero baseline). Per cell: the per-agent MAE ``mean_{t,i} |phi_path - phi_closed|``,
    the same relative to ``mean |phi_closed|``, the smallest per-day Spearman correlation
    of the two, and the largest efficiency violation of the path integral
    ``|sum_i phi_path - delta| / |delta|``.

    Returns:
        rows ``{"topic", "value", "N", "seed", "K", "mae", "rel_mae", "spearman_min",
        "efficiency_max"}``.
    """

    rows = []
    for n in sizes:
        n = min(int(n), panel.N)
        subs = draw_subsets(
            np.arange(panel.N), panel.N, n, draws=seeds, seed=0, key=(topic, "closed_vs_path")
        )
        for s in range(subs.shape[0]):
            z = panel.features[:, subs[s], :].astype(np.float64)
            rows += [dict(r, topic=topic, N=n, seed=s) for r in _closed_path_rows(z, values, steps)]
    return rows


def closed_vs_continuous(
    *,
    sizes=(100, 1_000, 10_000, 100_000),
    seeds: int = 5,
    steps: int = 30,
    d: int = 3,
    values=VALUES,
) -> list[dict]:
    """Table 11 as the paper runs it: closed forms against the path on continuous features.

    One step of n agents with features ``U(0, 1)`` (seeded by ``(n, seed)``), so no two
    agents tie and gini's ranks are constant along the ray; float64.
    """
    rows = []
    for n in sizes:
        for s in range(seeds):
            z = np.random.default_rng([int(n), s]).uniform(0, 1, (1, int(n), d))
            rows += [dict(r, N=int(n), seed=s) for r in _closed_path_rows(z, values, steps)]
    return rows


def _closed_path_rows(z, values, steps) -> list[dict]:
    """Per value function: MAE, relative MAE, min per-day Spearman and max efficiency error of
    the K-point path integral against the closed form on ``z`` (T, N, d), float64."""
    import jaxattr

    rows = []
    with x64():
        for v in values:
            pa = jaxattr.attribute(z, v, method="path", steps=steps)
            cf = jaxattr.attribute(z, v, method="closed_form")
            a, b = np.asarray(cf.phi), np.asarray(pa.phi)
            delta = np.asarray(pa.delta)
            tot = b.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                eff = np.where(delta != 0, np.abs(tot - delta) / np.abs(delta), 0.0)
            sp = [spearman(a[t], b[t]) for t in range(a.shape[0]) if np.ptp(a[t]) > 0]
            mae = float(np.mean(np.abs(b - a)))
            scale = float(np.mean(np.abs(a)))
            rows.append(
                {
                    "value": v,
                    "K": steps,
                    "mae": mae,
                    "rel_mae": mae / scale if scale else float("nan"),
                    "spearman_min": float(min(sp)) if sp else float("nan"),
                    "efficiency_max": float(eff.max()),
                }
            )
    return rows
