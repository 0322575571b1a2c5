"""Plots of any :class:`~jaxattr.Attribution`: where in time and in the population the
macro change came from.

matplotlib is imported on first call (``pip install 'jaxattr[plot]'``); figures are built
with ``matplotlib.figure.Figure`` (no pyplot state, no display needed). Each function
returns the figure and, given ``path``, writes it as a PNG atomically.

Agents are labelled with the identifiers of the Panel the attribution came from, else by
their integer indices. Groups are ``(N,)`` integer labels (tiers, communities, percentile
bins of a covariate); by default agents are grouped into ``n_groups`` equal-size bins of
their total attribution over the window, bin 0 the largest.

Example::

    >>> import numpy as np, jaxattr, jaxattr.plot
    >>> z = np.random.default_rng(0).random((4, 500, 3), dtype=np.float32)
    >>> att = jaxattr.attribute(z, jaxattr.values.heat())
    >>> fig = jaxattr.plot.heatmap(att)               # or heatmap(att, "heat.png")
    >>> [ax.get_xlabel() for ax in fig.axes][:1]
    ['time step']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from jaxtyping import ArrayLike, Int, Shaped

from ._util import atomic_path, percentile_bins

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._result import Attribution

__all__ = ["group_shares", "heatmap", "top_agents"]


def _figure(**kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("jaxattr.plot needs matplotlib: pip install 'jaxattr[plot]'") from e
    return Figure(layout="constrained", **kwargs)


def _finish(fig: Figure, path: str | os.PathLike[str] | None, dpi: int) -> Figure:
    if path is not None:
        with atomic_path(os.fspath(path)) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    return fig


def _phi(att) -> np.ndarray:
    phi = np.asarray(att.phi)
    if phi.ndim != 2:
        raise ValueError(
            f"phi has shape {phi.shape}: a batched (vmapped) result; plot one "
            "attribution at a time, e.g. jax.tree.map(lambda x: x[b], att)"
        )
    if phi.size == 0:
        raise ValueError(f"nothing to plot: phi has shape {phi.shape}")
    return phi


def _time_ticks(ax, att, t: int, axis: str = "x") -> None:
    labels = list(att.time_labels) if len(att.time_labels) == t else list(range(t))
    step = max(1, -(-t // 14))  # at most ~14 tick labels
    ticks = list(range(0, t, step))
    set_ticks, set_labels = (
        (ax.set_xticks, ax.set_xticklabels) if axis == "x" else (ax.set_yticks, ax.set_yticklabels)
    )
    set_ticks(ticks)
    set_labels(
        [str(labels[i]) for i in ticks],
        rotation=45 if axis == "x" else 0,
        ha="right" if axis == "x" else "right",
        fontsize=8,
    )


def _groups(att, groups, group_names, n_groups: int):
    """``(sums (T, G) float64, names (G,))`` of the agents' groups."""
    n = _phi(att).shape[1]
    if groups is None:
        g = min(int(n_groups), n)
        if g < 1:
            raise ValueError(f"n_groups must be >= 1, got {n_groups}")
        labels = percentile_bins(att.by_agent(), g)
        names = [f"{100 * i / g:.3g}-{100 * (i + 1) / g:.3g}%" for i in range(g)]
        return att.by_group(labels, g), names, "agents by total attribution (top first)"
    sums = att.by_group(groups, None if group_names is None else len(group_names))
    names = (
        [str(x) for x in group_names]
        if group_names is not None
        else [str(i) for i in range(sums.shape[1])]
    )
    return sums, names, "agent group"


def heatmap(
    att: Attribution,
    path: str | os.PathLike[str] | None = None,
    *,
    groups: Int[ArrayLike, " N"] | None = None,
    group_names: Sequence[str] | None = None,
    n_groups: int = 10,
    title: str | None = None,
    dpi: int = 100,
) -> Figure:
    """Time × agent-group heat map of the attribution summed within each group.

    Args:
        att: an :class:`~jaxattr.Attribution`.
        path: write the figure here as a PNG (atomically); None: only return it.
        groups: ``(N,)`` integer group of each agent, in ``[0, G)``; default: ``n_groups``
            equal-size bins of the agents' total attribution, the largest first.
        group_names: G names (default: the group numbers, or the bins' percentile ranges).
        n_groups: the number of bins when ``groups`` is not given (capped at N).
        title: the figure's title (default: names the value function).
        dpi: resolution of the PNG.

    Returns:
        The ``matplotlib.figure.Figure``; its image holds the ``(G, T)`` group sums.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: bad groups (see :meth:`Attribution.by_group`), ``n_groups < 1``, a
            batched (vmapped) result.
        TypeError: non-integer groups.

    Example:
        >>> import os, tempfile, numpy as np, jaxattr, jaxattr.plot
        >>> z = np.random.default_rng(0).random((3, 8, 2), dtype=np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.variance())
        >>> groups = np.array([0, 0, 1, 1, 1, 2, 2, 2])
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     fig = jaxattr.plot.heatmap(att, os.path.join(tmp, "h.png"), groups=groups,
        ...                                group_names=["a", "b", "c"])
        ...     print(os.listdir(tmp))
        ['h.png']
        >>> fig.axes[0].images[0].get_array().shape                    # (G, T)
        (3, 3)
    """
    sums, names, ylabel = _groups(att, groups, group_names, n_groups)
    t, g = sums.shape
    fig = _figure(figsize=(max(4.0, 0.5 * t + 2.5), max(3.0, 0.3 * g + 1.5)))
    ax = fig.add_subplot()
    lo, hi = float(sums.min()), float(sums.max())
    kwargs: dict[str, Any] = {"cmap": "viridis"}
    if lo < 0 < hi:  # diverging, centred on zero: sign matters
        from matplotlib.colors import TwoSlopeNorm

        kwargs = {"cmap": "RdBu_r", "norm": TwoSlopeNorm(vmin=lo, vcenter=0.0, vmax=hi)}
    im = ax.imshow(sums.T, aspect="auto", interpolation="nearest", **kwargs)
    fig.colorbar(im, ax=ax, label=f"sum of phi ({att.value_name})")
    _time_ticks(ax, att, t)
    ax.set_yticks(range(g))
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("time step")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"Attribution of {att.value_name} by time and group")
    return _finish(fig, path, dpi)


def top_agents(
    att: Attribution,
    path: str | os.PathLike[str] | None = None,
    *,
    k: int = 20,
    by: str = "total",
    agents: Shaped[ArrayLike, " N"] | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Figure:
    """Bar chart of the ``k`` agents with the largest attribution over the window.

    Args:
        att: an :class:`~jaxattr.Attribution`.
        path: write the figure here as a PNG (atomically); None: only return it.
        k: how many agents (capped at N).
        by: ``"total"``: the largest sums of phi over time (the largest positive
            contributions); ``"abs"``: the largest ``|sum|`` (either sign).
        agents: ``(N,)`` labels for the bars; default the Panel's agent ids, else the
            integer indices.
        title: the figure's title (default: "Top k agents").
        dpi: resolution of the PNG.

    Returns:
        The figure; bar i is the i-th agent, its height that agent's total attribution.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: ``k < 1``, an unknown ``by``, ``agents`` of the wrong length, a batched
            (vmapped) result.

    Example:
        >>> import numpy as np, jaxattr, jaxattr.plot
        >>> z = np.arange(1, 7, dtype=np.float32).reshape(1, 6, 1)       # agent 5 largest
        >>> att = jaxattr.attribute(z, jaxattr.values.linear())
        >>> fig = jaxattr.plot.top_agents(att, k=3)
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
        ['5', '4', '3']
    """
    n = _phi(att).shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if by not in ("total", "abs"):
        raise ValueError(f"by must be 'total' or 'abs', got {by!r}")
    total = att.by_agent()
    if agents is None:
        agents = att.agents.ids if att.agents is not None else np.arange(n)
    agents = np.asarray(agents)
    if agents.shape != (n,):
        raise ValueError(f"agents must have shape ({n},), got {agents.shape}")
    key = np.abs(total) if by == "abs" else total
    idx = np.argsort(-key, kind="stable")[: min(int(k), n)]
    fig = _figure(figsize=(6.0, max(2.5, 0.28 * idx.size + 1.2)))
    ax = fig.add_subplot()
    y = np.arange(idx.size)
    ax.barh(y, total[idx], color=np.where(total[idx] >= 0, "tab:red", "tab:blue"))
    ax.set_yticks(y)
    ax.set_yticklabels([str(a) for a in agents[idx].tolist()], fontsize=8)
    ax.invert_yaxis()  # the largest on top
    ax.axvline(0.0, color="0.3", lw=0.8)
    ax.set_xlabel(f"sum of phi over time ({att.value_name})")
    ax.set_title(title or f"Top {idx.size} agents")
    return _finish(fig, path, dpi)


def group_shares(
    att: Attribution,
    path: str | os.PathLike[str] | None = None,
    *,
    groups: Int[ArrayLike, " N"] | None = None,
    group_names: Sequence[str] | None = None,
    n_groups: int = 5,
    title: str | None = None,
    dpi: int = 100,
) -> Figure:
    """Each group's share of the step's total attribution, over time (one line a group;
    the shares of a step sum to 1).

    Args:
        att: an :class:`~jaxattr.Attribution`.
        path: write the figure here as a PNG (atomically); None: only return it.
        groups: ``(N,)`` integer group of each agent, in ``[0, G)``; default: ``n_groups``
            equal-size bins of the agents' total attribution, the largest first.
        group_names: G names (default: the group numbers, or the bins' percentile ranges).
        n_groups: the number of bins when ``groups`` is not given (capped at N).
        title: the figure's title (default: names the value function).
        dpi: resolution of the PNG.

    Returns:
        The figure; line j holds group j's share at each step.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: a step whose total attribution is within rounding noise of zero (its
            shares are undefined; see :meth:`Attribution.shares`), bad groups, a batched
            result.
        TypeError: non-integer groups.

    Example:
        >>> import numpy as np, jaxattr, jaxattr.plot
        >>> z = np.random.default_rng(0).random((4, 6, 3), dtype=np.float32)
        >>> att = jaxattr.attribute(z, jaxattr.values.heat())
        >>> fig = jaxattr.plot.group_shares(att, groups=np.array([0, 0, 0, 1, 1, 1]))
        >>> lines = fig.axes[0].get_lines()[:2]                  # one line per group
        >>> bool(np.allclose(lines[0].get_ydata() + lines[1].get_ydata(), 1.0))
        True
    """
    att.shares()  # refuses steps whose total is ~0, naming the step
    sums, names, legend = _groups(att, groups, group_names, n_groups)
    shares = sums / sums.sum(axis=1, keepdims=True)
    t = shares.shape[0]
    fig = _figure(figsize=(max(5.0, 0.4 * t + 3.0), 3.6))
    ax = fig.add_subplot()
    for j, name in enumerate(names):
        ax.plot(np.arange(t), shares[:, j], marker="o", ms=3, label=name)
    _time_ticks(ax, att, t)
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xlabel("time step")
    ax.set_ylabel("share of the step's attribution")
    ax.legend(
        title=legend, fontsize=7, title_fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5)
    )
    ax.set_title(title or f"Group shares of {att.value_name} over time")
    return _finish(fig, path, dpi)
