"""The ``jaxattr`` command line: demo, attribute, study; clear errors with exit code 2."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import jaxattr
from jaxattr._cli import main
from jaxattr.data import synthetic_world


@pytest.fixture(scope="module")
def panel_files(tmp_path_factory):
    pytest.importorskip("pyarrow")
    try:
        from jaxattr import write_panel
    except ImportError:
        from jaxattr._io import write_panel
    d = tmp_path_factory.mktemp("panels")
    w = synthetic_world(n_agents=1_500, topics=["sports", "tech"], seed=1)
    paths = []
    for name, p in w.panels.items():
        path = d / f"{name}.parquet"
        write_panel(p, path)
        paths.append(str(path))
    return w, paths


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_demo_small_world(tmp_path, capsys):
    out = tmp_path / "demo"
    # figures are drawn by test_study.test_figures_written; here the pipeline and outputs
    rc = main(["demo", "--agents", "1000", "--sizes", "20 full", "--draws", "3", "--out",
               str(out), "--quiet", "--no-figures"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "top-tier share of attribution" in text and "Acceptance checks" in text
    assert "not findings about Bluesky" in text
    for name in ("three_tier", "rho", "peak_day", "stability", "dose_response", "shares_vs_n",
                 "summary", "checks"):
        assert (out / "tables" / f"{name}.csv").exists()
        assert (out / "tables" / f"{name}.md").exists()
    assert (out / "study.json").exists()
    # resumable: a second run reads every cell from the cache
    rc = main(["demo", "--agents", "1000", "--sizes", "20 full", "--draws", "3", "--out",
               str(out), "--quiet", "--no-figures"])
    assert rc == 0
    import json

    with open(out / "study.json") as f:
        assert json.load(f)["demo_timings"]["cached_cells"] > 0


def test_attribute_aggregated_by_default(panel_files, tmp_path, capsys):
    w, paths = panel_files
    out = tmp_path / "att"
    assert main(["attribute", paths[0], "--value", "heat", "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["by_day.csv", "percentile_bins.csv", "tier_shares.csv"]
    ref = jaxattr.attribute(w.panels["sports"], "heat")
    rows = _rows(out / "by_day.csv")
    assert rows[0][:4] == ["day", "f_features", "f_baseline", "delta"]
    np.testing.assert_allclose([float(r[3]) for r in rows[1:]], np.asarray(ref.delta),
                               rtol=1e-6)
    tiers = _rows(out / "tier_shares.csv")
    assert tiers[0] == ["day", "top", "mid", "tail"] and tiers[-1][0] == "window"
    assert sum(float(x) for x in tiers[-1][1:]) == pytest.approx(1.0)
    bins = _rows(out / "percentile_bins.csv")
    assert len(bins) == 101 and sum(int(r[1]) for r in bins[1:]) == 1_500
    assert "tier shares over the window" in capsys.readouterr().out


def test_attribute_per_agent_only_with_flag(panel_files, tmp_path):
    w, paths = panel_files
    out = tmp_path / "att"
    assert main(["attribute", paths[0], "--value", "linear", "--per-agent", "--out",
                 str(out)]) == 0
    rows = _rows(out / "per_agent.csv")
    assert rows[0] == ["agent_index", "tier", "phi_window", "share"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1_500))
    ref = np.asarray(jaxattr.attribute(w.panels["sports"], "linear").by_agent())
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], ref, rtol=1e-5)


def test_study_command(panel_files, tmp_path, capsys):
    _, paths = panel_files
    out = tmp_path / "study"
    rc = main(["study", *paths, "--values", "linear", "heat", "--protocols", "BIAS_visibility",
               "RAND", "--sizes", "15 full", "--draws", "2", "--out", str(out), "--quiet",
               "--no-figures"])
    assert rc == 0
    rows = _rows(out / "tables" / "rho.csv")
    assert {r[0] for r in rows[1:]} == {"sports", "tech"}
    assert "cells read from the cache" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["attribute", "missing.parquet", "--value", "heat", "--out", "x"], "does not exist"),
    (["demo", "--agents", "1"], "--agents must be >= 2"),
])
def test_bad_input_exit_2_one_line(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_bad_value_name(panel_files, tmp_path, capsys):
    _, paths = panel_files
    assert main(["attribute", paths[0], "--value", "entropy", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "neither a built-in value function" in err and "gini" in err


def test_argparse_errors_return_2(capsys):
    assert main(["demo", "--sizes", "ten"]) == 2
    assert "sizes must be integers" in capsys.readouterr().err
    assert main([]) == 2


def test_python_m_jaxattr_help():
    out = subprocess.run([sys.executable, "-m", "jaxattr", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0
    for cmd in ("demo", "attribute", "study"):
        assert cmd in out.stdout
