"""Every batch plan shown in the docs runs as written: no job fails (the scale.md example
once named a synthetic topic that does not exist and failed every job)."""

import pathlib
import re
import tomllib

import numpy as np
import pytest

import jaxattr
from jaxattr.scale import load_plan, run_batch

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = sorted([*ROOT.joinpath("docs").glob("*.md"), ROOT / "README.md"])


def _plans():
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for k, m in enumerate(re.finditer(r"```(toml|json)\n(.*?)```", text, re.S)):
            if "[[jobs]]" in m.group(2) or '"jobs"' in m.group(2):
                out.append(pytest.param(m.group(1), m.group(2), id=f"{doc.name}-{k}"))
    return out


PLANS = _plans()


def test_the_docs_show_a_plan():
    assert PLANS, "no plan found in the docs"


@pytest.mark.parametrize("kind,text", PLANS)
def test_plan_in_docs_runs_as_written(kind, text, tmp_path):
    path = tmp_path / f"plan.{kind}"
    path.write_text(text)
    doc = tomllib.loads(text) if kind == "toml" else __import__("json").loads(text)
    rng = np.random.default_rng(0)
    for src in doc["panels"].values():  # the panel files the plan names, small
        if isinstance(src, str):
            f = tmp_path / src
            f.parent.mkdir(parents=True, exist_ok=True)
            z = rng.gamma(2.0, 1.0, size=(3, 200, 3)).astype(np.float32)
            jaxattr.write_panel(jaxattr.Panel(z), f)
    plan = load_plan(path)
    rep = run_batch(path, per_agent=False, progress=False)
    assert rep["failed"] == {}, rep["failed"]
    assert sorted(rep["done"]) == sorted(j.id for j in plan.jobs)
