"""The reproduction in ``paper/``: claims, checks, template, the world, and the wheel.

- every claim quotes text present in the paper files (or the seed README's numbers);
- the template and the generator hold no numbers of their own (only the configuration does);
- the milder pools are sized per the paper and differ on the calibrated world;
- Theorem 1's negative control: h(mean s) is reconciled by one factor, the paper's family is
  not; Table 11's gini on continuous features matches its closed form in float64;
- the checks can fail, and the report renders every placeholder;
- the installed library holds no reproduction code (structure; a real wheel: slow).
"""

import ast
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jaxattr import study
from paper import checks, claims, config, render
from paper import world as W
from paper.experiments import sweep as SW
from paper.experiments import theory as RT
from paper.experiments.world import closed_vs_continuous

ROOT = Path(__file__).resolve().parents[1]
PAPER_DIR = Path(os.environ.get("JAXATTR_PAPER_TEXT", ROOT.parent / "shared" / "paper"))


def _norm(s: str) -> str:
    return " ".join(s.split())


# ------------------------------------------------------------------ claims as data


def test_claim_rows_are_complete_and_ids_unique():
    ids = [c["id"] for c in claims.CLAIMS]
    assert len(ids) == len(set(ids))
    for c in claims.CLAIMS:
        assert {
            "id",
            "artefact",
            "source",
            "quote",
            "quantity",
            "comparison",
            "check",
            "outcomes",
        } <= set(c), c["id"]
        assert c["source"] in ("paper", "seed"), c["id"]
        assert callable(getattr(checks, c["check"])), c["id"]
        assert set(c["outcomes"]) <= set(claims.VERDICTS), c["id"]
        # every tolerance named in a comparison exists
        for word in re.findall(r"[a-z0-9_]+", c["comparison"]):
            assert "_" not in word or word in claims.TOL, (c["id"], word)


@pytest.mark.skipif(not PAPER_DIR.is_dir(), reason=f"paper text not at {PAPER_DIR}")
def test_every_claim_quotes_the_paper_or_the_seed_readme():
    paper = _norm(" ".join(p.read_text(encoding="utf-8") for p in sorted(PAPER_DIR.glob("0*.txt"))))
    seed = _norm((PAPER_DIR / "README.md").read_text(encoding="utf-8"))
    assert paper and seed
    for c in list(claims.CLAIMS) + list(claims.OFFLINE):
        text = paper if c["source"] == "paper" else seed
        assert _norm(c["quote"]) in text, (c.get("id", c["artefact"]), c["quote"])
        if "exempt_quote" in c:
            assert _norm(c["exempt_quote"]) in text, c["id"]


def _numeric_literals(path: Path) -> list:
    """Numeric constants in a Python file other than 0 and 1 (indices and identities)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool)
            and node.value not in (0, 1)
        ):
            out.append((path.name, node.lineno, node.value))
    return out


def test_generator_and_checks_hold_no_numbers_outside_the_configuration():
    found = []
    for name in ("render.py", "checks.py", "reproduce.py"):
        found += _numeric_literals(ROOT / "paper" / name)
    assert found == []


def test_template_prose_holds_no_numbers():
    text = (ROOT / "paper" / "template.md").read_text(encoding="utf-8")
    text = re.sub(r"\{\{[A-Za-z0-9_:]+\}\}", "", text)  # placeholders
    text = re.sub(r"arXiv \d+\.\d+", "", text)  # the paper's id
    text = re.sub(r"\b(Tables?|Theorem|Figure|Lemma|Eq\.) \d+( (to|and) \d+)?", "", text)
    text = re.sub(r"`docs/[a-z0-9_]+\.md`", "", text)  # file names
    digits = [ln for ln in text.splitlines() if re.search(r"\d", ln)]
    assert digits == []


def test_template_placeholders_all_render():
    text = (ROOT / "paper" / "template.md").read_text(encoding="utf-8")
    keys = re.findall(r"\{\{([A-Za-z0-9_:]+)\}\}", text)
    ids = {c["id"] for c in claims.CLAIMS}
    for k in keys:
        if k.startswith("claim:"):
            assert k.split(":", 1)[1] in ids, k
        else:
            assert k in render.BLOCKS, k
    # every claim appears in the template
    assert ids == {k.split(":", 1)[1] for k in keys if k.startswith("claim:")}


# ------------------------------------------------------------------ the milder pools


@pytest.fixture(scope="module")
def world():
    return W.paper_world(20_000, seed=0)


def test_milder_pools_differ_and_are_smaller_than_the_engaged_set(world):
    for topic, panel in world.panels.items():
        eng = study.engagement_of(panel)
        pools = study.protocol_pools(
            study.followers_of(panel), eng, active_count=study.active_count_of(panel)
        )
        a, b = (set(pools[p].tolist()) for p in config.MILD)
        engaged = int((eng > 0).sum())
        assert len(a | b) and len(a & b) / len(a | b) < 0.9, topic
        assert len(a) < engaged and len(b) < engaged, topic
        assert len(a) == len(b) == study.active_count_of(panel)


def test_active_count_is_the_mean_daily_participants():
    import jaxattr

    z = np.zeros((3, 5, 3), np.float32)
    z[..., 0] = 1.0
    z[0, :2, 1] = 1.0  # day 0: agents 0, 1 active
    z[1, 4, 2] = 1.0  # day 1: agent 4 (replies only)
    panel = jaxattr.Panel(z, feature_names=["reach", "activity", "resonance"])
    assert study.active_count_of(panel) == 1  # (2 + 1 + 0) / 3
    with pytest.raises(ValueError, match="active_count"):
        study.protocol_pools(np.ones(5), np.ones(5), active_count=6)


def test_world_follows_the_paper_calendar_and_selection_rule(world):
    st = W.world_stats(world)
    assert (st["start"], st["end"]) == (config.PAPER_DATA["start"], config.PAPER_DATA["end"])
    assert [t["topic"] for t in st["topics"]] == list(config.PAPER_DATA["topics"])
    for t in st["topics"]:
        want = config.PAPER_DATA["event_days"].get(t["topic"])
        if want is not None:
            assert t["peak_label"] == want
        assert t["days_meeting_rule"] >= config.PAPER_DATA["min_days"]
        assert t["engaged_fraction"] < 0.1  # a few percent, not a quarter of everyone


def test_world_parameters_change_the_world():
    base = W.paper_world(5_000, seed=1)
    coupled = W.paper_world(5_000, seed=1, follower_activity_coupling=0.9)
    resp = W.paper_world(5_000, seed=1, tier_event_response=1.0)
    assert np.array_equal(base.followers, coupled.followers)
    corr = [W.world_stats(w)["topics"][0]["follower_activity_corr"] for w in (base, coupled)]
    assert corr[1] > corr[0]
    m = base.panels["The Masters"]
    r = resp.panels["The Masters"]
    assert not np.array_equal(m.feature_major, r.feature_major)
    with pytest.raises(ValueError, match="unknown parameters"):
        W.paper_world(100, bogus=1)


# ------------------------------------------------------------------ Theorem 1, Table 11


def test_theorem1_negative_control_and_paper_family():
    rng = np.random.default_rng(0)
    for _ in range(3):
        z = rng.uniform(0, 1, (12, 3))
        s = np.sort(rng.choice(12, 5, replace=False))
        for f in RT.NEGATIVE_CONTROLS.values():
            w = RT.witness(f, z, s)
            assert w["rho"] <= 1e-12 and w["hessian_offdiag_max"] > 0  # nonlinear, yet rho 0
    w = RT.witness(RT.pairwise, np.array([[1.0], [2.0], [4.0]]), (1, 2), name="pairwise")
    assert w["rho"] > 1e-6 and w["c_spread"] > 1e-6


def test_table11_gini_on_continuous_features_is_exact_in_float64():
    rows = closed_vs_continuous(sizes=(200,), seeds=2, values=("gini", "variance"))
    assert rows and all(r["rel_mae"] <= 1e-12 for r in rows)


# ------------------------------------------------------------------ checks can fail


def _fake_study(top_full, top_biased, rand, topics=("A", "B")):
    """A study JSON with given top-tier shares (mid = tail = the rest / 2)."""

    def shares(top):
        return [top, (1 - top) / 2, (1 - top) / 2]

    full, cells = [], []
    for t in topics:
        for v in config.VALUES:
            full.append(
                {
                    "topic": t,
                    "value": v,
                    "window_shares": shares(top_full),
                    "delta": [1.0, 2.0],
                    "day_shares": [shares(top_full)] * 2,
                }
            )
            for p, top in (("BIAS_visibility", top_biased), ("RAND", rand)):
                cells.append(
                    {
                        "topic": t,
                        "value": v,
                        "protocol": p,
                        "n_label": "100",
                        "window_shares": [shares(top + e) for e in (-0.01, 0.0, 0.01)],
                        "rho": [0.0 if v == "linear" else 0.1] * 3,
                        "spearman": [1.0] * 3,
                        "tier_counts": [[1, 9, 90]] * 3,
                        "day_shares": [[shares(top)] * 2] * 3,
                    }
                )
    return {
        "topics": {t: {"time_labels": ["d0", "d1"], "pool_sizes": {}} for t in topics},
        "full": full,
        "cells": cells,
    }


def test_study_checks_agree_and_differ():
    good = checks.Run({"study": _fake_study(0.1, 0.9, 0.1)})
    assert checks.full_majority(good)["ok"] and checks.abstract_reading(good)["ok"]
    assert checks.flip_cells(good)["ok"] and checks.random_control(good)["ok"]
    bad = checks.Run({"study": _fake_study(0.1, 0.3, 0.5)})
    assert not checks.abstract_reading(bad)["ok"]
    assert not checks.random_control(bad)["ok"]
    assert checks.flip_cells(bad)["ok"]
    flat = checks.Run({"study": _fake_study(0.6, 0.5, 0.6)})
    assert not checks.full_majority(flat)["ok"] and not checks.flip_cells(flat)["ok"]
    verdicts = {c["id"]: c["verdict"] for c in checks.evaluate(bad)}
    assert verdicts["t2_abstract_reading"] == "differ"
    assert verdicts["t5_rate"] == "not run"


def test_theorem_check_reports_the_negative_control_as_differ():
    res = {
        "theorem1": {
            "witnesses": [],
            "negative_control": [
                {
                    "value": "(mean s)^2",
                    "negative_control": True,
                    "rho": [1e-16, 0.0],
                    "c_spread": [0.0],
                    "hessian_offdiag_max": 0.2,
                    "configs": 2,
                }
            ],
        }
    }
    out = checks.thm_negative(checks.Run(res))
    assert out["ok"] is False and "(mean s)^2" in out["ours"]


def test_sweep_verdicts_are_checked_from_each_points_study():
    sw = {
        "points": [
            {"param": "a", "value": 0, "study": _fake_study(0.1, 0.9, 0.1)},
            {"param": "a", "value": 1, "study": _fake_study(0.1, 0.3, 0.5)},
        ]
    }
    pts = SW.verdicts(sw, focus="A")
    assert [p["verdicts"]["t2_abstract_reading"] for p in pts] == ["agree", "differ"]
    rb = SW.robustness(pts)
    assert not rb["t2_abstract_reading"]["robust"] and rb["t2_full_majority"]["robust"]


def test_sweep_robustness():
    pts = [
        {"param": "a", "value": 0, "verdicts": {"x": "agree", "y": "agree"}},
        {"param": "a", "value": 1, "verdicts": {"x": "agree", "y": "differ"}},
    ]
    rb = SW.robustness(pts)
    assert rb["x"]["robust"] and not rb["y"]["robust"]
    assert rb["y"]["verdicts"]["differ"] == [("a", 1)]


# ------------------------------------------------------------------ out of the library


def test_installed_packages_hold_no_reproduction():
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pkgs = cfg["tool"]["setuptools"]["packages"]
    assert not any(p == "paper" or p.startswith("paper.") for p in pkgs)
    lib = ROOT / "jaxattr"
    names = [p.name for p in lib.rglob("*.py")]
    assert not [n for n in names if n.startswith("_repro_")]
    for p in lib.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        assert "Attributing Emergence" not in text, p
        assert "from paper" not in text and "import paper" not in text, p


def test_cli_reproduce_points_at_the_script(monkeypatch, capsys):
    from jaxattr._cli import _paper, main

    assert _paper.find_script() == str(ROOT / "paper" / "reproduce.py")
    monkeypatch.setattr(_paper, "find_script", lambda: None)
    assert main(["reproduce", "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "paper/reproduce.py" in err[0]


def test_reproduce_script_rejects_bad_input(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "paper" / "reproduce.py"),
            "--out",
            str(tmp_path / "o"),
            "--panels",
            str(tmp_path / "nope.parquet"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert "does not exist" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_built_wheel_holds_no_reproduction(tmp_path):
    # the acceptance command: pip builds with setuptools>=77 in an isolated environment
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
    )
    (whl,) = tmp_path.glob("jaxattr-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert not [
        n
        for n in names
        if n.startswith("paper/")
        or "_repro" in n
        or n.endswith("template.md")
        or "reproduction" in n
    ]
    for n in names:
        if n.endswith(".py"):
            text = zipfile.ZipFile(whl).read(n).decode()
            assert "Attributing Emergence" not in text, n


def test_check_reproduction_compares_numbers_and_verdicts():
    sys.path.insert(0, str(ROOT / "tests" / "scripts"))
    import check_reproduction as CR

    ref = {
        "config": {"name": "full"},
        "checks": [
            {"id": "a", "verdict": "agree", "timing": False, "value": 0.5},
            {"id": "t", "verdict": "agree", "timing": True, "value": 0.01},
        ],
        "sweep": {"points": [{"param": "p", "value": 1, "verdicts": {"a": "agree"}}]},
    }
    same = json.loads(json.dumps(ref))
    same["checks"][1]["value"] = 0.02  # a timing value: ignored
    same["checks"][0]["value"] = 0.5 * (1 + 1e-9)  # within the tolerance
    assert CR.compare(ref, same) == []
    moved = json.loads(json.dumps(ref))
    moved["checks"][0]["value"] = 0.51
    moved["checks"][1]["verdict"] = "differ"  # a timing verdict: compared
    moved["sweep"]["points"][0]["verdicts"]["a"] = "differ"
    diff = CR.compare(ref, moved)
    assert any(d.startswith("a: value") for d in diff)
    assert any(d.startswith("t (timing): verdict agree -> differ") for d in diff)
    assert any(d.startswith("sweep p = 1: a agree -> differ") for d in diff)
