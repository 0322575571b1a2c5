"""Fuzzing as a standing guard: the regression corpus, and short bounded runs of every harness.

The harnesses (mutators and oracles) live in ``benchmarks/fuzz_harness.py``; the long
campaign (``benchmarks/fuzz_campaign.py``) runs them millions of times, these tests a few
hundred, each test under a wall-clock alarm. ``tests/fuzz_corpus/`` holds the inputs that
found bugs (see its README): each must now be refused cleanly.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import signal
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import fuzz_harness as fh  # noqa: E402

import jaxattr  # noqa: E402

CORPUS = ROOT / "tests" / "fuzz_corpus"


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail (rather than hang) when the block runs longer than ``seconds``."""

    def fire(signum, frame):
        raise AssertionError(f"hang: the block ran longer than {seconds}s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _files(sub):
    return sorted((CORPUS / sub).iterdir(), key=lambda p: p.name)


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return fh.jetstream_seed(0, 40, tmp=str(tmp_path_factory.mktemp("seed")))


@pytest.fixture(scope="module")
def cli_fx(tmp_path_factory):
    return fh.cli_fixture(str(tmp_path_factory.mktemp("cli")))


# ----------------------------------------------------------------------- regression corpus
@pytest.mark.parametrize("path", _files("jetstream"), ids=lambda p: p.stem)
def test_corpus_jetstream_line_is_one_counted_rejection(path, seed, tmp_path):
    lines, topics, _ = seed
    with deadline(30):
        out = fh.check_jetstream_lines(
            lines[:40] + [path.read_bytes()] + lines[40:80],
            [False] * 40 + [True] + [False] * 40,
            topics,
            tmp_path,
            max_line_bytes=1 << 20,
        )
    assert sum(out["rejected"].values()) == 1, out


@pytest.mark.parametrize("path", _files("profiles"), ids=lambda p: p.stem)
def test_corpus_profile_line_is_counted(path):
    from jaxattr.data._jetstream import read_profiles

    assert read_profiles(path) == ({}, 1)


@pytest.mark.parametrize("path", _files("panel"), ids=lambda p: p.stem)
def test_corpus_panel_is_refused(path):
    from jaxattr.io import PanelFormatError

    with deadline(30), pytest.raises(PanelFormatError, match=path.name):
        jaxattr.read_panel(path)


@pytest.mark.parametrize("path", _files("model"), ids=lambda p: p.stem)
def test_corpus_model_is_refused(path):
    from jaxattr import deepset

    key = fh.KEY if path.stem.endswith("-signed") else None
    with deadline(30), pytest.raises(deepset.DeepSetFileError):
        deepset.load(path, key=key)


@pytest.mark.parametrize("path", _files("topics") + _files("plan"), ids=lambda p: p.name)
def test_corpus_table_is_refused(path):
    from jaxattr.data import load_topics
    from jaxattr.scale import load_plan

    load = load_topics if path.parent.name == "topics" else load_plan
    with deadline(30), pytest.raises(ValueError):
        load(path)


@pytest.mark.parametrize("path", _files("topics-roundtrip"), ids=lambda p: p.name)
def test_corpus_topic_table_round_trips(path, tmp_path):
    from jaxattr.data import load_topics, write_topics

    topics = load_topics(path)
    for out in (tmp_path / "t.toml", tmp_path / "t.json"):
        write_topics(topics, out)
        again = load_topics(out)
        assert [(t.name, t.keywords, t.hashtags) for t in again] == [
            (t.name, t.keywords, t.hashtags) for t in topics
        ]
        assert json.dumps([t.meta for t in again], default=str) == json.dumps(
            [t.meta for t in topics], default=str
        )


@pytest.mark.parametrize("path", _files("cli"), ids=lambda p: p.stem)
def test_corpus_cli_exits_2(path, cli_fx, tmp_path, monkeypatch):
    fx = fh.cli_fresh(cli_fx, str(tmp_path / "run"))
    (tmp_path / "run" / "a_dir").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    argv = [a.format(dir="a_dir", **fx) for a in json.loads(path.read_text())]
    with deadline(60):
        fh.check_cli(argv)


# ----------------------------------------------------------------------- bounded runs
def test_fuzz_jetstream_files(seed, tmp_path):
    """Files with 1-60 % damaged lines build the panel of their other lines, exactly."""
    lines, topics, _ = seed
    rng = np.random.default_rng(161)
    with deadline(60):
        for frac in (0.01, 0.3, 0.6, 0.3):
            mutated = rng.random(len(lines)) < frac
            damaged = [
                fh.mutate_line(rng, ln) if m else ln for ln, m in zip(lines, mutated, strict=True)
            ]
            fh.check_jetstream_lines(
                damaged,
                list(mutated),
                topics,
                tmp_path,
                max_line_bytes=int(rng.choice([700, 1 << 16])),
            )
        fh.check_truncated_gzip(rng, lines, topics, tmp_path)
        dids = sorted({json.loads(x)["did"] for x in lines[:100]})
        fh.check_profiles(rng, dids, tmp_path)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


@settings(
    max_examples=25,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(idx=st.integers(0, 10**6), path_pick=st.integers(0, 10**6), value=_JSON)
def test_fuzz_jetstream_any_value_in_any_field(seed, tmp_path, idx, path_pick, value):
    """Type confusion in every field: a line with any JSON value at any place is either
    an event like any other or one counted rejection with no side effect."""
    lines, topics, _ = seed
    base = lines[:60]
    j = idx % len(base)
    ev = json.loads(base[j])
    paths = fh._paths(ev)
    ev = fh._set(ev, paths[path_pick % len(paths)], value)
    line = fh._dumps(ev) + b"\n"
    fh.check_jetstream_lines(
        base[:j] + [line] + base[j + 1 :],
        [False] * j + [True] + [False] * (len(base) - j - 1),
        topics,
        tmp_path,
    )


def test_fuzz_panels(tmp_path):
    """Corrupted panel files: refused with PanelFormatError/KeyError, or read back exact."""
    rng = np.random.default_rng(162)
    outcomes = {"accepted": 0, "refused": 0}
    with deadline(60):
        for i in range(160):
            if i % 40 == 0:
                p, opts = fh.panel_seed(rng)
                jaxattr.write_panel(p, tmp_path / "seed.parquet", **opts)
                data = (tmp_path / "seed.parquet").read_bytes()
            bad, _, header = fh.corrupt_panel(rng, data, p, str(tmp_path))
            (tmp_path / "bad.parquet").write_bytes(bad)
            outcomes[fh.check_panel_file(rng, tmp_path / "bad.parquet", p, header)["outcome"]] += 1
    assert outcomes["refused"] > 100 and outcomes["accepted"] >= 1, outcomes


def test_fuzz_models(tmp_path):
    """Corrupted, edited and re-sealed model files, signed or not: refused, or exactly the
    model; a re-sealed edit never loads under the key."""
    from jaxattr import deepset

    rng = np.random.default_rng(163)
    models = fh.model_seeds()
    raw = {}
    for j, m in enumerate(models):
        for signed in (False, True):
            deepset.save(tmp_path / "m.deepset", m, key=fh.KEY if signed else None)
            raw[j, signed] = (tmp_path / "m.deepset").read_bytes()
    outcomes = {"accepted": 0, "refused": 0}
    with deadline(60):
        for i in range(120):
            j, signed = i % len(models), bool(i % 2)
            m = models[j]
            bad, resealed = fh.corrupt_model(rng, raw[j, signed])
            (tmp_path / "m.deepset").write_bytes(bad)
            outcomes[
                fh.check_model_file(tmp_path / "m.deepset", m, bad, resealed, signed)["outcome"]
            ] += 1
    assert outcomes["refused"] > 80 and outcomes["accepted"] >= 1, outcomes


def test_fuzz_topic_tables_and_plans(tmp_path):
    rng = np.random.default_rng(164)
    with deadline(60):
        for _ in range(100):
            fh.check_topic_table(rng, str(tmp_path))
            fh.check_plan(rng, str(tmp_path))


def test_fuzz_cli_arguments(cli_fx, tmp_path, monkeypatch):
    """Damaged command lines: exit 0, or exit 2 with a message; never an exception."""
    rng = np.random.default_rng(165)
    fx = cli_fx
    monkeypatch.chdir(tmp_path)
    with deadline(90):
        for _ in range(20):
            fh.check_cli(fh.cli_argv(rng, fh.cli_fresh(fx, str(tmp_path / "run"))))
