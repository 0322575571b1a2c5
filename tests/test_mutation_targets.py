"""The mutation check's planted defects still find their code (fast; the check itself runs
in CI as its own step: ``python tests/scripts/mutation_check.py``)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "scripts"))

import mutation_check  # noqa: E402


@pytest.mark.parametrize("mutant", mutation_check.MUTANTS, ids=lambda m: m.name)
def test_each_mutant_target_occurs_exactly_once(mutant):
    text = (ROOT / mutant.path).read_text()
    assert text.count(mutant.old) == 1, (
        f"mutant {mutant.name!r}: its target text occurs {text.count(mutant.old)} times in "
        f"{mutant.path}; the code moved: update tests/scripts/mutation_check.py"
    )
    assert mutant.new != mutant.old
    for node in mutant.tests:
        assert (ROOT / node.split("::")[0]).is_file(), f"{mutant.name}: no test file {node}"
