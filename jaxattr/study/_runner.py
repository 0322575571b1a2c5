"""The cross-scale runner: topics × value functions × protocols × n × draws, resumable.

For each topic the full-panel attribution of every value function is computed once and
reused by every ``n = full`` cell and by every rho (Theorem 1). Each finished cell
``(topic, value, protocol, n)`` is written atomically as one small JSON file under
``<cache_dir>/cells/``; a re-run with the same panels and configuration reads it back instead
of recomputing (a cell written for other panels or another configuration is recomputed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxattr._util import Progress, atomic_write, get_logger, records_to
from jaxattr.values import PAPER_VALUES

from ._metrics import kendall_tau, rescaling_residual, spearman, top_k_jaccard
from ._sampling import (
    PROTOCOLS,
    active_count_of,
    draw_subsets,
    engagement_of,
    followers_of,
    protocol_pools,
)
from ._subset import stack_subsets, subset_attribution
from ._tiers import (
    DEFAULT_FRACTIONS,
    DEFAULT_NAMES,
    follower_tiers,
    percentile_bins,
    safe_ratio,
)

__all__ = ["FULL", "StudyConfig", "StudyResult", "run_study"]

FULL = "full"
"""The size label of the full panel (n = N): a size in :attr:`StudyConfig.sizes` and the
``n_label`` of the full-panel cells.

Example:
    >>> from jaxattr.study import FULL, size_label
    >>> FULL, size_label(FULL, 50), size_label(80, 50)
    ('full', 'full', 'full')
"""
DEFAULT_SIZES = (100, 1_000, 10_000, 100_000, FULL)
DEFAULT_VALUES = PAPER_VALUES  # the paper's four indicators
"""The value functions of the default :class:`StudyConfig`: the paper's four indicators
(built-in names of :mod:`jaxattr.values`).

Example:
    >>> from jaxattr.study import DEFAULT_VALUES
    >>> DEFAULT_VALUES
    ('linear', 'heat', 'variance', 'gini')
"""


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """What the cross-scale study computes (frozen; validated on construction).

    Args:
        values: value functions: built-in names or value objects.
        protocols: sampling protocols, a non-empty subset of :data:`PROTOCOLS`.
        sizes: subset sizes n (integers >= 1) and/or ``"full"``.
        draws: independent subsets per cell (>= 1).
        seed: base seed of the subset draws.
        tier_fractions: follower-rank tier fractions, top first, summing to 1.
        tier_names: one name per tier.
        pool_fraction: p, the BIAS_visibility pool fraction.
        baseline: ``"zero"``, ``"mean"`` or a ``(d,)`` vector (as a tuple).
        top_k: k of the top-k Jaccard overlap.
        n_bins: follower-percentile bins of the heatmap.
        rank_max_n: largest n with Spearman and Kendall tau.
        steps: path points K.
        sizes_by_protocol: ``((protocol, sizes), ...)`` overrides of ``sizes``.

    Raises:
        ValueError: unknown protocols, empty values/protocols/sizes, a size that is not an
            integer >= 1 or ``"full"``, ``draws < 1``, or a malformed ``sizes_by_protocol``.

    Attributes:
        values: value functions: built-in names or value objects (their ``name`` keys the
            cache).
        protocols: sampling protocols (:data:`jaxattr.study.PROTOCOLS`).
        sizes: subset sizes n; ``"full"`` (or any n >= N) is the full panel.
        draws: independent subsets per cell (the full panel is one run).
        seed: base seed of the subset draws.
        tier_fractions, tier_names: follower-rank tiers, top first.
        pool_fraction: p, the BIAS_visibility pool fraction.
        baseline: ``"zero"``, ``"mean"`` or a ``(d,)`` vector (as a tuple).
        top_k: k of the top-k Jaccard overlap.
        n_bins: follower-percentile bins of the heatmap.
        rank_max_n: Spearman and Kendall tau are computed for n up to this (NaN above).
        steps: path points K for value functions without a closed form.
        sizes_by_protocol: optional ``((protocol, sizes), ...)`` overriding ``sizes`` for
            some protocols (e.g. a reduced grid for the milder biased protocols).

    Example:
        >>> from jaxattr.study import StudyConfig
        >>> cfg = StudyConfig(values=("linear",), sizes=(100, "full"), draws=3,
        ...                   sizes_by_protocol=(("RAND", (10, "full")),))
        >>> cfg.sizes_for("RAND"), cfg.sizes_for("BIAS_visibility"), cfg.value_names
        ((10, 'full'), (100, 'full'), ['linear'])
    """

    def sizes_for(self, protocol: str) -> tuple:
        """The subset sizes of one protocol (its ``sizes_by_protocol`` entry, else ``sizes``).

        Args:
            protocol: a protocol name.

        Returns:
            The sizes tuple.
        """
        return dict(self.sizes_by_protocol).get(protocol, self.sizes)

    values: tuple = DEFAULT_VALUES
    protocols: tuple[str, ...] = PROTOCOLS
    sizes: tuple = DEFAULT_SIZES
    draws: int = 10
    seed: int = 0
    tier_fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    tier_names: tuple[str, ...] = DEFAULT_NAMES
    pool_fraction: float = 0.01
    baseline: str | tuple = "zero"
    top_k: int = 10
    n_bins: int = 100
    rank_max_n: int = 10_000
    steps: int = 30
    sizes_by_protocol: tuple = ()

    def __post_init__(self):
        for item in self.sizes_by_protocol:
            if not isinstance(item, tuple) or len(item) != 2 or item[0] not in self.protocols:
                raise ValueError(
                    f"StudyConfig: sizes_by_protocol must hold (protocol, sizes) "
                    f"pairs for protocols of {self.protocols}, got {item!r}"
                )
        bad = [p for p in self.protocols if p not in PROTOCOLS]
        if bad:
            raise ValueError(f"StudyConfig: unknown protocols {bad}; choose from {PROTOCOLS}")
        if not self.protocols or not self.values or not self.sizes:
            raise ValueError("StudyConfig: values, protocols and sizes must be non-empty")
        for n in self.sizes:
            if n != FULL and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
                raise ValueError(f"StudyConfig: sizes must be integers >= 1 or 'full', got {n!r}")
        if self.draws < 1:
            raise ValueError(f"StudyConfig: draws must be >= 1, got {self.draws}")

    @property
    def value_names(self) -> list[str]:
        """The names of :attr:`values` (the ``value`` key of cells and tables)."""
        return [_value_name(v) for v in self.values]

    def signature(self) -> dict:
        """The JSON-serialisable part that decides a cell's numbers."""
        return {
            "draws": self.draws,
            "seed": self.seed,
            "tier_fractions": list(self.tier_fractions),
            "tier_names": list(self.tier_names),
            "pool_fraction": self.pool_fraction,
            "baseline": self.baseline if isinstance(self.baseline, str) else list(self.baseline),
            "top_k": self.top_k,
            "n_bins": self.n_bins,
            "rank_max_n": self.rank_max_n,
            "steps": self.steps,
            "value_ids": [_value_id(v) for v in self.values],
        }


def _value_id(v) -> str:
    """What a value function *is*, not just its name, so a different function under the
    same name never reuses cached cells. Content digests (DeepSets) and the reprs of
    jaxattr's own frozen value objects are stable across runs; anything else (a user
    callable) gets a per-process id, so its cells are recomputed rather than trusted."""
    if isinstance(v, str):
        return v
    digest = getattr(v, "digest", None)
    if isinstance(digest, str) and digest:
        return f"{_value_name(v)}:{digest}"
    if type(v).__module__.startswith("jaxattr.") and " at 0x" not in repr(v):
        return repr(v)
    return f"{_value_name(v)}:{type(v).__qualname__}:{id(v)}"


def _value_name(v) -> str:
    return v if isinstance(v, str) else getattr(v, "name", type(v).__name__)


def size_label(n: int | str, n_total: int) -> str:
    """``"full"`` for n = N (or more), else the integer as a string.

    Args:
        n: a subset size or :data:`FULL`.
        n_total: N, the panel's agents.

    Returns:
        The cell's ``n_label``.

    Raises:
        ValueError: ``n`` is neither :data:`FULL` nor an integer.

    Example:
        >>> from jaxattr.study import size_label
        >>> size_label(10, 100), size_label(100, 100), size_label("full", 100)
        ('10', 'full', 'full')
    """
    return FULL if n == FULL or int(n) >= n_total else str(int(n))


@dataclasses.dataclass
class StudyResult:
    """Everything the tables and figures need (all JSON-serialisable).

    Made by :func:`run_study`; the tables (:func:`all_tables`) and figures
    (:func:`save_figures`) read it.

    Args:
        config: the :class:`StudyConfig` of the run.
        topics: per-topic metadata (below).
        full: full-panel records by ``(topic, value)``.
        cells: the cell records.
        timings: seconds per stage (default empty).

    Raises:
        KeyError: indexing ``full`` with a ``(topic, value)`` the study did not run
            (:meth:`cell` returns None instead).

    Attributes:
        config: the :class:`StudyConfig`.
        topics: ``{topic: {"N", "T", "time_labels", "peak_day" (or None), "tier_counts"}}``.
        full: ``{(topic, value): record}`` full-panel summaries: ``day_shares`` (T, G),
            ``window_shares`` (G,), ``delta`` (T,), ``heatmap`` (n_bins, T) attribution mass,
            ``efficiency_error`` (max), ``bin_counts`` (n_bins,).
        cells: list of cell records, each with ``topic``, ``value``, ``protocol``, ``n``,
            ``n_label`` and per-draw lists ``window_shares`` (D, G), ``day_shares`` (D, T, G),
            ``rho``, ``c_star``, ``spearman``, ``kendall``, ``jaccard``, ``tier_counts``
            (D, G), ``efficiency_error``.
        timings: seconds per stage.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> c = res.cell("t", "variance", "RAND", "10")
        >>> c["draws"], len(c["rho"]), res.tier_names
        (3, 3, ('top', 'mid', 'tail'))
        >>> sorted(res.to_json())
        ['cells', 'config', 'full', 'timings', 'topics']
    """

    config: StudyConfig
    topics: dict
    full: dict
    cells: list
    timings: dict = dataclasses.field(default_factory=dict)

    @property
    def tier_names(self) -> tuple[str, ...]:
        """The tier names of the configuration, top first."""
        return tuple(self.config.tier_names)

    def cell(self, topic: str, value: Any, protocol: str, n_label: str | int) -> dict | None:
        """The cell record for one (topic, value, protocol, size label), or None.

        Args:
            topic: topic name.
            value: value name or object (matched by name).
            protocol: protocol name.
            n_label: size label (``"10"``, ``10`` or ``"full"``).

        Returns:
            The cell record, or None when the study has no such cell.
        """
        for c in self.cells:
            if (c["topic"], c["value"], c["protocol"], c["n_label"]) == (
                topic,
                _value_name(value),
                protocol,
                str(n_label),
            ):
                return c
        return None

    def to_json(self) -> dict:
        """The result as plain JSON-serialisable data (``full`` as a list of records)."""
        cfg = dataclasses.asdict(self.config)
        cfg["values"] = self.config.value_names
        return {
            "config": cfg,
            "topics": self.topics,
            "full": [dict(v, topic=k[0], value=k[1]) for k, v in self.full.items()],
            "cells": self.cells,
            "timings": self.timings,
        }


# ------------------------------------------------------------------------------ helpers


def _fingerprint(panel) -> str:
    """A content hash of the whole panel (features and followers), so a changed panel never
    reuses cached cells; blake2b over every byte costs ~0.3 s per full-scale topic, small
    next to the study."""
    fm = np.ascontiguousarray(panel.feature_major)
    t, d, n = fm.shape
    h = hashlib.blake2b(repr((t, d, n, list(panel.feature_names))).encode(), digest_size=16)
    h.update(fm.data.cast("B"))
    h.update(np.ascontiguousarray(followers_of(panel)).tobytes())
    return h.hexdigest()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "_"


def _write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = json.dumps(obj, allow_nan=True)
    with atomic_write(path, "w") as f:
        f.write(text)


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None  # missing or unreadable: recompute


def _tolist(x):
    return np.asarray(x, dtype=np.float64).tolist()


_LOG = get_logger("study")


class _Progress:
    """The study's progress display: one record of the ``jaxattr.study`` logger per step,
    with elapsed seconds and percent done, shown on ``stream`` (a bar on a terminal; see
    ``jaxattr._util._log``); ``callback`` receives each line too. Silent when both are None.
    """

    def __init__(self, stream, total: int, callback=None):
        self.stream, self.total, self.done = stream, total, 0
        self.callback, self.t0 = callback, time.perf_counter()
        self._display: Progress | None = None

    def __call__(self, msg: str, advance: int = 0) -> None:
        self.done += advance
        pct = f"{100 * self.done / self.total:3.0f}%" if self.total else ""
        line = f"[{time.perf_counter() - self.t0:6.1f}s {pct}] {msg}"
        if self.stream is not None:
            with records_to(self.stream, _LOG.name):
                if self._display is None:
                    self._display = Progress(_LOG, self.total, desc="study", unit="cell")
                self._display(line, advance)
            if self.total and self.done >= self.total:
                self._display.close()
        if self.callback is not None:
            self.callback(line)


# ------------------------------------------------------------------------------ full panel


def _full_summary(panel, value, cfg, tiers, bins) -> tuple[dict, np.ndarray]:
    """Full-panel attribution of one value: its summary record and window phi by agent."""
    import jaxattr

    att = jaxattr.attribute(panel, value, baseline=_baseline(cfg), steps=cfg.steps)
    g = tiers.n_tiers
    tier_sums = att.by_group(tiers.labels, g)  # (T, G) float64
    heat = att.by_group(bins, cfg.n_bins).T  # (n_bins, T)
    by_agent = att.by_agent()  # (N,) float64
    day = safe_ratio(tier_sums, tier_sums.sum(axis=1))
    win = safe_ratio(tier_sums.sum(axis=0), tier_sums.sum())
    delta = np.asarray(att.delta, np.float64)
    rec = {
        "n": int(att.phi.shape[1]),
        "day_shares": _tolist(day),
        "window_shares": _tolist(win),
        "day_tier_sums": _tolist(tier_sums),
        "delta": _tolist(delta),
        "value_features": _tolist(att.value_features),
        "heatmap": _tolist(heat),
        "bin_counts": np.bincount(bins, minlength=cfg.n_bins).tolist(),
        "efficiency_error": float(np.max(np.asarray(att.efficiency_error))),
        "method": att.method,
    }
    return rec, by_agent


def _baseline(cfg):
    return cfg.baseline if isinstance(cfg.baseline, str) else np.asarray(cfg.baseline, np.float32)


def _full_cell(topic, vname, protocol, rec, tiers) -> dict:
    """The n = N cell: the full panel itself (one run; rho = 0, ranks agree exactly)."""
    return {
        "topic": topic,
        "value": vname,
        "protocol": protocol,
        "n": rec["n"],
        "n_label": FULL,
        "draws": 1,
        "window_shares": [rec["window_shares"]],
        "day_shares": [rec["day_shares"]],
        "rho": [0.0],
        "c_star": [1.0],
        "spearman": [1.0],
        "kendall": [1.0],
        "jaccard": [1.0],
        "tier_counts": [tiers.counts.tolist()],
        "efficiency_error": [rec["efficiency_error"]],
    }


def _subset_cell(
    topic, vname, protocol, n, panel, value, subsets, full_by_agent, tiers, cfg, stacked=None
) -> dict:
    from ._tiers import tier_shares

    phi, _, err = subset_attribution(
        panel, subsets, value, baseline=_baseline(cfg), steps=cfg.steps, stacked=stacked
    )
    labels = tiers.labels[subsets]  # (D, n)
    day, win = tier_shares(phi, labels, tiers.n_tiers)
    w = phi.sum(axis=1)  # (D, n) window phi
    fw = full_by_agent[subsets]
    rho, cst, sp, kt, jac = [], [], [], [], []
    for j in range(subsets.shape[0]):
        c, r = rescaling_residual(w[j], fw[j])
        cst.append(c)
        rho.append(r)
        if np.isnan(r):  # zero total: shares (and their ranks) are undefined
            sp.append(float("nan"))
            kt.append(float("nan"))
            jac.append(float("nan"))
            continue
        ranks = n <= cfg.rank_max_n
        sp.append(spearman(w[j], fw[j]) if ranks else float("nan"))
        kt.append(kendall_tau(w[j], fw[j]) if ranks else float("nan"))
        jac.append(top_k_jaccard(w[j], fw[j], cfg.top_k))
    counts = np.stack([np.bincount(lab, minlength=tiers.n_tiers) for lab in labels])
    return {
        "topic": topic,
        "value": vname,
        "protocol": protocol,
        "n": int(n),
        "n_label": str(int(n)),
        "draws": int(subsets.shape[0]),
        "window_shares": _tolist(win),
        "day_shares": _tolist(day),
        "rho": rho,
        "c_star": cst,
        "spearman": sp,
        "kendall": kt,
        "jaccard": jac,
        "tier_counts": counts.tolist(),
        "efficiency_error": _tolist(err.max(axis=1)),
    }


# ------------------------------------------------------------------------------ runner


def _as_topics(world) -> tuple[dict, dict]:
    """``({topic: Panel}, {topic: peak_day or None})`` from a World, a mapping or a Panel."""
    peaks = {}
    if hasattr(world, "panels") and isinstance(world.panels, Mapping):
        panels = dict(world.panels)
        for t in getattr(world, "topics", []) or []:
            if isinstance(t, Mapping) and "name" in t:
                peaks[t["name"]] = t.get("peak_day")
    elif isinstance(world, Mapping):
        panels = dict(world)
    elif hasattr(world, "feature_major"):
        panels = {world.meta.get("topic") or "panel": world}
    else:
        raise TypeError(
            f"run_study: expected a World, a mapping topic -> Panel, or a Panel, "
            f"got {type(world).__name__}"
        )
    if not panels:
        raise ValueError("run_study: no topics (empty mapping)")
    for name, p in panels.items():
        if not hasattr(p, "feature_major"):
            raise TypeError(f"run_study: topic {name!r} is a {type(p).__name__}, not a Panel")
    return panels, peaks


def _run_topic(ti, topic, panel, ctx) -> None:
    """All cells of one topic (full panel first; cells in the cache are read back)."""
    cfg, values, sig, cache_dir, report = (
        ctx["cfg"],
        ctx["values"],
        ctx["sig"],
        ctx["cache_dir"],
        ctx["report"],
    )
    full, cells, timings = ctx["full"], ctx["cells"], ctx["timings"]
    n_topics, peaks, topics_out = ctx["n_topics"], ctx["peaks"], ctx["topics_out"]
    tstart = time.perf_counter()
    fp = _fingerprint(panel) if cache_dir is not None else ""
    followers = followers_of(panel)
    tiers = follower_tiers(followers, cfg.tier_fractions, cfg.tier_names)
    bins = percentile_bins(followers, cfg.n_bins)
    pools = protocol_pools(
        followers,
        engagement_of(panel),
        pool_fraction=cfg.pool_fraction,
        active_count=active_count_of(panel),
    )
    topics_out[topic] = {
        "N": panel.N,
        "T": panel.T,
        "time_labels": [str(x) for x in panel.time_labels],
        "peak_day": peaks.get(topic),
        "tier_counts": tiers.counts.tolist(),
        "pool_sizes": {k: int(v.size) for k, v in pools.items()},
    }
    by_agent = {}
    tag = f"[{ti + 1}/{n_topics} {topic}]"

    def cache_path(vname, kind):
        return (
            None
            if cache_dir is None
            else os.path.join(
                os.fspath(cache_dir), "cells", _safe(topic), _safe(vname), f"{_safe(kind)}.json"
            )
        )

    def cached(path):
        if path is None:
            return None
        obj = _read_json(path)
        if obj and obj.get("_fingerprint") == fp and obj.get("_config") == sig:
            timings["cached"] += 1
            return obj["record"]
        return None

    def store(path, record):
        if path is not None:
            _write_json(path, {"_fingerprint": fp, "_config": sig, "record": record})

    def ensure_full(vname, need_agents: bool):
        key = (topic, vname)
        if key in full and (not need_agents or vname in by_agent):
            return
        path = cache_path(vname, "FULL")
        rec = cached(path) if not need_agents else None
        if rec is None:
            t0 = time.perf_counter()
            rec, by_agent[vname] = _full_summary(panel, values[vname], cfg, tiers, bins)
            timings["full"] += time.perf_counter() - t0
            report(f"{tag} full panel N={panel.N:,} {vname}: {time.perf_counter() - t0:.2f}s", 0)
            store(path, rec)
        full[key] = rec

    for vname in values:
        ensure_full(vname, need_agents=False)
        report.done += 1
    for protocol in cfg.protocols:
        for label in ctx["n_sizes"][(topic, protocol)]:
            todo = []
            for vname in values:
                path = cache_path(vname, f"{protocol}_n{label}")
                rec = cached(path)
                if rec is None and label == FULL:
                    rec = _full_cell(topic, vname, protocol, full[(topic, vname)], tiers)
                    store(path, rec)
                if rec is None:
                    todo.append((vname, path))
                else:
                    cells.append(rec)
            if not todo:
                report(f"{tag} {protocol} n={label}: done", len(values))
                continue
            t0 = time.perf_counter()
            n = int(label)
            subsets = draw_subsets(
                pools[protocol], panel.N, n, draws=cfg.draws, seed=cfg.seed, key=(topic, protocol)
            )
            stacked = stack_subsets(panel, subsets)
            for vname, path in todo:
                ensure_full(vname, need_agents=True)
                rec = _subset_cell(
                    topic,
                    vname,
                    protocol,
                    n,
                    panel,
                    values[vname],
                    subsets,
                    by_agent[vname],
                    tiers,
                    cfg,
                    stacked,
                )
                store(path, rec)
                cells.append(rec)
            dt = time.perf_counter() - t0
            timings["subsets"] += dt
            report(
                f"{tag} {protocol} n={label} x{cfg.draws} draws, {len(todo)} values: {dt:.2f}s",
                len(values),
            )
    timings[f"topic:{topic}"] = time.perf_counter() - tstart


def run_study(
    world: Any,
    config: StudyConfig | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | bool | None = None,
) -> StudyResult:
    """Run the cross-scale study: every (topic, value, protocol, n) cell over ``draws`` subsets.

    Per topic: follower tiers and percentile bins (ranked once, on the full panel), the
    protocol pools, the full-panel attribution of each value function (reused by every
    ``n = full`` cell and every rho); per cell: ``draws`` subsets of size n (one compiled
    call for all draws), their tier shares per day and over the window, and per draw
    ``c*``, ``rho``, Spearman, Kendall tau and top-k Jaccard against the full panel.

    Args:
        world: a :class:`jaxattr.data.World` (uses its topic peak days), a mapping
            ``{topic: Panel}``, or one Panel.
        config: a :class:`StudyConfig` (default: the paper's grid).
        cache_dir: folder for finished cells (``cells/...json``); a re-run skips them.
        progress: True for stderr progress lines, a callable ``(msg) -> None``, or None.

    Returns:
        :class:`StudyResult`.

    Raises:
        TypeError: ``world`` is not a World, a mapping of Panels or a Panel.
        ValueError: no topics, an unknown value name, or a panel the attribution rejects.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> rand = res.cell("t", "variance", "RAND", "10")
        >>> len(rand["rho"]), all(r > 0 for r in rand["rho"])   # nonlinear f: rho > 0
        (3, True)
        >>> lin = res.cell("t", "linear", "RAND", "10")
        >>> max(lin["rho"]) < 1e-5                              # linear f: rho = 0
        True
    """
    import jaxattr

    cfg = config or StudyConfig()
    panels, peaks = _as_topics(world)
    values = {
        _value_name(v): (
            jaxattr.values.as_value(v) if not isinstance(v, str) else jaxattr.values.get(v)
        )
        for v in cfg.values
    }
    n_sizes = {
        (name, proto): sorted(
            {size_label(n, p.N) for n in cfg.sizes_for(proto)},
            key=lambda s: float("inf") if s == FULL else int(s),
        )
        for name, p in panels.items()
        for proto in cfg.protocols
    }
    total = len(values) * (len(panels) + sum(len(v) for v in n_sizes.values()))
    report = _Progress(
        sys.stderr if progress is True else None, total, progress if callable(progress) else None
    )
    sig = cfg.signature()
    topics_out, full, cells, timings = {}, {}, [], {"full": 0.0, "subsets": 0.0, "cached": 0}

    ctx = {
        "cfg": cfg,
        "values": values,
        "sig": sig,
        "cache_dir": cache_dir,
        "report": report,
        "full": full,
        "cells": cells,
        "timings": timings,
        "n_topics": len(panels),
        "peaks": peaks,
        "topics_out": topics_out,
        "n_sizes": n_sizes,
    }
    for ti, (topic, panel) in enumerate(panels.items()):
        _run_topic(ti, topic, panel, ctx)
    return StudyResult(config=cfg, topics=topics_out, full=full, cells=cells, timings=timings)
