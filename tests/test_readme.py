"""The README's Python quickstart runs as written, and its generated tables are current.

The quickstart is the first ``python`` code block after ``<!-- quickstart -->``; it runs in a
subprocess with this interpreter in an empty temporary folder (so it can rely only on the
installed package, not on the repository as the working directory).
``tests/scripts/check_wheel.py`` runs the same block from a freshly built wheel.
"""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def quickstart(text: str) -> str:
    """The code of the first python block after the ``<!-- quickstart -->`` marker."""
    m = re.search(r"<!-- quickstart -->\s*```python\n(.*?)```", text, re.S)
    if m is None:
        raise ValueError("README.md: no ```python block right after <!-- quickstart -->")
    return m.group(1)


def test_quickstart_extraction_refuses_a_readme_without_the_block():
    try:
        quickstart("# title\n```python\nprint(1)\n```\n")
    except ValueError as e:
        assert "quickstart" in str(e)
    else:
        raise AssertionError("a README without the marker was accepted")


def test_readme_quickstart_runs_as_written(tmp_path):
    code = quickstart(README.read_text(encoding="utf-8"))
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": ""}
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout.splitlines()
    assert out[0] == "(14, 1000)"
    assert out[1] == "True"
    assert out[-1] == "wrote heatmap.png"
    png = tmp_path / "heatmap.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_is_short_and_for_users():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 170
    assert not re.search(r"\bissues? #?\d+|#\d{1,4}\b", text, re.I), "issue numbers"
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "dates of runs"
    assert not re.search(r"\b[0-9a-f]{7,40}\b", text), "commit hashes"


def test_generated_tables_are_current():
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "report.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr


def test_check_fails_on_a_hand_edited_table(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    edited = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    begin = text.index(report.BEGIN)
    # change one figure of the generated block: the first digit after the marker
    i = next(k for k in range(begin, len(text)) if text[k].isdigit())
    edited.write_text(text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :], encoding="utf-8")
    monkeypatch.setattr(report, "README", edited)
    assert report.main(["--check"]) == 1
    monkeypatch.setattr(report, "README", README)
    assert report.main(["--check"]) == 0
