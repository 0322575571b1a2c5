"""Tables of the paper's shape, built from a :class:`StudyResult` (written as CSV and Markdown).

Every table is a list of rows with named columns; ``<x>_mean`` / ``<x>_std`` pairs are merged
into one ``mean ± std`` column in Markdown. Means and standard deviations (ddof = 1) are over
the subset draws of a cell, ignoring draws whose shares are undefined (zero total
attribution); the full panel is one run and has no std.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Iterable

import numpy as np

from ._runner import FULL, StudyResult

__all__ = [
    "Table",
    "all_tables",
    "dose_response_table",
    "peak_day_table",
    "rho_table",
    "shares_vs_n_table",
    "stability_table",
    "three_tier_table",
    "write_tables",
]


@dataclasses.dataclass
class Table:
    """A named table: ``columns`` and ``rows`` (lists of values in column order).

    Args:
        name: file stem (``<name>.csv``, ``<name>.md``).
        title: heading of the Markdown rendering ("" for none).
        columns: column names.
        rows: one list per row, values in column order.
        note: text printed under the Markdown table.

    Raises:
        ValueError: from :meth:`column`, an unknown column; from :meth:`records`, a row
            whose length differs from the columns'.

    Example:
        >>> from jaxattr.study import Table
        >>> t = Table("demo", "", ["tier", "share_mean", "share_std"], [["top", 0.25, 0.05]])
        >>> t.records(), t.column("tier")
        ([{'tier': 'top', 'share_mean': 0.25, 'share_std': 0.05}], ['top'])
        >>> print(t.to_markdown())
        | tier | share |
        |---|---|
        | top | 0.2500 ± 0.0500 |
        <BLANKLINE>
    """

    name: str
    title: str
    columns: list[str]
    rows: list[list]
    note: str = ""

    def column(self, name: str) -> list:
        """The values of one column, in row order."""
        k = self.columns.index(name)
        return [r[k] for r in self.rows]

    def records(self) -> list[dict]:
        """The rows as dicts column -> value."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def to_csv(self) -> str:
        """CSV text (header row first; NaN as an empty field, floats at full precision)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for r in self.rows:
            w.writerow(
                [
                    ""
                    if isinstance(x, float) and math.isnan(x)
                    else (repr(x) if isinstance(x, float) else x)
                    for x in r
                ]
            )
        return buf.getvalue()

    def to_markdown(self) -> str:
        """Markdown text: the title, the table (``x_mean``/``x_std`` merged), the note."""
        heads, getters = [], []
        skip = set()
        for k, c in enumerate(self.columns):
            if k in skip:
                continue
            if c.endswith("_mean") and c[:-5] + "_std" in self.columns:
                j = self.columns.index(c[:-5] + "_std")
                skip.add(j)
                heads.append(c[:-5])
                getters.append(lambda r, k=k, j=j: _pm(r[k], r[j]))
            else:
                heads.append(c)
                getters.append(lambda r, k=k: _fmt(r[k]))
        lines = [f"**{self.title}**", ""] if self.title else []
        lines.append("| " + " | ".join(heads) + " |")
        lines.append("|" + "|".join("---" for _ in heads) + "|")
        lines += ["| " + " | ".join(g(r) for g in getters) + " |" for r in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"


def _fmt(x) -> str:
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return "–"
        if x == 0:
            return "0"
        return f"{x:.3g}" if (abs(x) < 1e-3 or abs(x) >= 1e4) else f"{x:.4f}"
    return str(x)


def _pm(m, s) -> str:
    if isinstance(s, float) and not math.isnan(s):
        return f"{_fmt(m)} ± {_fmt(s)}"
    return _fmt(m)


def mean_std(x) -> tuple[np.ndarray, np.ndarray]:
    """nan-aware mean and sample std (ddof = 1) over axis 0; std NaN for fewer than 2."""
    a = np.asarray(x, dtype=np.float64)
    ok = ~np.isnan(a)
    cnt = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, np.nansum(a, axis=0) / np.maximum(cnt, 1), np.nan)
        dev = np.where(ok, a - mean, 0.0)
        std = np.where(cnt > 1, np.sqrt((dev**2).sum(axis=0) / np.maximum(cnt - 1, 1)), np.nan)
    return mean, std


def small_n(res: StudyResult) -> str:
    sizes = [s for s in res.config.sizes if s != FULL]
    if not sizes:
        raise ValueError("the study has no subset size below the full panel")
    return str(int(min(sizes)))


def _values(res):
    return res.config.value_names


def _tier_cols(res, prefix=""):
    cols = []
    for g in res.tier_names:
        cols += [f"{prefix}{g}_mean", f"{prefix}{g}_std"]
    return cols


def _tier_vals(shares):
    m, s = mean_std(shares)
    out = []
    for g in range(np.shape(m)[-1]):
        out += [float(m[g]), float(s[g])]
    return out


def three_tier_table(
    res: StudyResult,
    n: int | str | None = None,
    biased: str = "BIAS_visibility",
    random: str = "RAND",
) -> Table:
    """Three-tier window shares: biased and random subsets of size n, and the full panel.

    Rows ``(topic, value, setting)``, setting in ``{biased, random, full}``; per tier the
    mean ± std over draws of ``RG_G(S) = sum_{i in S∩G} phi~_i``.

    Args:
        res: a :class:`StudyResult`.
        n: the subset size (default: the smallest below the full panel).
        biased: the biased protocol.
        random: the random protocol.

    Returns:
        :class:`Table` ``three_tier`` (a row is skipped where the study has no such cell).

    Raises:
        ValueError: ``n`` not given and the study has no size below the full panel.
        KeyError: a full-panel record missing from ``res``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> t = study.three_tier_table(res)
        >>> [r[2] for r in t.rows[:3]], t.columns[6:8]
        (['biased', 'random', 'full'], ['top_mean', 'top_std'])
    """
    n = str(n) if n is not None else small_n(res)
    rows = []
    for topic in res.topics:
        for v in _values(res):
            for setting, proto, lab in (
                ("biased", biased, n),
                ("random", random, n),
                ("full", None, FULL),
            ):
                if proto is None:
                    rec = res.full[(topic, v)]
                    shares, draws, nn = [rec["window_shares"]], 1, rec["n"]
                    proto = "-"
                else:
                    c = res.cell(topic, v, proto, lab)
                    if c is None:
                        continue
                    shares, draws, nn = c["window_shares"], c["draws"], c["n"]
                rows.append([topic, v, setting, proto, nn, draws] + _tier_vals(shares))
    return Table(
        "three_tier",
        f"Tier shares at n = {n}: biased vs random vs full panel",
        ["topic", "value", "setting", "protocol", "n", "draws"] + _tier_cols(res),
        rows,
    )


def rho_table(
    res: StudyResult, n: int | str | None = None, protocol: str = "BIAS_visibility"
) -> Table:
    """Theorem 1 per (topic, value): rho and c* over draws, with rank agreement and top-k.

    ``c* = <phi~^S, phi~^N|S> / ||phi~^N|S||²``, ``rho = ||phi~^S - c* phi~^N|S|| / ||phi~^S||``
    on window shares; Spearman / Kendall tau and top-k Jaccard between the subset's own
    attribution and the full-panel attribution of the same agents.

    Args:
        res: a :class:`StudyResult`.
        n: the subset size (default: the smallest below the full panel).
        protocol: the sampling protocol.

    Returns:
        :class:`Table` ``rho``, one row per (topic, value) with a cell at n.

    Raises:
        ValueError: ``n`` not given and the study has no size below the full panel.
        KeyError: a full-panel record missing from ``res``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> rows = study.rho_table(res, protocol="RAND").records()
        >>> [(r["value"], r["rho_max"] < 1e-5) for r in rows]   # Theorem 1: only linear has rho 0
        [('linear', True), ('variance', False)]
    """
    n = str(n) if n is not None else small_n(res)
    rows = []
    for topic in res.topics:
        for v in _values(res):
            c = res.cell(topic, v, protocol, n)
            if c is None:
                continue
            rm, rs = mean_std(c["rho"])
            rows.append(
                [
                    topic,
                    v,
                    protocol,
                    c["n"],
                    c["draws"],
                    float(rm),
                    float(rs),
                    float(np.nanmax(c["rho"])) if not np.all(np.isnan(c["rho"])) else float("nan"),
                    float(mean_std(c["c_star"])[0]),
                    float(mean_std(c["spearman"])[0]),
                    float(mean_std(c["kendall"])[0]),
                    float(mean_std(c["jaccard"])[0]),
                ]
            )
    return Table(
        "rho",
        f"Theorem 1: rescaling residual rho at n = {n} ({protocol})",
        [
            "topic",
            "value",
            "protocol",
            "n",
            "draws",
            "rho_mean",
            "rho_std",
            "rho_max",
            "c_star",
            "spearman",
            "kendall",
            f"jaccard_top{res.config.top_k}",
        ],
        rows,
    )


def peak_day_table(
    res: StudyResult, n: int | str | None = None, protocol: str = "BIAS_visibility"
) -> Table:
    """Peak day per (topic, value): ``argmax_t delta_t`` on the full panel, tier shares that day.

    Also the topic's own peak day (world metadata, when known) and the biased subsets' tier
    shares on the same day (mean over draws).

    Args:
        res: a :class:`StudyResult`.
        n: the subset size (default: the smallest below the full panel).
        protocol: the biased protocol.

    Returns:
        :class:`Table` ``peak_day``, one row per (topic, value).

    Raises:
        ValueError: ``n`` not given and the study has no size below the full panel.
        KeyError: a full-panel record missing from ``res``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> t = study.peak_day_table(res)
        >>> len(t.rows), t.columns[:4]
        (2, ['topic', 'value', 'peak_day', 'peak_label'])
    """
    n = str(n) if n is not None else small_n(res)
    rows = []
    for topic, meta in res.topics.items():
        labels = meta["time_labels"]
        world_peak = meta.get("peak_day")
        for v in _values(res):
            rec = res.full[(topic, v)]
            delta = np.asarray(rec["delta"])
            t = int(np.argmax(delta))
            full_day = np.asarray(rec["day_shares"])[t]
            c = res.cell(topic, v, protocol, n)
            b = (
                mean_std(np.asarray(c["day_shares"])[:, t])[0]
                if c is not None
                else np.full(len(res.tier_names), np.nan)
            )
            rows.append(
                [
                    topic,
                    v,
                    t,
                    labels[t],
                    "" if world_peak is None else labels[int(world_peak)],
                    float(delta[t]),
                ]
                + [float(x) for x in full_day]
                + [float(x) for x in b]
            )
    cols = (
        ["topic", "value", "peak_day", "peak_label", "world_peak_label", "delta_peak"]
        + [f"full_{g}" for g in res.tier_names]
        + [f"biased_{g}" for g in res.tier_names]
    )
    return Table(
        "peak_day",
        f"Peak day per topic (full panel) with tier shares that day (biased: {protocol}, n = {n})",
        cols,
        rows,
    )


def stability_table(res: StudyResult, protocol: str = "BIAS_visibility") -> Table:
    """Per-day stability of the flip: the top tier's per-day share across the T days.

    For each n: the top tier's share per day (mean over draws), then its mean and std across
    days; the full panel's likewise; ``gap_pp`` = 100 × (subset − full) mean; ``days_above``
    counts days whose subset share exceeds the full-panel share.

    Args:
        res: a :class:`StudyResult`.
        protocol: the sampling protocol.

    Returns:
        :class:`Table` ``stability``, one row per (topic, value, size).

    Raises:
        KeyError: a full-panel record missing from ``res``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> rows = study.stability_table(res).records()
        >>> [(r["value"], r["n_label"], r["days"]) for r in rows[:2]]
        [('linear', '10', 3), ('linear', 'full', 3)]
    """
    rows = []
    top = res.tier_names[0]
    for topic in res.topics:
        for v in _values(res):
            full_day = np.asarray(res.full[(topic, v)]["day_shares"])[:, 0]
            fm, fs = mean_std(full_day)
            for lab in size_labels(res, topic, v, protocol):
                c = listed_cell(res, topic, v, protocol, lab)
                per_day = mean_std(np.asarray(c["day_shares"])[:, :, 0])[0]  # (T,)
                m, s = mean_std(per_day)
                rows.append(
                    [
                        topic,
                        v,
                        protocol,
                        c["n"],
                        lab,
                        float(m),
                        float(s),
                        float(fm),
                        float(fs),
                        float(100 * (m - fm)),
                        int(np.sum(per_day > full_day)),
                        int(full_day.size),
                    ]
                )
    return Table(
        "stability",
        f"Per-day stability of the {top}-tier share ({protocol})",
        [
            "topic",
            "value",
            "protocol",
            "n",
            "n_label",
            f"{top}_day_mean",
            f"{top}_day_std",
            f"full_{top}_day_mean",
            f"full_{top}_day_std",
            "gap_pp",
            "days_above",
            "days",
        ],
        rows,
    )


def dose_response_table(res: StudyResult, n: int | str | None = None) -> Table:
    """Dose-response across protocols at size n: top-tier agents drawn vs top-tier share.

    ``top_agents``: mean number of top-tier agents in S (out of n); ``delta_pp``:
    100 × (mean top-tier share − full-panel top-tier share).

    Args:
        res: a :class:`StudyResult`.
        n: the subset size (default: the smallest below the full panel).

    Returns:
        :class:`Table` ``dose_response``, one row per (topic, value, protocol).

    Raises:
        ValueError: ``n`` not given and the study has no size below the full panel.
        KeyError: a full-panel record missing from ``res``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> [r["protocol"] for r in study.dose_response_table(res).records()[:2]]
        ['BIAS_visibility', 'RAND']
    """
    n = str(n) if n is not None else small_n(res)
    rows = []
    top = res.tier_names[0]
    for topic in res.topics:
        for v in _values(res):
            full_top = float(res.full[(topic, v)]["window_shares"][0])
            for proto in res.config.protocols:
                c = res.cell(topic, v, proto, n)
                if c is None:
                    continue
                cnt = np.asarray(c["tier_counts"], np.float64)[:, 0]
                m, s = mean_std(np.asarray(c["window_shares"])[:, 0])
                rows.append(
                    [
                        topic,
                        v,
                        proto,
                        c["n"],
                        c["draws"],
                        float(cnt.mean()),
                        float(m),
                        float(s),
                        full_top,
                        float(100 * (m - full_top)),
                    ]
                )
    return Table(
        "dose_response",
        f"Dose-response across protocols at n = {n}",
        [
            "topic",
            "value",
            "protocol",
            "n",
            "draws",
            f"{top}_agents",
            f"{top}_share_mean",
            f"{top}_share_std",
            f"full_{top}_share",
            "delta_pp",
        ],
        rows,
    )


def listed_cell(res: StudyResult, topic: str, v: str, protocol: str, label: str) -> dict:
    """The cell of a size label that :func:`size_labels` listed (it is in ``res.cells``)."""
    c = res.cell(topic, v, protocol, label)
    if c is None:  # size_labels lists only labels of existing cells
        raise KeyError(f"no cell ({topic!r}, {v!r}, {protocol!r}, n={label})")
    return c


def size_labels(res, topic, v, protocol):
    labs = {
        c["n_label"]
        for c in res.cells
        if (c["topic"], c["value"], c["protocol"]) == (topic, v, protocol)
    }
    return sorted(labs, key=lambda s: float("inf") if s == FULL else int(s))


def shares_vs_n_table(res: StudyResult) -> Table:
    """Tier shares vs n for every (topic, value, protocol): mean ± std over draws, mean rho.

    Args:
        res: a :class:`StudyResult`.

    Returns:
        :class:`Table` ``shares_vs_n``, one row per (topic, value, protocol, size).

    Raises:
        KeyError: a cell listed by ``res.cells`` that :meth:`StudyResult.cell` cannot find.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> t = study.shares_vs_n_table(res)
        >>> len(t.rows), t.columns[-1]   # 2 values x 2 protocols x 2 sizes
        (8, 'rho_mean')
    """
    rows = []
    for topic in res.topics:
        for v in _values(res):
            for proto in res.config.protocols:
                for lab in size_labels(res, topic, v, proto):
                    c = listed_cell(res, topic, v, proto, lab)
                    rows.append(
                        [topic, v, proto, c["n"], lab, c["draws"]]
                        + _tier_vals(c["window_shares"])
                        + [float(mean_std(c["rho"])[0])]
                    )
    return Table(
        "shares_vs_n",
        "Tier shares vs subset size n",
        ["topic", "value", "protocol", "n", "n_label", "draws"] + _tier_cols(res) + ["rho_mean"],
        rows,
    )


def all_tables(res: StudyResult) -> list[Table]:
    """The six tables of the study, in the paper's order.

    :func:`three_tier_table`, :func:`rho_table`, :func:`peak_day_table`,
    :func:`stability_table`, :func:`dose_response_table`, :func:`shares_vs_n_table`, each
    with its defaults (the smallest size, BIAS_visibility against RAND).

    Args:
        res: a :class:`StudyResult`.

    Returns:
        The six :class:`Table` objects.

    Raises:
        ValueError: ``n`` not given and the study has no size below the full panel.
        KeyError: a full-panel record missing from ``res``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr import study
        >>> panel = jaxattr.Panel(np.random.default_rng(0).random((3, 100, 2), np.float32),
        ...                       agents={"followers": np.arange(100.0)})
        >>> cfg = study.StudyConfig(values=("linear", "variance"), sizes=(10, "full"), draws=3,
        ...                         protocols=("BIAS_visibility", "RAND"))
        >>> res = study.run_study({"t": panel}, cfg)
        >>> [t.name for t in study.all_tables(res)]
        ['three_tier', 'rho', 'peak_day', 'stability', 'dose_response', 'shares_vs_n']
    """
    return [
        three_tier_table(res),
        rho_table(res),
        peak_day_table(res),
        stability_table(res),
        dose_response_table(res),
        shares_vs_n_table(res),
    ]


def write_tables(tables: Iterable[Table], out_dir: str | os.PathLike[str]) -> list[str]:
    """Write each table as ``<name>.csv`` and ``<name>.md`` (atomically), plus ``tables.md``.

    Args:
        tables: the :class:`Table` objects.
        out_dir: output folder (created).

    Returns:
        The written paths (two per table, then ``tables.md``).

    Raises:
        OSError: the folder or a file cannot be written.

    Example:
        >>> import os, tempfile
        >>> from jaxattr.study import Table, write_tables
        >>> t = Table("demo", "Demo", ["a", "b"], [[1, 0.5]])
        >>> with tempfile.TemporaryDirectory() as d:
        ...     paths = write_tables([t], d)
        ...     names = [os.path.basename(p) for p in paths]
        >>> names
        ['demo.csv', 'demo.md', 'tables.md']
    """
    tables = list(tables)
    from .._util import atomic_write

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for t in tables:
        for ext, text in (("csv", t.to_csv()), ("md", t.to_markdown())):
            p = os.path.join(out_dir, f"{t.name}.{ext}")
            with atomic_write(p, "w", newline="") as f:
                f.write(text)
            paths.append(p)
    p = os.path.join(out_dir, "tables.md")
    with atomic_write(p, "w") as f:
        f.write("\n".join(t.to_markdown() for t in tables))
    paths.append(p)
    return paths
