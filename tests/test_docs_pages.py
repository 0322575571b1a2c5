"""The Python examples of the docs site's guides run as written.

Each page's ```python blocks run in order in one namespace (a page is one session), in a
temporary working directory, under the suite's strict settings. Blocks in other languages
(bash, toml, text) are shown, not run; the batch plans among them run in
``test_docs_plans.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = [
    "index.md",
    "getting-started.md",
    "concepts.md",
    "howto/value-function.md",
    "howto/deepset.md",
    "howto/simulators.md",
    "howto/cluster.md",
    "howto/study.md",
]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_every_guide_page_exists():
    missing = [p for p in PAGES if not (DOCS / p).is_file()]
    assert not missing, f"docs pages missing: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    path = DOCS / page
    if not path.is_file():
        pytest.fail(f"{page} is missing")
    blocks = _BLOCK.findall(path.read_text(encoding="utf-8"))
    assert blocks, f"{page} shows no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{Path(page).stem}"}
    for k, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page}[python block {k}]", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{page}, python block {k} fails: {e!r}\n{code}") from e
