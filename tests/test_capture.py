"""Capture against a fake Jetstream on 127.0.0.1: exactly once across reconnects and restarts."""

import asyncio
import glob
import json
import os
import urllib.parse

import pytest

pytest.importorskip("websockets")

from jaxattr.data._capture import _resume, capture_async  # noqa: E402

DAY_US = 86_400_000_000
T0 = 20_240 * DAY_US + DAY_US - 15 * 1_000_000  # 15 s before a UTC midnight


def _events(n=60):
    evs = []
    for i in range(n):
        tu = T0 + (i // 2) * 1_000_000  # pairs share a time_us: the cursor edge case
        evs.append(
            {
                "did": f"did:plc:u{i % 7}",
                "time_us": tu,
                "kind": "commit",
                "commit": {
                    "rev": f"r{i}",
                    "operation": "create",
                    "collection": "app.bsky.feed.like",
                    "rkey": f"k{i}",
                    "record": {"subject": {"uri": "at://did:plc:x/a/b"}},
                },
            }
        )
    return evs


async def _serve(events, drop_after, body, drops=1):
    """Run ``body(url, server_state)`` against a fake server that replays from the cursor
    and drops each of the first ``drops`` connections after ``drop_after`` events."""
    from websockets.asyncio.server import serve

    state = {"connections": 0, "cursors": []}

    async def handler(ws):
        state["connections"] += 1
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.request.path).query)
        cursor = int(q["cursor"][0]) if "cursor" in q else None
        state["cursors"].append(cursor)
        sent = 0
        for ev in events:
            if cursor is not None and ev["time_us"] < cursor:
                continue
            await ws.send(json.dumps(ev))
            sent += 1
            if state["connections"] <= drops and sent == drop_after:
                await ws.close()  # connection lost mid-stream
                return
        await ws.send("not json")  # junk is skipped, never written
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        return await asyncio.wait_for(body(f"ws://127.0.0.1:{port}/subscribe", state), 20)


def _lines(out):
    lines = []
    for p in sorted(glob.glob(os.path.join(out, "jetstream-*.jsonl"))):
        with open(p, "rb") as f:
            data = f.read()
        assert data.endswith(b"\n")
        lines += [json.loads(x) for x in data.splitlines()]
    return lines


def test_reconnect_exactly_once(tmp_path):
    evs = _events(60)

    async def body(url, state):
        return await capture_async(tmp_path, url=url, max_events=60, reconnect_delay=0.01)

    stats = asyncio.run(_serve(evs, drop_after=21, body=body))
    assert stats["written"] == 60 and stats["reconnects"] == 1
    assert stats["replayed_dropped"] >= 1  # the event at the cursor was replayed and dropped
    assert _lines(tmp_path) == evs
    files = sorted(os.listdir(tmp_path))
    assert (
        len(files) == 2 and files[0].startswith("jetstream-2025-") and files[0].endswith(".jsonl")
    )


def test_restart_after_kill_with_torn_line(tmp_path):
    evs = _events(60)

    async def first(url, state):
        return await capture_async(tmp_path, url=url, max_events=25, reconnect_delay=0.01)

    asyncio.run(_serve(evs, drop_after=10**9, body=first))
    newest = sorted(glob.glob(os.path.join(tmp_path, "jetstream-*.jsonl")))[-1]
    with open(newest, "ab") as f:  # the process died mid-write
        f.write(b'{"did":"did:plc:u3","time_us":')

    async def second(url, state):
        stats = await capture_async(tmp_path, url=url, max_events=35, reconnect_delay=0.01)
        return stats, state

    stats, state = asyncio.run(_serve(evs, drop_after=10**9, body=second))
    assert stats["resumed_from"] == evs[24]["time_us"]
    assert state["cursors"] == [evs[24]["time_us"]]
    assert _lines(tmp_path) == evs


def test_resume_empty_dir(tmp_path):
    assert _resume(str(tmp_path)) == (None, set())


def test_gives_up_on_unreachable_server(tmp_path):
    stats = asyncio.run(
        capture_async(
            tmp_path,
            url="ws://127.0.0.1:9/subscribe",
            max_reconnects=1,
            reconnect_delay=0.01,
            open_timeout=1,
        )
    )
    assert stats["written"] == 0 and stats["stopped"].startswith("max_reconnects")


def test_max_reconnects_counts_consecutive_failures(tmp_path):
    """A connection that delivers events resets the failure count: three drops, each after
    some events, do not exhaust max_reconnects=1."""
    evs = _events(60)

    async def body(url, state):
        return await capture_async(
            tmp_path, url=url, max_events=60, reconnect_delay=0.01, max_reconnects=1
        )

    stats = asyncio.run(_serve(evs, drop_after=15, body=body, drops=3))
    assert stats["reconnects"] == 3 and stats["stopped"] == "max_events"
    assert stats["written"] == 60 and _lines(tmp_path) == evs
