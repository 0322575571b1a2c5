"""An :class:`~jaxattr.Attribution` as a pandas, polars or Arrow table or an xarray Dataset.

Each library is imported when its method is called, never by ``import jaxattr``; a missing
one is an ImportError that names the extra to install. Agents are labelled with the
identifiers of the Panel the attribution came from, or with ``agents=`` if given, else with
their integer indices (the pseudonymised default); steps with the result's ``time_labels``.

Layouts:

- ``"long"``: one row per (time step, agent), columns ``time``, ``agent``, ``phi``; rows are
  time-major (``phi.reshape(-1)`` order), so ``table["phi"]`` reshaped to ``(T, N)`` is phi.
- ``"wide"``: one row per time step, one column per agent (pandas: the time labels are the
  index and the agent labels the columns; polars and Arrow: a ``time`` column first, then
  one column per agent named ``str(agent)``).
"""

from __future__ import annotations

import importlib

import numpy as np

__all__ = ["AgentLabels", "to_arrow", "to_pandas", "to_polars", "to_xarray"]

LAYOUTS = ("long", "wide")


class AgentLabels:
    """The agent identifiers of the Panel a result came from, held by reference: a static
    pytree field compared and hashed by the identity of the ids array (never element by
    element), so carrying millions of ids costs nothing under ``jit``, and results of one
    Panel share a tree structure."""

    __slots__ = ("ids",)

    def __init__(self, ids):
        self.ids = ids

    def __eq__(self, other):
        return isinstance(other, AgentLabels) and other.ids is self.ids

    def __hash__(self):
        return id(self.ids)


def _require(module: str, extra: str | None, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        how = (
            f"pip install 'jaxattr[{extra}]'"
            if extra
            else f"pip install {module} (a dependency of jaxattr itself)"
        )
        raise ImportError(f"Attribution.{what} needs {module}: {how}") from e


def _as_array(labels) -> np.ndarray:
    """Labels as a 1-D array; mixed Python types stay objects (NumPy would turn
    ``[1, "a"]`` into strings)."""
    labels = list(labels)
    if len({type(x) for x in labels}) > 1:
        out = np.empty(len(labels), dtype=object)
        out[:] = labels
        return out
    return np.asarray(labels)


def _frame(att, agents, layout: str | None = None):
    """``(phi (T, N) host array, time labels (T,), agent labels (N,))``, checked."""
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be 'long' or 'wide', got {layout!r}")
    phi = np.asarray(att.phi)
    if phi.ndim != 2:
        raise ValueError(
            f"phi has shape {phi.shape}: a batched result (jax.vmap) holds several "
            "attributions; export one at a time, e.g. jax.tree.map(lambda x: x[b], att)"
        )
    t, n = phi.shape
    times = _as_array(att.time_labels) if len(att.time_labels) == t else np.arange(t)
    if agents is None:
        agents = att.agents.ids if att.agents is not None else np.arange(n, dtype=np.int64)
    agents = np.asarray(agents)
    if agents.shape != (n,):
        raise ValueError(f"agents must have shape ({n},) (one label per agent), got {agents.shape}")
    return phi, times, agents


def _column_names(agents: np.ndarray) -> list[str]:
    """Agent labels as distinct column names (a wide table's columns), or ValueError."""
    names = [str(a) for a in agents.tolist()]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name == "time":
            raise ValueError(
                f"agent {i} is labelled 'time', the name of the time column; "
                "pass agents= with other labels or use layout='long'"
            )
        if name in seen:
            raise ValueError(
                f"agents {seen[name]} and {i} share the label {name!r}: a wide "
                "table needs distinct agent labels (use layout='long')"
            )
        seen[name] = i
    return names


def _long_columns(phi, times, agents) -> dict[str, np.ndarray]:
    t, n = phi.shape
    return {"time": np.repeat(times, n), "agent": np.tile(agents, t), "phi": phi.reshape(-1)}


def to_pandas(att, layout: str = "long", agents=None):
    """``pandas.DataFrame`` of phi (see the module docstring for the layouts)."""
    phi, times, agents = _frame(att, agents, layout)
    pd = _require("pandas", "dataframes", "to_pandas")
    if layout == "long":
        return pd.DataFrame(_long_columns(phi, times, agents))
    if len(set(agents.tolist())) != agents.size:
        _column_names(agents)  # names the duplicate
    return pd.DataFrame(
        phi, index=pd.Index(times, name="time"), columns=pd.Index(agents, name="agent"), copy=True
    )


def to_polars(att, layout: str = "long", agents=None):
    """``polars.DataFrame`` of phi (see the module docstring for the layouts)."""
    phi, times, agents = _frame(att, agents, layout)
    pl = _require("polars", "dataframes", "to_polars")
    if layout == "long":
        return pl.DataFrame(_long_columns(phi, times, agents))
    names = _column_names(agents)
    wide = pl.from_numpy(phi, schema=names, orient="row")
    return wide.insert_column(0, pl.Series("time", times))


def to_arrow(att, layout: str = "long", agents=None):
    """``pyarrow.Table`` of phi (see the module docstring for the layouts)."""
    phi, times, agents = _frame(att, agents, layout)
    pa = _require("pyarrow", None, "to_arrow")
    if layout == "long":
        cols = _long_columns(phi, times, agents)
        return pa.table({k: pa.array(v) for k, v in cols.items()})
    names = _column_names(agents)
    arrays = [pa.array(times)] + [pa.array(phi[:, i]) for i in range(phi.shape[1])]
    return pa.Table.from_arrays(arrays, names=["time", *names])


def to_xarray(att, agents=None):
    """``xarray.Dataset``: ``phi`` over ``(time, agent)``; ``delta``, ``value_features``,
    ``value_baseline`` and ``efficiency_error`` over ``time``; the value's name, the method
    and the feature names as attributes."""
    phi, times, agents = _frame(att, agents)
    xr = _require("xarray", "dataframes", "to_xarray")
    per_step = {
        k: ("time", np.asarray(getattr(att, k)))
        for k in ("delta", "value_features", "value_baseline", "efficiency_error")
    }
    attrs = {
        "value": att.value_name,
        "method": att.method,
        "feature_names": list(att.feature_names),
    }
    return xr.Dataset(
        {"phi": (("time", "agent"), phi), **per_step},
        coords={"time": times, "agent": agents},
        attrs=attrs,
    )
