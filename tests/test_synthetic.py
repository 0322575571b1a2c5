"""The synthetic world: determinism, structure, and world -> JSONL -> pipeline -> same panel."""

import numpy as np
import pytest

from jaxattr.data import build_panels, synthetic_world
from jaxattr.data._features import log1p_counts


@pytest.fixture(scope="module")
def world():
    return synthetic_world(20_000, 14, seed=3)


def test_deterministic(world):
    w2 = synthetic_world(20_000, 14, seed=3)
    for k in world.panels:
        assert w2.panels[k].equals(world.panels[k])
    w3 = synthetic_world(20_000, 14, seed=4)
    assert not np.array_equal(w3.followers, world.followers)


def test_structure(world):
    assert list(world.panels) == ["sports", "entertainment", "election", "tech", "climate"]
    peaks = {t["name"]: (t["kind"], t["peak_day"]) for t in world.topics}
    assert {name: kind for name, (kind, _) in peaks.items()} == {
        "sports": "final",
        "entertainment": "night",
        "election": "runup",
        "tech": "flat",
        "climate": "flat",
    }
    for t in world.topics:  # the recorded peak is the day of highest event intensity
        assert len(t["intensity"]) == 14 and min(t["intensity"]) >= 1.0
        assert t["peak_day"] == int(np.argmax(t["intensity"]))
    # the events' order within the window: the awards night early, the final later, the
    # election day last; the event topics peak on distinct days
    assert peaks["entertainment"][1] < peaks["sports"][1] < peaks["election"][1]
    assert 0 < peaks["entertainment"][1] and peaks["election"][1] < 13
    for name, p in world.panels.items():
        assert p.shape == (14, 20_000, 3) and p.feature_names == ["reach", "activity", "resonance"]
        assert p.agents["followers"] is world.followers and p.topic == name
        fm = p.feature_major
        assert (fm[:, 0, :] > 0).all()  # everyone keeps reach
        assert (fm[:, 0, :] == fm[0, 0, :]).all()  # static
        c = world.counts[name]
        active = np.zeros((14, 20_000), bool)
        active[c["t"], c["agent"]] = True
        assert not fm[:, 1:, :][~np.broadcast_to(active[:, None], fm[:, 1:].shape)].any()
        np.testing.assert_array_equal(
            fm[c["t"], 1, c["agent"]], log1p_counts(c["posts"] + c["reposts"])
        )
        assert (c["posts"] >= 1).all() and (c["replies"] >= 0).all()
        daily = np.bincount(c["t"], minlength=14)
        assert daily.argmax() == peaks[name][1] or peaks[name][0] == "flat"
        p.check_finite()


def test_study_shape(world):
    """Visibility sampling over-represents the top tier; mid + tail carry most mass."""
    f = world.followers
    N = f.size
    order = np.argsort(-f, kind="stable")
    tier = np.full(N, 2)
    tier[order[: N // 100]] = 0
    tier[order[N // 100 : N // 10]] = 1
    assert f[order[0]] > 100 * np.median(f)  # heavy tail
    for p in world.panels.values():
        s = p.feature_major.sum(axis=(0, 1), dtype=np.float64)  # linear attribution mass
        share = np.bincount(tier, weights=s) / s.sum()
        assert share[1] + share[2] > 0.8
        eng = p.feature_major[:, 1:, :].sum(axis=(0, 1), dtype=np.float64)

        def z(x):
            return (x - x.mean()) / x.std()

        pool = np.argsort(-(z(np.log1p(f)) + z(eng)))[: N // 100]
        assert np.mean(tier[pool] == 0) > 0.08  # vs 0.01 in the population


def test_world_jsonl_pipeline_roundtrip(tmp_path):
    w = synthetic_world(1500, 14, seed=11)
    out = w.to_jetstream(tmp_path, gzip=True)
    assert len(out["files"]) == 14
    res = build_panels(out["files"], out["topics"], profiles=out["profiles"])
    r = res.report
    assert r["users_kept"] == 1500 and r["duplicates"] > 0
    assert r["users_filtered"] == {"account_age": 3, "bot_handle": 3, "no_engagement": 3}
    assert r["malformed_lines"] == 0 and r["invalid_events"] == 0
    assert res._dids == [w.did(i) for i in range(1500)]
    for name, p in w.panels.items():
        q = res.panels[name]
        assert q.time_labels == p.time_labels and q.feature_names == p.feature_names
        assert np.array_equal(q.feature_major.view(np.uint32), p.feature_major.view(np.uint32))
        np.testing.assert_array_equal(q.agents["followers"], p.agents["followers"])


def test_errors():
    with pytest.raises(ValueError, match="n_agents >= 2"):
        synthetic_world(1, 3)
    with pytest.raises(ValueError, match="unknown topic 'cats'"):
        synthetic_world(10, 3, topics=["cats"])
    w = synthetic_world(50, 3, topics=["tech"])
    assert list(w.panels) == ["tech"]
    with pytest.raises(KeyError, match="no topic 'x'"):
        w.panel("x")
    with pytest.raises(ValueError, match="max_agents"):
        w.to_jetstream("/nonexistent", max_agents=10)


def test_an_events_day_can_be_set_and_the_activity_peaks_there():
    """A topic spec's eighth entry places its event: the recorded peak and the busiest day
    follow it, for each kind of event."""
    for kind, day in (("final", 2), ("night", 6), ("runup", 4)):
        spec = ("x", kind, 0.5, 0.05, 1.0, ("kw",), ("tag",), day)
        w = synthetic_world(3_000, 8, topics=[spec], seed=1)
        (meta,) = w.topics
        assert meta["kind"] == kind and meta["peak_day"] == day
        assert np.bincount(w.counts["x"]["t"], minlength=8).argmax() == day


@pytest.mark.slow  # generation time is measured by benchmarks/bench_data.py (world_generation)
def test_full_scale_world_shape():
    w = synthetic_world()
    assert w.panels["sports"].shape == (14, 1_671_587, 3)
    assert w.followers.shape == (1_671_587,)
