"""The scenario tables (faithfulness, robustness, timing) as rows and Markdown."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from ._common import attribute_run
from ._economy import simulate_economy
from ._faithfulness import faithfulness, shapley_cost_estimate
from ._midscale import simulate_midscale
from ._opinion import simulate_opinion
from ._robustness import baseline_robustness, k_convergence, path_choice, value_sensitivity

SIMULATORS = {
    "economy": simulate_economy,
    "opinion": simulate_opinion,
    "midscale": simulate_midscale,
}
TABLES = ("faithfulness", "convergence", "baseline", "path", "value", "timing")
DEFAULT_TABLES = {
    "economy": ("faithfulness", "convergence", "baseline", "path"),
    "opinion": ("faithfulness", "convergence", "baseline", "path", "value"),
    "midscale": ("timing", "faithfulness", "convergence", "baseline", "path", "value"),
}
"""The tables :func:`scenario_tables` runs for each scenario when ``tables`` is not given
(economy has no risk variants, so no ``value`` table; only midscale is large enough for
the ``timing`` table).

Example:
    >>> from jaxattr.scenarios import DEFAULT_TABLES
    >>> sorted(DEFAULT_TABLES), DEFAULT_TABLES["economy"]
    (['economy', 'midscale', 'opinion'], ('faithfulness', 'convergence', 'baseline', 'path'))
"""


def machine() -> dict:
    """Platform, CPU count and JAX backend of this run."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
    }


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """Render rows (dicts) as a Markdown table; floats get 4 significant digits.

    Args:
        rows: one dict per row; a missing key or None prints as ``–``.
        columns: the columns in order (default: every key, in first-seen order).

    Returns:
        The table as Markdown text, or ``"(no rows)"``.

    Raises:
        AttributeError: a row that is not a dict.

    Example:
        >>> from jaxattr.scenarios import markdown_table
        >>> print(markdown_table([{"method": "ours", "auc": 0.912345}, {"method": "loo"}]))
        | method | auc |
        |---|---|
        | ours | 0.9123 |
        | loo | – |
    """
    if not rows:
        return "(no rows)"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _simulate(name, n_agents, n_steps, seed):
    if name not in SIMULATORS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {sorted(SIMULATORS)}")
    kw = {"seed": seed}
    if n_agents is not None:
        kw["n_agents"] = n_agents
    if n_steps is not None:
        kw["n_steps"] = n_steps
    return SIMULATORS[name](**kw)


def scenario_tables(
    name: str,
    *,
    n_agents: int | None = None,
    n_steps: int | None = None,
    seeds: Sequence[int] = (0,),
    tables: Sequence[str] | None = None,
    n_permutations: int = 2000,
    timing_sizes: Sequence[int] = (10_000, 100_000),
    steps: int = 30,
) -> list[dict[str, Any]]:
    """Run the tables of one scenario (what ``jaxattr scenarios run NAME`` prints).

    Tables: ``faithfulness`` (:func:`faithfulness`), ``convergence``
    (:func:`k_convergence`), ``baseline`` (:func:`baseline_robustness`), ``path``
    (:func:`path_choice`), ``value`` (:func:`value_sensitivity`) and ``timing`` (simulation,
    attribution and extrapolated Shapley seconds at each of ``timing_sizes``).

    Args:
        name: ``"economy"``, ``"opinion"`` or ``"midscale"``.
        n_agents: override the scenario's default N.
        n_steps: override the scenario's default T.
        seeds: simulation seeds, at least one (faithfulness, baseline, path and value
            tables have rows per seed; convergence uses the first).
        tables: table names (default: the scenario's :data:`DEFAULT_TABLES`).
        n_permutations: M of sampled Shapley (midscale uses ``min(M, 200)``).
        timing_sizes: N of the timing table.
        steps: K of our path integral.

    Returns:
        A list of ``{"table", "scenario", "rows", "meta"}``; each row also carries the
        sizes (N, T, d, K) and dtype. :func:`render` prints it, :func:`write_jsonl` logs it.

    Raises:
        ValueError: unknown scenario or table, no seeds, or sizes out of range.

    Example:
        >>> from jaxattr.scenarios import render, scenario_tables
        >>> res = scenario_tables("opinion", n_agents=8, n_steps=4, tables=["baseline"])
        >>> res[0]["table"], len(res[0]["rows"]), res[0]["rows"][0]["pair"]
        ('baseline', 3, 'zero vs mean')
        >>> print(render(res).splitlines()[0])
        ### opinion: baseline (N=8, T=4, d=5, K=30, dtype=float32)
    """
    tables = DEFAULT_TABLES.get(name, ()) if tables is None else tuple(tables)
    bad = [t for t in tables if t not in TABLES]
    if bad:
        raise ValueError(f"unknown table(s) {bad}; choose from {list(TABLES)}")
    seeds = tuple(seeds)
    if not seeds:
        raise ValueError("scenario_tables: seeds must name at least one simulation seed")
    runs = {s: _simulate(name, n_agents, n_steps, s) for s in seeds}
    first = runs[seeds[0]]  # every seed's run has the same sizes (N, T, d)
    out = []

    def add(table, rows, run, **meta):
        t, n, d = run.panel.shape
        for r in rows:
            for k, v in {"N": n, "T": t, "d": d, "K": steps, "dtype": "float32"}.items():
                r.setdefault(k, v)
        out.append({"table": table, "scenario": name, "rows": rows, "meta": meta})

    key = jax.random.key(1234)
    if "timing" in tables:
        rows = []
        for n in timing_sizes:
            t0 = time.perf_counter()
            run = _simulate(name, n, n_steps, seeds[0])
            sim_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            att = attribute_run(run, steps=steps)
            att.phi.block_until_ready()
            first_s = time.perf_counter() - t0
            reps = []
            for _ in range(3):
                t0 = time.perf_counter()
                attribute_run(run, steps=steps).phi.block_until_ready()
                reps.append(time.perf_counter() - t0)
            cost = shapley_cost_estimate(run, n_permutations=1000)
            rows.append(
                {
                    "N": n,
                    "simulate_s": sim_s,
                    "attribute_first_call_s": first_s,
                    "attribute_s": min(reps),
                    "efficiency_error": float(att.efficiency_error.max()),
                    "risk_eval_s": cost["t_eval_s"],
                    "shapley_generic_M1000_s": cost["generic_s"],
                    "shapley_meanfield_M1000_s": cost["meanfield_s"],
                }
            )
            t, _, d = run.panel.shape
            rows[-1].update({"T": t, "d": d, "K": steps, "dtype": "float32"})
        out.append({"table": "timing", "scenario": name, "rows": rows, "meta": {}})
    if "faithfulness" in tables:
        rows = []
        for s, run in runs.items():
            m = n_permutations if name != "midscale" else min(n_permutations, 200)
            fa = faithfulness(
                run,
                key=jax.random.fold_in(key, s),
                n_permutations=m,
                steps=steps,
                exact=run.target.shape[0] <= 20,
            )
            for r in fa["rows"]:
                rows.append(
                    {
                        "seed": s,
                        **r,
                        "shapley_se_rel": fa.get("shapley_se_rel"),
                        "M": fa.get("n_permutations"),
                    }
                )
        add("faithfulness", rows, first)
    if "convergence" in tables:
        run = runs[seeds[0]]
        kc = k_convergence(run)
        rows = kc["rows"]
        for r in rows:
            r["slope"] = kc["slope"][r["rule"]]
        for r in rows:
            r["dtype"] = "float64"
        add("convergence", rows, run, slope=kc["slope"])
    if "baseline" in tables:
        rows = []
        for s, run in runs.items():
            rows += [{"seed": s, **r} for r in baseline_robustness(run, steps=steps)["rows"]]
        add("baseline", rows, first)
    if "path" in tables:
        rows = []
        for s, run in runs.items():
            pc = path_choice(run, key=jax.random.fold_in(key, 100 + s), steps=steps)
            rows.append({"seed": s, **{k: v for k, v in pc.items() if k not in ("scenario", "N")}})
        add("path", rows, first)
    if "value" in tables:
        rows = []
        for s, run in runs.items():
            rows += [{"seed": s, **r} for r in value_sensitivity(run, steps=steps)["rows"]]
        add("value", rows, first)
    return out


def write_jsonl(results: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Append every row of ``results`` as one JSON line (with machine and table names).

    Each line holds ``bench = "scenarios"``, the time stamp, the table and scenario names,
    the machine (platform, CPU count, JAX backend and version) and the row's own columns
    (NumPy scalars as numbers, anything else unserialisable as its string).

    Args:
        results: the output of :func:`scenario_tables`.
        path: the JSON-lines file, created with its folder if missing, appended to.

    Returns:
        None.

    Raises:
        OSError: the file cannot be created or written.
        KeyError: a result without ``table``, ``scenario`` or ``rows``.

    Example:
        >>> import json, os, tempfile
        >>> from jaxattr.scenarios import write_jsonl
        >>> res = [{"table": "path", "scenario": "opinion", "rows": [{"kendall_mean": 0.9}]}]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_jsonl(res, os.path.join(d, "scenarios.jsonl"))
        ...     with open(os.path.join(d, "scenarios.jsonl")) as f:
        ...         rec = json.loads(f.read())
        >>> rec["bench"], rec["table"], rec["kendall_mean"]
        ('scenarios', 'path', 0.9)
    """
    info = machine()
    lines = []
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for res in results:
        for r in res["rows"]:
            rec = {
                "bench": "scenarios",
                "time": stamp,
                "table": res["table"],
                "scenario": res["scenario"],
                **info,
                **r,
            }
            lines.append(json.dumps(rec, default=_json_default))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:  # append-only log: one write per run
        fh.write("\n".join(lines) + "\n")


def _json_default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return str(v)


def render(results: list[dict[str, Any]]) -> str:
    """All tables of a run as Markdown sections.

    One ``### scenario: table`` section per result; columns that are constant over a
    table's rows (N, T, d, K, dtype) move into its title, and the convergence table's
    fitted slopes are appended to the title.

    Args:
        results: the output of :func:`scenario_tables`.

    Returns:
        Markdown text (sections separated by blank lines).

    Raises:
        KeyError: a result without ``table``, ``scenario``, ``rows`` or ``meta``.

    Example:
        >>> from jaxattr.scenarios import render
        >>> res = [{"table": "path", "scenario": "opinion", "meta": {},
        ...         "rows": [{"seed": 0, "kendall_mean": 0.9, "N": 8, "T": 4, "d": 5,
        ...                   "K": 30, "dtype": "float32"}]}]
        >>> print(render(res))
        ### opinion: path (N=8, T=4, d=5, K=30, dtype=float32)
        <BLANKLINE>
        | seed | kendall_mean |
        |---|---|
        | 0 | 0.9 |
    """
    parts = []
    for res in results:
        sizes = ("N", "T", "d", "K", "dtype")
        rows = res["rows"]
        const = {
            k: rows[0].get(k)
            for k in sizes
            if rows and all(r.get(k) == rows[0].get(k) for r in rows)
        }
        rows = [{k: v for k, v in r.items() if k not in const} for r in rows]
        title = f"### {res['scenario']}: {res['table']}"
        if const:
            title += " (" + ", ".join(f"{k}={v}" for k, v in const.items()) + ")"
        if res["meta"].get("slope"):
            title += (
                "  (fitted slope: "
                + ", ".join(
                    f"{k} {v:.3f}" for k, v in res["meta"]["slope"].items() if v is not None
                )
                + ")"
            )
        parts.append(title + "\n\n" + markdown_table(rows))
    return "\n\n".join(parts)
