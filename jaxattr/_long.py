"""Long tables ``(step, agent, features...)`` <-> Panels, for pandas, polars and Arrow.

A *long* table has one row per (step, agent) pair: a step column (integers, floats, dates or
datetimes, strings), an agent column (integers or strings) and one numeric column per
feature. This is what simulators write (Mesa's ``DataCollector.get_agent_vars_dataframe()``,
an OASIS query, a CSV of agent states) and what pandas/polars users hold.

:func:`pivot_long` (``Panel.from_long``) pivots it into a Panel ``(T, N, d)``: steps are
sorted by value (T = the distinct steps), agents by value (N = the distinct agents, kept as
the panel's ``agent_ids``), features in the order given. Every (step, agent) pair must occur exactly
once unless ``fill`` is given; integer steps must be consecutive (a missing step is a gap,
not a shorter panel). :func:`to_long` is the inverse.

Every table goes through Arrow (pandas via ``pyarrow.Table.from_pandas``, polars via
``DataFrame.to_arrow``); pandas and polars are imported only when such a table is passed.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import numpy as np

from ._util import aligned_empty

__all__ = ["pivot_long", "to_long"]


def _as_arrow(table, step: str, agent: str):
    """A ``pyarrow.Table`` from a pandas/polars DataFrame or an Arrow table/record batch."""
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    mod = type(table).__module__.split(".")[0]
    if mod == "pandas":
        import pandas as pd

        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"from_long: expected a DataFrame, got pandas {type(table).__name__}")
        # step and agent may be index levels (Mesa's get_agent_vars_dataframe: Step, AgentID)
        names = [n for n in table.index.names if n is not None]
        if any(n in (step, agent) for n in names) and not (
            step in table.columns and agent in table.columns
        ):
            table = table.reset_index()
        try:
            return pa.Table.from_pandas(table, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as e:
            raise ValueError(
                f"from_long: the pandas DataFrame cannot be converted to Arrow "
                f"({type(e).__name__}: {e}); a column mixes types"
            ) from None
    if mod == "polars":
        return table.to_arrow()
    raise TypeError(
        f"from_long: expected a pandas or polars DataFrame or a pyarrow Table, got "
        f"{type(table).__module__}.{type(table).__name__}"
    )


def _keys(col, name: str, what: str):
    """(sorted distinct values, code of every row) of a step or agent column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = t.value_type
    if col.null_count:
        row = int(pc.index(col.is_null(), True).as_py())
        raise ValueError(
            f"from_long: {what} column {name!r} has {col.null_count} nulls (first "
            f"at row {row}); every row needs a {what}"
        )
    ok = (
        pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or (
            what == "step"
            and (pa.types.is_floating(t) or pa.types.is_timestamp(t) or pa.types.is_date(t))
        )
    )
    if not ok:
        allowed = (
            "integers, floats, strings, dates or datetimes"
            if what == "step"
            else "integers or strings"
        )
        raise ValueError(
            f"from_long: {what} column {name!r} has type {t}; {what}s must be {allowed}"
        )
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        vals = np.asarray(col.to_pylist(), dtype=str)
    else:
        vals = col.to_numpy()
    if vals.dtype.kind == "f" and not np.isfinite(vals).all():
        row = int(np.flatnonzero(~np.isfinite(vals))[0])
        raise ValueError(f"from_long: step column {name!r} holds {vals[row]} at row {row}")
    uniq, codes = np.unique(vals, return_inverse=True)
    return uniq, codes.reshape(-1).astype(np.int64)


def _step_labels(steps: np.ndarray) -> list:
    """JSON-friendly time labels: ints stay ints, dates and datetimes become ISO text."""
    if steps.dtype.kind == "M":
        unit = np.datetime_data(steps.dtype)[0]
        if unit == "D":
            return [str(s) for s in steps.astype("datetime64[D]")]
        return [s.isoformat() for s in steps.astype("datetime64[us]").tolist()]
    if steps.dtype.kind in "iu":
        return [int(s) for s in steps]
    if steps.dtype.kind == "f":
        return [float(s) for s in steps]
    return [str(s) for s in steps]


def pivot_long(
    table,
    *,
    step: str = "step",
    agent: str = "agent",
    features: Sequence[str] | None = None,
    fill: float | None = None,
    allow_step_gaps: bool = False,
) -> dict:
    """Pivot a long table (one row per step and agent) into the parts of a Panel ``(T, N,
    d)``: the keyword arguments of ``Panel.from_feature_major`` (``Panel.from_long`` builds
    the panel; this module does not import the Panel class, which imports it).

    Args:
        table: a pandas DataFrame (``step``/``agent`` may be index levels), a polars
            DataFrame, or a ``pyarrow.Table`` / ``RecordBatch``.
        step: the step column: integers (consecutive from the first to the last step seen),
            floats, strings, dates or datetimes; sorted by value into the time axis. Time
            labels are the step values (dates and datetimes as ISO text).
        agent: the agent column (integers or strings); agents are sorted by value and kept as
            the panel's ``agent_ids`` (string ids are identifiers: ``write_panel`` needs
            ``write_identifiers=True`` for them).
        features: the feature columns, in order (default: every other numeric column, in
            table order). Integers and booleans are cast to float32.
        fill: value for (step, agent) pairs that have no row (agents that enter late or
            leave early). Default None: a missing pair is an error naming it.
        allow_step_gaps: integer steps need not be consecutive (data collected every k
            steps): the time axis is the steps seen.

    Returns:
        ``{"fm": (T, d, N) float32, "feature_names", "time_labels", "agent_ids"}``.

    Raises:
        ValueError: a missing column (naming the available ones), a non-numeric feature
            column, nulls, a (step, agent) pair that occurs twice (naming it and its rows), a
            missing pair without ``fill`` or a gap in integer steps (naming them).
        TypeError: a table of another kind.
    """
    import pyarrow as pa

    tab = _as_arrow(table, step, agent)
    if fill is not None and not np.isfinite(float(fill)):
        raise ValueError(f"from_long: fill must be a finite number, got {fill!r}")
    cols = tab.column_names
    for c, what in ((step, "step"), (agent, "agent")):
        if c not in cols:
            raise ValueError(
                f"from_long: no {what} column {c!r}; columns are {cols} (pass {what}=NAME)"
            )
    if features is None:
        features = [
            f.name
            for f in tab.schema
            if f.name not in (step, agent)
            and (
                pa.types.is_integer(f.type)
                or pa.types.is_floating(f.type)
                or pa.types.is_boolean(f.type)
            )
        ]
        if not features:
            raise ValueError(
                f"from_long: no numeric feature columns besides {step!r} and "
                f"{agent!r}; columns are {cols}"
            )
    else:
        if isinstance(features, str):
            features = [features]
        features = list(features)
        if not features:
            raise ValueError("from_long: features is empty")
        for f in features:
            if f not in cols:
                raise ValueError(f"from_long: no feature column {f!r}; columns are {cols}")
            if f in (step, agent):
                raise ValueError(
                    f"from_long: {f!r} is the {'step' if f == step else 'agent'} "
                    "column; it cannot also be a feature"
                )
        if len(set(features)) != len(features):
            raise ValueError(f"from_long: features {features} name a column twice")
    if tab.num_rows == 0:
        raise ValueError("from_long: the table has no rows")
    steps, ti = _keys(tab.column(step), step, "step")
    ids, ai = _keys(tab.column(agent), agent, "agent")
    if steps.dtype.kind in "iu" and steps.size > 1 and not allow_step_gaps:
        holes = np.flatnonzero(np.diff(steps) != 1)
        if holes.size:
            gap = [int(s) + 1 for s in steps[holes[:5]]]
            raise ValueError(
                f"from_long: integer steps are not consecutive: no rows for step "
                f"{gap[0]}"
                + (f" (gaps after steps {steps[holes[:5]].tolist()})" if holes.size > 1 else "")
                + f"; steps run from {int(steps[0])} to {int(steps[-1])} "
                "(allow_step_gaps=True keeps only the steps seen)"
            )
    T, N = steps.size, ids.size
    flat = ti * N + ai
    count = np.bincount(flat, minlength=T * N)
    if (count > 1).any():
        cell = int(np.argmax(count > 1))
        rows = np.flatnonzero(flat == cell)[:5].tolist()
        raise ValueError(
            f"from_long: (step, agent) = ({_show(steps[cell // N])}, "
            f"{_show(ids[cell % N])}) occurs {int(count[cell])} times (rows "
            f"{rows}); every pair must occur at most once "
            f"({int((count > 1).sum())} duplicated pairs)"
        )
    missing = int((count == 0).sum())
    if missing and fill is None:
        cell = int(np.argmax(count == 0))
        raise ValueError(
            f"from_long: {missing} (step, agent) pairs have no row, the first "
            f"({_show(steps[cell // N])}, {_show(ids[cell % N])}); every agent "
            "needs a row at every step, or pass fill= (e.g. fill=0.0) for agents "
            "that enter or leave"
        )
    fm = aligned_empty((T, len(features), N), np.float32)
    for k, f in enumerate(features):
        col = tab.column(f)
        t = col.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            raise ValueError(
                f"from_long: feature column {f!r} has type {t}, not a number; "
                "convert it (e.g. category codes) or leave it out of features="
            )
        if col.null_count:
            import pyarrow.compute as pc

            row = int(pc.index(col.is_null(), True).as_py())
            raise ValueError(
                f"from_long: feature column {f!r} has {col.null_count} nulls, the "
                f"first at row {row} (step {_show(steps[ti[row]])}, agent "
                f"{_show(ids[ai[row]])}); impute them first"
            )
        v = np.full(T * N, np.nan if fill is None else fill, dtype=np.float32)
        v[flat] = col.to_numpy(zero_copy_only=False).astype(np.float32)
        fm[:, k, :] = v.reshape(T, N)
    if ids.dtype.kind in "iu":
        ids = ids.astype(np.int64)
    return {
        "fm": fm,
        "feature_names": list(features),
        "time_labels": _step_labels(steps),
        "agent_ids": ids,
    }


def _show(x):
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, (_dt.datetime, _dt.date)):
        return x.isoformat()
    return repr(x)


def to_long(panel, *, kind: str = "arrow", step: str = "step", agent: str = "agent"):
    """The panel as a long table: one row per (step, agent), step-major, with columns
    ``step`` (the time labels), ``agent`` (the agent ids) and one float32 column per feature;
    ``Panel.from_long`` of it gives the panel back (for sorted labels and ids).

    Args:
        panel: the Panel.
        kind: ``"arrow"`` (a ``pyarrow.Table``), ``"pandas"`` or ``"polars"``.
        step, agent: names of the step and agent columns.

    Raises:
        ValueError: an unknown ``kind``, or a feature named like the step or agent column.
    """
    import pyarrow as pa

    if kind not in ("arrow", "pandas", "polars"):
        raise ValueError(f"to_long: kind must be 'arrow', 'pandas' or 'polars', got {kind!r}")
    if step in panel.feature_names or agent in panel.feature_names or step == agent:
        raise ValueError(
            f"to_long: column names {step!r}/{agent!r} clash with the features "
            f"{panel.feature_names}; pass step= / agent="
        )
    T, N, d = panel.shape
    labels = list(panel.time_labels)
    ids = panel.agent_ids
    id_arr = (
        pa.array(np.tile(ids, T).tolist(), type=pa.string())
        if ids.dtype.kind == "U"
        else pa.array(np.tile(ids, T))
    )
    cols = [pa.array([x for x in labels for _ in range(N)]), id_arr]
    fm = panel.feature_major
    cols += [pa.array(np.ascontiguousarray(fm[:, k, :]).reshape(-1)) for k in range(d)]
    tab = pa.Table.from_arrays(cols, names=[step, agent, *panel.feature_names])
    if kind == "pandas":
        return tab.to_pandas()
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(tab)
    return tab
