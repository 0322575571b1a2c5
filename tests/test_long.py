"""Long tables (pandas, polars, Arrow) <-> Panels: round trips and the errors."""

import datetime as dt

import numpy as np
import pytest

from jaxattr import Panel

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

KINDS = ("arrow", "pandas", "polars")


def _panel(agent_ids=None, labels=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    x[0, 0, 0] = -0.0
    return Panel(
        x, feature_names=["wealth", "age", "mood"], time_labels=labels, agent_ids=agent_ids
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "ids,labels",
    [
        (None, None),
        (np.array([3, 7, 11, 20, 21]), [10, 11, 12, 13]),
        (
            np.array(["a", "b", "c", "d", "e"]),
            ["2025-06-01", "2025-06-02", "2025-06-03", "2025-06-04"],
        ),
    ],
)
def test_round_trip(kind, ids, labels):
    p = _panel(ids, labels)
    t = p.to_long(kind)
    assert len(t) == p.T * p.N
    q = Panel.from_long(t, step="step", agent="agent")
    assert q.equals(p)
    # shuffled rows pivot to the same panel
    perm = np.random.default_rng(1).permutation(len(t))
    if kind == "arrow":
        shuffled = t.take(pa.array(perm))
    elif kind == "pandas":
        shuffled = t.iloc[perm]
    else:
        shuffled = t[perm.tolist()]
    assert Panel.from_long(shuffled).equals(p)


def test_pandas_index_levels_features_and_dates():
    """Mesa's agent frame has (Step, AgentID) as index levels; datetime steps become ISO
    labels; integer and bool features are cast; features= picks and orders columns."""
    df = pd.DataFrame(
        {
            "Step": [0, 0, 1, 1],
            "AgentID": [2, 1, 2, 1],
            "wealth": [1, 2, 3, 4],
            "rich": [True, False, True, True],
            "name": ["x", "y", "x", "y"],
        }
    ).set_index(["Step", "AgentID"])
    p = Panel.from_long(df, step="Step", agent="AgentID", features=["rich", "wealth"])
    assert p.feature_names == ["rich", "wealth"] and p.agent_ids.tolist() == [1, 2]
    np.testing.assert_array_equal(p.feature("wealth"), [[2, 1], [4, 3]])
    np.testing.assert_array_equal(p.feature("rich"), [[0, 1], [1, 1]])
    ts = [dt.datetime(2025, 1, 1, 12), dt.datetime(2025, 1, 2, 12)]
    q = Panel.from_long(
        pa.table({"step": ts * 2, "agent": [0, 0, 1, 1][::1][:4], "v": [1.0, 2.0, 3.0, 4.0]})
    )
    assert q.time_labels == ["2025-01-01T12:00:00", "2025-01-02T12:00:00"]
    days = Panel.from_long(
        pl.DataFrame(
            {"step": [dt.date(2025, 1, 2), dt.date(2025, 1, 1)], "agent": ["u", "u"], "v": [5, 6]}
        )
    )
    assert days.time_labels == ["2025-01-01", "2025-01-02"]
    np.testing.assert_array_equal(days.feature("v")[:, 0], [6, 5])


@pytest.mark.parametrize("kind", KINDS)
def test_errors_name_what_and_where(kind):
    def tab(d):
        if kind == "arrow":
            return pa.table(d)
        return pd.DataFrame(d) if kind == "pandas" else pl.DataFrame(d)

    good = {"step": [0, 0, 1, 1], "agent": [0, 1, 0, 1], "v": [1.0, 2.0, 3.0, 4.0]}
    dup = {**good, "agent": [0, 1, 1, 1]}
    with pytest.raises(
        ValueError,
        match=r"\(step, agent\) = \(1, 1\) occurs 2 times "
        r"\(rows \[2, 3\]\)",
    ):
        Panel.from_long(tab(dup))
    gap = {"step": [0, 0, 1], "agent": [0, 1, 0], "v": [1.0, 2.0, 3.0]}
    with pytest.raises(
        ValueError,
        match=r"1 \(step, agent\) pairs have no row, the first "
        r"\(1, 1\).*fill=",
    ):
        Panel.from_long(tab(gap))
    filled = Panel.from_long(tab(gap), fill=0.0)
    np.testing.assert_array_equal(filled.feature("v"), [[1, 2], [3, 0]])
    hole = {"step": [0, 1, 3], "agent": [0, 0, 0], "v": [1.0, 2.0, 3.0]}
    with pytest.raises(ValueError, match="not consecutive: no rows for step 2"):
        Panel.from_long(tab(hole))
    text = {**good, "v": ["a", "b", "c", "d"]}
    with pytest.raises(ValueError, match="feature column 'v' has type .*not a number"):
        Panel.from_long(tab(text), features=["v"])
    with pytest.raises(ValueError, match="no numeric feature columns"):
        Panel.from_long(tab(text))
    with pytest.raises(ValueError, match=r"no step column 'Step'; columns are"):
        Panel.from_long(tab(good), step="Step")
    with pytest.raises(ValueError, match="no feature column 'w'"):
        Panel.from_long(tab(good), features=["w"])
    nulls = {**good, "v": [1.0, None, 3.0, 4.0]}
    with pytest.raises(
        ValueError,
        match=r"'v' has 1 nulls, the first at row 1 \(step 0, "
        r"agent 1\)",
    ):
        Panel.from_long(tab(nulls))


def test_not_a_table():
    with pytest.raises(TypeError, match="pandas or polars DataFrame or a pyarrow Table"):
        Panel.from_long({"step": [0], "agent": [0], "v": [1.0]})
    with pytest.raises(ValueError, match="kind must be"):
        _panel().to_long("excel")
