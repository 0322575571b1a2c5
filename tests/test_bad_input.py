"""Regression tests for the input-boundary defects of issue 16: each failed before its fix.

One test per defect (Jetstream, capture, Parquet, ranks, model files, batch resume); the
fuzz harnesses in ``tests/test_fuzz_*.py`` keep guarding the same boundaries at random.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct

import jax
import numpy as np
import pytest

import jaxattr
from jaxattr.data import build_panels

DAY_US = 86_400_000_000
D0 = 20_240  # 2025-06-01
TOPICS = {"sports": {"keywords": ["cup final"], "hashtags": ["cupfinal"]}}


def _commit(did, sec, coll, rkey, record=None, rev="r1", op="create"):
    c = {"rev": rev, "operation": op, "collection": coll, "rkey": rkey}
    if record is not None:
        c["record"] = record
    return {"did": did, "time_us": D0 * DAY_US + sec * 1_000_000, "kind": "commit", "commit": c}


def _good_lines():
    a, b = "did:plc:a", "did:plc:b"
    post = "app.bsky.feed.post"
    return [
        _commit(a, 1, post, "a1", {"text": "the cup final"}),
        _commit(
            b, 2, post, "b1", {"text": "nice", "reply": {"parent": {"uri": f"at://{a}/{post}/a1"}}}
        ),
        _commit(b, 3, "app.bsky.feed.like", "l1", {"subject": {"uri": f"at://{a}/{post}/a1"}}),
    ]


def _write(path, objs):
    path.write_bytes(b"".join(json.dumps(o).encode() + b"\n" for o in objs))
    return path


# --------------------------------------------------------------------------- Jetstream
@pytest.mark.parametrize("rev", [[1, 2], {"x": 1}, [[{}]]])
def test_jetstream_unhashable_rev_is_one_invalid_line(tmp_path, rev):
    """A ``rev`` that is a list or an object used to raise ``TypeError: unhashable type`` and
    kill the whole build; it is now one counted invalid event, and nothing else changes."""
    good = _good_lines()
    bad = _commit(
        "did:plc:c",
        4,
        "app.bsky.feed.like",
        "l9",
        {"subject": {"uri": "at://did:plc:a/app.bsky.feed.post/a1"}},
        rev=rev,
    )
    ref = build_panels(
        [_write(tmp_path / "good.jsonl", good)], TOPICS, start="2025-06-01", n_days=1
    )
    res = build_panels(
        [_write(tmp_path / "mixed.jsonl", good[:2] + [bad] + good[2:])],
        TOPICS,
        start="2025-06-01",
        n_days=1,
    )
    assert res.report["invalid_events"] == ref.report["invalid_events"] + 1
    assert res.panels["sports"].equals(ref.panels["sports"])


# --------------------------------------------------------------------------- capture
def _capture_against(tmp_path, messages, **kw):
    pytest.importorskip("websockets")
    from websockets.asyncio.server import serve

    from jaxattr.data._capture import capture_async

    async def handler(ws):
        for m in messages:
            await ws.send(m)
        await ws.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.wait_for(
                capture_async(
                    tmp_path,
                    url=f"ws://127.0.0.1:{port}/subscribe",
                    reconnect_delay=0.01,
                    max_seconds=3,
                    **kw,
                ),
                20,
            )

    return asyncio.run(main())


def _lines(tmp_path):
    out = []
    for n in sorted(os.listdir(tmp_path)):
        if n.endswith(".jsonl"):
            out += [json.loads(x) for x in (tmp_path / n).read_bytes().splitlines()]
    return out


def test_capture_unhashable_rev_and_absurd_time_are_skipped(tmp_path):
    """A list ``rev`` used to raise TypeError in the de-duplication key, and a ``time_us``
    past year 9999 an OverflowError while choosing the day file: both killed the capture."""
    good = _good_lines()
    msgs = [
        json.dumps(good[0]),
        json.dumps(dict(good[1], commit=dict(good[1]["commit"], rev=[1]))),
        json.dumps(dict(good[1], time_us=10**20)),
        json.dumps(dict(good[1], time_us=-5)),
        json.dumps(good[2]),
    ]
    stats = _capture_against(tmp_path, msgs, max_events=3)
    assert stats["stopped"] == "max_events", stats
    assert stats["skipped_invalid"] == 2 and stats["written"] == 3
    assert _lines(tmp_path) == [
        good[0],
        dict(good[1], commit=dict(good[1]["commit"], rev=[1])),
        good[2],
    ]


def test_capture_resume_survives_unhashable_rev(tmp_path):
    from jaxattr.data._capture import _resume

    ev = _good_lines()[0]
    ev["commit"]["rev"] = {"a": [1]}
    (tmp_path / "jetstream-2025-06-01.jsonl").write_text(json.dumps(ev) + "\n")
    last, keys = _resume(str(tmp_path))
    assert last == ev["time_us"] and len(keys) == 1


def test_capture_refuses_oversized_messages(tmp_path):
    """Messages over ``max_message_bytes`` are never buffered whole nor written: the
    connection is refused at the websocket layer and the capture stops with a reason that
    says which limit to raise, instead of looping on the same message forever."""
    good = _good_lines()
    big = dict(good[1], commit=dict(good[1]["commit"], record={"text": "x" * 5000}))
    msgs = [json.dumps(good[0]), json.dumps(big), json.dumps(good[2])]
    stats = _capture_against(tmp_path, msgs, max_message_bytes=2000, max_events=3)
    assert stats["written"] == 1
    assert "max_message_bytes" in stats["stopped"], stats
    assert _lines(tmp_path) == [good[0]]


# --------------------------------------------------------------------------- Parquet
def _id_panel(n=6):
    rng = np.random.default_rng(0)
    return jaxattr.Panel(
        rng.random((2, n, 2)).astype(np.float32),
        agent_ids=[f"did:plc:agent{i:04d}" for i in range(n)],
        agents={"handle": np.array([f"user{i}.bsky.social" for i in range(n)])},
    )


def test_parquet_string_columns_longer_than_the_header_width_are_refused():
    """A header whose string dtype is narrower than the stored strings used to cut every id
    to that width silently (``'<U3'``: 'did'); now the read is refused."""
    pytest.importorskip("pyarrow")
    from jaxattr.io import PanelFormatError, from_arrow, to_arrow

    t = to_arrow(_id_panel(), write_identifiers=True)
    md = dict(t.schema.metadata)
    h = json.loads(md[b"jaxattr.panel"])
    h["agent_id_dtype"] = "<U3"
    from jaxattr.io import _panel_file as _io

    if hasattr(_io, "_header_checksum"):  # a consistent header, as a foreign writer makes
        h["checksum"] = _io._header_checksum(h)
    md[b"jaxattr.panel"] = json.dumps(h).encode()
    with pytest.raises((PanelFormatError, ValueError), match="longer than"):
        from_arrow(t.replace_schema_metadata(md))


def test_parquet_duplicate_row_groups_are_refused(tmp_path):
    pytest.importorskip("pyarrow")
    p = jaxattr.Panel(np.ones((1, 10, 2), np.float32))
    jaxattr.write_panel(p, tmp_path / "p.parquet", row_group_size=5)
    with pytest.raises(KeyError, match="more than once"):
        jaxattr.read_panel(tmp_path / "p.parquet", row_groups=[0, 0])
    assert jaxattr.read_panel(tmp_path / "p.parquet", row_groups=[1, 0]).N == 10


def test_parquet_string_agent_columns_need_write_identifiers(tmp_path):
    """The identifier guard checked ``agent_ids`` only: a string agent-table column (handles)
    was written without ``write_identifiers=True``."""
    pytest.importorskip("pyarrow")
    p = _id_panel()
    p2 = jaxattr.Panel(p.features, agents=dict(p.agents))  # integer ids, string column
    with pytest.raises(ValueError, match="'handle'.*write_identifiers=True"):
        jaxattr.write_panel(p2, tmp_path / "x.parquet")
    assert not os.path.exists(tmp_path / "x.parquet")
    jaxattr.write_panel(p2, tmp_path / "x.parquet", write_identifiers=True)
    assert jaxattr.read_panel(tmp_path / "x.parquet").equals(p2)


def test_parquet_edited_header_is_refused(tmp_path):
    """The panel header (time labels, meta) lives in the Parquet footer, outside the page
    checksums: a file rewritten with one label changed used to read back as a silently
    different panel."""
    pq = pytest.importorskip("pyarrow.parquet")
    p = jaxattr.Panel(np.ones((2, 4, 1), np.float32), time_labels=["2025-06-01", "2025-06-02"])
    path = tmp_path / "p.parquet"
    jaxattr.write_panel(p, path)
    t = pq.read_table(path)
    md = dict(t.schema.metadata)
    md[b"jaxattr.panel"] = md[b"jaxattr.panel"].replace(b"2025-06-02", b"2025-06-09")
    pq.write_table(t.replace_schema_metadata(md), path)
    with pytest.raises(ValueError, match="checksum"):
        jaxattr.read_panel(path)


# --------------------------------------------------------------------------- ranks
def test_centered_ranks_exact_above_2_pow_24():
    """With N = 2^24 + 1 agents the count W was carried as float32 (2^24), so every centred
    rank was off by one; W is now an integer and each c_i the nearest float32 of the exact
    integer 2 r_i - W - 1."""
    from jaxattr.kernels import centered_ranks

    n = (1 << 24) + 1
    s = np.zeros(n, np.float32)
    s[:2] = [-1.0, 1.0]  # one agent below, one above, the rest tied in the middle
    c = np.asarray(jax.jit(centered_ranks)(s))
    assert c[0] == -(n - 1) and c[1] == np.float32(n - 1)
    assert c[2] == 0.0 and c[-1] == 0.0  # the tied middle run: r = (n + 1) / 2 + ..., c = 0


# --------------------------------------------------------------------------- model files
def _random_model(cfg, seed):
    """A DeepSet with random weights, built without compiling anything (init_deepset's
    jax.random calls compile per shape: seconds on a busy machine)."""
    from jaxattr import deepset

    leaves, tree = jax.tree_util.tree_flatten(
        jax.eval_shape(lambda: deepset.init_deepset(jax.random.key(0), cfg))
    )
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_unflatten(
        tree,
        [jax.numpy.asarray(rng.standard_normal(x.shape).astype(np.float32) * 0.5) for x in leaves],
    )


@pytest.fixture(scope="module")
def model():
    from jaxattr import deepset

    return _random_model(
        deepset.DeepSetConfig(
            d=3,
            width=8,
            depth=1,
            latent=4,
            readout_width=8,
            readout_depth=1,
            feature_names=("reach", "activity", "resonance"),
        ),
        0,
    )


def _split(raw):
    from jaxattr.deepset._io import MAGIC

    off = len(MAGIC)
    (hlen,) = struct.unpack("<Q", raw[off : off + 8])
    return raw[:off], json.loads(raw[off + 8 : off + 8 + hlen]), raw[off + 8 + hlen :]


def _join(magic, header, payload):
    hb = json.dumps(header).encode()
    return magic + struct.pack("<Q", len(hb)) + hb + payload


@pytest.mark.parametrize("edit", ["activation", "pooling", "feature_names", "width"])
def test_model_header_edits_are_refused(tmp_path, model, edit):
    """The stored digest covered the weights only: changing the activation or pooling in the
    header silently gave another model, and feature names could be rewritten at will."""
    from jaxattr import deepset

    path = tmp_path / "m.deepset"
    deepset.save(path, model)
    magic, header, payload = _split(path.read_bytes())
    cfg = header["config"]
    cfg.update(
        {
            "activation": {"activation": "tanh"},
            "pooling": {"pooling": "sum"},
            "feature_names": {"feature_names": ["c", "b", "a"]},
            "width": {"width": 9},
        }[edit]
    )
    path.write_bytes(_join(magic, header, payload))
    with pytest.raises(deepset.DeepSetFileError, match="checksum"):
        deepset.load(path)


def test_model_sizes_checked_before_allocating(tmp_path, model, monkeypatch):
    """``load`` built a model from the header's sizes before looking at the payload, so a
    crafted ``width`` could exhaust memory; the sizes are now checked against the payload
    first (here the checksum is recomputed, as a careless or hostile writer would)."""
    from jaxattr import deepset
    from jaxattr.deepset import _io

    path = tmp_path / "m.deepset"
    deepset.save(path, model)
    magic, header, payload = _split(path.read_bytes())
    header["config"]["width"] = 1 << 40
    raw = _join(magic, header, payload)
    if hasattr(_io, "_with_checksum"):
        raw = _io._with_checksum(raw)
    path.write_bytes(raw)
    allocated = []
    monkeypatch.setattr(_io, "init_deepset", lambda *a, **k: allocated.append(1) / 0)
    with pytest.raises(deepset.DeepSetFileError, match="payload"):
        deepset.load(path)
    assert not allocated


def test_model_keyed_signature(tmp_path, model):
    from jaxattr import deepset
    from jaxattr.deepset import _io

    path = tmp_path / "m.deepset"
    deepset.save(path, model, key=b"k" * 32)
    deepset.load(path, key=b"k" * 32)
    with pytest.raises(deepset.DeepSetFileError, match="signature"):
        deepset.load(path, key=b"x" * 32)
    # an edit with a recomputed checksum passes the checksum but not the signature
    magic, header, payload = _split(path.read_bytes())
    header["config"]["activation"] = "tanh"
    path.write_bytes(_io._with_checksum(_join(magic, header, payload)))
    assert deepset.load(path).config.activation == "tanh"  # consistent, but not authentic
    with pytest.raises(deepset.DeepSetFileError, match="signature"):
        deepset.load(path, key=b"k" * 32)
    unsigned = tmp_path / "u.deepset"
    deepset.save(unsigned, model)
    with pytest.raises(deepset.DeepSetFileError, match="not signed"):
        deepset.load(unsigned, key=b"k" * 32)


def test_model_feature_names_compared_with_the_panel(tmp_path, model):
    from jaxattr import deepset

    path = tmp_path / "m.deepset"
    deepset.save(path, model)
    z = np.random.default_rng(0).random((1, 20, 3)).astype(np.float32)
    same = jaxattr.Panel(z, feature_names=["reach", "activity", "resonance"])
    swapped = jaxattr.Panel(z, feature_names=["activity", "reach", "resonance"])
    v = deepset.load_value(path)
    ref = jaxattr.attribute(same, v, steps=4)
    with pytest.raises(ValueError, match=r"feature names.*check_feature_names=False"):
        jaxattr.attribute(swapped, v, steps=4)
    with pytest.raises(ValueError, match=r"feature names"):  # a file spec is checked too
        jaxattr.attribute(swapped, str(path), steps=4)
    from jaxattr.scale import attribute_out_of_core

    jaxattr.write_panel(swapped, tmp_path / "swapped.parquet")
    with pytest.raises(ValueError, match=r"feature names"):
        attribute_out_of_core(tmp_path / "swapped.parquet", v, steps=4)
    loose = deepset.load_value(path, check_feature_names=False)
    np.testing.assert_array_equal(jaxattr.attribute(swapped, loose, steps=4).phi, ref.phi)


# --------------------------------------------------------------------------- batch resume
def _plan(tmp_path, value="heat"):
    plan = tmp_path / "plan.toml"
    plan.write_text(f'[panels]\na = "a.parquet"\n[[jobs]]\nvalues = ["{value}"]\nsteps = 4\n')
    return plan


def test_batch_recomputes_a_replaced_panel(tmp_path):
    from jaxattr.scale import run_batch

    rng = np.random.default_rng(0)
    jaxattr.write_panel(
        jaxattr.Panel(rng.random((1, 30, 3)).astype(np.float32)), tmp_path / "a.parquet"
    )
    plan = _plan(tmp_path)
    assert len(run_batch(plan, tmp_path / "out", progress=False)["done"]) == 1
    assert len(run_batch(plan, tmp_path / "out", progress=False)["skipped"]) == 1
    z2 = rng.random((1, 30, 3)).astype(np.float32)
    jaxattr.write_panel(jaxattr.Panel(z2), tmp_path / "a.parquet")  # same name, new content
    rep = run_batch(plan, tmp_path / "out", progress=False)
    assert rep["done"] == ["a__heat__zero__auto__K4"] and not rep["skipped"]
    with np.load(tmp_path / "out" / "jobs" / "a__heat__zero__auto__K4.npz") as f:
        np.testing.assert_allclose(f["delta"], jaxattr.attribute(z2, "heat").delta, rtol=1e-6)


def test_batch_recomputes_a_retrained_model(tmp_path, model):
    from jaxattr import deepset
    from jaxattr.scale import run_batch

    rng = np.random.default_rng(0)
    z = rng.random((1, 30, 3)).astype(np.float32)
    jaxattr.write_panel(
        jaxattr.Panel(z, feature_names=["reach", "activity", "resonance"]), tmp_path / "a.parquet"
    )
    deepset.save(tmp_path / "m.deepset", model)
    plan = _plan(tmp_path, "m.deepset")
    out = tmp_path / "out"
    assert len(run_batch(plan, out, progress=False)["done"]) == 1
    assert len(run_batch(plan, out, progress=False)["skipped"]) == 1
    other = _random_model(model.config, 7)  # "retrained" under the same file name
    deepset.save(tmp_path / "m.deepset", other)
    rep = run_batch(plan, out, progress=False)
    assert len(rep["done"]) == 1 and not rep["skipped"], rep
    (job,) = os.listdir(out / "jobs")
    with np.load(out / "jobs" / job) as f:  # delta = f(Z) - f(0) of the new model
        np.testing.assert_allclose(
            f["delta"], float(other(z[0])) - float(other(0 * z[0])), rtol=1e-5, atol=1e-6
        )


def test_study_cache_keys_are_content(model):
    """The study's cell cache keys on what a panel and a value *are*: the panel's bytes
    and the model's parameters, not the topic or value name. (The study already hashed
    both; this keeps it so. The end-to-end run is the slow test below.)"""
    from jaxattr import deepset
    from jaxattr.study._runner import _fingerprint, _value_id

    rng = np.random.default_rng(3)
    z = rng.gamma(2.0, 1.0, size=(2, 50, 3)).astype(np.float32)
    agents = {"followers": rng.integers(0, 1000, 50)}
    p1, p2 = jaxattr.Panel(z, agents=agents), jaxattr.Panel(z.copy(), agents=agents)
    z[1, 7, 2] += 1e-3
    p3 = jaxattr.Panel(z, agents=agents)
    assert _fingerprint(p1) == _fingerprint(p2) != _fingerprint(p3)
    v1, v1b = (deepset.DeepSetValue(model, name="ds") for _ in range(2))
    v2 = deepset.DeepSetValue(_random_model(model.config, 9), name="ds")
    assert _value_id(v1) == _value_id(v1b) != _value_id(v2)


@pytest.mark.slow
def test_study_cache_is_keyed_by_content(tmp_path, model):
    """The study's cell cache reuses a cell only for the same panel content and the same
    model parameters: a replaced panel or a re-trained model under the same names (topic,
    value name) is recomputed. (The study already hashed both; this keeps it so.)"""
    from jaxattr import deepset, study
    from jaxattr.study import _runner

    rng = np.random.default_rng(3)

    def panel():
        z = rng.gamma(2.0, 1.0, size=(2, 120, 3)).astype(np.float32)
        return jaxattr.Panel(
            z,
            feature_names=["reach", "activity", "resonance"],
            agents={"followers": rng.integers(0, 1000, 120)},
        )

    cfg = lambda m: study.StudyConfig(  # noqa: E731
        values=(deepset.DeepSetValue(m, name="ds"),),
        protocols=("RAND",),
        sizes=(20,),
        draws=2,
        steps=4,
    )
    p1 = panel()
    first = study.run_study({"t": p1}, cfg(model), cache_dir=tmp_path)
    assert first.timings["cached"] == 0
    assert study.run_study({"t": p1}, cfg(model), cache_dir=tmp_path).timings["cached"] == 2
    calls = []
    real = _runner._full_summary
    _runner_full = lambda *a, **k: calls.append(1) or real(*a, **k)  # noqa: E731
    import unittest.mock as mock

    with mock.patch.object(_runner, "_full_summary", _runner_full):
        res = study.run_study({"t": panel()}, cfg(model), cache_dir=tmp_path)
        assert res.timings["cached"] == 0 and calls
        calls.clear()
        other = deepset.init_deepset(jax.random.key(9), model.config)
        res = study.run_study({"t": p1}, cfg(other), cache_dir=tmp_path)
        assert res.timings["cached"] == 0 and calls
