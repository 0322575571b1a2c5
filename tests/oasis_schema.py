"""The SQLite schema of an OASIS (camel-oasis 0.2.5) run, for building test databases.

Recreated from the columns OASIS documents in its schema files
``oasis/social_platform/schema/{user,post,follow,like,comment,trace}.sql`` (same tables,
column names, types, defaults and AUTOINCREMENT keys; OASIS is Apache-2.0, but its files are
not copied here). ``DATETIME`` columns have NUMERIC affinity in SQLite: OASIS's integer clock
(its time step, written as text) is stored as an INTEGER, a datetime as TEXT.
"""

SCHEMA = """
CREATE TABLE user (
    user_id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id INTEGER, user_name TEXT, name TEXT,
    bio TEXT, created_at DATETIME, num_followings INTEGER DEFAULT 0,
    num_followers INTEGER DEFAULT 0);
CREATE TABLE post (
    post_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER, original_post_id INTEGER,
    content TEXT DEFAULT '', quote_content TEXT, created_at DATETIME,
    num_likes INTEGER DEFAULT 0, num_dislikes INTEGER DEFAULT 0,
    num_shares INTEGER DEFAULT 0, num_reports INTEGER DEFAULT 0,
    FOREIGN KEY(user_id) REFERENCES user(user_id),
    FOREIGN KEY(original_post_id) REFERENCES post(post_id));
CREATE TABLE follow (
    follow_id INTEGER PRIMARY KEY AUTOINCREMENT, follower_id INTEGER, followee_id INTEGER,
    created_at DATETIME,
    FOREIGN KEY(follower_id) REFERENCES user(user_id),
    FOREIGN KEY(followee_id) REFERENCES user(user_id));
CREATE TABLE like (
    like_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER, post_id INTEGER,
    created_at DATETIME,
    FOREIGN KEY(user_id) REFERENCES user(user_id),
    FOREIGN KEY(post_id) REFERENCES post(post_id));
CREATE TABLE comment (
    comment_id INTEGER PRIMARY KEY AUTOINCREMENT, post_id INTEGER, user_id INTEGER,
    content TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    num_likes INTEGER DEFAULT 0, num_dislikes INTEGER DEFAULT 0,
    FOREIGN KEY(post_id) REFERENCES post(post_id),
    FOREIGN KEY(user_id) REFERENCES user(user_id));
CREATE TABLE dislike (
    dislike_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER, post_id INTEGER,
    created_at DATETIME,
    FOREIGN KEY(user_id) REFERENCES user(user_id),
    FOREIGN KEY(post_id) REFERENCES post(post_id));
CREATE TABLE trace (
    user_id INTEGER, created_at DATETIME, action TEXT, info TEXT,
    PRIMARY KEY(user_id, created_at, action, info),
    FOREIGN KEY(user_id) REFERENCES user(user_id));
"""


def create(con) -> None:
    """Create OASIS's tables in an open ``sqlite3`` connection."""
    con.executescript(SCHEMA)


def random_run(
    con,
    *,
    n_users: int,
    n_steps: int,
    seed: int,
    clock: str = "int",
    events_per_step: int | None = None,
    base_step: int = 3,
    gap: bool = True,
) -> None:
    """Fill an empty OASIS database with a random run, as OASIS would write it: users
    (ids from AUTOINCREMENT; with ``gap`` one id is skipped), posts, reposts (of reposts
    too), quotes, comments, likes (self-likes too), follows, traces, and deleted posts
    (their rows removed, the likes, comments and reposts that name them kept). ``clock``:
    ``"int"`` (created_at an integer step from ``base_step``) or ``"datetime"`` (text, one
    hour per step, some with microseconds)."""
    import datetime as dt

    import numpy as np

    rng = np.random.default_rng(seed)
    base = dt.datetime(2025, 3, 1, 9, 0, 0)

    def when(s):
        if clock == "int":
            return base_step + int(s)
        off = int(rng.integers(0, 3600))
        t = base + dt.timedelta(hours=int(s), seconds=off)
        if rng.random() < 0.3:
            return (t + dt.timedelta(microseconds=int(rng.integers(1, 10**6)))).isoformat(" ")
        return t.isoformat(" ")

    con.executemany(
        "INSERT INTO user (agent_id, user_name, name, bio, created_at) VALUES (?, ?, ?, '', ?)",
        [(i, f"user{i}", f"U{i}", when(0)) for i in range(n_users)],
    )
    if gap:
        con.execute("DELETE FROM user WHERE user_id = 2")  # a gap in user ids
    users = [r[0] for r in con.execute("SELECT user_id FROM user")]
    per = events_per_step or max(4, n_users // 2)
    words = ["cup final tonight", "weather is nice", "quote: cup final", "lunch", ""]
    post_ids: list[int] = []
    for s in range(n_steps):
        u = rng.choice(users, size=(per, 2))
        kind = rng.integers(0, 7, size=per)
        rows = {"post": [], "like": [], "comment": [], "follow": [], "trace": []}
        for (a, b), k in zip(u.tolist(), kind.tolist(), strict=True):
            t = when(s)
            if k == 0 or not post_ids:
                cur = con.execute(
                    "INSERT INTO post (user_id, content, created_at) VALUES (?, ?, ?)",
                    (a, words[int(rng.integers(0, 5))], t),
                )
                post_ids.append(cur.lastrowid)
            elif k == 1:  # repost (of any post: a repost of a repost too)
                cur = con.execute(
                    "INSERT INTO post (user_id, original_post_id, created_at) VALUES (?, ?, ?)",
                    (a, int(rng.choice(post_ids)), t),
                )
                post_ids.append(cur.lastrowid)
            elif k == 2:  # quote
                cur = con.execute(
                    "INSERT INTO post (user_id, original_post_id, content, "
                    "quote_content, created_at) VALUES (?, ?, '', ?, ?)",
                    (a, int(rng.choice(post_ids)), words[int(rng.integers(0, 5))], t),
                )
                post_ids.append(cur.lastrowid)
            elif k == 3:
                rows["like"].append((a, int(rng.choice(post_ids)), t))
            elif k == 4:
                rows["comment"].append(
                    (int(rng.choice(post_ids)), a, words[int(rng.integers(0, 5))], t)
                )
            elif k == 5:
                rows["follow"].append((a, b, t))
            else:
                rows["trace"].append((a, t, "refresh", f"{s}-{a}-{rng.integers(1 << 30)}"))
        con.executemany(
            "INSERT INTO like (user_id, post_id, created_at) VALUES (?, ?, ?)", rows["like"]
        )
        con.executemany(
            "INSERT INTO comment (post_id, user_id, content, created_at) VALUES (?, ?, ?, ?)",
            rows["comment"],
        )
        con.executemany(
            "INSERT INTO follow (follower_id, followee_id, created_at) VALUES (?, ?, ?)",
            rows["follow"],
        )
        con.executemany(
            "INSERT OR IGNORE INTO trace (user_id, created_at, action, info) VALUES (?, ?, ?, ?)",
            rows["trace"],
        )
        if post_ids and rng.random() < 0.3:  # a deleted post: OASIS removes its row
            con.execute("DELETE FROM post WHERE post_id = ?", (int(rng.choice(post_ids)),))
    con.commit()
