"""Fuzz harnesses for jaxattr's input boundaries: mutators, reference oracles, one check each.

Used by ``benchmarks/fuzz_campaign.py`` (the long campaign whose results are in docs/reliability.md)
and by ``tests/test_fuzz.py`` (short bounded runs in the default suite, and the regression
corpus in ``tests/fuzz_corpus/``). Every ``check_*`` function takes one input, runs the
library on it and returns an outcome (``"accepted"`` or ``"refused"``); it raises
:class:`Violation` when a property fails:

- ``crash``: an exception other than the documented, clear error types escaped;
- ``silent``: the input was accepted but the result is not what it must be: a Jetstream
  file with k mutated lines must give exactly the panel of its other lines plus the k
  lines' counted rejections (a reference classifier, written from the format rules and
  independent of the builder's code, decides which lines are rejected and under which
  counter); a corrupted panel or model file must be refused or read back bit-exact.

Hangs are caught by the caller (a per-input alarm in the campaign, hypothesis deadlines
in the tests).
"""

from __future__ import annotations

import copy
import gzip as _gzip
import io
import json
import os
import re
import struct

import numpy as np

__all__ = ["Violation"]


class Violation(AssertionError):
    """A fuzz property failed: ``kind`` is ``"crash"`` or ``"silent"``."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


def _crash(e: BaseException, where: str):
    return Violation("crash", f"{where}: {type(e).__name__}: {e}"[:2000])


# ------------------------------------------------------------------------ generic mutators
CONFUSERS = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    10**30,
    -(10**30),
    2**63,
    2**64 + 1,
    1e308,
    "",
    "x",
    "did:plc:x",
    "at://did:plc:a/app.bsky.feed.post/x",
    "\u0000",
    "\ud7ff",
    [],
    {},
    [1, [2, [3]]],
    {"a": {"b": []}},
    ["x"],
    {"uri": 5},
    {"did": []},
]


def mutate_bytes(rng, data: bytes, max_ops: int = 3) -> bytes:
    """Byte-level damage: bit flips, overwrites, insertions, deletions, duplications."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, max_ops + 1))):
        op = int(rng.integers(0, 7))
        n = len(b)
        pos = int(rng.integers(0, n + 1)) if n else 0
        if op == 0 and n:  # flip one bit
            p = min(pos, n - 1)
            b[p] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and n:  # overwrite a run with random bytes
            ln = int(rng.integers(1, 9))
            b[pos : pos + ln] = (
                rng.integers(0, 256, min(ln, n - min(pos, n))).astype(np.uint8).tobytes()
            )
        elif op == 2:  # insert random bytes (may include non-UTF-8 and control bytes)
            b[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 6))).astype(np.uint8).tobytes()
        elif op == 3 and n:  # delete a run
            del b[pos : pos + int(rng.integers(1, 17))]
        elif op == 4 and n:  # duplicate a run
            ln = int(rng.integers(1, 33))
            b[pos:pos] = b[pos : pos + ln]
        elif op == 5:  # interesting bytes
            b[pos:pos] = [
                b"\xff",
                b"\xc3",
                b"\x00",
                b'"',
                b"\\",
                b"{",
                b"]",
                b"\xed\xa0\x80",
                b"\\ud800",
                b"9" * 40,
            ][int(rng.integers(0, 10))]
        elif op == 6 and n:  # set a byte to a boundary value
            b[min(pos, n - 1)] = [0, 0x7F, 0x80, 0xFF, 0x20][int(rng.integers(0, 5))]
    return bytes(b)


def _paths(obj, prefix=()):
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:8]):
            out += _paths(v, prefix + (i,))
    return out


def _set(obj, path, value):
    if not path:
        return value
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return obj


def _del(obj, path):
    cur = obj
    for p in path[:-1]:
        cur = cur[p]
    del cur[path[-1]]
    return obj


def confuse(rng, obj):
    """Structure-aware damage of a JSON value: replace a random node by a value of another
    type, drop a key, nest deeply, or put a huge number in it."""
    try:
        obj = copy.deepcopy(obj)
        paths = _paths(obj)
    except RecursionError:  # already nested past the interpreter's limit: leave it
        return obj
    path = paths[int(rng.integers(0, len(paths)))]
    op = int(rng.integers(0, 5))
    if op == 0 and path:
        return _del(obj, path)
    if op == 1:
        depth = int(rng.choice([50, 900, 1100, 5000]))
        v = 0
        for _ in range(depth):
            v = [v] if rng.random() < 0.5 else {"a": v}
        return _set(obj, path, v)
    if op == 2:
        return _set(
            obj,
            path,
            int(rng.choice([10**19, -(10**19), 10**400 // 10**380, 2**53 + 1]))
            * int(rng.choice([1, -1])),
        )
    return _set(obj, path, copy.deepcopy(CONFUSERS[int(rng.integers(0, len(CONFUSERS)))]))


def _dumps(obj) -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":")).encode()
    except (RecursionError, ValueError):
        return b"[" * 3000 + b"]" * 3000


# ------------------------------------------------------------------------------ Jetstream
START, N_DAYS = "2025-06-01", 3


def jetstream_seed(seed: int = 0, n_agents: int = 120, tmp=None):
    """Valid Jetstream lines from the synthetic world (every event type, noise included):
    ``(lines, topics, profiles_path)``; lines keep their file (day) order."""
    import tempfile

    from jaxattr.data import synthetic_world, write_topics

    w = synthetic_world(n_agents=n_agents, n_days=N_DAYS, seed=seed, start=START)
    d = tmp or tempfile.mkdtemp(prefix="jaxattr-fuzz-")
    out = w.to_jetstream(d, noise=True, duplicates=5)
    lines = []
    for p in out["files"]:
        with open(p, "rb") as f:
            lines += [ln if ln.endswith(b"\n") else ln + b"\n" for ln in f]
    topics = os.path.join(d, "topics.json")
    write_topics(w.topic_table(), topics)
    return lines, topics, out["profiles"]


def mutate_line(rng, raw: bytes) -> bytes:
    """One damaged Jetstream line (may contain newlines, i.e. become several lines)."""
    r = rng.random()
    body = raw.rstrip(b"\n")
    if r < 0.45:
        try:
            ev = json.loads(body)
        except ValueError:
            return mutate_bytes(rng, body) + b"\n"
        for _ in range(int(rng.integers(1, 3))):
            ev = confuse(rng, ev)
        return _dumps(ev) + b"\n"
    if r < 0.80:
        return mutate_bytes(rng, body) + b"\n"
    if r < 0.88:  # truncation
        return body[: int(rng.integers(0, max(1, len(body))))] + b"\n"
    if r < 0.93:  # huge numbers in the text itself (beyond any integer type)
        return (
            re.sub(rb'"time_us":\d+', b'"time_us":' + b"9" * int(rng.integers(19, 5000)), body)
            + b"\n"
        )
    if r < 0.97:  # non-UTF-8 / surrogates inside strings
        return body.replace(b'"text":"', b'"text":"\xff\xfe\\udc80', 1) + b"\n"
    return b"[" * int(rng.integers(500, 200_000)) + b"\n"  # deep nesting


_KNOWN = (
    "app.bsky.feed.post",
    "app.bsky.feed.repost",
    "app.bsky.feed.like",
    "app.bsky.graph.follow",
)
_AT_URI = re.compile(r"at://did:[^/]*/[^/]*/[^/]+", re.S)
REJECTIONS = (
    "malformed_lines",
    "invalid_events",
    "unknown_kind",
    "unknown_collection",
    "unknown_operation",
)


def classify_line(raw: bytes, max_line_bytes: int) -> str:
    """Reference classifier from the documented format (docs/data.md), written apart from
    the builder: ``"ok"`` or the report counter that must count the line."""
    from jaxattr.data._features import MAX_TIME_US
    from jaxattr.data._jetstream import _json_loads

    if len(raw) > max_line_bytes:
        return "malformed_lines"
    loads, decode = _json_loads()  # the JSON library is not ours to re-specify
    try:
        ev = loads(raw.decode("utf-8") if decode else raw)
    except (ValueError, RecursionError):
        return "malformed_lines"
    if type(ev) is not dict:
        return "malformed_lines"
    did, tu = ev.get("did"), ev.get("time_us")
    if type(did) is not str or did[:4] != "did:" or type(tu) is not int or not 0 < tu < MAX_TIME_US:
        return "invalid_events"
    kind = ev.get("kind")
    if isinstance(kind, str) and kind in ("identity", "account"):
        body = ev.get(kind)
        if type(body) is not dict:
            return "invalid_events"
        h = body.get("handle")
        if kind == "identity" and h is not None and type(h) is not str:
            return "invalid_events"
        return "ok"
    if not (isinstance(kind, str) and kind == "commit"):
        return "unknown_kind"
    c = ev.get("commit")
    if type(c) is not dict:
        return "invalid_events"
    parts = [c.get(k) for k in ("collection", "operation", "rkey")]
    rev = c.get("rev")
    if any(type(x) is not str for x in parts) or not (rev is None or type(rev) is str):
        return "invalid_events"
    coll, op, _ = parts
    if coll not in _KNOWN:
        return "unknown_collection"
    if op not in ("create", "update", "delete"):
        return "unknown_operation"
    if op == "delete":
        return "ok"
    rec = c.get("record")
    if type(rec) is not dict:
        return "invalid_events"
    if op == "update":
        return "ok"

    def uri_ok(x):
        return type(x) is str and _AT_URI.fullmatch(x) is not None

    if coll == _KNOWN[0]:
        if "text" in rec and type(rec["text"]) is not str:
            return "invalid_events"
        reply = rec.get("reply")
        if reply is not None:
            par = reply.get("parent") if type(reply) is dict else None
            if type(par) is not dict or not uri_ok(par.get("uri")):
                return "invalid_events"
        return "ok"
    subj = rec.get("subject")
    if coll == _KNOWN[3]:
        if type(subj) is dict:
            subj = subj.get("did")
        return "ok" if type(subj) is str and subj[:4] == "did:" else "invalid_events"
    return "ok" if type(subj) is dict and uri_ok(subj.get("uri")) else "invalid_events"


def _physical(lines):
    """Split byte strings into the lines a binary file iterator yields."""
    out = []
    for chunk in lines:
        parts = chunk.split(b"\n")
        out += [p + b"\n" for p in parts[:-1]]
        if parts[-1]:
            out.append(parts[-1])
    return out


def _build(path, topics, max_line_bytes, profiles=None):
    from jaxattr.data import build_panels

    try:
        return build_panels(
            [path],
            topics,
            start=START,
            n_days=N_DAYS,
            profiles=profiles,
            max_line_bytes=max_line_bytes,
        ), None
    except ValueError as e:  # "no valid events", "all users filtered": clear errors
        return None, e
    except Exception as e:  # noqa: BLE001 - the property under test
        raise _crash(e, "build_panels") from None


_VOLATILE = {
    "seconds_parse",
    "seconds_total",
    "lines_per_s",
    "lines_read",
    "bytes_read",
    *REJECTIONS,
}


def _same_build(a, b, what, ignore=()):
    if set(a.panels) != set(b.panels):
        raise Violation("silent", f"{what}: topics differ")
    for name, p in a.panels.items():
        q = b.panels[name]
        if p.feature_major.tobytes() != q.feature_major.tobytes() or not p.equals(q):
            raise Violation("silent", f"{what}: panel {name!r} differs")
    if a._dids != b._dids:
        raise Violation("silent", f"{what}: agent order differs")
    ra = {k: v for k, v in a.report.items() if k not in _VOLATILE and k not in ignore}
    rb = {k: v for k, v in b.report.items() if k not in _VOLATILE and k not in ignore}
    if ra != rb:
        diff = {k: (ra.get(k), rb.get(k)) for k in set(ra) | set(rb) if ra.get(k) != rb.get(k)}
        raise Violation("silent", f"{what}: report differs {diff}")


def check_jetstream_lines(
    lines, mutated, topics, tmpdir, *, max_line_bytes=1 << 16, profiles=None
) -> dict:
    """A file of ``lines`` (some ``mutated``) must build exactly the panel of the file
    without the lines the reference rejects, with each rejection counted under its counter.

    Returns:
        ``{"lines": physical lines, "mutated": k, "rejected": {counter: n}}``.
    """
    phys, keep, expect = [], [], dict.fromkeys(REJECTIONS, 0)
    for chunk, m in zip(lines, mutated, strict=True):
        for ln in _physical([chunk]) if m else [chunk]:
            cls = classify_line(ln, max_line_bytes)
            phys.append(ln)
            if cls == "ok":
                keep.append(ln)
            else:
                expect[cls] += 1
    pa, pb = os.path.join(tmpdir, "a.jsonl"), os.path.join(tmpdir, "b.jsonl")
    with open(pa, "wb") as f:
        f.write(b"".join(phys))
    with open(pb, "wb") as f:
        f.write(b"".join(keep))
    a, ea = _build(pa, topics, max_line_bytes, profiles)
    b, eb = _build(pb, topics, max_line_bytes, profiles)
    if (a is None) != (b is None):
        raise Violation("silent", f"one build failed and the other did not: {ea or eb}")
    if a is not None:
        got = {k: a.report[k] for k in REJECTIONS}
        if got != expect:
            raise Violation("silent", f"rejections counted {got}, the reference says {expect}")
        if any(b.report[k] for k in REJECTIONS):
            raise Violation(
                "silent",
                f"kept lines counted as rejected: { {k: b.report[k] for k in REJECTIONS} }",
            )
        if a.report["lines_read"] != len(phys):
            raise Violation("silent", f"{a.report['lines_read']} lines read of {len(phys)}")
        _same_build(a, b, "mutated vs clean")
    return {
        "lines": len(phys),
        "mutated": int(sum(mutated)),
        "rejected": expect,
        "outcome": "accepted" if a is not None else "refused",
    }


def check_truncated_gzip(rng, lines, topics, tmpdir) -> dict:
    """A gzip file cut anywhere keeps exactly the lines it read and counts the cut."""
    data = _gzip.compress(b"".join(lines), mtime=0)
    cut = int(rng.integers(10, len(data)))
    path = os.path.join(tmpdir, "t.jsonl.gz")
    with open(path, "wb") as f:
        f.write(data[:cut])
    a, _ = _build(path, topics, 1 << 16)
    if a is None:
        return {"outcome": "refused", "data": data[:cut]}
    n = a.report["lines_read"]
    if a.report["truncated_files"] != 1 or n > len(lines):
        raise Violation(
            "silent", f"cut gzip: truncated_files={a.report['truncated_files']}, lines_read={n}"
        )
    ref_path = os.path.join(tmpdir, "ref.jsonl")
    with open(ref_path, "wb") as f:
        f.write(b"".join(lines[:n]))
    b, _ = _build(ref_path, topics, 1 << 16)
    if b is None:
        raise Violation("silent", "the lines a cut gzip yielded do not build on their own")
    # the last line read may be cut mid-way (then it is one malformed line more)
    _same_build(a, b, "cut gzip vs its complete lines", ignore=("truncated_files",))
    return {"outcome": "accepted", "lines": n, "data": data[:cut]}


def check_profiles(rng, dids, tmpdir) -> dict:
    """Profile snapshot lines: malformed lines counted, never fatal; kept fields typed."""
    from jaxattr.data._jetstream import read_profiles

    good = [
        {
            "did": d,
            "followersCount": int(rng.integers(0, 10**6)),
            "createdAt": "2024-01-01T00:00:00Z",
            "handle": f"u{i}.bsky.social",
        }
        for i, d in enumerate(dids)
    ]
    lines = [_dumps(p) + b"\n" for p in good]
    for j in range(len(lines)):
        if rng.random() < 0.5:
            lines[j] = (
                _dumps(confuse(rng, good[j])) + b"\n"
                if rng.random() < 0.6
                else mutate_bytes(rng, lines[j])
            )
    path = os.path.join(tmpdir, "profiles.jsonl")
    with open(path, "wb") as f:
        f.write(b"".join(lines))
    try:
        prof, bad = read_profiles(path)
    except Exception as e:  # noqa: BLE001
        raise _crash(e, "read_profiles") from None
    for d, (fc, created, handle) in prof.items():
        if (
            not (fc is None or (type(fc) is int and 0 <= fc < 2**63))
            or not (created is None or type(created) is int)
            or not (handle is None or type(handle) is str)
            or type(d) is not str
        ):
            raise Violation("silent", f"profile {d!r} kept with bad fields {fc, created, handle}")
    return {"outcome": "accepted", "bad": bad}


# ------------------------------------------------------------------------------ panels
def panel_seed(rng):
    """A small panel with every agent-column kind, and its write options."""
    import jaxattr

    t, n, d = int(rng.integers(1, 4)), int(rng.integers(3, 40)), int(rng.integers(1, 4))
    x = rng.standard_normal((t, n, d)).astype(np.float32)
    agents = {
        "followers": rng.integers(0, 10**6, n),
        "first_seen": rng.integers(-1, t, n).astype(np.int32),
        "verified": rng.random(n) < 0.3,
        "score": rng.random(n),
    }
    ids = None
    if rng.random() < 0.5:
        agents["handle"] = np.array([f"user{i}.bsky.social" for i in range(n)])
        ids = [f"did:plc:{i:06d}" for i in range(n)]
    p = jaxattr.Panel(
        x,
        feature_names=[f"feat{k}" for k in range(d)],
        time_labels=[f"2025-06-{i + 1:02d}" for i in range(t)],
        agent_ids=ids,
        agents=agents,
        meta={"topic": "fuzz", "seed": 1},
    )
    opts = {
        "row_group_size": int(rng.integers(1, n + 2)),
        "compression": str(rng.choice(["zstd", "snappy", "none"])),
        "write_identifiers": True,
    }
    return p, opts


def _panel_equal(p, q) -> bool:
    return (
        p.feature_major.tobytes() == q.feature_major.tobytes()
        and p.equals(q)
        and p.agent_ids.dtype == q.agent_ids.dtype
        and all(p.agents[k].dtype == q.agents[k].dtype for k in p.agents)
    )


def corrupt_panel(rng, data: bytes, panel, tmpdir):
    """Damaged bytes of a panel file and a label; ``header`` is the edited header when the
    edit re-sealed it (a consistent file that says something else)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jaxattr.io._panel_file import _header_checksum

    r = rng.random()
    if r < 0.55:
        return mutate_bytes(rng, data, 4), "bytes", None
    if r < 0.65:
        return data[: int(rng.integers(0, len(data)))], "truncate", None
    if r < 0.70:
        return data + mutate_bytes(rng, data[-64:]), "append", None
    if r < 0.75:
        foreign = [
            b"",
            b"PAR1",
            b"PAR1" + rng.integers(0, 256, 100).astype(np.uint8).tobytes() + b"PAR1",
            b"agent,t,x\n1,0,2.0\n",
            b"\x1f\x8b\x08\x00",
        ]
        return foreign[int(rng.integers(0, len(foreign)))], "foreign", None
    # schema / header edits through pyarrow
    src = os.path.join(tmpdir, "src.parquet")
    with open(src, "wb") as f:
        f.write(data)
    t = pq.read_table(src)
    md = dict(t.schema.metadata)
    h = json.loads(md[b"jaxattr.panel"])
    kind = int(rng.integers(0, 6))
    reseal = rng.random() < 0.7
    if kind == 0:  # type confusion / deletion anywhere in the header
        h = confuse(rng, h)
    elif kind == 1:  # drop or rename a column
        i = int(rng.integers(0, t.num_columns))
        if rng.random() < 0.5:
            t = t.drop_columns([t.column_names[i]])
        else:
            t = t.rename_columns([c + "x" if j == i else c for j, c in enumerate(t.column_names)])
    elif kind == 2:  # change a column's type
        i = int(rng.integers(0, t.num_columns))
        col = t.column(i)
        to = [pa.float64(), pa.int32(), pa.string(), pa.float32()][int(rng.integers(0, 4))]
        try:
            t = t.set_column(i, t.field(i).with_type(to), col.cast(to, safe=False))
        except (pa.ArrowException, ValueError):
            t = t.set_column(
                i, t.field(i).with_type(pa.null()).with_nullable(True), pa.nulls(len(t))
            )
    elif kind == 3:  # nulls in a column
        i = int(rng.integers(0, t.num_columns))
        mask = pa.array(rng.random(len(t)) < 0.3)
        t = t.set_column(
            i, t.field(i).with_nullable(True), pa.compute.if_else(mask, None, t.column(i))
        )
    elif kind == 4:  # other row groups, or rows dropped/duplicated
        if rng.random() < 0.5 and len(t) > 1:
            t = t.slice(0, len(t) - 1)
        else:
            t = pa.concat_tables([t, t.slice(0, 1)])
    else:  # a header value changed (labels, meta, sizes, dtypes, CRCs)
        paths = [p for p in _paths(h) if p and p[0] != "checksum"]
        p = paths[int(rng.integers(0, len(paths)))]
        cur = h
        for k in p[:-1]:
            cur = cur[k]
        v = cur[p[-1]]
        new = (
            v + int(rng.integers(1, 3))
            if type(v) is int
            else v + "x"
            if isinstance(v, str)
            else CONFUSERS[int(rng.integers(0, len(CONFUSERS)))]
        )
        cur[p[-1]] = new
    if reseal and isinstance(h, dict):
        try:
            h["checksum"] = _header_checksum(h)
        except (ValueError, RecursionError):
            reseal = False
    try:
        md[b"jaxattr.panel"] = json.dumps(h).encode()
    except (ValueError, RecursionError):
        md[b"jaxattr.panel"] = b"{"
    out = os.path.join(tmpdir, "edit.parquet")
    pq.write_table(
        t.replace_schema_metadata(md),
        out,
        row_group_size=int(rng.integers(1, max(2, len(t) + 1))),
        write_page_checksum=bool(rng.random() < 0.5),
    )
    with open(out, "rb") as f:
        return f.read(), f"edit{kind}", (h if reseal and isinstance(h, dict) else None)


def _expected(panel, header, features=None, times=None, groups=None, sizes=None):
    """The panel a read must return: the original (projected), with the header's own
    labels and meta when a consistent edit changed them."""
    import jaxattr

    fm = panel.feature_major
    names, labels = list(panel.feature_names), list(panel.time_labels)
    ks = list(range(len(names))) if features is None else [names.index(f) for f in features]
    ts = list(range(len(labels))) if times is None else list(times)
    idx = np.arange(panel.N)
    if groups is not None:
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        idx = np.concatenate([np.arange(bounds[g], bounds[g + 1]) for g in groups])
    meta = panel.meta if header is None else header.get("meta")
    lab = labels if header is None else header.get("time_labels")
    return jaxattr.Panel.from_feature_major(
        np.ascontiguousarray(fm[ts][:, ks][:, :, idx]),
        feature_names=[names[k] for k in ks],
        time_labels=[lab[t] for t in ts],
        agent_ids=panel.agent_ids[idx],
        agents={k: v[idx] for k, v in panel.agents.items()},
        meta=meta,
    )


def check_panel_file(rng, path, panel, header=None) -> dict:
    """Read a (possibly corrupted) panel file every way there is: refused with a clear
    error (PanelFormatError, KeyError, FileNotFoundError), or exactly the panel."""
    import jaxattr
    from jaxattr.io import PanelFormatError, iter_panel, panel_row_groups

    clear = (PanelFormatError, KeyError, FileNotFoundError)
    try:
        q = jaxattr.read_panel(path)
    except clear:
        return {"outcome": "refused"}
    except Exception as e:  # noqa: BLE001
        raise _crash(e, "read_panel") from None
    exp = _expected(panel, header)
    if not _panel_equal(q, exp):
        raise Violation("silent", "read_panel returned a different panel")
    try:  # projections and streaming of an accepted file
        groups = panel_row_groups(path)
        sizes = [hi - lo for lo, hi in groups]
        g = sorted(
            rng.choice(
                len(groups), size=int(rng.integers(1, len(groups) + 1)), replace=False
            ).tolist()
        )
        f = list(rng.permutation(q.feature_names)[: int(rng.integers(1, q.d + 1))])
        t = sorted(rng.choice(q.T, size=int(rng.integers(1, q.T + 1)), replace=False).tolist())
        sub = jaxattr.read_panel(path, features=f, times=t, row_groups=g)
        if not _panel_equal(sub, _expected(panel, header, f, t, g, sizes)):
            raise Violation("silent", f"projection features={f} times={t} groups={g} differs")
        parts = [p for _, p in iter_panel(path)]
    except clear:
        return {"outcome": "refused"}
    except Violation:
        raise
    except Exception as e:  # noqa: BLE001
        raise _crash(e, "read_panel projection / iter_panel") from None
    fm = np.concatenate([p.feature_major for p in parts], axis=2)
    if fm.tobytes() != exp.feature_major.tobytes():
        raise Violation("silent", "iter_panel yielded other features")
    return {"outcome": "accepted"}


# ------------------------------------------------------------------------------ models
def model_seeds():
    """A few small models covering the configuration space, as (model, key) pairs."""
    import jax

    from jaxattr import deepset

    cfgs = [
        dict(
            d=3,
            width=8,
            depth=1,
            latent=4,
            readout_width=8,
            readout_depth=1,
            feature_names=("reach", "activity", "resonance"),
        ),
        dict(
            d=2,
            width=5,
            depth=2,
            latent=3,
            readout_width=4,
            readout_depth=0,
            pooling="sum",
            activation="tanh",
        ),
        dict(d=1, width=3, depth=1, latent=2, readout_width=2, readout_depth=2, activation="gelu"),
    ]
    rng = np.random.default_rng(0)
    out = []
    for i, c in enumerate(cfgs):  # random leaves into an abstract skeleton: no compiling
        cfg = deepset.DeepSetConfig(**c)
        leaves, tree = jax.tree_util.tree_flatten(
            jax.eval_shape(lambda cfg=cfg, i=i: deepset.init_deepset(jax.random.key(i), cfg))
        )
        out.append(
            jax.tree_util.tree_unflatten(
                tree,
                [
                    jax.numpy.asarray(rng.standard_normal(x.shape).astype(np.float32))
                    for x in leaves
                ],
            )
        )
    return out


KEY = b"fuzz-signing-key-0123456789abcdef"


def _split_model(raw):
    from jaxattr.deepset._io import _split

    return _split(raw, "<fuzz>")


def corrupt_model(rng, raw: bytes):
    """Damaged model bytes and whether the damage was re-sealed (checksum recomputed, as a
    careless or hostile writer would, without the signing key)."""
    from jaxattr.deepset._io import MAGIC, _pack, _with_checksum

    r = rng.random()
    if r < 0.45:
        return mutate_bytes(rng, raw, 4), False
    if r < 0.55:
        return raw[: int(rng.integers(0, len(raw)))], False
    if r < 0.60:
        return raw + mutate_bytes(rng, raw[-32:]), False
    header, payload = _split_model(raw)
    op = int(rng.integers(0, 5))
    if op == 0:
        header = confuse(rng, header)
    elif op == 1:  # size lies
        k = str(rng.choice(["d", "width", "depth", "latent", "readout_width", "readout_depth"]))
        header["config"][k] = int(rng.choice([0, -1, 1, 2, 7, 10**6, 2**40, 10**30]))
    elif op == 2:  # another model under the same weights
        k = str(rng.choice(["activation", "pooling", "feature_names"]))
        header["config"][k] = {
            "activation": "tanh",
            "pooling": "sum",
            "feature_names": ["c", "b", "a"][: header["config"]["d"]],
        }[k]
    elif op == 3:  # payload records: shape / dtype lies in a .npy header
        i = payload.find(b"'shape': (")
        payload = payload[:i] + b"'shape': (9" + payload[i + 11 :] if i >= 0 else payload
        if rng.random() < 0.5:
            payload = payload.replace(b"'<f4'", b"'<f8'", 1)
    else:
        payload = mutate_bytes(rng, payload, 2)
    if not isinstance(header, dict):
        return MAGIC + struct.pack("<Q", 2) + b"[]" + payload, False
    try:
        body = _pack(header, payload)
    except (ValueError, RecursionError, TypeError):
        return raw[:-1], False
    if rng.random() < 0.8:
        try:
            return _with_checksum(body), True
        except Exception:  # noqa: BLE001 - a header the sealer cannot parse: leave it
            return body, False
    return body, False


def _leaves(model):
    import jax

    return [np.asarray(x) for x in jax.tree_util.tree_leaves(model)]


def check_model_file(path, original, raw, resealed: bool, signed: bool) -> dict:
    """Load a (possibly damaged) model file without and with the key: refused with
    DeepSetFileError, or exactly the original model; a re-sealed edit may load without
    the key only as the model its header and payload describe, and never with the key."""
    from jaxattr import deepset
    from jaxattr.deepset._io import _read

    out = "refused"
    for key in (None, KEY) if signed else (None,):
        try:
            m = deepset.load(path, key=key)
        except deepset.DeepSetFileError:
            continue
        except Exception as e:  # noqa: BLE001
            raise _crash(e, f"deepset.load(key={key is not None})") from None
        out = "accepted"
        same = m.config == original.config and all(
            a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
            for a, b in zip(_leaves(m), _leaves(original), strict=True)
        )
        if same:
            continue
        if not resealed or key is not None:
            raise Violation("silent", f"a damaged file loaded as another model (key={key!r})")
        # re-sealed without the key: consistent, so it must be what the file says
        header, payload = _read(path)
        from jaxattr.deepset._model import DeepSetConfig

        if m.config != DeepSetConfig.from_json(header["config"]):
            raise Violation("silent", "loaded config differs from the file's header")
        f = io.BytesIO(payload)
        for leaf in _leaves(m):
            arr = np.load(f, allow_pickle=False)
            if arr.tobytes() != leaf.tobytes() or arr.shape != leaf.shape:
                raise Violation("silent", "loaded parameters differ from the file's payload")
    return {"outcome": out}


# ------------------------------------------------------------------------ topics, plans
def _load_or_none(load, path):
    """``load(path)``; None for the clear refusals (ValueError, FileNotFoundError)."""
    try:
        return load(path)
    except (ValueError, FileNotFoundError):
        return None
    except Exception as e:  # noqa: BLE001
        raise _crash(e, load.__name__) from None


def check_topic_table(rng, tmpdir) -> dict:
    """A damaged topic table: ValueError/FileNotFoundError, or topics that round-trip."""
    from jaxattr.data import load_topics, write_topics
    from jaxattr.data._topics import TopicMatcher

    good = {
        "cup_final": {
            "keywords": ["cup final", "extra time"],
            "hashtags": ["#CupFinal"],
            "kind": "final",
            "peak_day": "2025-06-10",
        },
        "ai": {"keywords": ["gpu cluster"], "hashtags": ["opensource"]},
    }
    fmt = str(rng.choice(["json", "toml"]))
    path = os.path.join(tmpdir, f"topics.{fmt}")
    if rng.random() < 0.5:
        doc = confuse(rng, good)
        if fmt == "json":
            raw = _dumps(doc)
        else:
            try:
                write_topics(load_topics(doc), path)
                raw = None
            except (ValueError, TypeError, RecursionError, OSError):
                raw = _dumps(doc)
    else:
        write_topics(load_topics(good), path)
        with open(path, "rb") as f:
            raw = mutate_bytes(rng, f.read(), 4)
    if raw is not None:
        with open(path, "wb") as f:
            f.write(raw)
    with open(path, "rb") as f:
        raw = f.read()
    topics = _load_or_none(load_topics, path)
    if topics is None:
        return {"outcome": "refused", "data": raw}
    try:
        write_topics(topics, path)
        again = load_topics(path)
        m = TopicMatcher(topics)
        m.match(
            "the cup final #opensource " + raw[:200].decode("utf-8", "replace"),
            ["CupFinal", 5, None],
        )
    except (ValueError, TypeError) as e:
        raise Violation(
            "crash", f"accepted topics do not round-trip: {type(e).__name__}: {e}"
        ) from None
    except Exception as e:  # noqa: BLE001
        raise _crash(e, "topics round trip") from None
    if [(t.name, t.keywords, t.hashtags, _norm(t.meta)) for t in again] != [
        (t.name, t.keywords, t.hashtags, _norm(t.meta)) for t in topics
    ]:
        raise Violation("silent", "topics changed in a write/read round trip")
    return {"outcome": "accepted", "data": raw}


def _norm(meta):
    """Metadata as JSON text (NaN-safe equality; dates as ISO strings in JSON)."""
    return json.dumps(meta, sort_keys=True, default=str)


def check_plan(rng, tmpdir) -> dict:
    """A damaged batch plan: ValueError/FileNotFoundError, or well-formed unique jobs."""
    from jaxattr.scale._batch import BatchJob, load_plan

    good = {
        "out": "o",
        "per_agent": False,
        "defaults": {"steps": 4},
        "panels": {"a": "a.parquet", "s": {"synthetic": "final", "n_agents": 50}},
        "jobs": [
            {"values": ["heat", "gini"], "baselines": ["zero", "mean"]},
            {"panels": ["a"], "values": "linear", "methods": "path", "rules": "gauss-legendre"},
        ],
    }
    path = os.path.join(tmpdir, "plan.json")
    raw = _dumps(confuse(rng, good)) if rng.random() < 0.6 else mutate_bytes(rng, _dumps(good), 4)
    with open(path, "wb") as f:
        f.write(raw)
    plan = _load_or_none(load_plan, path)
    if plan is None:
        return {"outcome": "refused", "data": raw}
    ids = [j.id for j in plan.jobs]
    if (
        len(set(ids)) != len(ids)
        or not plan.jobs
        or not all(
            isinstance(j, BatchJob)
            and isinstance(j.steps, int)
            and j.steps >= 1
            and j.panel in plan.panels
            for j in plan.jobs
        )
    ):
        raise Violation("silent", f"load_plan accepted a plan with bad jobs: {plan.jobs[:3]}")
    return {"outcome": "accepted", "data": raw}


# ------------------------------------------------------------------------------ CLI
def cli_fixture(tmpdir):
    """Small inputs for CLI fuzzing: a panel, a model, a Jetstream file, topics, a plan.

    Run each command line in a fresh copy (:func:`cli_fresh`): damaged command lines write
    outputs over their own inputs and into the working directory."""
    import jaxattr
    from jaxattr import deepset

    rng = np.random.default_rng(0)
    z = rng.gamma(2.0, 1.0, size=(2, 40, 3)).astype(np.float32)
    p = jaxattr.Panel(
        z,
        feature_names=["reach", "activity", "resonance"],
        agents={"followers": rng.integers(0, 100, 40)},
    )
    jaxattr.write_panel(p, os.path.join(tmpdir, "p.parquet"))
    deepset.save(os.path.join(tmpdir, "m.deepset"), model_seeds()[0])
    lines, topics, _ = jetstream_seed(0, 40, tmp=os.path.join(tmpdir, "js"))
    with open(os.path.join(tmpdir, "day.jsonl"), "wb") as f:
        f.write(b"".join(lines))
    with open(os.path.join(tmpdir, "plan.toml"), "w") as f:
        f.write('[panels]\na = "p.parquet"\n[[jobs]]\nvalues = ["heat"]\nsteps = 3\n')
    with open(os.path.join(tmpdir, "junk.bin"), "wb") as f:
        f.write(b"\x00\xffPAR1junk")
    return {
        "panel": os.path.join(tmpdir, "p.parquet"),
        "model": os.path.join(tmpdir, "m.deepset"),
        "jsonl": os.path.join(tmpdir, "day.jsonl"),
        "topics": topics,
        "plan": os.path.join(tmpdir, "plan.toml"),
        "junk": os.path.join(tmpdir, "junk.bin"),
        "out": os.path.join(tmpdir, "out"),
    }


def cli_fresh(fx, where):
    """A pristine copy of the fixture in ``where`` (made the working directory by the
    caller); returns the fixture's paths inside it."""
    import shutil

    src = os.path.dirname(fx["panel"])
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(src, where)
    return {k: os.path.join(where, os.path.relpath(v, src)) for k, v in fx.items()}


def cli_argv(rng, fx) -> list[str]:
    """A command line built from valid templates, then damaged token by token."""
    templates = [
        ["attribute", fx["panel"], "--value", "heat", "--out", fx["out"], "--steps", "3"],
        [
            "attribute",
            fx["panel"],
            "--value",
            fx["model"],
            "--out",
            fx["out"],
            "--steps",
            "2",
            "--baseline",
            "mean",
        ],
        ["bluesky", "build", fx["jsonl"], "--topics", fx["topics"], "--out", fx["out"]],
        ["batch", fx["plan"], "--out", fx["out"], "--quiet"],
        ["stream", fx["panel"], "--value", "gini", "--out", os.path.join(fx["out"], "phi.pq")],
    ]
    argv = list(templates[int(rng.integers(0, len(templates)))])
    junk = [
        "",
        "-",
        "--",
        "-1",
        "0",
        "nan",
        "inf",
        "1e999",
        "9" * 30,
        "\x00",
        "é",
        "--steps",
        "--value",
        "--out",
        "--nope",
        "heat",
        "gini",
        "not_a_value",
        "module:obj",
        "json:loads",
        "math:pi",
        fx["junk"],
        fx["panel"],
        fx["model"],
        "/nonexistent/x",
        "--baseline",
        "first",
        "--method",
        "closed_form",
        "path",
        "--bins",
        "-5",
        "--per-agent",
        "--days",
        "0",
        "--start",
        "2025-13-45",
        "--help",
    ]
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 4))
        i = int(rng.integers(0, len(argv) + 1))
        if op == 0 and argv:
            argv.pop(min(i, len(argv) - 1))
        elif op == 1:
            argv.insert(i, junk[int(rng.integers(0, len(junk)))])
        elif op == 2 and argv:
            argv[min(i, len(argv) - 1)] = junk[int(rng.integers(0, len(junk)))]
        else:
            argv.insert(i, argv[min(i, len(argv) - 1)] if argv else "attribute")
    # no multi-process flags: they would wait for a coordinator that never comes
    return [
        a for a in argv if not a.startswith(("--coordinator", "--num-processes", "--process-id"))
    ]


def check_cli(argv) -> dict:
    """``jaxattr.main(argv)``: exit code 0 or 2 (bad input, with a message), no exception;
    ``batch`` may also exit 1 (some jobs failed, each reported)."""
    import contextlib

    from jaxattr._cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except SystemExit as e:
        code = e.code
    except Exception as e:  # noqa: BLE001
        raise _crash(e, f"main({argv!r})") from None
    if code == 1 and argv[:1] == ["batch"]:
        return {"outcome": "refused"}
    if code not in (0, 2):
        raise Violation("crash", f"main({argv!r}) exit code {code!r}: {err.getvalue()[-300:]}")
    if code == 2 and not err.getvalue().strip():
        raise Violation("crash", f"main({argv!r}) exit 2 without a message")
    return {"outcome": "accepted" if code == 0 else "refused"}
