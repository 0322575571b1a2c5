"""Record the Bluesky Jetstream firehose to one JSONL file per UTC day, exactly once.

Files are ``DIR/jetstream-YYYY-MM-DD.jsonl``, chosen by each event's ``time_us`` (not the
wall clock). Every line is written with ``flush`` (a killed process loses nothing the OS has
received) and fsynced every ``fsync_every`` lines and on exit.

Exactly once across reconnects and restarts: on start the newest file's torn last line (no
trailing newline) is cut off, the last complete line gives the cursor ``time_us``, and the
connection asks Jetstream to replay from that cursor. Replayed events older than the cursor
are dropped; events *at* the cursor are dropped when their key (did, kind, collection, rkey,
operation, rev) is already on disk. The same rule is applied after each reconnect.

Bounded input: a message longer than ``max_message_bytes`` (default 8 MiB, the panel
builder's ``max_line_bytes``) is refused by the websocket layer before it is buffered whole;
since it cannot be skipped (its ``time_us`` is unknown, and a replay from the cursor would
send it again) the capture stops, naming the limit. An event whose ``time_us`` is not an
integer in (0, ``MAX_TIME_US``) is counted in ``skipped_invalid`` and never written.

``websockets`` is an optional dependency (``pip install jaxattr[capture]``), imported only
when capturing.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import os
import time
import urllib.parse

from .._util import get_logger
from ._features import DAY_US, MAX_TIME_US

_LOG = get_logger("data")

__all__ = ["DEFAULT_URL", "capture", "capture_async"]

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
DEFAULT_COLLECTIONS = (
    "app.bsky.feed.post",
    "app.bsky.feed.repost",
    "app.bsky.feed.like",
    "app.bsky.graph.follow",
)
DEFAULT_MAX_MESSAGE_BYTES = 8 << 20
_PREFIX = "jetstream-"


def _day_file(out_dir: str, tu: int) -> str:
    d = _dt.date(1970, 1, 1) + _dt.timedelta(days=tu // DAY_US)
    return os.path.join(out_dir, f"{_PREFIX}{d.isoformat()}.jsonl")


def _valid_time(tu) -> bool:
    return type(tu) is int and 0 < tu < MAX_TIME_US


def _part(x):
    """A hashable stand-in for one field of the key: a list or object (a malformed ``rev``)
    once raised ``TypeError: unhashable type`` and killed the capture."""
    if x is None or type(x) in (str, int, float, bool):
        return x
    return json.dumps(x, sort_keys=True, default=repr)


def _key(ev: dict) -> tuple:
    c = ev.get("commit")
    c = c if isinstance(c, dict) else {}
    return tuple(
        _part(x)
        for x in (
            ev.get("did"),
            ev.get("kind"),
            c.get("collection"),
            c.get("rkey"),
            c.get("operation"),
            c.get("rev"),
        )
    )


def _resume(out_dir: str) -> tuple[int | None, set]:
    """Cut a torn tail off the newest day file; return (cursor time_us, keys at cursor)."""
    names = sorted(n for n in os.listdir(out_dir) if n.startswith(_PREFIX) and n.endswith(".jsonl"))
    for name in reversed(names):
        path = os.path.join(out_dir, name)
        with open(path, "rb+") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            # read back far enough to hold the last lines (events are < a few MB)
            chunk = min(size, 16 << 20)
            f.seek(size - chunk)
            tail = f.read(chunk)
            cut = tail.rfind(b"\n") + 1
            if cut < len(tail):  # torn last line (killed mid-write): drop it, it will replay
                f.truncate(size - chunk + cut)
                f.flush()
                os.fsync(f.fileno())
                tail = tail[:cut]
        last, keys = None, set()
        for raw in reversed(tail.split(b"\n")[:-1]):
            try:
                ev = json.loads(raw)
                tu = ev["time_us"]
            except (ValueError, KeyError, TypeError, RecursionError):
                continue
            if not _valid_time(tu):
                continue
            if last is None:
                last = tu
            if tu != last:
                break
            keys.add(_key(ev))
        if last is not None:
            return last, keys
    return None, set()


def _url(base: str, collections, cursor: int | None) -> str:
    parts = urllib.parse.urlsplit(base)
    q = urllib.parse.parse_qsl(parts.query)
    q = [(k, v) for k, v in q if k not in ("cursor", "wantedCollections")]
    q += [("wantedCollections", c) for c in collections or ()]
    if cursor is not None:
        q.append(("cursor", str(cursor)))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q)))


class _Writer:
    def __init__(self, out_dir: str, fsync_every: int):
        self.out_dir, self.fsync_every = out_dir, fsync_every
        self.path = self.f = None
        self.unsynced = 0

    def write(self, tu: int, line: bytes) -> None:
        path = _day_file(self.out_dir, tu)
        if path != self.path:
            self.close()
            self.f, self.path = open(path, "ab"), path
        self.f.write(line + b"\n")
        self.f.flush()
        self.unsynced += 1
        if self.unsynced >= self.fsync_every:
            os.fsync(self.f.fileno())
            self.unsynced = 0

    def close(self) -> None:
        if self.f is not None:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
            self.f = self.path = None
            self.unsynced = 0


async def capture_async(
    out_dir,
    *,
    url: str = DEFAULT_URL,
    collections=DEFAULT_COLLECTIONS,
    max_events: int | None = None,
    max_seconds: float | None = None,
    reconnect_delay: float = 1.0,
    max_reconnects: int | None = None,
    fsync_every: int = 1000,
    open_timeout: float = 10.0,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    log=None,
) -> dict:
    """Coroutine form of :func:`capture` (same arguments and result)."""
    if (
        isinstance(max_message_bytes, bool)
        or not isinstance(max_message_bytes, int)
        or max_message_bytes < 1
    ):
        raise ValueError(
            f"capture: max_message_bytes must be an integer >= 1, got {max_message_bytes!r}"
        )
    try:
        from websockets.asyncio.client import connect
        from websockets.exceptions import (
            ConnectionClosed,
            InvalidHandshake,
            InvalidURI,
            WebSocketException,
        )
    except ImportError:
        raise ImportError(
            "jaxattr bluesky capture needs the optional dependency "
            "'websockets': pip install 'jaxattr[capture]'"
        ) from None
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    last, keys = _resume(out_dir)
    stats = {
        "written": 0,
        "replayed_dropped": 0,
        "skipped_invalid": 0,
        "reconnects": 0,
        "resumed_from": last,
        "cursor": last,
        "stopped": None,
    }
    writer = _Writer(out_dir, fsync_every)
    t_end = None if max_seconds is None else time.monotonic() + max_seconds
    delay = reconnect_delay
    failures = 0  # consecutive: reset once a connection delivers an event
    try:
        while True:
            try:
                async with connect(
                    _url(url, collections, last),
                    max_size=max_message_bytes,
                    open_timeout=open_timeout,
                    close_timeout=1,
                ) as ws:
                    delay = reconnect_delay
                    while True:
                        timeout = None if t_end is None else max(0.0, t_end - time.monotonic())
                        try:
                            msg = await asyncio.wait_for(ws.recv(), timeout)
                        except TimeoutError:
                            stats["stopped"] = "max_seconds"
                            return stats
                        raw = msg.encode("utf-8") if isinstance(msg, str) else msg
                        try:
                            ev = json.loads(raw)
                            tu = ev["time_us"]
                            if not _valid_time(tu):
                                raise TypeError
                        except (ValueError, KeyError, TypeError, RecursionError):
                            stats["skipped_invalid"] += 1
                            continue
                        failures = 0
                        k = _key(ev)
                        if last is not None and (tu < last or (tu == last and k in keys)):
                            stats["replayed_dropped"] += 1
                            continue
                        if b"\n" in raw or b"\r" in raw:
                            raw = json.dumps(ev, separators=(",", ":")).encode()
                        writer.write(tu, raw.strip())
                        if tu != last:
                            last, keys = tu, set()
                        keys.add(k)
                        stats["written"] += 1
                        stats["cursor"] = last
                        if max_events is not None and stats["written"] >= max_events:
                            stats["stopped"] = "max_events"
                            return stats
            except (WebSocketException, InvalidHandshake, InvalidURI, OSError, TimeoutError) as e:
                if isinstance(e, InvalidURI):
                    raise ValueError(f"capture: invalid url {url!r}: {e}") from None
                if (
                    isinstance(e, ConnectionClosed) and e.sent is not None and e.sent.code == 1009
                ):  # MESSAGE_TOO_BIG: a replay resends it
                    stats["stopped"] = (
                        f"a message longer than max_message_bytes="
                        f"{max_message_bytes} after cursor {last}; raise "
                        "max_message_bytes to capture it"
                    )
                    return stats
                stats["reconnects"] += 1
                failures += 1
                (log if log is not None else _LOG.info)(
                    f"capture: connection lost ({type(e).__name__}: {e}); reconnecting "
                    f"from cursor {last} in {delay:.1f} s"
                )
                if max_reconnects is not None and failures > max_reconnects:
                    stats["stopped"] = f"max_reconnects ({type(e).__name__}: {e})"
                    return stats
                if t_end is not None and time.monotonic() + delay > t_end:
                    stats["stopped"] = "max_seconds"
                    return stats
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
    finally:
        writer.close()


def capture(
    out_dir,
    *,
    url: str = DEFAULT_URL,
    collections=DEFAULT_COLLECTIONS,
    max_events: int | None = None,
    max_seconds: float | None = None,
    reconnect_delay: float = 1.0,
    max_reconnects: int | None = None,
    fsync_every: int = 1000,
    open_timeout: float = 10.0,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    log=None,
) -> dict:
    """Capture Jetstream events to ``out_dir/jetstream-YYYY-MM-DD.jsonl``, resuming safely.

    Args:
        out_dir: output directory (created if missing). Existing files are appended to,
            starting after the last complete line.
        url: Jetstream ``subscribe`` endpoint (``ws://`` or ``wss://``).
        collections: ``wantedCollections`` to ask for (identity/account events always come).
        max_events: stop after writing this many lines (None: run until interrupted).
        max_seconds: stop after this wall time.
        reconnect_delay: first delay before reconnecting; doubles up to 30 s.
        max_reconnects: give up after this many consecutive failures (None: never).
        fsync_every: fsync after this many lines (lines are flushed to the OS at once).
        open_timeout: seconds to wait for the websocket handshake.
        max_message_bytes: longest message accepted (default 8 MiB); a longer one stops
            the capture with a ``stopped`` reason naming this limit.
        log: optional callable taking one str (progress and reconnect messages); default:
            INFO records of the ``jaxattr.data`` logger.

    Returns:
        Stats dict: ``written``, ``replayed_dropped``, ``skipped_invalid``, ``reconnects``,
        ``resumed_from``, ``cursor``, ``stopped`` (the reason).

    Raises:
        ImportError: ``websockets`` is not installed.
        ValueError: an invalid URL or ``max_message_bytes``.
    """
    try:
        return asyncio.run(
            capture_async(
                out_dir,
                url=url,
                collections=collections,
                max_events=max_events,
                max_seconds=max_seconds,
                reconnect_delay=reconnect_delay,
                max_reconnects=max_reconnects,
                fsync_every=fsync_every,
                open_timeout=open_timeout,
                max_message_bytes=max_message_bytes,
                log=log,
            )
        )
    except KeyboardInterrupt:
        return {"stopped": "interrupted"}
