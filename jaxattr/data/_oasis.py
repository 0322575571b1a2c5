"""OASIS (camel-oasis) SQLite database -> a Panel of (reach, activity, resonance) per user.

OASIS, the LLM-agent social-media simulator, records a run in one SQLite file with tables
``user``, ``post``, ``follow``, ``like``, ``comment`` (and ``trace``, ``dislike``, ...);
every row carries ``created_at``: an integer time step (its Twitter-like clock) or a
datetime (its Reddit-like clock, ``YYYY-MM-DD HH:MM:SS[.ffffff]``). Only the standard
library's ``sqlite3`` reads it: camel-oasis is not needed. Features per user i and step t
(``docs/data.md``):

- reach ``a = log1p(followers at the end of step t)``: ``follow`` rows with ``followee_id``
  = i, another ``follower_id``, created in step t or before. OASIS deletes the row of an
  unfollow, so the count is of follows that still existed when the database was written.
- activity ``b = log1p(posts, reposts, quotes and comments i created in step t)``: ``post``
  rows (an original, a repost or a quote: a row whose ``original_post_id`` is set) and
  ``comment`` rows by i.
- resonance ``c = log1p(likes, comments, reposts and quotes other users gave i's posts in
  step t)``: ``like`` and ``comment`` rows on a post of i and ``post`` rows whose
  ``original_post_id`` names a post of i (a repost of a repost credits the author of the
  repost it names), by a user other than i. A like or comment on a post that no longer exists
  (deleted) credits nobody; the commenter's activity still counts.

Steps: with an integer clock, the steps from the first to the last value seen (in ``post``,
``comment``, ``like``, ``follow`` and ``trace``), ``step_width`` of them per panel step
(default 1); with a datetime clock, bins of ``step_width`` (required: seconds, a
``timedelta`` or text such as ``"1h"``, ``"30min"``, ``"1d"``) from the first timestamp seen.
Agents: the ``user`` rows in ascending ``user_id``, kept as the panel's agent labels.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._features import FEATURES, log1p_counts

if TYPE_CHECKING:
    from .._panel import Panel
    from ._topics import Topic

__all__ = ["from_oasis"]

_CLOCK_TABLES = ("post", "comment", "like", "follow", "trace")
_UNITS = {
    "s": 1,
    "sec": 1,
    "min": 60,
    "m": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 604800,
}


def _width_seconds(step_width) -> float:
    if isinstance(step_width, _dt.timedelta):
        w = step_width.total_seconds()
    elif isinstance(step_width, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", step_width.lower())
        if not m or m.group(2) not in _UNITS:
            raise ValueError(
                f"from_oasis: step_width {step_width!r} is not a duration; use "
                f"seconds, a timedelta or e.g. '1h', '30min', '1d' (units "
                f"{sorted(_UNITS)})"
            )
        w = float(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(step_width, (int, float)) and not isinstance(step_width, bool):
        w = float(step_width)
    else:
        raise ValueError(
            f"from_oasis: step_width must be a number, a timedelta or text like "
            f"'1h', got {step_width!r}"
        )
    if not w > 0:
        raise ValueError(f"from_oasis: step_width must be positive, got {step_width!r}")
    return w


class _Clock:
    """Parses one table's ``created_at`` column into int64 clock values: the integer step, or
    microseconds since 1970 for datetimes; checks that every table uses the same kind."""

    def __init__(self, path: str):
        self.path, self.kind = path, None

    def parse(self, values: list, table: str) -> np.ndarray:
        if not values:
            return np.zeros(0, dtype=np.int64)
        fast = np.array(values) if type(values[0]) is int else None
        if fast is not None and fast.dtype.kind == "i":  # every value an integer step
            return self._same("int", fast.astype(np.int64, copy=False), table)
        ints, texts = [], []
        for v in values:
            if type(v) is int or (type(v) is str and v.lstrip("-").isdigit()):
                ints.append(v)  # integers stored as text are the integer clock too
            elif type(v) is str:
                texts.append(v)
            else:
                what = "NULL" if v is None else f"{v!r} ({type(v).__name__})"
                raise ValueError(
                    f"from_oasis: {self.path!r}: {table}.created_at is {what} in "
                    "a row; every event needs an integer step or a datetime"
                )
        if ints and texts:
            raise ValueError(
                f"from_oasis: {self.path!r}: {table}.created_at mixes integer "
                f"steps (e.g. {ints[0]!r}) and datetimes (e.g. {texts[0]!r}); one "
                "clock per database"
            )
        if ints:
            kind, out = "int", np.array([int(v) for v in ints], dtype=np.int64)
        else:
            kind = "datetime"
            try:
                out = np.array(texts, dtype="datetime64[us]").astype(np.int64)
            except ValueError:
                bad = next(v for v in texts if not _is_datetime(v))
                raise ValueError(
                    f"from_oasis: {self.path!r}: {table}.created_at holds "
                    f"{bad!r}, neither an integer step nor a datetime"
                ) from None
        return self._same(kind, out, table)

    def _same(self, kind: str, out: np.ndarray, table: str) -> np.ndarray:
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            raise ValueError(
                f"from_oasis: {self.path!r}: {table}.created_at holds "
                f"{kind} values, other tables {self.kind} values; one clock per "
                "database"
            )
        return out


def _is_datetime(v: str) -> bool:
    try:
        np.datetime64(v, "us")
        return True
    except ValueError:
        return False


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _rows(con, sql: str, table: str, path: str) -> list:
    try:
        return con.execute(sql).fetchall()
    except sqlite3.DatabaseError as e:
        raise ValueError(
            f"from_oasis: {path!r}: reading table {table!r} failed ({e}); is "
            "this an OASIS database?"
        ) from None


def from_oasis(
    db_path: str | os.PathLike[str],
    step_width: float | _dt.timedelta | str | None = None,
    topics: str | os.PathLike[str] | Mapping | Sequence[Topic] | None = None,
) -> Panel | dict[str, Panel]:
    """Build the (reach, activity, resonance) panel of an OASIS run from its SQLite file.

    Args:
        db_path: the OASIS database (opened read-only).
        step_width: panel step width: integer clock steps per panel step (default 1), or for
            a datetime clock a duration (seconds, ``timedelta``, ``"1h"``; required).
        topics: optional topic table (path, mapping or list of :class:`Topic`, as for
            :func:`build_panels`): then one panel per topic, where activity counts the
            user's posts, quotes and comments whose text matches the topic and reposts of a
            matching post, and resonance the engagement with the user's matching posts
            (reach is the same in every topic).

    Returns:
        A :class:`~jaxattr.Panel` ``(T, N, 3)``, or with ``topics`` a dict ``{topic: Panel}``.
        Agent ids are the ``user_id`` values (int64, ascending); the agent table has
        ``followers`` (follows at the end of the last step). ``meta["oasis"]`` counts the
        rows read per table, the engagements that credited nobody (a deleted post) and the
        self-engagements left out.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an OASIS database (a missing table or column, naming it), no users,
            no events, a NULL or unparsable ``created_at``, mixed clocks, a bad
            ``step_width``, or events of a user that is not in ``user``.

    Example:
        >>> import os, sqlite3, tempfile
        >>> from jaxattr import data
        >>> tmp = tempfile.TemporaryDirectory()
        >>> db = os.path.join(tmp.name, "run.db")
        >>> con = sqlite3.connect(db)
        >>> _ = con.executescript(  # the columns from_oasis reads; a real run has more
        ...     "CREATE TABLE user (user_id INTEGER);"
        ...     "CREATE TABLE post (post_id INTEGER, user_id INTEGER, original_post_id INTEGER,"
        ...     "  created_at INTEGER, content TEXT, quote_content TEXT);"
        ...     "CREATE TABLE comment (post_id INTEGER, user_id INTEGER, created_at INTEGER,"
        ...     "  content TEXT);"
        ...     "CREATE TABLE like (post_id INTEGER, user_id INTEGER, created_at INTEGER);"
        ...     "CREATE TABLE follow (follower_id INTEGER, followee_id INTEGER,"
        ...     "  created_at INTEGER);"
        ...     "INSERT INTO user VALUES (1), (2);"
        ...     "INSERT INTO post VALUES (1, 1, NULL, 0, 'hello', NULL);"
        ...     "INSERT INTO like VALUES (1, 2, 1);"
        ...     "INSERT INTO follow VALUES (2, 1, 0);"
        ... )
        >>> con.close()
        >>> panel = data.from_oasis(db)  # user 1 posts at step 0; user 2 likes it at step 1
        >>> activity = [round(float(a), 4) for a in panel.feature("activity")[:, 0]]
        >>> print(panel.shape, panel.agent_ids.tolist(), activity)
        (2, 2, 3) [1, 2] [0.6931, 0.0]
        >>> tmp.cleanup()
    """
    import jaxattr

    path = os.fspath(db_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"from_oasis: no such database {path!r}")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        have = _tables(con)
    except sqlite3.DatabaseError as e:
        raise ValueError(f"from_oasis: {path!r} is not a readable SQLite database ({e})") from None
    try:
        need = ("user", "post", "follow", "like", "comment")
        missing = [t for t in need if t not in have]
        if missing:
            raise ValueError(
                f"from_oasis: {path!r} has no table(s) {missing}; an OASIS "
                f"database has {list(need)} (tables found: {sorted(have)})"
            )
        users = np.array(
            [r[0] for r in _rows(con, "SELECT user_id FROM user ORDER BY user_id", "user", path)],
            dtype=np.int64,
        )
        if users.size == 0:
            raise ValueError(f"from_oasis: {path!r}: the user table is empty")
        clock = _Clock(path)
        posts = _rows(
            con,
            "SELECT post_id, user_id, original_post_id, created_at, content, "
            "quote_content FROM post ORDER BY post_id",
            "post",
            path,
        )
        comments = _rows(
            con, "SELECT post_id, user_id, created_at, content FROM comment", "comment", path
        )
        likes = _rows(con, "SELECT post_id, user_id, created_at FROM like", "like", path)
        follows = _rows(
            con, "SELECT follower_id, followee_id, created_at FROM follow", "follow", path
        )
        trace = (
            _rows(con, "SELECT user_id, created_at FROM trace", "trace", path)
            if "trace" in have
            else []
        )
    finally:
        con.close()

    def ints(rows, j, table, col):
        vals = [r[j] for r in rows]
        a = np.array(vals) if vals else np.zeros(0, dtype=np.int64)  # ints only: int64
        if a.dtype.kind != "i":
            bad = next(v for v in vals if type(v) is not int)
            raise ValueError(
                f"from_oasis: {path!r}: {table}.{col} holds {bad!r}, not an integer id"
            )
        return a.astype(np.int64, copy=False)

    p_id, p_user = ints(posts, 0, "post", "post_id"), ints(posts, 1, "post", "user_id")
    p_orig = np.array([-1 if r[2] is None else r[2] for r in posts], dtype=np.int64)
    p_t = clock.parse([r[3] for r in posts], "post")
    c_post, c_user = (
        ints(comments, 0, "comment", "post_id"),
        ints(comments, 1, "comment", "user_id"),
    )
    c_t = clock.parse([r[2] for r in comments], "comment")
    l_post, l_user = ints(likes, 0, "like", "post_id"), ints(likes, 1, "like", "user_id")
    l_t = clock.parse([r[2] for r in likes], "like")
    f_from, f_to = (
        ints(follows, 0, "follow", "follower_id"),
        ints(follows, 1, "follow", "followee_id"),
    )
    f_t = clock.parse([r[2] for r in follows], "follow")
    tr_t = clock.parse([r[1] for r in trace], "trace")
    all_t = np.concatenate([p_t, c_t, l_t, f_t, tr_t])
    if all_t.size == 0:
        raise ValueError(
            f"from_oasis: {path!r} holds no events (no posts, comments, likes, "
            "follows or traces): nothing to put on a time axis"
        )
    t0, t1 = int(all_t.min()), int(all_t.max())
    if clock.kind == "int":
        if step_width is None:
            w = 1
        elif (
            isinstance(step_width, bool)
            or not isinstance(step_width, (int, np.integer))
            or step_width < 1
        ):
            raise ValueError(
                f"from_oasis: the database has an integer clock: step_width must "
                f"be a positive integer number of steps, got {step_width!r}"
            )
        else:
            w = int(step_width)
    else:
        if step_width is None:
            raise ValueError(
                f"from_oasis: {path!r} has a datetime clock: pass step_width "
                "(seconds, a timedelta or e.g. '1h', '1d') to bin it into steps"
            )
        w = int(round(_width_seconds(step_width) * 1e6))  # microseconds
        if w < 1:
            raise ValueError(f"from_oasis: step_width {step_width!r} is under a microsecond")
    T = (t1 - t0) // w + 1
    if T > 1_000_000:
        raise ValueError(
            f"from_oasis: {T:,} steps from {t0} to {t1} with step_width "
            f"{step_width!r}; choose a wider step"
        )
    N = users.size

    def step(t):
        return (t - t0) // w

    contiguous = int(users[-1] - users[0]) == N - 1  # user ids 1..N, as OASIS numbers them

    def agent(uid, table, col):
        if contiguous:
            i = uid - users[0]
            ok = (i >= 0) & (i < N)
        else:
            i = np.searchsorted(users, uid)
            ok = (i < N) & (users[np.minimum(i, N - 1)] == uid)
        if not ok.all():
            bad = int(uid[np.flatnonzero(~ok)[0]])
            raise ValueError(
                f"from_oasis: {path!r}: {table}.{col} = {bad} is not a user_id "
                f"of the user table ({int((~ok).sum())} such rows)"
            )
        return i

    if clock.kind == "int":
        labels = [t0 + k * w for k in range(T)]
    else:
        labels = [
            (np.datetime64(t0 + k * w, "us")).astype(_dt.datetime).isoformat() for k in range(T)
        ]

    # post ownership: post_id -> author index, by sorted lookup (deleted posts: no row)
    order = np.argsort(p_id, kind="stable")
    sid, sowner = p_id[order], agent(p_user, "post", "user_id")[order]

    def owner(pid):
        """Author index of each post id, -1 where the post does not exist (deleted)."""
        j = np.searchsorted(sid, pid)
        jj = np.minimum(j, max(sid.size - 1, 0))
        found = (j < sid.size) & (sid[jj] == pid) if sid.size else np.zeros(pid.size, bool)
        return np.where(found, sowner[jj] if sid.size else -1, -1)

    p_a = agent(p_user, "post", "user_id")
    c_a = agent(c_user, "comment", "user_id")
    l_a = agent(l_user, "like", "user_id")
    f_a = agent(f_from, "follow", "follower_id")
    f_b = agent(f_to, "follow", "followee_id")
    is_share = p_orig >= 0
    share_owner = np.full(p_id.size, -1, dtype=np.int64)
    share_owner[is_share] = owner(p_orig[is_share])
    c_owner, l_owner = owner(c_post), owner(l_post)

    # reach: follows by another user, cumulated over steps
    keep_f = f_a != f_b
    new_f = np.bincount(step(f_t[keep_f]) * N + f_b[keep_f], minlength=T * N).reshape(T, N)
    followers = np.cumsum(new_f, axis=0)
    reach = log1p_counts(followers)
    report = {
        "users": int(N),
        "clock": clock.kind,
        "step_width": step_width
        if not isinstance(step_width, _dt.timedelta)
        else step_width.total_seconds(),
        "rows": {
            "post": len(posts),
            "comment": len(comments),
            "like": len(likes),
            "follow": len(follows),
            "trace": len(trace),
        },
        "credited_nobody": {
            "like": int((l_owner < 0).sum()),
            "comment": int((c_owner < 0).sum()),
            "share": int((is_share & (share_owner < 0)).sum()),
        },
        "self_engagement": {
            "like": int((l_owner == l_a).sum()),
            "comment": int((c_owner == c_a).sum()),
            "share": int((is_share & (share_owner == p_a)).sum()),
            "follow": int((~keep_f).sum()),
        },
    }

    def panel(p_keep, c_keep, s_keep, cr_keep, l_keep, topic=None):
        act = np.bincount(step(p_t[p_keep]) * N + p_a[p_keep], minlength=T * N) + np.bincount(
            step(c_t[c_keep]) * N + c_a[c_keep], minlength=T * N
        )
        # engagement by another user with an existing post of i
        s = s_keep & (share_owner >= 0) & (share_owner != p_a)
        c = cr_keep & (c_owner >= 0) & (c_owner != c_a)
        lk = l_keep & (l_owner >= 0) & (l_owner != l_a)
        res = (
            np.bincount(step(p_t[s]) * N + share_owner[s], minlength=T * N)
            + np.bincount(step(c_t[c]) * N + c_owner[c], minlength=T * N)
            + np.bincount(step(l_t[lk]) * N + l_owner[lk], minlength=T * N)
        )
        x = np.stack(
            [reach, log1p_counts(act.reshape(T, N)), log1p_counts(res.reshape(T, N))], axis=1
        )  # (T, d, N)
        meta = {"source": "oasis", "oasis": report}
        if topic is not None:
            meta["topic"] = topic
        return jaxattr.Panel.from_feature_major(
            np.ascontiguousarray(x, dtype=np.float32),
            feature_names=list(FEATURES),
            time_labels=labels,
            agent_ids=users.copy(),
            agents={"followers": followers[-1].astype(np.int64)},
            meta=meta,
        )

    every_p, every_c, every_l = (
        np.ones(p_id.size, bool),
        np.ones(c_post.size, bool),
        np.ones(l_post.size, bool),
    )
    if topics is None:
        return panel(every_p, every_c, every_p, every_c, every_l)
    from ._topics import Topic, TopicMatcher, load_topics

    tlist = (
        list(topics)
        if isinstance(topics, (list, tuple)) and all(isinstance(t, Topic) for t in topics)
        else load_topics(topics)  # pyright: ignore[reportArgumentType]  # a path or mapping here
    )
    if len(tlist) > 62:
        raise ValueError(f"from_oasis: {len(tlist)} topics; at most 62 per call")
    matcher = TopicMatcher(tlist)
    # a post's own text: a quote's quote_content, an original's content; a repost matches
    # where the post it names matches (posts are read in post_id order, originals first)
    own = np.array(
        [
            matcher.match((r[5] if r[2] is not None else r[4]) or "")
            if (r[2] is None or r[5] is not None)
            else 0
            for r in posts
        ],
        dtype=np.int64,
    )
    bits = own.copy()
    pos = {int(pid): j for j, pid in enumerate(p_id)}
    for j, r in enumerate(posts):
        if r[2] is not None and r[5] is None:  # a repost
            k = pos.get(int(r[2]))
            bits[j] = bits[k] if k is not None and k < j else 0
    target_bits = np.zeros(p_id.size, dtype=np.int64)  # bits of the post a share names
    for j, r in enumerate(posts):
        if r[2] is not None:
            k = pos.get(int(r[2]))
            target_bits[j] = bits[k] if k is not None else 0
    c_bits_own = np.array([matcher.match(r[3] or "") for r in comments], dtype=np.int64)
    c_bits_post = np.array(
        [bits[pos[int(r[0])]] if int(r[0]) in pos else 0 for r in comments], dtype=np.int64
    )
    l_bits = np.array(
        [bits[pos[int(r[0])]] if int(r[0]) in pos else 0 for r in likes], dtype=np.int64
    )
    out = {}
    for k, t in enumerate(tlist):
        b = 1 << k
        out[t.name] = panel(
            (bits & b) > 0,
            (c_bits_own & b) > 0,
            (target_bits & b) > 0,
            (c_bits_post & b) > 0,
            (l_bits & b) > 0,
            topic=t.name,
        )
    return out
