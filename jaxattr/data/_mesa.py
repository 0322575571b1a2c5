"""Mesa model -> Panel: the agent reporters of its ``DataCollector`` become features.

Mesa's ``DataCollector`` holds one record per collected step and agent
(``get_agent_vars_dataframe()``: index ``(Step, AgentID)``, one column per agent reporter).
:func:`from_mesa` pivots the reporters the user names into a Panel ``(T, N, d)``: the
collected steps become the time axis (labels: Mesa's step numbers), the agents' ``unique_id``
the agent ids (ascending). Mesa itself is not imported: the optional extra ``mesa`` is only
needed to run a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._panel import Panel

__all__ = ["from_mesa"]


def from_mesa(
    model_or_datacollector: Any,
    features: Sequence[str] | str | None = None,
    *,
    fill: float | None = None,
) -> Panel:
    """Build a Panel from a Mesa model (its ``datacollector``) or a ``DataCollector``.

    Args:
        model_or_datacollector: a ``mesa.Model`` with a ``datacollector`` attribute, or a
            ``mesa.DataCollector``.
        features: agent reporter names, in order (default: every agent reporter). Their
            values must be numbers (bools count as 0/1).
        fill: value for an agent at a step where it was not collected (it entered later or
            left earlier). Default None: such a gap is an error naming the agent and step.

    Returns:
        A :class:`~jaxattr.Panel`: time labels are the collected step numbers (a collection
        every k steps gives every k-th step), agent ids the ``unique_id`` values, and
        ``meta["source"] == "mesa"``.

    Raises:
        TypeError: neither a model with a DataCollector nor a DataCollector.
        ValueError: no agent reporters or nothing collected, an unknown reporter (naming the
            available ones), non-numeric values, a missing (step, agent) without ``fill``.

    Example:
        >>> import pyarrow as pa
        >>> from jaxattr import data
        >>> class Collector:  # the two members of a mesa.DataCollector that are read
        ...     agent_reporters = {"Wealth": "wealth"}
        ...
        ...     def get_agent_vars_dataframe(self):
        ...         steps, agents, wealth = [1, 1, 2, 2], [7, 9, 7, 9], [1.0, 3.0, 2.0, 2.0]
        ...         return pa.table({"Step": steps, "AgentID": agents, "Wealth": wealth})
        >>> panel = data.from_mesa(Collector())
        >>> print(panel.shape, panel.agent_ids.tolist(), panel.meta["source"])
        (2, 2, 1) [7, 9] mesa
    """
    from jaxattr import Panel

    dc = getattr(model_or_datacollector, "datacollector", model_or_datacollector)
    if not (hasattr(dc, "get_agent_vars_dataframe") and hasattr(dc, "agent_reporters")):
        raise TypeError(
            f"from_mesa: expected a mesa Model with a datacollector or a mesa "
            f"DataCollector, got {type(model_or_datacollector).__name__}"
        )
    reporters = list(dc.agent_reporters)
    if not reporters:
        raise ValueError(
            "from_mesa: the DataCollector has no agent reporters; add "
            "agent_reporters={'Wealth': 'wealth', ...} to it"
        )
    if features is None:
        features = reporters
    elif isinstance(features, str):
        features = [features]
    features = list(features)
    unknown = [f for f in features if f not in reporters]
    if unknown:
        raise ValueError(
            f"from_mesa: {unknown} are not agent reporters of the DataCollector; "
            f"its agent reporters are {reporters}"
        )
    df = dc.get_agent_vars_dataframe()
    if len(df) == 0:
        raise ValueError(
            "from_mesa: the DataCollector has collected nothing yet; call "
            "datacollector.collect(model) (Mesa models do in step())"
        )
    return Panel.from_long(
        df,
        step="Step",
        agent="AgentID",
        features=features,
        fill=fill,
        allow_step_gaps=True,
        meta={"source": "mesa"},
    )
