"""A seeded synthetic Bluesky-like world: panels at full scale, Jetstream JSONL at small scale.

Design (all draws from one ``numpy.random.SeedSequence(seed)``; results are a demonstration
of the machinery, never a claim about Bluesky):

- **Followers** F_i: heavy-tailed, ``F = 1 + floor(exp(3.0 + 1.8 z + X))`` with z standard
  normal and, for 0.5% of accounts, X exponential (mean 1.5) thickening the top tail; so every
  agent has reach ``a = log1p(F) > 0``, the median is ~20 and the top accounts reach 10^5-10^6.
- **Propensity** e_i = exp(0.35 z + 0.9 eps): more-followed accounts post a bit more.
- **Topic interest**: agent i follows topic k with probability q_k (independent draws).
- **Topic events**: an intensity profile I_k(t) >= 1 per topic, with distinct peaks:
  ``sports`` (a final, Gaussian peak at 0.7 T with a ramp), ``entertainment`` (one awards
  night at 0.35 T and its after-day), ``election`` (a run-up to a dated day at 0.85 T, then
  decay), and two flat multi-modal topics ``tech`` and ``climate``.
- **Activity**: on day t agent i is active in topic k with probability
  ``1 - exp(-lam)``, ``lam = r_k I_k(t) e_i (1 + 0.15 log1p F_i) (interested ? 1 : 0.03)``
  (0.03: ``off_interest``; ``follower_activity_coupling``, ``tier_event_response`` and
  ``participation`` are further parameters of :func:`synthetic_world`);
  if active it makes ``1 + Poisson(0.8 lam)`` topic items, of which
  ``Binomial(items - 1, 0.4)`` are reposts (so at least one original post). b = log1p(items).
- **Resonance**: replies received ~ ``Poisson(originals * 0.05 rho_k sqrt(I_k(t)) F^0.45)``,
  by other agents, on that day's original posts. c = log1p(replies).
- Inactive agents keep a > 0 and b = c = 0.

So the top follower tier is over-represented among high-engagement accounts (a visibility
sample of the top p% by z(log F) + z(engagement) is top-heavy), while the mid tier and long
tail, being 99% of agents with a > 0, carry most of the attribution mass of the full panel.

:meth:`World.to_jetstream` writes the same world as Jetstream JSONL (one file per UTC day), a
profile snapshot and a topic table; ``build_panels`` on them gives back ``world.panels``
exactly (features bit for bit and followers).
"""

from __future__ import annotations

import datetime as _dt
import gzip as _gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._panel import Panel
from .._util import aligned_empty, atomic_write
from ._features import FEATURES, log1p_counts
from ._topics import Topic, write_topics

__all__ = ["World", "synthetic_world", "DEFAULT_TOPICS"]

DAY_US = 86_400_000_000
N_FULL = 1_671_587

DEFAULT_TOPICS = (
    ("sports", "final", 0.20, 0.05, 1.0, ("cup final", "penalty shootout"), ("cupfinal",)),
    ("entertainment", "night", 0.25, 0.04, 1.2, ("awards night", "red carpet"), ("awardsnight",)),
    ("election", "runup", 0.30, 0.04, 0.9, ("election day", "polling station"), ("election2025",)),
    ("tech", "flat", 0.15, 0.06, 0.8, ("open source", "gpu cluster"), ("opensource",)),
    ("climate", "flat", 0.12, 0.05, 0.8, ("heat wave", "carbon tax"), ("climateaction",)),
)
"""The five topics of :func:`synthetic_world`: tuples ``(name, kind, participation q,
rate r, reply factor rho, keywords, hashtags)``; ``kind`` sets the event profile (final,
night, runup, flat).

Example:
    >>> from jaxattr import data
    >>> [t[0] for t in data.DEFAULT_TOPICS]
    ['sports', 'entertainment', 'election', 'tech', 'climate']
"""
_NEUTRAL = ("good morning", "coffee time", "agreed!", "nice photo", "so true", "lol")


def _profile(kind: str, T: int, k: int, peak: int | None = None) -> np.ndarray:
    """Event intensity I(t) >= 1 of one topic; ``peak`` (a day index) overrides the kind's
    default position (final 0.7 T, night 0.35 T, run-up 0.85 T)."""
    t = np.arange(T, dtype=np.float64)
    if kind == "final":
        p = round(0.7 * (T - 1)) if peak is None else int(peak)
        ramp = 0.5 * np.clip(t / max(p, 1), 0, 1) * (t < p)
        I = 1 + 6 * np.exp(-0.5 * ((t - p) / 0.6) ** 2) + ramp
    elif kind == "night":
        p = round(0.35 * (T - 1)) if peak is None else int(peak)
        I = 1 + 8.0 * (t == p) + 2.0 * (t == p + 1)
    elif kind == "runup":
        p = round(0.85 * (T - 1)) if peak is None else int(peak)
        I = np.where(t <= p, 1 + 5 * np.exp(-(p - t) / 3), 1 + 1.5 * np.exp(-(t - p)))
    else:  # flat, multi-modal: two mild bumps, placed differently per topic
        c1, c2 = (0.2, 0.6) if k % 2 else (0.35, 0.8)
        I = (
            1
            + 0.6 * np.exp(-0.5 * ((t - c1 * (T - 1)) / 1.0) ** 2)
            + 0.6 * np.exp(-0.5 * ((t - c2 * (T - 1)) / 1.0) ** 2)
        )
    return I


def _did_body(i):
    return format(i, "016x").translate(str.maketrans("0123456789abcdef", "abcdefghijklmnop"))


@dataclass
class World:
    """A synthetic Bluesky-like world (see the module docstring for the model).

    Built by :func:`synthetic_world`; its fields are its constructor's arguments.

    Args:
        n_agents: N, as built.
        n_days: T, as built.
        start: ISO date of day 0.
        seed: the seed.
        followers: ``Int[np.ndarray, " N"]`` int64 follower counts.
        agents: the shared agent table, ``{"followers": followers}``.
        topics: per-topic metadata dicts (``name``, ``kind``, ``peak_day``, ``peak_label``,
            ``intensity``, ``keywords``, ``hashtags``).
        panels: ``{topic: Panel}``, each ``(T, N, 3)`` features reach, activity, resonance.
        counts: ``{topic: {"t", "agent", "posts", "reposts", "replies"}}`` sparse integer
            counts of the active (t, agent) pairs, from which the panels are computed.
        _did_prefix: the prefix of the synthetic DIDs (derived from the seed).

    Raises:
        TypeError: a missing or unknown field (the dataclass constructor).

    Example:
        >>> from jaxattr import data
        >>> world = data.synthetic_world(n_agents=12, n_days=3, seed=0)
        >>> print(world.panel("sports").shape, world.time_labels[0], world.did(0)[:8])
        (3, 12, 3) 2025-06-01 did:plc:
    """

    n_agents: int
    n_days: int
    start: str
    seed: int
    followers: np.ndarray
    agents: dict
    topics: list
    panels: dict
    counts: dict
    _did_prefix: str = field(repr=False, default="synthaaa")

    def panel(self, topic: str) -> Panel:
        """The Panel of one topic.

        Args:
            topic: the topic's name.

        Returns:
            Its ``(T, N, 3)`` Panel.

        Raises:
            KeyError: an unknown topic name.
        """
        try:
            return self.panels[topic]
        except KeyError:
            raise KeyError(f"world has no topic {topic!r}; topics: {list(self.panels)}") from None

    @property
    def time_labels(self) -> list[str]:
        """ISO dates of the T days."""
        d0 = _dt.date.fromisoformat(self.start)
        return [(d0 + _dt.timedelta(days=t)).isoformat() for t in range(self.n_days)]

    def did(self, i: int) -> str:
        """The DID of agent i (sorted DID order is agent order).

        Args:
            i: the agent index.

        Returns:
            A ``did:plc:`` identifier made from the seed and ``i`` (synthetic, no account).
        """
        return f"did:plc:{self._did_prefix}{_did_body(i)}"

    def topic_table(self) -> list[Topic]:
        """The topics as :class:`Topic` objects (for ``build_panels``/``write_topics``)."""
        return [
            Topic(
                t["name"],
                tuple(t["keywords"]),
                tuple(t["hashtags"]),
                {"kind": t["kind"], "peak_day": t["peak_label"]},
            )
            for t in self.topics
        ]

    def to_jetstream(
        self,
        out_dir: str | os.PathLike[str],
        *,
        gzip: bool = False,
        noise: bool = True,
        duplicates: int = 20,
        background: float = 0.0,
        max_agents: int = 200_000,
    ) -> dict:
        """Write this world as Jetstream JSONL (one file per UTC day) plus side files.

        Every agent gets at least one non-self engagement (a like), an old account and a
        plain handle, so no agent is filtered; topic posts are matched through keywords,
        ``#hashtags`` in text, tag facets and ``tags`` in varying case; reposts point to
        earlier topic posts of that day; replies (neutral text) come from other agents.
        With ``noise``: a few bot, young and self-only accounts (which the filters must drop),
        deletes, identity/account events, follows in both subject shapes, and ``duplicates``
        replayed lines.

        Args:
            out_dir: directory (created if missing).
            gzip: write ``.jsonl.gz`` files.
            noise: add accounts and events that must not change the panels.
            duplicates: number of lines written twice (replays).
            background: extra off-topic events (likes, plain posts) per agent per day, to
                give the stream Jetstream's mix for throughput benchmarks.
            max_agents: refuse larger worlds (JSONL of a full-scale world is huge).

        Returns:
            ``{"files": [...], "profiles": path, "topics": path}``.

        Raises:
            ValueError: if ``n_agents > max_agents``.
        """
        if self.n_agents > max_agents:
            raise ValueError(
                f"to_jetstream: world has {self.n_agents} agents > max_agents = "
                f"{max_agents}; generate a smaller world or raise max_agents"
            )
        return _emit(self, os.fspath(out_dir), gzip, noise, duplicates, background)


def synthetic_world(
    n_agents: int = N_FULL,
    n_days: int = 14,
    topics: Sequence[str | tuple] | None = None,
    seed: int = 0,
    *,
    start: str = "2025-06-01",
    participation: float = 1.0,
    follower_activity_coupling: float | None = None,
    tier_event_response: float = 0.0,
    off_interest: float = 0.03,
) -> World:
    """Generate a seeded Bluesky-like world with one panel per topic.

    Args:
        n_agents: N, default 1,671,587 (the paper's full panel).
        n_days: T, default 14.
        topics: None for the five default topics, a list of default topic names, or tuples
            ``(name, kind, q, r, rho, keywords, hashtags)`` with kind in final / night /
            runup / flat, optionally with an eighth entry: the event's day index (default:
            the kind's position, final 0.7 T, night 0.35 T, run-up 0.85 T).
        seed: the seed; equal seeds give bit-identical worlds.
        start: ISO date of day 0.
        participation: scale of every topic's participation probability q (clipped to 1).
        follower_activity_coupling: correlation gamma in [-1, 1] of an agent's log posting
            propensity with its follower normal z: ``log e = s (gamma z + sqrt(1 - gamma²)
            eps)`` with the default total scale ``s = sqrt(0.35² + 0.9²)``. None: the
            original ``0.35 z + 0.9 eps`` (gamma = 0.36).
        tier_event_response: beta, how differently agents respond to topic events by
            followers: on day t agent i's intensity is ``1 + (I(t) - 1) w_i`` with
            ``w_i = exp(beta z_i) / mean(exp(beta z))``, so beta = 0 raises every tier
            alike, beta > 0 raises the followed accounts more and beta < 0 the tail.
        off_interest: the rate of agents not interested in a topic, relative to r.

    Returns:
        A :class:`World`; ``world.panels[name]`` is a ``(T, N, 3)`` Panel with agent table
        ``followers``.

    Raises:
        ValueError: ``n_agents < 2``, ``n_days < 1``, unknown topic names or kinds, a peak
            day outside the window, participation <= 0, a coupling outside [-1, 1],
            ``off_interest`` outside [0, 1] or a non-finite ``tier_event_response``.

    Example:
        >>> from jaxattr import data
        >>> world = data.synthetic_world(n_agents=12, n_days=3, topics=["sports", "tech"])
        >>> print(sorted(world.panels), world.panel("tech").shape, world.topics[0]["kind"])
        ['sports', 'tech'] (3, 12, 3) final
        >>> again = data.synthetic_world(n_agents=12, n_days=3, topics=["sports", "tech"])
        >>> again.panel("tech").equals(world.panel("tech"))  # seeded: bit-identical
        True
    """
    if n_agents < 2 or n_days < 1:
        raise ValueError(
            f"synthetic_world: need n_agents >= 2 and n_days >= 1, got {n_agents}, {n_days}"
        )
    if not participation > 0 or not np.isfinite(participation):
        raise ValueError(f"synthetic_world: participation must be > 0, got {participation!r}")
    if follower_activity_coupling is not None and not -1 <= follower_activity_coupling <= 1:
        raise ValueError(
            f"synthetic_world: follower_activity_coupling must be in [-1, 1], "
            f"got {follower_activity_coupling!r}"
        )
    if not 0 <= off_interest <= 1:
        raise ValueError(f"synthetic_world: off_interest must be in [0, 1], got {off_interest!r}")
    if not np.isfinite(tier_event_response):
        raise ValueError(
            f"synthetic_world: tier_event_response must be finite, got {tier_event_response!r}"
        )
    specs = _topic_specs(topics)
    for spec in specs:
        if len(spec) == 8 and not 0 <= int(spec[7]) < n_days:
            raise ValueError(
                f"synthetic_world: topic {spec[0]!r} has its event on day "
                f"{spec[7]}, outside the {n_days}-day window"
            )
    ss = np.random.SeedSequence(seed)
    s_agents, *s_topics = ss.spawn(1 + len(specs))
    rng = np.random.default_rng(s_agents)
    N, T = int(n_agents), int(n_days)
    z = rng.standard_normal(N, dtype=np.float32)
    extra = np.where(
        rng.random(N, dtype=np.float32) < 0.005,
        rng.exponential(1.5, N).astype(np.float32),
        np.float32(0),
    )
    followers = 1 + np.floor(np.exp(np.float32(3.0) + np.float32(1.8) * z + extra)).astype(np.int64)
    eps = rng.standard_normal(N, dtype=np.float32)
    if follower_activity_coupling is None:
        e = np.exp(np.float32(0.35) * z + np.float32(0.9) * eps)
    else:
        g = float(follower_activity_coupling)
        scale = float(np.hypot(0.35, 0.9))
        e = np.exp(np.float32(scale * g) * z + np.float32(scale * np.sqrt(1 - g * g)) * eps)
    if tier_event_response:
        resp = np.exp(np.float64(tier_event_response) * z.astype(np.float64))
        resp = (resp / resp.mean()).astype(np.float32)
    else:
        resp = None
    lf = np.log1p(followers.astype(np.float32))
    base_w = e * (1 + np.float32(0.15) * lf)
    reply_w = (followers.astype(np.float32) ** np.float32(0.45)) * np.float32(0.05)
    reach = log1p_counts(followers)
    agents = {"followers": followers}
    labels = [(_dt.date.fromisoformat(start) + _dt.timedelta(days=t)).isoformat() for t in range(T)]

    panels, counts, meta = {}, {}, []
    for k, (spec, sk) in enumerate(zip(specs, s_topics, strict=True)):
        name, kind, q, r, rho, kws, tags = spec[:7]
        trng = np.random.default_rng(sk)
        I = _profile(kind, T, k, spec[7] if len(spec) == 8 else None)
        q = min(1.0, q * participation)
        interested = trng.random(N, dtype=np.float32) < q
        w = base_w * np.where(interested, np.float32(r), np.float32(off_interest * r))
        fm = aligned_empty((T, 3, N), np.float32)
        fm[:, 0, :] = reach
        fm[:, 1:, :] = 0
        cols = {"t": [], "agent": [], "posts": [], "reposts": [], "replies": []}
        for t in range(T):
            if resp is None:
                lam = w * np.float32(I[t])
            else:
                lam = w * (np.float32(1) + np.float32(I[t] - 1) * resp)
            p = -np.expm1(-lam)
            idx = np.flatnonzero(trng.random(N, dtype=np.float32) < p)
            lam_a = lam[idx].astype(np.float64)
            items = 1 + trng.poisson(0.8 * lam_a)
            reposts = trng.binomial(items - 1, 0.4)
            posts = items - reposts
            i_day = (
                np.sqrt(I[t])
                if resp is None
                else np.sqrt(1 + (I[t] - 1) * resp[idx].astype(np.float64))
            )
            mu = posts * rho * i_day * reply_w[idx].astype(np.float64)
            replies = trng.poisson(mu)
            fm[t, 1, idx] = log1p_counts(items)
            fm[t, 2, idx] = log1p_counts(replies)
            cols["t"].append(np.full(idx.size, t, dtype=np.int16))
            cols["agent"].append(idx.astype(np.int64))
            cols["posts"].append(posts.astype(np.int64))
            cols["reposts"].append(reposts.astype(np.int64))
            cols["replies"].append(replies.astype(np.int64))
        counts[name] = {c: np.concatenate(v) for c, v in cols.items()}
        peak = int(np.argmax(I))
        meta.append(
            {
                "name": name,
                "kind": kind,
                "peak_day": peak,
                "peak_label": labels[peak],
                "intensity": [round(float(x), 4) for x in I],
                "keywords": list(kws),
                "hashtags": list(tags),
            }
        )
        panels[name] = Panel.from_feature_major(
            fm,
            feature_names=list(FEATURES),
            time_labels=labels,
            agents=agents,
            meta={
                "topic": name,
                "source": "synthetic",
                "seed": seed,
                "kind": kind,
                "peak_day": labels[peak],
            },
            validate=False,
        )
    prefix = "synth" + "".join(chr(97 + (seed >> (5 * j)) % 26) for j in range(3))
    return World(N, T, start, seed, followers, agents, meta, panels, counts, prefix)


def _topic_specs(topics):
    if topics is None:
        return list(DEFAULT_TOPICS)
    by_name = {t[0]: t for t in DEFAULT_TOPICS}
    out = []
    for t in topics:
        if isinstance(t, str):
            if t not in by_name:
                raise ValueError(
                    f"synthetic_world: unknown topic {t!r}; defaults are "
                    f"{list(by_name)}, or pass (name, kind, q, r, rho, keywords, "
                    "hashtags)"
                )
            out.append(by_name[t])
        else:
            t = tuple(t)
            if len(t) not in (7, 8) or t[1] not in ("final", "night", "runup", "flat"):
                raise ValueError(
                    f"synthetic_world: topic spec {t!r} must be (name, kind, q, "
                    "r, rho, keywords, hashtags[, peak_day]) with kind in "
                    "final/night/runup/flat"
                )
            out.append(t)
    if not out:
        raise ValueError("synthetic_world: topics is empty")
    return out


# ----------------------------------------------------------------------------- emission
def _emit(
    w: World, out_dir: str, gz: bool, noise: bool, duplicates: int, background: float
) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence([w.seed, 7]))
    N, T = w.n_agents, w.n_days
    day0 = (_dt.date.fromisoformat(w.start) - _dt.date(1970, 1, 1)).days
    days: list[list] = [[] for _ in range(T)]  # (time_us, line)
    rk = [0]

    def did(i):
        return w.did(i) if i < N else f"did:plc:noise{_did_body(i)[5:]}zzz"

    def tus(t, lo, hi):
        return (day0 + t) * DAY_US + int(rng.integers(int(lo * DAY_US), int(hi * DAY_US)))

    def commit(t_us, i, coll, op="create", record=None, rkey=None):
        rk[0] += 1
        rkey = rkey or f"3l{rk[0]:011x}"
        c = {"rev": f"3m{rk[0]:011x}", "operation": op, "collection": coll, "rkey": rkey}
        if record is not None:
            c["record"] = record
            c["cid"] = f"bafyrei{rk[0]:x}"
        ev = {"did": did(i), "time_us": t_us, "kind": "commit", "commit": c}
        days[(t_us // DAY_US) - day0].append((t_us, json.dumps(ev, separators=(",", ":"))))
        return f"at://{did(i)}/{coll}/{rkey}"

    def created(t_us):
        return _dt.datetime.fromtimestamp(t_us / 1e6 + 3600, _dt.UTC).isoformat()

    def other(i):
        j = int(rng.integers(0, N - 1))
        return j + (j >= i)

    # topic posts, reposts and replies, realising the world's counts exactly
    for k, tmeta in enumerate(w.topics):
        c = w.counts[tmeta["name"]]
        kws, tags = tmeta["keywords"], tmeta["hashtags"]
        for t in range(T):
            sel = np.flatnonzero(c["t"] == t)
            uris_day = []
            own: dict[int, list] = {}
            for s in sel:
                i = int(c["agent"][s])
                for n in range(int(c["posts"][s])):
                    style = (i + n + k) % 4
                    rec = {"$type": "app.bsky.feed.post", "createdAt": "", "langs": ["en"]}
                    kw = kws[(i + n) % len(kws)]
                    if style == 0:
                        rec["text"] = f"Watching the {kw.upper()} right now"
                    elif style == 1:
                        rec["text"] = f"what a day #{tags[0].upper()}"
                    elif style == 2:
                        rec["text"] = "big news today"
                        rec["facets"] = [
                            {
                                "index": {"byteStart": 0, "byteEnd": 3},
                                "features": [
                                    {"$type": "app.bsky.richtext.facet#tag", "tag": tags[0].title()}
                                ],
                            }
                        ]
                    else:
                        rec["text"] = "thoughts, see tags"
                        rec["tags"] = [tags[0]]
                    t_us = tus(t, 0.0, 0.5)
                    # client clocks lie: createdAt may fall on another day; binning ignores it
                    rec["createdAt"] = created(t_us - (DAY_US if n % 5 == 4 else 0))
                    uri = commit(t_us, i, "app.bsky.feed.post", record=rec)
                    uris_day.append(uri)
                    own.setdefault(i, []).append(uri)
            for s in sel:
                i = int(c["agent"][s])
                for _ in range(int(c["reposts"][s])):
                    subj = uris_day[int(rng.integers(0, len(uris_day)))]
                    t_us = tus(t, 0.5, 1.0)
                    commit(
                        t_us,
                        i,
                        "app.bsky.feed.repost",
                        record={
                            "$type": "app.bsky.feed.repost",
                            "createdAt": created(t_us),
                            "subject": {"uri": subj, "cid": "bafyreisubj"},
                        },
                    )
                for _ in range(int(c["replies"][s])):
                    parent = own[i][int(rng.integers(0, len(own[i])))]
                    j = other(i)
                    t_us = tus(t, 0.5, 1.0)
                    ref = {"uri": parent, "cid": "bafyreiparent"}
                    commit(
                        t_us,
                        j,
                        "app.bsky.feed.post",
                        record={
                            "$type": "app.bsky.feed.post",
                            "createdAt": created(t_us),
                            "text": _NEUTRAL[j % len(_NEUTRAL)],
                            "reply": {"root": ref, "parent": ref},
                        },
                    )
    # one non-self like per agent (every agent engaged), on day i % T
    for i in range(N):
        j = other(i)
        t_us = tus(i % T, 0.0, 1.0)
        commit(
            t_us,
            i,
            "app.bsky.feed.like",
            record={
                "$type": "app.bsky.feed.like",
                "createdAt": created(t_us),
                "subject": {"uri": f"at://{did(j)}/app.bsky.feed.post/3kx{j:x}", "cid": "bafyx"},
            },
        )
    # background: off-topic likes and plain posts
    n_bg = int(round(background * N * T))
    for _ in range(n_bg):
        i, t = int(rng.integers(0, N)), int(rng.integers(0, T))
        t_us = tus(t, 0.0, 1.0)
        if rng.random() < 0.75:
            j = other(i)
            commit(
                t_us,
                i,
                "app.bsky.feed.like",
                record={
                    "$type": "app.bsky.feed.like",
                    "createdAt": created(t_us),
                    "subject": {"uri": f"at://{did(j)}/app.bsky.feed.post/3kb{j:x}", "cid": "b"},
                },
            )
        else:
            commit(
                t_us,
                i,
                "app.bsky.feed.post",
                record={
                    "$type": "app.bsky.feed.post",
                    "createdAt": created(t_us),
                    "text": _NEUTRAL[i % len(_NEUTRAL)],
                    "langs": ["en"],
                },
            )
    profiles = [
        {
            "did": w.did(i),
            "handle": f"user{i}.bsky.social",
            "followersCount": int(w.followers[i]),
            "createdAt": created((day0 - 30 - (i % 300)) * DAY_US),
        }
        for i in range(N)
    ]
    if noise:
        for n in range(3):
            b, y, lurk = N + n, N + 3 + n, N + 6 + n
            t = n % T
            # bots: identity event with a bot handle
            t_us = tus(t, 0.0, 0.1)
            ev = {
                "did": did(b),
                "time_us": t_us,
                "kind": "identity",
                "identity": {
                    "did": did(b),
                    "handle": f"news{n}bot.bsky.social",
                    "seq": n,
                    "time": created(t_us),
                },
            }
            days[t].append((t_us, json.dumps(ev)))
            for a in (b, y):
                t_us = tus(t, 0.1, 1.0)
                commit(
                    t_us,
                    a,
                    "app.bsky.feed.like",
                    record={
                        "$type": "app.bsky.feed.like",
                        "createdAt": created(t_us),
                        "subject": {"uri": f"at://{did(n)}/app.bsky.feed.post/3kn{n}", "cid": "b"},
                    },
                )
            profiles.append(
                {
                    "did": did(y),
                    "handle": f"new{n}.bsky.social",
                    "followersCount": 5,
                    "createdAt": created((day0 - 2) * DAY_US),
                }
            )
            # self-only account: posts, then likes and replies to itself, then deletes
            t_us = tus(t, 0.0, 0.2)
            own_uri = commit(
                t_us,
                lurk,
                "app.bsky.feed.post",
                record={"$type": "app.bsky.feed.post", "createdAt": created(t_us), "text": "note"},
            )
            commit(
                t_us + 1,
                lurk,
                "app.bsky.feed.like",
                record={
                    "$type": "app.bsky.feed.like",
                    "createdAt": created(t_us),
                    "subject": {"uri": own_uri, "cid": "b"},
                },
            )
            commit(
                t_us + 2,
                lurk,
                "app.bsky.feed.post",
                record={
                    "$type": "app.bsky.feed.post",
                    "createdAt": created(t_us),
                    "text": "me",
                    "reply": {
                        "root": {"uri": own_uri, "cid": "b"},
                        "parent": {"uri": own_uri, "cid": "b"},
                    },
                },
            )
            commit(
                t_us + 3, lurk, "app.bsky.feed.post", op="delete", rkey=own_uri.rsplit("/", 1)[1]
            )
        for t in range(T):
            i = t % N
            t_us = tus(t, 0.0, 1.0)
            days[t].append(
                (
                    t_us,
                    json.dumps(
                        {
                            "did": w.did(i),
                            "time_us": t_us,
                            "kind": "identity",
                            "identity": {
                                "did": w.did(i),
                                "handle": f"user{i}.bsky.social",
                                "seq": t,
                            },
                        }
                    ),
                )
            )
            days[t].append(
                (
                    t_us + 5,
                    json.dumps(
                        {
                            "did": w.did(i),
                            "time_us": t_us + 5,
                            "kind": "account",
                            "account": {"active": True, "did": w.did(i), "seq": t},
                        }
                    ),
                )
            )
            # follows in both subject shapes (reach comes from the snapshot, not these)
            j = (i + 1) % N
            commit(
                t_us + 7,
                i,
                "app.bsky.graph.follow",
                record={
                    "$type": "app.bsky.graph.follow",
                    "createdAt": created(t_us),
                    "subject": w.did(j) if t % 2 else {"did": w.did(j), "declarationCid": "b"},
                },
            )
            commit(t_us + 9, i, "app.bsky.graph.follow", op="delete", rkey=f"3zz{t}")
    files = []
    suffix = ".jsonl.gz" if gz else ".jsonl"
    for t in range(T):
        ev = sorted(days[t])
        lines = [x[1] for x in ev]
        if noise and duplicates and lines:
            for _ in range(min(duplicates, len(lines))):
                p = int(rng.integers(0, len(lines)))
                lines.insert(p + 1, lines[p])
        label = (_dt.date(1970, 1, 1) + _dt.timedelta(days=day0 + t)).isoformat()
        path = os.path.join(out_dir, f"jetstream-{label}{suffix}")
        data = ("\n".join(lines) + "\n").encode()
        with atomic_write(path, "wb") as f:
            f.write(_gzip.compress(data, compresslevel=1) if gz else data)
        files.append(path)
    prof_path = os.path.join(out_dir, "profiles.jsonl")
    with atomic_write(prof_path, "w") as f:
        for p in profiles:
            f.write(json.dumps(p) + "\n")
    topics_path = os.path.join(out_dir, "topics.toml")
    write_topics(w.topic_table(), topics_path)
    return {"files": files, "profiles": prof_path, "topics": topics_path}
