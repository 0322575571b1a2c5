"""Topic tables: which posts belong to which topic (keywords and hashtags, case-insensitive).

File format (TOML, or the same structure as JSON; see ``docs/data.md``)::

    # topics.toml: one table per topic; the table name is the topic name
    [cup_final]
    keywords = ["cup final", "extra time"]    # whole words / phrases, case-insensitive
    hashtags = ["cupfinal", "#FinalDay"]      # with or without '#', case-insensitive
    kind = "final"                             # optional free metadata (kind, peak_day, ...)
    peak_day = "2025-06-10"

A post matches a topic when its text contains one of the keywords as a whole word or phrase
(not preceded or followed by a letter, digit or underscore), or when one of the hashtags occurs
in the text as ``#tag``, in a tag facet (``app.bsky.richtext.facet#tag``) or in the record's
``tags`` list. A post may match several topics.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .._util import atomic_write, read_json_or_toml

__all__ = ["Topic", "TopicMatcher", "load_topics", "write_topics"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Topic:
    """One topic: a name, keywords and hashtags (stored lower-case), and free metadata.

    Args:
        name: topic name (letters, digits, ``_ . -``); used in file names.
        keywords: words or phrases matched as whole words, case-insensitive.
        hashtags: tags without ``#`` (a leading ``#`` is stripped), case-insensitive.
        meta: free JSON/TOML-compatible metadata (``kind``, ``peak_day``...).

    Raises:
        ValueError: invalid name, empty or whitespace-only terms, no terms at all.

    Example:
        >>> from jaxattr import data
        >>> t = data.Topic("cup_final", keywords=("Cup  Final",), hashtags=("#CupFinal",))
        >>> print(t.keywords, t.hashtags)
        ('cup final',) ('cupfinal',)
    """

    name: str
    keywords: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"topic name {self.name!r} must be letters, digits, '_', '.', '-'")
        kws, tags = [], []
        for kw in self.keywords:
            if not isinstance(kw, str) or not kw.strip():
                raise ValueError(f"topic {self.name!r}: keyword {kw!r} must be a non-empty str")
            kws.append(" ".join(kw.lower().split()))
        for tg in self.hashtags:
            if not isinstance(tg, str):
                raise ValueError(f"topic {self.name!r}: hashtag {tg!r} must be a str")
            t = tg.strip().lstrip("#").lower()
            if not t or any(c.isspace() for c in t):
                raise ValueError(f"topic {self.name!r}: hashtag {tg!r} must be one word")
            tags.append(t)
        if not kws and not tags:
            raise ValueError(f"topic {self.name!r} has no keywords and no hashtags")
        object.__setattr__(self, "keywords", tuple(dict.fromkeys(kws)))
        object.__setattr__(self, "hashtags", tuple(dict.fromkeys(tags)))


class TopicMatcher:
    """Match post text and tags against a list of topics; returns a bitmask (bit j = topic j).

    Args:
        topics: the topics, in order (bit j is ``topics[j]``).

    Raises:
        ValueError: no topics, or two topics with the same name.

    Example:
        >>> from jaxattr import data
        >>> m = data.TopicMatcher([data.Topic("a", ("cup final",)), data.Topic("b", (), ("gpu",))])
        >>> print(m.match("What a CUP FINAL! #GPU"), m.match("nothing"), m.match("", ["gpu"]))
        3 0 2
    """

    def __init__(self, topics: Iterable[Topic]):
        self.topics = list(topics)
        if not self.topics:
            raise ValueError("TopicMatcher needs at least one topic")
        names = [t.name for t in self.topics]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate topic names: {names}")
        self._res = []
        self._tags: dict[str, int] = {}
        for j, t in enumerate(self.topics):
            alts = [r"\s+".join(map(re.escape, kw.split())) for kw in t.keywords]
            parts = []
            if alts:
                parts.append(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)")
            if t.hashtags:
                parts.append(r"(?<![\w#])#(?:" + "|".join(map(re.escape, t.hashtags)) + r")(?!\w)")
            self._res.append((1 << j, re.compile("|".join(parts)).search))
            for tg in t.hashtags:
                self._tags[tg] = self._tags.get(tg, 0) | (1 << j)

    def match(self, text: str, tags: Iterable[str] = ()) -> int:
        """Bitmask of the topics matched by ``text`` (any case) and ``tags`` (without '#')."""
        mask = 0
        if text:
            low = text.lower()
            for bit, search in self._res:
                if search(low):
                    mask |= bit
        if tags:
            get = self._tags.get
            for tg in tags:
                if type(tg) is str:
                    mask |= get(tg.lstrip("#").lower(), 0)
        return mask


def _from_mapping(d: Mapping, where: str) -> list[Topic]:
    if not isinstance(d, Mapping) or not d:
        raise ValueError(
            f"{where}: a topic table is a non-empty mapping of topic name -> {{keywords, hashtags}}"
        )
    if "topics" in d and isinstance(d["topics"], Mapping) and len(d) == 1:
        d = d["topics"]
    out = []
    for name, spec in d.items():
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: topic {name!r} must be a table with keywords/hashtags")
        kws, tags = spec.get("keywords", []), spec.get("hashtags", [])
        for what, v in (("keywords", kws), ("hashtags", tags)):
            if not isinstance(v, list):
                raise ValueError(
                    f"{where}: topic {name!r}: {what} must be a list of str, got {type(v).__name__}"
                )
        meta = {k: v for k, v in spec.items() if k not in ("keywords", "hashtags")}
        try:
            out.append(Topic(str(name), tuple(kws), tuple(tags), meta))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    return out


def load_topics(source: str | os.PathLike[str] | Mapping) -> list[Topic]:
    """Load a topic table from a ``.toml`` or ``.json`` file, or from a dict.

    Args:
        source: a path (``.toml``, ``.json``) or a mapping ``{name: {keywords, hashtags}}``.

    Returns:
        The topics in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a syntax error (with the file name) or an invalid table.

    Example:
        >>> from jaxattr import data
        >>> topics = data.load_topics({"tech": {"keywords": ["open source"], "hashtags": ["oss"]}})
        >>> print(topics[0].name, topics[0].keywords, topics[0].hashtags)
        tech ('open source',) ('oss',)
    """
    if isinstance(source, Mapping):
        return _from_mapping(source, "topic table")
    path = os.fspath(source)
    d = read_json_or_toml(path, "topic table")
    return _from_mapping(d, f"topic table {path!r}")


def _iso(v):
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    raise TypeError(f"cannot write {v!r} ({type(v).__name__}) to a JSON topic table")


def write_topics(topics: Iterable[Topic], path: str | os.PathLike[str]) -> None:
    """Write topics to a TOML (or, for a ``.json`` path, JSON) topic table, atomically.

    :func:`load_topics` reads the file back to equal topics (meta included).

    Args:
        topics: the topics.
        path: destination; a ``.json`` suffix writes JSON, anything else TOML.

    Raises:
        ValueError: a meta value TOML cannot hold (None, a set, an object...); write
            ``.json`` instead.
        TypeError: a meta value JSON cannot hold (for a ``.json`` path).
        FileNotFoundError: the destination's directory does not exist.

    Example:
        >>> import os, tempfile
        >>> from jaxattr import data
        >>> topics = [data.Topic("tech", ("open source",), ("oss",), {"kind": "flat"})]
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "topics.toml")
        ...     data.write_topics(topics, path)
        ...     again = data.load_topics(path)
        >>> print(again == topics, again[0].meta)
        True {'kind': 'flat'}
    """
    topics = list(topics)
    path = os.fspath(path)
    if path.endswith(".json"):
        d = {
            t.name: {"keywords": list(t.keywords), "hashtags": list(t.hashtags), **t.meta}
            for t in topics
        }
        with atomic_write(path, "w") as f:  # JSON has no dates: TOML ones become ISO text
            json.dump(d, f, indent=1, default=_iso)
        return
    import tomli_w  # a real TOML writer: hand-made escaping once let U+007F through

    doc = {}
    for t in topics:
        body = {"keywords": list(t.keywords), "hashtags": list(t.hashtags)}
        for key, v in t.meta.items():
            _check_toml(v, f"topic {t.name!r}: meta {key!r}")
            body[key] = v
        doc[t.name] = body
    text = "# jaxattr topic table: [topic] keywords = [...] hashtags = [...]\n\n"
    try:
        text += tomli_w.dumps(doc)
    except TypeError as e:  # a value TOML cannot hold (a set, an object...)
        raise ValueError(
            f"cannot write the topic table as TOML ({e}); convert the meta "
            "value or write the table as .json"
        ) from None
    with atomic_write(path, "w") as f:
        f.write(text)


def _check_toml(v, where: str) -> None:
    """TOML has no null: refuse one before writing, naming the entry."""
    if v is None:
        raise ValueError(
            f"cannot write None to a TOML topic table ({where}; TOML has no "
            "null); drop the entry or write the table as .json"
        )
    if isinstance(v, (list, tuple)):
        for x in v:
            _check_toml(x, where)
    elif isinstance(v, dict):
        for x in v.values():
            _check_toml(x, where)
