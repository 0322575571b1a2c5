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
        from jaxattr.io import write_panel
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
    rc = main(
        [
            "demo",
            "--agents",
            "1000",
            "--sizes",
            "20 full",
            "--draws",
            "3",
            "--out",
            str(out),
            "--quiet",
            "--no-figures",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "top-tier share of attribution" in text and "Acceptance checks" in text
    assert "not findings about Bluesky" in text
    for name in (
        "three_tier",
        "rho",
        "peak_day",
        "stability",
        "dose_response",
        "shares_vs_n",
        "summary",
        "checks",
    ):
        assert (out / "tables" / f"{name}.csv").exists()
        assert (out / "tables" / f"{name}.md").exists()
    assert (out / "study.json").exists()
    # resumable: a second run reads every cell from the cache
    rc = main(
        [
            "demo",
            "--agents",
            "1000",
            "--sizes",
            "20 full",
            "--draws",
            "3",
            "--out",
            str(out),
            "--quiet",
            "--no-figures",
        ]
    )
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
    np.testing.assert_allclose([float(r[3]) for r in rows[1:]], np.asarray(ref.delta), rtol=1e-6)
    tiers = _rows(out / "tier_shares.csv")
    assert tiers[0] == ["day", "top", "mid", "tail"] and tiers[-1][0] == "window"
    assert sum(float(x) for x in tiers[-1][1:]) == pytest.approx(1.0)
    bins = _rows(out / "percentile_bins.csv")
    assert len(bins) == 101 and sum(int(r[1]) for r in bins[1:]) == 1_500
    assert "tier shares over the window" in capsys.readouterr().out


def test_attribute_per_agent_only_with_flag(panel_files, tmp_path):
    w, paths = panel_files
    out = tmp_path / "att"
    assert main(["attribute", paths[0], "--value", "linear", "--per-agent", "--out", str(out)]) == 0
    rows = _rows(out / "per_agent.csv")
    assert rows[0] == ["agent_index", "tier", "phi_window", "share"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1_500))
    ref = np.asarray(jaxattr.attribute(w.panels["sports"], "linear").by_agent())
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], ref, rtol=1e-5)


def test_study_command(panel_files, tmp_path, capsys):
    _, paths = panel_files
    out = tmp_path / "study"
    rc = main(
        [
            "study",
            *paths,
            "--values",
            "linear",
            "heat",
            "--protocols",
            "BIAS_visibility",
            "RAND",
            "--sizes",
            "15 full",
            "--draws",
            "2",
            "--out",
            str(out),
            "--quiet",
            "--no-figures",
        ]
    )
    assert rc == 0
    rows = _rows(out / "tables" / "rho.csv")
    assert {r[0] for r in rows[1:]} == {"sports", "tech"}
    assert capsys.readouterr().out.rstrip().endswith("; 0 cells read from the cache")
    # the same command again reads every cell back from the cache, and the tables agree
    cells = list((out / "cache").rglob("*.json"))
    assert cells
    assert (
        main(
            [
                "study",
                *paths,
                "--values",
                "linear",
                "heat",
                "--protocols",
                "BIAS_visibility",
                "RAND",
                "--sizes",
                "15 full",
                "--draws",
                "2",
                "--out",
                str(out),
                "--quiet",
                "--no-figures",
            ]
        )
        == 0
    )
    last = capsys.readouterr().out.rstrip().splitlines()[-1]
    assert last.endswith(f"; {len(cells)} cells read from the cache"), last
    assert _rows(out / "tables" / "rho.csv") == rows


@pytest.mark.parametrize(
    "argv,match",
    [
        (["attribute", "missing.parquet", "--value", "heat", "--out", "x"], "does not exist"),
        (["demo", "--agents", "1"], "--agents must be >= 2"),
    ],
)
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
    out = subprocess.run(
        [sys.executable, "-m", "jaxattr", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0
    for cmd in ("demo", "attribute", "study"):
        assert cmd in out.stdout


# ------------------------------------------------------------------ the one error handler


@pytest.mark.parametrize(
    "exc,code",
    [
        (ValueError("bad\n   input"), 2),
        (FileNotFoundError("no such file"), 2),
        (ImportError("plots need matplotlib", name="matplotlib"), 2),  # optional dependency
        (ImportError("cannot import name 'x'", name="jaxattr._nope"), 1),  # our package: a bug
        (KeyError("planted"), 1),
        (TypeError("planted"), 1),
    ],
)
def test_error_handler_bad_input_vs_bug(exc, code, monkeypatch, capsys):
    """Bad input: exit 2 and one line; a bug (KeyError, TypeError, an ImportError of our
    own modules, ...): its traceback and exit 1."""
    from jaxattr._cli import _attribute

    def planted(path):
        raise exc

    monkeypatch.setattr(_attribute, "read_panel", planted)
    assert main(["attribute", "p.parquet", "--value", "heat", "--out", "x"]) == code
    err = capsys.readouterr().err.strip()
    if code == 2:
        assert err.startswith("jaxattr attribute: error: ") and len(err.splitlines()) == 1
        assert "Traceback" not in err
    else:
        assert "Traceback (most recent call last)" in err and "def planted" not in err
        assert f"{type(exc).__name__}" in err and "internal error" in err.splitlines()[-1]


def test_interrupt_exit_130(capsys):
    from jaxattr._cli import build_parser, run

    def interrupted(args):
        raise KeyboardInterrupt

    args = build_parser().parse_args(["batch", "plan.toml"])
    args.func = interrupted
    assert run(args) == 130
    assert "interrupted (finished jobs are kept)" in capsys.readouterr().err


def test_value_from_user_module(panel_files, tmp_path, monkeypatch, capsys):
    """``--value package.module:object``: a value object, a factory, a plain callable."""
    w, paths = panel_files
    (tmp_path / "my_values.py").write_text(
        "import jax.numpy as jnp\nimport jaxattr\n"
        "heat = jaxattr.values.heat()\n"
        "def make():\n    return jaxattr.values.variance()\n"
        "def mean_sum(z):\n    return jnp.mean(jnp.sum(z, axis=1))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for obj, ref in (("heat", "heat"), ("make", "variance"), ("mean_sum", "linear")):
        out = tmp_path / obj
        assert (
            main(
                [
                    "attribute",
                    paths[0],
                    "--value",
                    f"my_values:{obj}",
                    "--out",
                    str(out),
                    "--per-agent",
                    "--method",
                    "auto",
                ]
            )
            == 0
        )
        phi = [float(r[2]) for r in _rows(out / "per_agent.csv")[1:]]
        want = np.asarray(jaxattr.attribute(w.panels["sports"], ref).by_agent())
        np.testing.assert_allclose(phi, want, rtol=2e-4, atol=1e-7)
    assert (
        main(["attribute", paths[0], "--value", "my_values:nope", "--out", str(tmp_path / "n")])
        == 2
    )
    assert "module 'my_values' has no attribute 'nope'" in capsys.readouterr().err


def test_version_is_written_once_and_reported(capsys):
    """``jaxattr --version`` prints the one version: jaxattr/_version.py, which pyproject
    reads (no second literal there or in the package) and the installed metadata carries."""
    import ast
    import importlib.metadata
    import pathlib
    import re
    import tomllib

    root = pathlib.Path(__file__).resolve().parent.parent
    tree = ast.parse((root / "jaxattr" / "_version.py").read_text())
    (version,) = [
        n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and n.targets[0].id == "__version__"
    ]
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"jaxattr {version}"
    assert jaxattr.__version__ == version
    assert importlib.metadata.version("jaxattr") == version
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "jaxattr._version.__version__"
    }
    literal = re.compile(r"__version__\s*=\s*['\"]")
    others = [
        str(p.relative_to(root))
        for p in (root / "jaxattr").rglob("*.py")
        if p.name != "_version.py" and literal.search(p.read_text())
    ]
    assert others == []
