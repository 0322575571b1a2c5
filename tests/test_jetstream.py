"""Jetstream JSONL -> panels on a hand-made corpus with every kind of damage."""

import gzip
import json
import os

import numpy as np
import pytest

from jaxattr._cli import main as cli_main
from jaxattr.data import build_panels, load_topics, write_topics
from jaxattr.data._topics import Topic, TopicMatcher

DAY_US = 86_400_000_000
D0 = 20_240  # 2025-06-01
A, B, C, D, E, F, G = (f"did:plc:{x}" for x in "abcdefg")
POST, REPOST, LIKE, FOLLOW = (
    "app.bsky.feed.post",
    "app.bsky.feed.repost",
    "app.bsky.feed.like",
    "app.bsky.graph.follow",
)
TOPICS = {
    "sports": {"keywords": ["cup final"], "hashtags": ["#CupFinal"]},
    "tech": {"keywords": ["gpu cluster"], "hashtags": ["opensource"]},
}


def tu(day, sec):
    return (D0 + day) * DAY_US + sec * 1_000_000


_rev = [0]


def ev(did, t, coll, rkey, op="create", record=None):
    _rev[0] += 1
    c = {"rev": f"rev{_rev[0]}", "operation": op, "collection": coll, "rkey": rkey}
    if record is not None:
        c["record"] = record
    return json.dumps({"did": did, "time_us": t, "kind": "commit", "commit": c}).encode()


def uri(did, rkey, coll=POST):
    return f"at://{did}/{coll}/{rkey}"


def post(text, **kw):
    return {"$type": POST, "text": text, "createdAt": "2025-06-01T10:00:00Z", **kw}


def reply_to(u):
    return {"root": {"uri": u, "cid": "x"}, "parent": {"uri": u, "cid": "x"}}


def subj(u):
    return {"subject": {"uri": u, "cid": "x"}}


def corpus(tmp_path):
    """Write the corpus; return the expected report numbers."""
    day0 = [
        ev(A, tu(0, 10), POST, "a1", record=post("The CUP FINAL is on")),
        ev(B, tu(0, 20), REPOST, "r1", record=subj(uri(A, "a1"))),
        ev(C, tu(0, 30), POST, "c1", record=post("nice", reply=reply_to(uri(A, "a1")))),
        ev(A, tu(0, 40), POST, "a2", record=post("go #cupfinal", reply=reply_to(uri(A, "a1")))),
        ev(D, tu(0, 50), POST, "d0", record=post("who?", reply=reply_to(uri(B, "zzz")))),
        # createdAt says day 1, time_us says day 0: binned on day 0
        ev(
            D,
            tu(0, 60),
            POST,
            "d1",
            record=post(
                "",
                createdAt="2025-06-02T00:00:01Z",
                facets=[
                    {
                        "index": {},
                        "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "CUPFINAL"}],
                    }
                ],
            ),
        ),
        ev(B, tu(0, 70), POST, "b1", record=post("new GPU  Cluster online")),
    ]
    day0.insert(2, day0[1])  # a replayed duplicate
    malformed = [
        b"{not json",
        b'{"did": "did:plc:a", "x": "\xff\xfe"}',
        b"[1, 2]",
        b"",
        b'"just a string"',
    ]
    invalid = [
        json.dumps({"time_us": tu(0, 1), "kind": "commit", "commit": {}}).encode(),  # no did
        json.dumps({"did": A, "time_us": str(tu(0, 1)), "kind": "commit"}).encode(),
        json.dumps({"did": A, "time_us": tu(0, 1), "kind": "commit", "commit": []}).encode(),
        ev(A, tu(0, 1), LIKE, "l0", record={"subject": uri(B, "b1")}),  # subject not a ref
        ev(A, tu(0, 1), POST, "p0", record={"text": 42}),
        ev(A, tu(0, 1), POST, "p1", record=post("x", reply={"parent": "at://nope"})),
        ev(A, tu(0, 1), FOLLOW, "f0", record={"subject": 17}),
        json.dumps({"did": A, "time_us": tu(0, 1), "kind": "identity", "identity": 3}).encode(),
    ]
    other = [
        ev(A, tu(0, 80), "app.bsky.graph.block", "x1", record={"subject": B}),  # unknown coll
        json.dumps({"did": A, "time_us": tu(0, 81), "kind": "weird"}).encode(),  # unknown kind
        ev(A, tu(0, 82), POST, "never", op="delete"),  # delete of an unseen record
        ev(A, tu(0, 83), POST, "a9", op="frobnicate", record={}),  # unknown operation
        ev(C, tu(0, 90), FOLLOW, "f1", record={"subject": B}),  # bare DID
        ev(D, tu(0, 91), FOLLOW, "f2", record={"subject": {"did": A, "declarationCid": "x"}}),
        json.dumps(
            {
                "did": E,
                "time_us": tu(0, 92),
                "kind": "identity",
                "identity": {"did": E, "handle": "spambot.bsky.social", "seq": 1},
            }
        ).encode(),
        ev(E, tu(0, 93), LIKE, "e1", record=subj(uri(A, "a1"))),
        ev(F, tu(0, 94), LIKE, "f1", record=subj(uri(A, "a1"))),
        ev(G, tu(0, 95), LIKE, "g1", record=subj(uri(G, "own"))),  # self-only engagement
        json.dumps(
            {
                "did": A,
                "time_us": tu(0, 96),
                "kind": "account",
                "account": {"active": True, "did": A, "seq": 2},
            }
        ).encode(),
        ev(C, tu(0, 97), POST, "big", record=post("x" * (1 << 20) + " cup final")),  # 1 MB
    ]
    lines0 = day0 + malformed + invalid + other
    day1 = [
        ev(B, tu(1, 10), REPOST, "r2", record=subj(uri(A, "a1"))),
        ev(A, tu(1, 20), POST, "a1", op="delete"),
        ev(C, tu(1, 30), REPOST, "r3", record=subj(uri(A, "a1"))),  # deleted: no longer counts
        ev(B, tu(1, 40), POST, "b2", record=post("agreed", reply=reply_to(uri(D, "d1")))),
        ev(A, tu(1, 50), POST, "a3", record=post("#OpenSource ftw")),
    ]
    (tmp_path / "jetstream-2025-06-01.jsonl").write_bytes(b"\n".join(lines0) + b"\n")
    body1 = b"\n".join(day1) + b'\n{"did":"did:plc:a","time_us":17'  # torn last line
    (tmp_path / "jetstream-2025-06-02.jsonl.gz").write_bytes(gzip.compress(body1))
    write_topics(load_topics(TOPICS), tmp_path / "topics.toml")
    return {
        "lines_read": len(lines0) + len(day1) + 1,
        "malformed_lines": len(malformed) + 1,
        "invalid_events": len(invalid),
        "duplicates": 1,
    }


def files(tmp_path):
    return [
        str(tmp_path / "jetstream-2025-06-02.jsonl.gz"),
        str(tmp_path / "jetstream-2025-06-01.jsonl"),
    ]  # sorted by name inside


@pytest.fixture(params=["default", "stdlib-json"])
def json_backend(request, monkeypatch):
    if request.param == "stdlib-json":
        from jaxattr.data import _jetstream

        monkeypatch.setattr(_jetstream, "_json_loads", lambda: (json.loads, True))
    return request.param


def test_corpus_counts_and_panel(tmp_path, json_backend):
    exp = corpus(tmp_path)
    res = build_panels(files(tmp_path), tmp_path / "topics.toml")
    r = res.report
    for k, v in exp.items():
        assert r[k] == v, k
    assert r["unknown_collection"] == 1 and r["unknown_kind"] == 1
    assert r["unknown_operation"] == 1
    assert r["events_kept"] == {
        "post": 5,
        "reply": 4,
        "repost": 3,
        "like": 3,
        "follow": 2,
        "update": 0,
        "delete": 2,
        "identity": 1,
        "account": 1,
    }
    assert r["replies_unresolved"] == 1 and r["self_replies"] == 1
    assert r["days"] == ["2025-06-01", "2025-06-02"]
    assert r["users_filtered"] == {"account_age": 0, "bot_handle": 1, "no_engagement": 1}
    assert r["users_kept"] == 5 and r["users_seen"] == 7
    assert r["topics"]["sports"] == {"topic_posts": 4, "topic_reposts": 2, "replies_received": 2}
    assert r["truncated_files"] == 0
    sp, te = res.panels["sports"], res.panels["tech"]
    assert sp.shape == (2, 5, 3) and sp.feature_names == ["reach", "activity", "resonance"]
    np.testing.assert_array_equal(sp.agent_ids, np.arange(5))  # pseudonymised
    assert res._dids == [A, B, C, D, F]
    # reach from follow events (no snapshot): A and B were followed once
    np.testing.assert_array_equal(sp.agents["followers"], [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(sp.agents["first_seen"], [0, 0, 0, 0, 0])
    act = np.expm1(sp.feature_major[:, 1, :].astype(np.float64)).round()
    res_ = np.expm1(sp.feature_major[:, 2, :].astype(np.float64)).round()
    np.testing.assert_array_equal(act, [[2, 1, 1, 1, 0], [0, 1, 0, 0, 0]])
    np.testing.assert_array_equal(res_, [[1, 0, 0, 0, 0], [0, 0, 0, 1, 0]])
    np.testing.assert_array_equal(
        sp.feature_major[:, 0, :], np.log1p(np.float32([[1, 1, 0, 0, 0]] * 2))
    )
    tact = np.expm1(te.feature_major[:, 1, :].astype(np.float64)).round()
    np.testing.assert_array_equal(tact, [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    assert not te.feature_major[:, 2, :].any()


def test_profiles_snapshot_age_filter_and_reach(tmp_path):
    corpus(tmp_path)
    prof = tmp_path / "profiles.jsonl"
    rows = [
        {"did": A, "followersCount": 1000, "createdAt": "2023-01-01T00:00:00Z"},
        {"did": B, "followersCount": 5, "createdAt": "2024-01-01T00:00:00.000Z"},
        {"did": F, "followersCount": 2, "createdAt": "2025-05-29T00:00:00Z"},  # 3 days
        {"did": C, "followersCount": "many"},
    ]
    prof.write_text("\n".join(json.dumps(x) for x in rows) + "\n{broken\n")
    res = build_panels(files(tmp_path), TOPICS, profiles=prof)
    r = res.report
    assert r["users_filtered"] == {"account_age": 1, "bot_handle": 1, "no_engagement": 1}
    assert r["profiles_malformed_lines"] == 2 and r["users_missing_from_snapshot"] == 2
    np.testing.assert_array_equal(res.panels["sports"].agents["followers"], [1000, 5, 0, 0])
    res2 = build_panels(
        files(tmp_path), TOPICS, profiles=prof, min_account_age_days=1, bot_pattern=None
    )
    assert res2.report["users_filtered"] == {"account_age": 0, "bot_handle": 0, "no_engagement": 1}


def test_window_and_errors(tmp_path):
    corpus(tmp_path)
    res = build_panels(files(tmp_path), TOPICS, start="2025-06-02", n_days=3)
    assert res.report["days"] == ["2025-06-02", "2025-06-03", "2025-06-04"]
    assert res.report["out_of_window"] > 0
    with pytest.raises(ValueError, match="no valid events in the window"):
        build_panels(files(tmp_path), TOPICS, start="2030-01-01", n_days=1)
    with pytest.raises(FileNotFoundError, match="no such input file"):
        build_panels([tmp_path / "nope.jsonl"], TOPICS)
    with pytest.raises(ValueError, match="start must be an ISO date"):
        build_panels(files(tmp_path), TOPICS, start="June")


def test_truncated_gzip_is_not_fatal(tmp_path):
    corpus(tmp_path)
    gz = tmp_path / "jetstream-2025-06-02.jsonl.gz"
    data = gz.read_bytes()
    gz.write_bytes(data[: len(data) - 12])
    res = build_panels(files(tmp_path), TOPICS)
    assert res.report["truncated_files"] == 1


def test_topic_matching():
    m = TopicMatcher(load_topics(TOPICS))
    assert m.match("the Cup Final!") == 1
    assert m.match("cup finals") == 0  # whole words only
    assert m.match("teacup final") == 0
    assert m.match("#CUPFINAL tonight") == 1 and m.match("x#cupfinal") == 0
    assert m.match("gpu\ncluster") == 2 and m.match("cup final on the gpu cluster") == 3
    assert m.match("", ["#OpenSource"]) == 2 and m.match("", [None, 3]) == 0
    with pytest.raises(ValueError, match="no keywords and no hashtags"):
        Topic("x")
    with pytest.raises(ValueError, match="must be one word"):
        Topic("x", hashtags=("two words",))


def test_topic_files(tmp_path):
    ts = load_topics(TOPICS)
    for name in ("t.toml", "t.json"):
        write_topics(ts, tmp_path / name)
        assert load_topics(tmp_path / name) == ts
    # dotted names and odd meta keys are quoted, not read back as nested tables
    odd = [
        Topic("us.election-2024", keywords=("vote",), meta={"peak day": 3, "kind": "x"}),
        Topic("a.b.c", hashtags=("ab",)),
    ]
    write_topics(odd, tmp_path / "odd.toml")
    back = load_topics(tmp_path / "odd.toml")
    assert back == odd and [t.name for t in back] == ["us.election-2024", "a.b.c"]
    assert back[0].meta == {"peak day": 3, "kind": "x"}
    (tmp_path / "bad.toml").write_text("[sports\nkeywords = 3")
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_topics(tmp_path / "bad.toml")
    (tmp_path / "bad2.toml").write_text("[sports]\nkeywords = 'cup'\n")
    with pytest.raises(ValueError, match="keywords must be a list"):
        load_topics(tmp_path / "bad2.toml")


def _cli(argv):
    return cli_main(argv)


def test_cli_build_privacy(tmp_path, capsys):
    from jaxattr.io import read_panel

    corpus(tmp_path)
    out = tmp_path / "panels"
    rc = _cli(
        [
            "bluesky",
            "build",
            str(tmp_path / "jetstream-2025-06-01.jsonl"),
            str(tmp_path / "jetstream-2025-06-02.jsonl.gz"),
            "--topics",
            str(tmp_path / "topics.toml"),
            "--out",
            str(out),
            "--report",
            str(tmp_path / "report.json"),
        ]
    )
    assert rc == 0
    assert sorted(os.listdir(out)) == ["sports.parquet", "tech.parquet"]
    summary = json.loads(capsys.readouterr().out)
    assert summary["users_kept"] == 5
    for name in ("sports.parquet", "tech.parquet", "../report.json"):
        assert b"did:" not in (out / name).read_bytes(), name  # no DID in any default output
    assert read_panel(out / "sports.parquet").topic == "sports"
    rc = _cli(
        [
            "bluesky",
            "build",
            str(tmp_path),
            "--topics",
            str(tmp_path / "topics.toml"),
            "--topic",
            "tech",
            "--out",
            str(tmp_path / "tech.parquet"),
            "--id-map",
            str(tmp_path / "ids.csv"),
            "--quiet",
        ]
    )
    assert rc == 0 and read_panel(tmp_path / "tech.parquet").N == 5
    assert (tmp_path / "ids.csv").read_text().splitlines()[:2] == ["index,did", f"0,{A}"]
    assert (
        _cli(
            [
                "bluesky",
                "build",
                str(tmp_path),
                "--topics",
                str(tmp_path / "topics.toml"),
                "--topic",
                "nope",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "unknown topic(s) ['nope']" in capsys.readouterr().err


def test_more_than_64_topics_is_refused(tmp_path):
    """The sparse counters pack the topic index into 6 bits: 65 topics must not alias."""
    f = tmp_path / "day.jsonl"
    f.write_text("")
    topics = [Topic(name=f"t{i}", keywords=(f"word{i}",)) for i in range(65)]
    with pytest.raises(ValueError, match="at most 64 topics per run, got 65"):
        build_panels([f], topics)


def test_create_is_a_duplicate_whatever_its_rev(tmp_path):
    """A replayed create counts once whether its rev is null, absent or another string: the
    record is (did, collection, rkey); only updates and deletes are told apart by rev."""

    def line(rev, rkey="a1", text="cup final"):
        c = {"operation": "create", "collection": POST, "rkey": rkey, "record": post(text)}
        if rev is not ...:
            c["rev"] = rev
        return json.dumps({"did": A, "time_us": tu(0, 10), "kind": "commit", "commit": c}).encode()

    like = ev(B, tu(0, 20), LIKE, "l1", record=subj(uri(A, "a1")))  # engagement: A is kept
    lines = [line("r1"), line(None), line(...), line("r2"), line(None, rkey="a2"), like]
    (tmp_path / "jetstream-2025-06-01.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    res = build_panels(
        [str(tmp_path / "jetstream-2025-06-01.jsonl")],
        TOPICS,
        min_account_age_days=0,
        bot_pattern=None,
    )
    assert res.report["duplicates"] == 3
    assert res.report["topics"]["sports"]["topic_posts"] == 2


def test_topic_toml_is_valid_for_any_name(tmp_path):
    """Keywords and meta holding control characters (U+007F, U+0000, a tab) and quotes write
    TOML that tomllib reads back to the same table (written through tomli-w)."""
    odd = [
        Topic("odd.name", keywords=("a\x7fb",), meta={"k\x7fey": 'v\x7f\t"x"'}),
        Topic(
            "quote-and_back",
            hashtags=("ab",),
            meta={"nested": {"x.y\x00": [1, 2.5]}, 'q"\\': "\x7f"},
        ),
    ]
    write_topics(odd, tmp_path / "odd.toml")
    assert load_topics(tmp_path / "odd.toml") == odd
