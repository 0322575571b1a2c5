"""OASIS SQLite -> panel: every cell against counts computed independently in SQL."""

import datetime as dt
import sqlite3

import numpy as np
import pytest
from oasis_schema import create, random_run

import jaxattr
from jaxattr.data import from_oasis

# the step of a created_at value, in SQL: integer clock (value - first) / width; datetime
# clock (unix seconds - first) / width seconds (the test's timestamps bin the same at whole
# seconds: no boundary falls inside a second)
_STEP = {
    "int": "((({c}) - :t0) / :w)",
    "datetime": "((CAST(strftime('%s', {c}) AS INTEGER) - :t0) / :w)",
}
_FIRST = {
    "int": "SELECT MIN(x) FROM ({u})",
    "datetime": "SELECT MIN(CAST(strftime('%s', x) AS INTEGER)) FROM ({u})",
}
_UNION = " UNION ALL ".join(
    f"SELECT created_at AS x FROM {t}" for t in ("post", "comment", "like", "follow", "trace")
)


def sql_counts(path, clock, w, topic_like=None):
    """(T, N) reach, activity and resonance counts, users and T, from SQL alone."""
    con = sqlite3.connect(path)
    t0 = con.execute(_FIRST[clock].format(u=_UNION)).fetchone()[0]
    step = _STEP[clock]
    args = {"t0": t0, "w": w}
    last = con.execute(f"SELECT MAX({step.format(c='x')}) FROM ({_UNION})", args).fetchone()[0]
    T = last + 1
    users = [r[0] for r in con.execute("SELECT user_id FROM user ORDER BY user_id")]
    if topic_like is None:
        hit_posts = "SELECT post_id FROM post"
        own_post = own_comment = "1"
    else:  # a post matches by its own text; a repost by the post it names, recursively
        hit_posts = f"""WITH RECURSIVE m(post_id, hit) AS (
            SELECT post_id, CASE WHEN original_post_id IS NULL THEN content LIKE '{topic_like}'
                            ELSE quote_content LIKE '{topic_like}' END
            FROM post WHERE original_post_id IS NULL OR quote_content IS NOT NULL
            UNION ALL SELECT p.post_id, m.hit FROM post p JOIN m
            ON p.original_post_id = m.post_id WHERE p.quote_content IS NULL)
            SELECT post_id FROM m WHERE hit"""
        own_post = "p.post_id IN hits"
        own_comment = f"c.content LIKE '{topic_like}'"
    q = {
        "reach": f"""SELECT COUNT(*) FROM follow WHERE followee_id = :u AND follower_id != :u
                     AND {step.format(c="created_at")} <= :t""",
        "activity": f"""SELECT (SELECT COUNT(*) FROM post p WHERE p.user_id = :u AND {own_post}
                        AND {step.format(c="p.created_at")} = :t)
                     + (SELECT COUNT(*) FROM comment c WHERE c.user_id = :u AND {own_comment}
                        AND {step.format(c="c.created_at")} = :t)""",
        "resonance": f"""SELECT
            (SELECT COUNT(*) FROM like l JOIN post p ON l.post_id = p.post_id
             WHERE p.user_id = :u AND l.user_id != :u AND p.post_id IN hits
             AND {step.format(c="l.created_at")} = :t)
          + (SELECT COUNT(*) FROM comment c JOIN post p ON c.post_id = p.post_id
             WHERE p.user_id = :u AND c.user_id != :u AND p.post_id IN hits
             AND {step.format(c="c.created_at")} = :t)
          + (SELECT COUNT(*) FROM post s JOIN post p ON s.original_post_id = p.post_id
             WHERE p.user_id = :u AND s.user_id != :u AND p.post_id IN hits
             AND {step.format(c="s.created_at")} = :t)""",
    }
    con.execute("CREATE TEMP TABLE hits AS " + hit_posts)
    out = {k: np.zeros((T, len(users)), dtype=np.int64) for k in q}
    for k, sql in q.items():
        for t in range(T):
            for i, u in enumerate(users):
                out[k][t, i] = con.execute(sql, {**args, "u": u, "t": t}).fetchone()[0]
    con.close()
    return out, users, T


def _db(tmp_path, name, fill):
    path = str(tmp_path / name)
    con = sqlite3.connect(path)
    create(con)
    fill(con)
    con.commit()
    con.close()
    return path


def _check(panel, counts, users):
    assert panel.feature_names == ["reach", "activity", "resonance"]
    assert panel.agent_ids.tolist() == users and panel.agent_ids.dtype == np.int64
    for k, name in enumerate(panel.feature_names):
        want = np.log1p(counts[name].astype(np.float64)).astype(np.float32)
        got = panel.features[:, :, k]
        bad = np.argwhere(got != want)
        assert bad.size == 0, (
            f"{name} differs at (t, agent) {bad[:3].tolist()}: "
            f"{got[tuple(bad[0])]} vs SQL count {counts[name][tuple(bad[0])]}"
        )
    np.testing.assert_array_equal(panel.agents["followers"], counts["reach"][-1])


def planted(con, clock):
    """Hand-placed events: steps 0..3 (integer clock from 5; datetime clock hourly)."""

    def c(s, sec=0):
        if clock == "int":
            return 5 + s
        return (dt.datetime(2025, 1, 1, 8) + dt.timedelta(hours=s, seconds=sec)).isoformat(" ")

    con.executemany(
        "INSERT INTO user (user_id, user_name, created_at) VALUES (?, ?, ?)",
        [(1, "a", c(0)), (2, "b", c(0)), (4, "c", c(0)), (7, "d", c(0))],
    )
    ins = (
        "INSERT INTO post (post_id, user_id, original_post_id, content, quote_content, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)"
    )
    con.executemany(
        ins,
        [
            (1, 1, None, "cup final", None, c(0)),  # a's original
            (2, 2, 1, "", None, c(1)),  # b reposts a
            (3, 4, 2, "", None, c(1, 3599)),  # c reposts b's repost: credits b
            (4, 7, 3, "", "cup final again", c(2)),  # d quotes c's repost: credits c
            (5, 1, 1, "", None, c(2)),  # a reposts herself: no resonance
            (6, 2, None, "doomed", None, c(2)),  # b's post, deleted below
            (7, 4, 6, "", None, c(3)),  # c reposts the deleted post: nobody
        ],
    )
    con.executemany(
        "INSERT INTO like (user_id, post_id, created_at) VALUES (?, ?, ?)",
        [
            (1, 1, c(0, 10)),  # self-like: no resonance
            (2, 1, c(0, 20)),  # b likes a
            (4, 6, c(3)),  # like of the deleted post: nobody
            (7, 3, c(3)),  # d likes c's repost
        ],
    )
    con.executemany(
        "INSERT INTO comment (post_id, user_id, content, created_at) VALUES (?, ?, ?, ?)",
        [
            (6, 7, "gone?", c(3)),  # on the deleted post: d's activity only
            (1, 4, "nice", c(1)),  # c comments a
            (1, 1, "thanks", c(1)),  # a on her own: activity, no resonance
        ],
    )
    con.executemany(
        "INSERT INTO follow (follower_id, followee_id, created_at) VALUES (?, ?, ?)",
        [
            (2, 1, c(0)),
            (4, 1, c(2)),  # a's second follower later
            (1, 1, c(1)),  # self-follow: not reach
            (1, 7, c(3, 3000)),
        ],
    )  # in the last step
    con.execute("INSERT INTO trace VALUES (?, ?, 'refresh', '')", (4, c(3, 3599)))
    con.execute("DELETE FROM post WHERE post_id = 6")


@pytest.mark.parametrize("clock", ["int", "datetime"])
def test_planted_events_cell_by_cell(tmp_path, clock):
    path = _db(tmp_path, f"planted-{clock}.db", lambda con: planted(con, clock))
    p = from_oasis(path, step_width=None if clock == "int" else "1h")
    counts, users, T = sql_counts(path, clock, 1 if clock == "int" else 3600)
    assert p.shape == (T, 4, 3) == (4, 4, 3)
    _check(p, counts, users)
    # the planted expectations, by hand
    act = np.expm1(p.feature("activity").astype(np.float64)).round().astype(int)
    res = np.expm1(p.feature("resonance").astype(np.float64)).round().astype(int)
    reach = np.expm1(p.feature("reach").astype(np.float64)).round().astype(int)
    # b's deleted post (step 2) has no row left: it is not in b's activity
    np.testing.assert_array_equal(act, [[1, 0, 0, 0], [1, 1, 2, 0], [1, 0, 0, 1], [0, 0, 1, 1]])
    np.testing.assert_array_equal(res, [[1, 0, 0, 0], [2, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(reach, [[1, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0], [2, 0, 0, 1]])
    assert p.time_labels == (
        [5, 6, 7, 8] if clock == "int" else [f"2025-01-01T{h:02d}:00:00" for h in (8, 9, 10, 11)]
    )
    rep = p.meta["oasis"]
    assert rep["credited_nobody"] == {"like": 1, "comment": 1, "share": 1}
    assert rep["self_engagement"] == {"like": 1, "comment": 1, "share": 1, "follow": 1}


@pytest.mark.parametrize(
    "clock,w,gap",
    [
        ("int", 1, True),
        ("int", 3, True),
        ("int", 1, False),
        ("datetime", 3600, True),
        ("datetime", 7200, False),
    ],
)
def test_random_runs_cell_by_cell(tmp_path, clock, w, gap):
    """user ids with a gap (looked up by search) and without (1..N, by offset)."""
    path = _db(
        tmp_path,
        "run.db",
        lambda con: random_run(con, n_users=12, n_steps=7, seed=w, clock=clock, gap=gap),
    )
    sw = w if clock == "int" else dt.timedelta(seconds=w)
    p = from_oasis(path, step_width=sw)
    counts, users, T = sql_counts(path, clock, w)
    assert p.T == T and p.N == len(users) == (11 if gap else 12)
    _check(p, counts, users)
    assert counts["resonance"].sum() > 0 and counts["activity"].sum() > 0


def test_topics_cell_by_cell(tmp_path):
    path = _db(tmp_path, "topics.db", lambda con: random_run(con, n_users=10, n_steps=5, seed=7))
    panels = from_oasis(path, topics={"cup": {"keywords": ["cup final"]}})
    counts, users, T = sql_counts(path, "int", 1, topic_like="%cup final%")
    p = panels["cup"]
    assert p.meta["topic"] == "cup" and p.T == T
    _check(p, counts, users)
    assert 0 < counts["activity"].sum() < sql_counts(path, "int", 1)[0]["activity"].sum()


def test_panel_attributes_and_writes(tmp_path):
    path = _db(tmp_path, "w.db", lambda con: random_run(con, n_users=8, n_steps=3, seed=1))
    p = from_oasis(path)
    jaxattr.write_panel(p, tmp_path / "p.parquet")
    assert jaxattr.read_panel(tmp_path / "p.parquet").equals(p)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such database"):
        from_oasis(tmp_path / "nope.db")
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ValueError, match="not a readable SQLite database"):
        from_oasis(tmp_path / "junk.db")
    other = str(tmp_path / "other.db")
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(ValueError, match=r"no table\(s\) \['user', 'post'"):
        from_oasis(other)
    dtp = _db(tmp_path, "dt.db", lambda con: planted(con, "datetime"))
    with pytest.raises(ValueError, match="datetime clock: pass step_width"):
        from_oasis(dtp)
    with pytest.raises(ValueError, match="not a duration"):
        from_oasis(dtp, step_width="1 fortnight")
    ip = _db(tmp_path, "int.db", lambda con: planted(con, "int"))
    with pytest.raises(ValueError, match="integer clock: step_width must be a positive int"):
        from_oasis(ip, step_width="1h")

    def mixed(con):
        planted(con, "int")
        con.execute(
            "INSERT INTO like (user_id, post_id, created_at) VALUES (1, 2, '2025-01-01 08:00:00')"
        )

    with pytest.raises(
        ValueError,
        match="like.created_at mixes integer steps .*and datetimes "
        r"\(e.g. '2025-01-01 08:00:00'\)",
    ):
        from_oasis(_db(tmp_path, "mixed.db", mixed))

    def mixed_tables(con):
        planted(con, "int")
        con.execute("DELETE FROM trace")
        con.execute("INSERT INTO trace VALUES (1, '2025-01-01 08:00:00', 'x', '')")

    with pytest.raises(
        ValueError, match="trace.created_at holds datetime values, other tables int"
    ):
        from_oasis(_db(tmp_path, "mixed2.db", mixed_tables))

    def null_time(con):
        planted(con, "int")
        con.execute("INSERT INTO comment (post_id, user_id, created_at) VALUES (1, 2, NULL)")

    with pytest.raises(ValueError, match="comment.created_at is NULL in a row"):
        from_oasis(_db(tmp_path, "null.db", null_time))

    def stranger(con):
        planted(con, "int")
        con.execute("INSERT INTO like (user_id, post_id, created_at) VALUES (99, 1, 6)")

    with pytest.raises(ValueError, match="like.user_id = 99 is not a user_id"):
        from_oasis(_db(tmp_path, "stranger.db", stranger))

    def stranger_contiguous(con):
        random_run(con, n_users=5, n_steps=2, seed=0, gap=False)
        con.execute("INSERT INTO comment (post_id, user_id, created_at) VALUES (1, 0, 4)")

    with pytest.raises(ValueError, match="comment.user_id = 0 is not a user_id"):
        from_oasis(_db(tmp_path, "stranger2.db", stranger_contiguous))

    def text_id(con):
        planted(con, "int")
        con.execute("INSERT INTO like (user_id, post_id, created_at) VALUES (1, 'x', 6)")

    with pytest.raises(ValueError, match="like.post_id holds 'x', not an integer id"):
        from_oasis(_db(tmp_path, "textid.db", text_id))
    empty = _db(tmp_path, "empty.db", lambda con: None)
    with pytest.raises(ValueError, match="the user table is empty"):
        from_oasis(empty)


def test_cli_routes(tmp_path, capsys):
    """jaxattr data from-oasis / from-long write the panels the functions build; bad input is
    exit 2 with one line."""
    from jaxattr._cli import main

    db = _db(tmp_path, "cli.db", lambda con: planted(con, "datetime"))
    out = tmp_path / "o.parquet"
    assert (
        main(
            [
                "data",
                "from-oasis",
                db,
                "--step-width",
                "1h",
                "--out",
                str(out),
                "--report",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    assert jaxattr.read_panel(out).equals(from_oasis(db, step_width="1h"))
    assert (
        main(
            [
                "data",
                "from-oasis",
                db,
                "--step-width",
                "3600",
                "--out",
                str(tmp_path / "s.parquet"),
                "--quiet",
            ]
        )
        == 0
    )
    a, b = jaxattr.read_panel(tmp_path / "s.parquet"), jaxattr.read_panel(out)
    np.testing.assert_array_equal(a.features, b.features)  # meta records each step_width
    assert a.time_labels == b.time_labels and b.meta["oasis"]["step_width"] == "1h"
    capsys.readouterr()
    assert main(["data", "from-oasis", db, "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pass step_width" in err
    # a long table round trip through a CSV file
    p = jaxattr.read_panel(out)
    long = p.to_long("pandas")
    long.to_csv(tmp_path / "long.csv", index=False)
    assert (
        main(
            [
                "data",
                "from-long",
                str(tmp_path / "long.csv"),
                "--out",
                str(tmp_path / "l.parquet"),
                "--quiet",
            ]
        )
        == 0
    )
    q = jaxattr.read_panel(tmp_path / "l.parquet")
    np.testing.assert_array_equal(q.features, p.features)
    assert q.time_labels == p.time_labels and q.agent_ids.tolist() == p.agent_ids.tolist()
    topics = tmp_path / "topics.toml"
    jaxattr.data.write_topics([jaxattr.data.Topic("cup", keywords=("cup final",))], topics)
    assert (
        main(
            [
                "data",
                "from-oasis",
                db,
                "--step-width",
                "1h",
                "--topics",
                str(topics),
                "--out",
                str(tmp_path / "bytopic"),
                "--quiet",
            ]
        )
        == 0
    )
    assert jaxattr.read_panel(tmp_path / "bytopic" / "cup.parquet").equals(
        from_oasis(db, step_width="1h", topics=topics)["cup"]
    )
    long.iloc[:-1].to_csv(tmp_path / "gap.csv", index=False)
    assert (
        main(["data", "from-long", str(tmp_path / "gap.csv"), "--out", str(tmp_path / "g.parquet")])
        == 2
    )
    assert "pairs have no row" in capsys.readouterr().err
