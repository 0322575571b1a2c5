"""Figures of the study (matplotlib, an optional extra: ``pip install jaxattr[plot]``).

- :func:`heatmap_figure`: follower-percentile bin (100 bins, top 1% at the top) × day map of
  the full-panel attribution mass, one panel per topic.
- :func:`tier_shares_figure`: tier shares, full panel vs biased vs random subsets.
- :func:`shares_vs_n_figure`: the top tier's share against the subset size n per protocol.
"""

from __future__ import annotations

import os

import numpy as np

from ._runner import FULL, StudyResult
from ._tables import listed_cell, mean_std, size_labels, small_n

__all__ = [
    "heatmap_figure",
    "pyplot",
    "save_figures",
    "save_pngs",
    "shares_vs_n_figure",
    "tier_shares_figure",
]


def pyplot():
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt  # headless: matplotlib falls back to Agg itself
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("figures need matplotlib: pip install 'jaxattr[plot]'") from e
    return plt


def heatmap_figure(res: StudyResult, value: str = "heat"):
    """Full-panel attribution mass per follower-percentile bin and day, per topic.

    Colour: the bin's share of the topic's total attribution over the window,
    ``sum_{i in bin} phi[t, i] / sum_{t, i} phi[t, i]`` (diverging colours when some mass is
    negative, as for gini's below-median agents).
    """
    plt = pyplot()
    from matplotlib.colors import PowerNorm, TwoSlopeNorm

    topics = list(res.topics)
    fig, axes = plt.subplots(
        1, len(topics), figsize=(3.6 * len(topics), 5.0), squeeze=False, constrained_layout=True
    )
    for ax, topic in zip(axes[0], topics, strict=True):
        h = np.asarray(res.full[(topic, value)]["heatmap"], np.float64)
        tot = h.sum()
        m = h / tot if tot != 0 else h * np.nan
        lo, hi = float(np.nanmin(m)), float(np.nanmax(m))
        # Each topic on its own scale (a flat topic would vanish next to a peaked one);
        # a square-root scale keeps the pale long-tail rows visible.
        if lo < 0:
            norm, cmap = TwoSlopeNorm(0.0, lo, max(hi, 1e-300)), "RdBu_r"
        else:
            norm, cmap = PowerNorm(0.5, 0.0, max(hi, 1e-300)), "magma"
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap=cmap, norm=norm)
        fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, format="%.1e" if hi < 1e-2 else None)
        labels = res.topics[topic]["time_labels"]
        ax.set_title(topic)
        step = max(1, len(labels) // 7)
        ax.set_xticks(range(0, len(labels), step))
        ax.set_xticklabels(
            [str(x)[5:] if len(str(x)) == 10 else str(x) for x in labels[::step]],
            rotation=45,
            fontsize=8,
        )
        nb = m.shape[0]
        ticks = sorted({0, nb // 10 - 1, nb // 2 - 1, nb - 1} - {-1})
        ax.set_yticks(ticks)
        ax.set_yticklabels(
            [f"top {100 * (k + 1) / nb:.0f}%" if k < nb - 1 else "bottom" for k in ticks],
            fontsize=8,
        )
        ax.set_xlabel("day")
        peak = res.topics[topic].get("peak_day")
        if peak is not None:
            ax.plot([int(peak)], [-0.5], marker="v", color="tab:cyan", ms=8, clip_on=False)
    axes[0][0].set_ylabel("follower-percentile bin (1% each)")
    fig.suptitle(
        f"Full-panel attribution mass by follower percentile and day ({value}): "
        "share of the topic's window total, own colour scale per topic; "
        "▼ topic event day (synthetic world)",
        fontsize=10,
    )
    return fig


def tier_shares_figure(res: StudyResult, n=None, biased="BIAS_visibility", random="RAND"):
    """Tier shares per topic and value function: full panel vs biased vs random subsets."""
    plt = pyplot()
    n = str(n) if n is not None else small_n(res)
    topics, values, tiers = list(res.topics), res.config.value_names, res.tier_names
    fig, axes = plt.subplots(
        len(values),
        len(tiers),
        figsize=(4.2 * len(tiers), 2.5 * len(values) + 0.6),
        squeeze=False,
        constrained_layout=True,
    )
    x = np.arange(len(topics))
    colors = {"full": "#444444", "biased": "#d62728", "random": "#1f77b4"}
    for r, v in enumerate(values):
        for g, tier in enumerate(tiers):
            ax = axes[r][g]
            for k, (setting, proto) in enumerate(
                (("full", None), ("biased", biased), ("random", random))
            ):
                means, stds = [], []
                for topic in topics:
                    if proto is None:
                        means.append(res.full[(topic, v)]["window_shares"][g])
                        stds.append(0.0)
                        continue
                    c = res.cell(topic, v, proto, n)
                    m, s = mean_std(np.asarray(c["window_shares"])[:, g]) if c else (np.nan, np.nan)
                    means.append(float(m))
                    stds.append(0.0 if np.isnan(s) else float(s))
                ax.bar(
                    x + (k - 1) * 0.27,
                    means,
                    0.27,
                    yerr=stds,
                    capsize=2,
                    color=colors[setting],
                    label=f"{setting}" + ("" if proto is None else f" (n={n})"),
                )
            ax.axhline(0.0, color="k", lw=0.5)
            ax.set_xticks(x)
            ax.set_xticklabels(topics, fontsize=8, rotation=20)
            ax.set_title(f"{v}: {tier} tier share", fontsize=9)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        "Tier shares of attribution: full panel vs biased vs random subsets (synthetic world)",
        fontsize=10,
    )
    return fig


def shares_vs_n_figure(res: StudyResult, tier: int = 0):
    """The tier's window share against n (log axis), per protocol, mean ± std over draws."""
    plt = pyplot()
    topics, values = list(res.topics), res.config.value_names
    fig, axes = plt.subplots(
        len(values),
        len(topics),
        figsize=(3.2 * len(topics) + 0.5, 2.4 * len(values) + 0.6),
        squeeze=False,
        constrained_layout=True,
    )
    for r, v in enumerate(values):
        for c_, topic in enumerate(topics):
            ax = axes[r][c_]
            n_full = res.topics[topic]["N"]
            for proto in res.config.protocols:
                labs = size_labels(res, topic, v, proto)
                ns, ms, ss = [], [], []
                for lab in labs:
                    cell = listed_cell(res, topic, v, proto, lab)
                    m, s = mean_std(np.asarray(cell["window_shares"])[:, tier])
                    ns.append(n_full if lab == FULL else int(lab))
                    ms.append(float(m))
                    ss.append(0.0 if np.isnan(s) else float(s))
                ns, ms, ss = map(np.asarray, (ns, ms, ss))
                ax.plot(ns, ms, marker="o", ms=3, label=proto)
                ax.fill_between(ns, ms - ss, ms + ss, alpha=0.15)
            ax.axhline(res.full[(topic, v)]["window_shares"][tier], color="k", ls="--", lw=0.8)
            ax.set_xscale("log")
            if r == 0:
                ax.set_title(topic, fontsize=9)
            if c_ == 0:
                ax.set_ylabel(f"{v}\n{res.tier_names[tier]} share", fontsize=9)
            if r == len(values) - 1:
                ax.set_xlabel("n (subset size)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        f"{res.tier_names[tier]}-tier share vs n (dashed: full panel; band: ± std over draws)",
        fontsize=10,
    )
    return fig


def save_figures(res: StudyResult, out_dir: str | os.PathLike[str], *, dpi: int = 110) -> list[str]:
    """Draw every figure and save it as PNG (atomically) under ``out_dir``.

    Figures: the follower-percentile × day heat map of each value function, the tier
    shares (full panel vs biased vs random at the smallest size) and the top tier's share
    against n per protocol. Needs matplotlib (``pip install 'jaxattr[plot]'``).

    Args:
        res: a :class:`StudyResult`.
        out_dir: output folder (created).
        dpi: resolution of the PNGs.

    Returns:
        The written paths: ``heatmap_<value>.png`` per value function, ``tier_shares.png``,
        ``shares_vs_n.png``.

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
        ValueError: the study has no subset size below the full panel.
        OSError: a file cannot be written.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> import os, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     paths = study.save_figures(res, d, dpi=20)
        ...     names = [os.path.basename(p) for p in paths]
        >>> names
        ['heatmap_linear.png', 'heatmap_variance.png', 'tier_shares.png', 'shares_vs_n.png']
    """
    figs = [(f"heatmap_{v}.png", heatmap_figure(res, v)) for v in res.config.value_names]
    figs += [
        ("tier_shares.png", tier_shares_figure(res)),
        ("shares_vs_n.png", shares_vs_n_figure(res)),
    ]
    return save_pngs(figs, out_dir, dpi=dpi)


def save_pngs(figs, out_dir, *, dpi: int) -> list[str]:
    """Save ``[(file name, figure)]`` as PNGs under ``out_dir`` (atomically), close them.

    Returns:
        The written paths.
    """
    from .._util import atomic_path

    plt = pyplot()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, fig in figs:
        p = os.path.join(out_dir, name)
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
        plt.close(fig)
        paths.append(p)
    return paths
