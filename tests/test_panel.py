"""Panel: construction, feature-major storage, validation, subsets."""

import numpy as np
import pytest

from jaxattr._panel import Panel


def _panel(T=3, N=5, d=3, seed=0):
    x = np.random.default_rng(seed).random((T, N, d))
    return Panel(
        x,
        feature_names=["reach", "activity", "resonance"][:d],
        time_labels=[f"2025-06-0{t + 1}" for t in range(T)],
        agents={"followers": np.arange(N, dtype=np.int64) * 10},
        meta={"topic": "x"},
    )


def test_feature_major_storage_and_views():
    x = np.random.default_rng(0).random((4, 6, 3)).astype(np.float32)
    p = Panel(x)
    assert p.shape == (4, 6, 3) and (p.T, p.N, p.d) == (4, 6, 3)
    assert p.feature_major.shape == (4, 3, 6) and p.feature_major.flags.c_contiguous
    assert p.feature_major.dtype == np.float32
    assert np.shares_memory(p.features, p.feature_major)
    np.testing.assert_array_equal(p.features, x)
    q = Panel.from_feature_major(p.feature_major)
    assert np.shares_memory(q.feature_major, p.feature_major)  # no copy
    assert q.feature_names == ["f0", "f1", "f2"] and q.time_labels == [0, 1, 2, 3]
    np.testing.assert_array_equal(q.agent_ids, np.arange(6))


def test_two_dim_input_is_one_step():
    p = Panel(np.ones((5, 2)))
    assert p.shape == (1, 5, 2)


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.ones((2, 3, 4, 5)), r"shape \(T, N, d\)"),
        (np.ones((0, 3, 2)), "empty"),
        (np.ones((2, 0, 2)), "empty"),
        (np.array([[["a"]]]), "real numbers"),
    ],
)
def test_shape_dtype_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        Panel(bad)


def test_nonfinite_names_step_agent_feature():
    x = np.zeros((3, 4, 2))
    x[1, 2, 1] = np.nan
    x[2, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"nan at time step 1 .* agent 2 .* feature 1 \('b'\)"):
        Panel(x, feature_names=["a", "b"])
    x[1, 2, 1] = 0
    with pytest.raises(ValueError, match=r"inf at time step 2"):
        Panel(x)
    Panel(x, validate=False)  # opt-out


def test_label_and_agent_table_validation():
    x = np.ones((2, 3, 2))
    with pytest.raises(ValueError, match="3 feature_names for d = 2"):
        Panel(x, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="distinct"):
        Panel(x, feature_names=["a", "a"])
    with pytest.raises(ValueError, match="1 time_labels for T = 2"):
        Panel(x, time_labels=["x"])
    with pytest.raises(ValueError, match=r"agent_ids must have shape \(3,\)"):
        Panel(x, agent_ids=[1, 2])
    with pytest.raises(ValueError, match=r"column 'followers' must have shape \(3,\)"):
        Panel(x, agents={"followers": [1, 2]})
    with pytest.raises(TypeError, match="mapping"):
        Panel(x, agents=[1, 2, 3])


def test_subset():
    p = _panel(N=6)
    q = p.subset([4, 1])
    assert q.shape == (3, 2, 3)
    np.testing.assert_array_equal(q.features, p.features[:, [4, 1]])
    np.testing.assert_array_equal(q.agents["followers"], [40, 10])
    np.testing.assert_array_equal(q.agent_ids, [4, 1])
    assert q.feature_major.flags.c_contiguous and q.meta == p.meta
    m = np.zeros(6, bool)
    m[[0, 5]] = True
    np.testing.assert_array_equal(p.subset(m).agent_ids, [0, 5])
    with pytest.raises(ValueError, match=r"out of range \[0, 6\)"):
        p.subset([6])
    with pytest.raises(ValueError, match="repeated"):
        p.subset([1, 1])
    with pytest.raises(ValueError, match="empty"):
        p.subset([])
    with pytest.raises(TypeError, match="integers or a boolean mask"):
        p.subset([0.5])
    with pytest.raises(ValueError, match=r"mask must have shape \(6,\)"):
        p.subset(np.ones(3, bool))


def test_select_time_and_features():
    p = _panel(T=4)
    q = p.select_time(slice(1, 3))
    assert q.time_labels == ["2025-06-02", "2025-06-03"]
    np.testing.assert_array_equal(q.features, p.features[1:3])
    assert p.select_time(["2025-06-04", "2025-06-01"]).time_labels == ["2025-06-04", "2025-06-01"]
    assert p.select_time(-1).time_labels == ["2025-06-04"]
    assert p.select_time([0, 2]).T == 2
    with pytest.raises(KeyError, match="unknown time label '2030-01-01'"):
        p.select_time(["2030-01-01"])
    with pytest.raises(ValueError, match="out of range"):
        p.select_time([9])
    r = p.select_features(["resonance", "reach"])
    np.testing.assert_array_equal(r.features, p.features[:, :, [2, 0]])
    np.testing.assert_array_equal(p.feature("activity"), p.features[:, :, 1])
    with pytest.raises(KeyError, match="no feature 'x'"):
        p.feature("x")


def test_equals_and_repr():
    p = _panel()
    assert p.equals(p.subset(np.arange(p.N)))
    q = Panel(
        p.features.copy(),
        feature_names=p.feature_names,
        time_labels=p.time_labels,
        agents=p.agents,
        meta={"topic": "y"},
    )
    assert not p.equals(q)
    assert "topic='x'" in repr(p) and "T=3, N=5, d=3" in repr(p)
    assert p.topic == "x"
