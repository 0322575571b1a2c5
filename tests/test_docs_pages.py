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


# Dotted names in backticks that are not Python objects: the Parquet schema metadata key.
_NOT_PYTHON = {"jaxattr.panel"}
_DOTTED = re.compile(r"\bjaxattr(?:\.[A-Za-z_]\w*)+")


def _resolve(dotted: str) -> None:
    """Import the longest importable prefix of ``dotted``, then getattr the rest; a class
    field without a default (an annotation only) counts as existing."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        rest = parts[i:]
        break
    else:  # pragma: no cover - "jaxattr" itself always imports
        raise ImportError(dotted)
    for name in rest:
        if hasattr(obj, name):
            obj = getattr(obj, name)
        elif isinstance(obj, type) and any(
            name in getattr(c, "__annotations__", {}) for c in obj.__mro__
        ):
            return
        else:
            raise AttributeError(f"{dotted}: no {name!r} in {obj!r}")


def test_dotted_names_in_the_docs_exist():
    """Every ``jaxattr.…`` name written in backticks in README.md and docs/ resolves, so a
    renamed or removed function cannot stay documented (``jaxattr.scale.
    attribute_feature_major`` and ``jaxattr._atomic`` did, after the core's redesign)."""
    files = sorted(DOCS.rglob("*.md")) + [DOCS.parent / "README.md"]
    missing = []
    for f in files:
        for span in re.findall(r"`[^`\n]+`", f.read_text(encoding="utf-8")):
            for dotted in _DOTTED.findall(span):
                if dotted in _NOT_PYTHON:
                    continue
                try:
                    _resolve(dotted)
                except (ImportError, AttributeError) as e:
                    missing.append(f"{f.relative_to(DOCS.parent)}: `{dotted}` ({e})")
    assert not missing, "\n".join(missing)
