"""Bluesky Jetstream JSONL -> per-topic panels (reach, activity, resonance), in one pass.

Input: captured Jetstream messages, one JSON object per line, one file per UTC day, plain or
gzip. Envelope ``did``, ``time_us``, ``kind`` (``commit`` / ``identity`` / ``account``); a
commit has ``operation`` (create / update / delete), ``collection``, ``rkey``, ``rev`` and,
except for deletes, a ``record``. Collections used: ``app.bsky.feed.post`` (``text``,
``facets`` tag features, ``tags``, ``reply.parent.uri``), ``app.bsky.feed.repost`` and
``app.bsky.feed.like`` (``subject.uri``), ``app.bsky.graph.follow`` (``subject``: a DID, or in
older records an object ``{"did": ...}``).

Features per agent i and UTC day t (docs/data.md, "Jetstream -> panel"; day =
``time_us`` // 1 day, never the client-set ``createdAt``):

- reach ``a = log1p(followers)``: from a profile snapshot (``followersCount``) when given,
  else the number of follow *creates* received in the window (an approximation: follows
  made before the window and unfollows are invisible). Static over days.
- activity ``b = log1p(topic posts + topic reposts that day)``: posts (replies included)
  whose text/tags match the topic, and reposts whose subject post was seen earlier in the
  stream and matched the topic.
- resonance ``c = log1p(replies received that day on the agent's topic posts)``: replies by
  *other* accounts whose ``reply.parent`` is a seen topic post of the agent.

Only creates count. A deleted topic post stops collecting reposts and replies; what it already
counted stays (the activity happened). Filters (applied in this order, each user counted under
the first rule that removes it): account age < ``min_account_age_days`` at window start (only
when the profile snapshot gives ``createdAt``); a handle matching ``bot_pattern`` (identity
events, and snapshot handles); no non-self engagement (never gave nor received a like, repost,
reply or follow involving another account). Filtered users' engagement still counts toward the
accounts they engaged with.

Memory: per-user state plus sparse per-(user, day, topic) counters, plus the keys of
topic-matched posts (needed to resolve reposts and replies) and a bounded de-duplication
window; never the events themselves.

Privacy: agents are integer indices (DIDs in sorted order); the index -> DID map stays in the
:class:`BuildResult` and is written only by :meth:`BuildResult.write_id_map`.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import os
import re
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._panel import Panel
from .._util import aligned_empty, atomic_write
from ._features import DAY_US, FEATURES, MAX_TIME_US, log1p_counts
from ._topics import Topic, TopicMatcher, load_topics

__all__ = ["DEFAULT_BOT_PATTERN", "BuildResult", "build_panels", "read_profiles"]

DEFAULT_BOT_PATTERN = r"(?i)bot\d*(?:[.\-_]|$)"
"""The default ``bot_pattern`` of :func:`build_panels`: "bot" (optionally digits) at the end
of a handle label or before '-'/'_': ``newsbot.bsky.social``, ``bot-42.example``,
``x.bot``. A heuristic (``abbot.bsky.social`` matches too); pass your own with
``bot_pattern=``.

Example:
    >>> import re
    >>> from jaxattr import data
    >>> handles = ("newsbot.bsky.social", "bot-42.example", "ana.bsky.social")
    >>> [bool(re.search(data.DEFAULT_BOT_PATTERN, h)) for h in handles]
    [True, True, False]
"""

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
LIKE = "app.bsky.feed.like"
FOLLOW = "app.bsky.graph.follow"
_KINDS = ("commit", "identity", "account")  # the event kinds a build reads
_COLLECTIONS = {POST: 0, REPOST: 1, LIKE: 2, FOLLOW: 3}
_EVENT_TYPES = (
    "post",
    "reply",
    "repost",
    "like",
    "follow",
    "update",
    "delete",
    "identity",
    "account",
)


def _day_label(day_abs: int) -> str:
    return (_dt.date(1970, 1, 1) + _dt.timedelta(days=int(day_abs))).isoformat()


def _parse_day(s) -> int:
    if isinstance(s, _dt.date):
        d = s
    else:
        try:
            d = _dt.date.fromisoformat(str(s))
        except ValueError:
            raise ValueError(f"start must be an ISO date YYYY-MM-DD, got {s!r}") from None
    return (d - _dt.date(1970, 1, 1)).days


def _iso_to_us(s) -> int | None:
    if not isinstance(s, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return int(t.timestamp() * 1_000_000)


def _open_lines(path: str):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


@dataclass
class BuildResult:
    """Result of :func:`build_panels`.

    Args:
        panels: one :class:`Panel` per topic, ``(T, N, 3)`` with features
            ``reach, activity, resonance``; all share one agent table (``followers``
            int64, ``first_seen`` int32 = window day of the first authored event or -1).
        report: the run report (JSON-serialisable dict; see ``docs/data.md``).
        _dids: the agents' DIDs in index order (kept private: see :meth:`write_id_map`).

    Raises:
        TypeError: a missing or unknown field (the dataclass constructor).

    Example:
        >>> import os, tempfile
        >>> from jaxattr import data
        >>> world = data.synthetic_world(n_agents=12, n_days=2, seed=0)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> out = world.to_jetstream(tmp.name)  # JSONL per day, profiles, topic table
        >>> res = data.build_panels(out["files"], out["topics"], profiles=out["profiles"])
        >>> print(sorted(res.panels)[:2], res.report["users_kept"], res.report["files"])
        ['climate', 'election'] 12 2
        >>> tmp.cleanup()
    """

    panels: dict[str, Panel]
    report: dict
    _dids: list[str] = field(repr=False, default_factory=list)

    def write_id_map(self, path: str | os.PathLike[str]) -> None:
        """Write the index -> DID map (CSV ``index,did``) to ``path``, atomically.

        This is the only place a DID leaves memory; call it only if you need to re-identify
        agents (privacy: docs/data.md, "Privacy").

        Args:
            path: destination CSV file.

        Raises:
            FileNotFoundError: the destination's directory does not exist.
        """
        with atomic_write(path, "w", newline="") as f:
            f.write("index,did\n")
            for i, d in enumerate(self._dids):
                f.write(f"{i},{d}\n")


def read_profiles(
    path: str | os.PathLike[str], wanted: dict | None = None
) -> tuple[dict[str, tuple[int | None, int | None, str | None]], int]:
    """Read a profile snapshot: JSONL (plain or gzip), one profile per line.

    Each line is an object with ``did`` and optionally ``followersCount`` (int in [0, 2**63)),
    ``createdAt`` (ISO datetime) and ``handle`` -- the fields of
    ``app.bsky.actor.defs#profileViewDetailed``, so ``getProfiles`` output can be saved as is.

    Args:
        path: the snapshot file.
        wanted: optional dict of DIDs to keep (others are skipped, bounding memory).

    Returns:
        ``(profiles, bad_lines)``: dict DID -> (followers or None, created_us or None,
        handle or None), and the number of malformed lines skipped.

    Raises:
        FileNotFoundError: no such file.
        EOFError: a truncated gzip file.

    Example:
        >>> import os, tempfile
        >>> from jaxattr import data
        >>> lines = [
        ...     '{"did": "did:plc:a", "followersCount": 12, "handle": "a.example"}',
        ...     '{"did": "did:plc:b", "createdAt": "2025-01-01T00:00:00Z"}',
        ...     "not json",
        ... ]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "profiles.jsonl")
        ...     with open(path, "w") as f:
        ...         _ = f.write("\\n".join(lines) + "\\n")
        ...     profiles, bad = data.read_profiles(path)
        >>> print(profiles["did:plc:a"], profiles["did:plc:b"][0], bad)
        (12, None, 'a.example') None 1
    """
    out, bad = {}, 0
    with _open_lines(os.fspath(path)) as f:
        for raw in f:
            try:
                p = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                bad += 1
                continue
            if type(p) is not dict or type(p.get("did")) is not str:
                bad += 1
                continue
            did = p["did"]
            if wanted is not None and did not in wanted:
                continue
            fc = p.get("followersCount")
            if fc is not None and (type(fc) is not int or not 0 <= fc < 1 << 63):
                bad += 1
                continue
            h = p.get("handle")
            out[did] = (fc, _iso_to_us(p.get("createdAt")), h if type(h) is str else None)
    return out, bad


def _json_loads():
    """(loads, needs_decode): orjson when installed (3-4x faster, strict UTF-8), else json."""
    try:
        import orjson

        return orjson.loads, False
    except ImportError:
        return json.loads, True


def _at_uri(uri):
    """(authority DID, collection, rkey) of an at:// URI, or None."""
    if type(uri) is not str or not uri.startswith("at://"):
        return None
    parts = uri[5:].split("/")
    if len(parts) != 3 or not parts[0].startswith("did:") or not parts[2]:
        return None
    return parts


def build_panels(
    files: Sequence[str | os.PathLike[str]],
    topics: str | os.PathLike[str] | Mapping | Sequence[Topic],
    *,
    profiles: str | os.PathLike[str] | None = None,
    start: str | _dt.date | None = None,
    n_days: int | None = None,
    min_account_age_days: float = 7.0,
    bot_pattern: str | None = DEFAULT_BOT_PATTERN,
    dedup_window: int = 1_000_000,
    max_line_bytes: int = 8 << 20,
    sort_files: bool = True,
) -> BuildResult:
    """Build one panel per topic from Jetstream JSONL files, in one streaming pass.

    Args:
        files: JSONL paths (plain or gzip), one per UTC day. Read in file-name order (the
            capture names them by date) unless ``sort_files=False``.
        topics: a topic table path (TOML/JSON), a mapping, or a list of :class:`Topic`.
        profiles: optional profile snapshot (see :func:`read_profiles`): follower counts
            (reach), creation dates (age filter), handles (bot filter).
        start: first UTC day of the window (ISO date); default the first day seen.
        n_days: window length; default through the last day seen. Events outside the window
            are counted and skipped.
        min_account_age_days: accounts created less than this before the window start are
            filtered out (needs ``createdAt`` in the snapshot).
        bot_pattern: regex searched in handles; ``None`` disables the bot filter.
        dedup_window: number of recent event keys (did, collection, rkey, operation, and
            for updates and deletes rev; a create is the same record whatever its rev)
            remembered for de-duplication (replays after a reconnect are recent). Memory is
            about 100 bytes per key.
        max_line_bytes: longer lines are counted as malformed and skipped.
        sort_files: read files in name order.

    Returns:
        A :class:`BuildResult` with ``panels[topic]`` and the run ``report``.

    Raises:
        FileNotFoundError: a missing input file (or topic table, or profile snapshot).
        ValueError: no input files, an invalid topic table or more than 64 topics, a
            ``start`` that is not an ISO date, ``n_days < 1``, no events in the window,
            events spanning more than 10 years without ``start``/``n_days``, no users left
            after the filters.

    Example:
        >>> import os, tempfile
        >>> from jaxattr import data
        >>> world = data.synthetic_world(n_agents=12, n_days=2, seed=0)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> out = world.to_jetstream(tmp.name)  # JSONL per day, profiles, topic table
        >>> res = data.build_panels(out["files"], out["topics"], profiles=out["profiles"])
        >>> p = res.panels["sports"]
        >>> same = (p.feature_major == world.panel("sports").feature_major).all()
        >>> print(p.shape, p.time_labels, same)
        (2, 12, 3) ['2025-06-01', '2025-06-02'] True
        >>> tmp.cleanup()
    """
    t0 = time.perf_counter()
    if not isinstance(topics, (list, tuple)) or not all(isinstance(t, Topic) for t in topics):
        # not a list of Topic: a path or mapping (anything else fails in load_topics)
        topics = load_topics(topics)  # pyright: ignore[reportArgumentType]  # narrowed by the check above
    topics = list(topics)
    matcher = TopicMatcher(topics)
    nt = len(topics)
    if nt > 64:  # the sparse counter key packs the topic index into 6 bits
        raise ValueError(
            f"build_panels supports at most 64 topics per run, got {nt}; split "
            "the topic table over several runs"
        )
    match = matcher.match
    paths = [os.fspath(p) for p in files]
    if not paths:
        raise ValueError("build_panels: no input files")
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"build_panels: no such input file {p!r}")
    if sort_files:
        paths.sort(key=lambda p: (os.path.basename(p), p))
    start_day = _parse_day(start) if start is not None else None
    if n_days is not None and n_days < 1:
        raise ValueError(f"build_panels: n_days must be >= 1, got {n_days}")
    bot_search = re.compile(bot_pattern).search if bot_pattern else None

    # ----------------------------------------------------------------- per-user state
    index: dict[str, int] = {}
    dids: list[str] = []
    engaged = bytearray()
    bot = bytearray()
    first_day: list[int] = []
    follows_in: list[int] = []
    # sparse counters: key = ((u << 20 | day_abs) << 6 | topic)
    act: dict[int, int] = {}
    rep: dict[int, int] = {}
    topic_posts: dict[str, int] = {}  # "did/rkey" -> topic bitmask (seen, matched posts)
    bits = [(1 << j, j) for j in range(nt)]

    def user(d: str) -> int:
        u = index.get(d)
        if u is None:
            u = index[d] = len(dids)
            dids.append(d)
            engaged.append(0)
            bot.append(0)
            first_day.append(-1)
            follows_in.append(0)
        return u

    def credit(mask: int, who: int, day: int, table: dict, totals: list) -> None:
        """Count one event of agent ``who`` on ``day`` for every topic in ``mask``."""
        base = (who << 20 | day) << 6
        for bit, j in bits:
            if mask & bit:
                k = base | j
                table[k] = table.get(k, 0) + 1
                totals[j] += 1

    counts = dict.fromkeys(
        [
            "lines_read",
            "bytes_read",
            "malformed_lines",
            "invalid_events",
            "unknown_kind",
            "unknown_collection",
            "unknown_operation",
            "duplicates",
            "out_of_window",
            "replies_unresolved",
            "self_replies",
            "truncated_files",
        ],
        0,
    )
    kept = dict.fromkeys(_EVENT_TYPES, 0)
    t_posts = [0] * nt
    t_reposts = [0] * nt
    t_replies = [0] * nt
    dedup_cur: set = set()
    dedup_old: set = set()
    lo_day = hi_day = None
    win_lo = start_day
    win_hi = start_day + n_days - 1 if (start_day is not None and n_days is not None) else None
    loads, decode = _json_loads()
    lines = nbytes = malformed = invalid = dups = 0

    for path in paths:
        f = _open_lines(path)
        try:
            for raw in f:
                lines += 1
                nbytes += len(raw)
                if len(raw) > max_line_bytes:
                    malformed += 1
                    continue
                try:
                    ev = loads(raw.decode("utf-8") if decode else raw)
                except (ValueError, RecursionError):
                    malformed += 1
                    continue
                if type(ev) is not dict:
                    malformed += 1
                    continue
                did = ev.get("did")
                tu = ev.get("time_us")
                if (
                    type(did) is not str
                    or not did.startswith("did:")
                    or type(tu) is not int
                    or tu <= 0
                    or tu >= MAX_TIME_US
                ):  # the day fits 20 key bits
                    invalid += 1
                    continue
                day = tu // DAY_US
                kind = ev.get("kind")
                if kind not in _KINDS:
                    counts["unknown_kind"] += 1
                    continue
                body = ev.get(kind)  # each kind carries its body under its own name
                if type(body) is not dict:
                    invalid += 1
                    continue
                if kind == "commit":
                    c = body
                    coll = c.get("collection")
                    op = c.get("operation")
                    rkey = c.get("rkey")
                    rev = c.get("rev")
                    # every part of the de-duplication key must be a str (rev may be absent):
                    # a list or object there is unhashable and once killed the whole build
                    if (
                        type(coll) is not str
                        or type(op) is not str
                        or type(rkey) is not str
                        or (rev is not None and type(rev) is not str)
                    ):
                        invalid += 1
                        continue
                    ci = _COLLECTIONS.get(coll)
                    if ci is None:
                        counts["unknown_collection"] += 1
                        continue
                    if op != "create" and op != "delete" and op != "update":
                        counts["unknown_operation"] += 1
                        continue
                    # the record of a create or update (a delete has none); what the
                    # create branch below parses from it (text, reply parent, subject) is
                    # typed Any: its shape depends on the collection
                    rec: dict = {}
                    text: str = ""
                    parent: Any = None
                    subj: Any = None
                    if op != "delete":
                        r = c.get("record")
                        if type(r) is not dict:
                            invalid += 1
                            continue
                        rec = r
                    # validate before de-duplicating, so a broken line cannot shadow a good one
                    if op == "create":
                        if ci == 0:
                            text = rec.get("text", "")
                            reply = rec.get("reply")
                            if type(text) is not str:
                                invalid += 1
                                continue
                            parent = None
                            if reply is not None:
                                par = reply.get("parent") if type(reply) is dict else None
                                parent = _at_uri(par.get("uri")) if type(par) is dict else None
                                if parent is None:
                                    invalid += 1
                                    continue
                        elif ci == 3:
                            subj = rec.get("subject")
                            if type(subj) is dict:
                                subj = subj.get("did")
                            if type(subj) is not str or not subj.startswith("did:"):
                                invalid += 1
                                continue
                        else:
                            subj = rec.get("subject")
                            subj = _at_uri(subj.get("uri")) if type(subj) is dict else None
                            if subj is None:
                                invalid += 1
                                continue
                    # a create *is* the record (did, collection, rkey): a replay of it is
                    # a duplicate whatever its rev (null, absent or another string); updates
                    # and deletes are told apart by their rev
                    key = hash((did, coll, rkey, op, None if op == "create" else rev))
                    if key in dedup_cur or key in dedup_old:
                        dups += 1
                        continue
                    dedup_cur.add(key)
                    if len(dedup_cur) >= dedup_window:
                        dedup_old = dedup_cur
                        dedup_cur = set()
                    if win_lo is not None and day < win_lo or win_hi is not None and day > win_hi:
                        counts["out_of_window"] += 1
                        continue
                    if lo_day is None or day < lo_day:
                        lo_day = day
                    if hi_day is None or day > hi_day:
                        hi_day = day
                    u = user(did)
                    if first_day[u] < 0 or day < first_day[u]:
                        first_day[u] = day
                    if op == "delete":
                        kept["delete"] += 1
                        if ci == 0:
                            topic_posts.pop(did + "/" + rkey, None)
                        continue
                    if op == "update":
                        kept["update"] += 1
                        continue
                    if ci == 2:  # like: the most frequent event
                        kept["like"] += 1
                        sd = subj[0]
                        if sd != did:
                            engaged[u] = 1
                            engaged[user(sd)] = 1
                    elif ci == 0:
                        tags = rec.get("tags")
                        tags = list(tags) if type(tags) is list else []
                        facets = rec.get("facets")
                        if type(facets) is list:
                            for fa in facets:
                                feats = fa.get("features") if type(fa) is dict else None
                                if type(feats) is list:
                                    for ft in feats:
                                        if (
                                            type(ft) is dict
                                            and ft.get("$type") == "app.bsky.richtext.facet#tag"
                                        ):
                                            tags.append(ft.get("tag"))
                        mask = match(text, tags)
                        if mask:
                            topic_posts[did + "/" + rkey] = mask
                            credit(mask, u, day, act, t_posts)
                        if parent is None:
                            kept["post"] += 1
                            continue
                        kept["reply"] += 1
                        pd = parent[0]
                        if pd == did:
                            counts["self_replies"] += 1
                            continue
                        pu = user(pd)
                        engaged[u] = 1
                        engaged[pu] = 1
                        pm = topic_posts.get(pd + "/" + parent[2]) if parent[1] == POST else None
                        if pm:
                            credit(pm, pu, day, rep, t_replies)
                        else:
                            counts["replies_unresolved"] += 1
                    elif ci == 1:
                        kept["repost"] += 1
                        sd = subj[0]
                        if sd != did:
                            engaged[u] = 1
                            engaged[user(sd)] = 1
                        pm = topic_posts.get(sd + "/" + subj[2]) if subj[1] == POST else None
                        if pm:
                            credit(pm, u, day, act, t_reposts)
                    else:
                        kept["follow"] += 1
                        if subj != did:
                            su = user(subj)
                            engaged[u] = 1
                            engaged[su] = 1
                            follows_in[su] += 1
                elif kind == "identity":
                    h = body.get("handle")
                    if h is not None and type(h) is not str:
                        invalid += 1
                        continue
                    kept["identity"] += 1
                    u = user(did)
                    if h and bot_search is not None and bot_search(h):
                        bot[u] = 1
                else:  # account
                    kept["account"] += 1
        except (EOFError, OSError, zlib.error):
            counts["truncated_files"] += 1  # a cut gzip stream: keep what was read
        finally:
            f.close()
    counts.update(
        lines_read=lines,
        bytes_read=nbytes,
        malformed_lines=malformed,
        invalid_events=invalid,
        duplicates=dups,
    )
    t_parse = time.perf_counter() - t0

    if lo_day is None or hi_day is None:  # set together, by the first event in the window
        raise ValueError(
            f"build_panels: no valid events in the window in {len(paths)} files "
            f"({lines} lines, {malformed} malformed); check the files and "
            "start/n_days"
        )
    day0 = start_day if start_day is not None else lo_day
    T = n_days if n_days is not None else hi_day - day0 + 1
    if n_days is None and T > 3660:
        raise ValueError(
            f"build_panels: the events span {T} days ({_day_label(lo_day)} to "
            f"{_day_label(hi_day)}), more than 10 years: a few events carry "
            "implausible time_us; pass start/n_days (--start/--days) for the "
            "window you captured"
        )
    labels = [_day_label(day0 + t) for t in range(T)]

    # ------------------------------------------------------------------- filters
    n_users = len(dids)
    prof, bad_profiles = ({}, 0)
    if profiles is not None:
        prof, bad_profiles = read_profiles(profiles, wanted=index)
    removed = {"account_age": 0, "bot_handle": 0, "no_engagement": 0}
    keep = np.ones(n_users, dtype=bool)
    min_created = day0 * DAY_US - int(min_account_age_days * DAY_US)
    bot_arr = np.frombuffer(bytes(bot), dtype=np.uint8).astype(bool)
    eng_arr = np.frombuffer(bytes(engaged), dtype=np.uint8).astype(bool)
    followers_snap = np.full(n_users, -1, dtype=np.int64)
    for d, (fc, created, handle) in prof.items():
        u = index[d]
        if fc is not None:
            followers_snap[u] = fc
        if created is not None and created > min_created and keep[u]:
            keep[u] = False
            removed["account_age"] += 1
        if handle and bot_search is not None and bot_search(handle):
            bot_arr[u] = True
    m = keep & bot_arr
    removed["bot_handle"] = int(m.sum())
    keep &= ~bot_arr
    m = keep & ~eng_arr
    removed["no_engagement"] = int(m.sum())
    keep &= eng_arr

    kept_users = np.flatnonzero(keep)
    if kept_users.size == 0:
        raise ValueError(
            f"build_panels: all {n_users} users were filtered out ({removed}); "
            "relax the filters (min_account_age_days, bot_pattern)"
        )
    kept_dids = [dids[u] for u in kept_users]
    order = np.argsort(np.array(kept_dids, dtype=object), kind="stable")
    kept_users = kept_users[order]
    N = kept_users.size
    new_index = np.full(n_users, -1, dtype=np.int64)
    new_index[kept_users] = np.arange(N)

    if profiles is not None:
        fol = followers_snap[kept_users]
        missing = int((fol < 0).sum())
        fol = np.maximum(fol, 0)
        reach_source = "profile snapshot followersCount"
    else:
        fol = np.asarray(follows_in, dtype=np.int64)[kept_users]
        missing = 0
        reach_source = "follow events in the window (approximation)"
    fd = np.asarray(first_day, dtype=np.int64)[kept_users]
    first_seen = np.where(fd >= 0, fd - day0, -1).astype(np.int32)
    agents = {"followers": fol, "first_seen": first_seen}

    def dense(d: dict) -> np.ndarray:
        out = np.zeros((nt, T, N), dtype=np.int64)
        if d:
            keys = np.fromiter(d.keys(), dtype=np.int64, count=len(d))
            vals = np.fromiter(d.values(), dtype=np.int64, count=len(d))
            j = keys & 63
            day = ((keys >> 6) & ((1 << 20) - 1)) - day0
            u = new_index[keys >> 26]
            ok = (u >= 0) & (day >= 0) & (day < T)
            out[j[ok], day[ok], u[ok]] = vals[ok]
        return out

    A, R = dense(act), dense(rep)
    reach = log1p_counts(fol)
    panels = {}
    for j, tp in enumerate(topics):
        fm = aligned_empty((T, 3, N), np.float32)
        fm[:, 0, :] = reach
        fm[:, 1, :] = log1p_counts(A[j])
        fm[:, 2, :] = log1p_counts(R[j])
        panels[tp.name] = Panel.from_feature_major(
            fm,
            feature_names=list(FEATURES),
            time_labels=labels,
            agents=agents,
            meta={"topic": tp.name, "source": "jetstream"},
            validate=False,
        )

    report = {
        **counts,
        "files": len(paths),
        "events_kept": kept,
        "days": labels,
        "topics": {
            tp.name: {
                "topic_posts": t_posts[j],
                "topic_reposts": t_reposts[j],
                "replies_received": t_replies[j],
            }
            for j, tp in enumerate(topics)
        },
        "users_seen": n_users,
        "users_filtered": removed,
        "users_kept": int(N),
        "reach_source": reach_source,
        "profiles_malformed_lines": bad_profiles,
        "users_missing_from_snapshot": missing,
        "seconds_parse": round(t_parse, 3),
        "seconds_total": round(time.perf_counter() - t0, 3),
        "lines_per_s": round(lines / t_parse, 1) if t_parse > 0 else None,
    }
    return BuildResult(panels=panels, report=report, _dids=[kept_dids[i] for i in order])


def jsonl_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Expand directories to the ``*.jsonl`` / ``*.jsonl.gz`` / ``*.json.gz`` files they hold.

    Files inside a directory come sorted by path; other paths are kept as given (and not
    checked: :func:`build_panels` reports a missing file).

    Args:
        paths: files and directories.

    Returns:
        The file paths, directories expanded in place.

    Raises:
        PermissionError: a directory that cannot be listed.

    Example:
        >>> import os, tempfile
        >>> from jaxattr import data
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for day in ("2025-06-02.jsonl", "2025-06-01.jsonl.gz", "notes.txt"):
        ...         open(os.path.join(tmp, "jetstream-" + day), "w").close()
        ...     print([os.path.basename(p) for p in data.jsonl_files([tmp, "extra.jsonl"])])
        ['jetstream-2025-06-01.jsonl.gz', 'jetstream-2025-06-02.jsonl', 'extra.jsonl']
    """
    out = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            out += sorted(
                os.path.join(p, n)
                for n in os.listdir(p)
                if n.endswith((".jsonl", ".jsonl.gz", ".json.gz"))
            )
        else:
            out.append(p)
    return out
