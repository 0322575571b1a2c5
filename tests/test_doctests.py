"""Every docstring example of the package runs, as written, in the default suite.

One test per module of ``jaxattr`` (found by walking the package, so a new module is
collected without being listed here): its examples run with ``doctest`` under the suite's
strict settings (``conftest.py``: rank promotion raises, warnings are errors), and a
failure reports the example, what it printed and what the docstring expects. That every
public name has an example at all is checked by ``test_docs_reference.py``.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import io
import pkgutil

import pytest

import jaxattr

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# `python -m jaxattr` runs the command line when imported: it holds no docstring examples.
SKIP = {"jaxattr.__main__"}


def _module_names() -> list[str]:
    names = ["jaxattr"]
    for info in pkgutil.walk_packages(jaxattr.__path__, "jaxattr."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


def _attribute_docstrings(module) -> list[doctest.DocTest]:
    """Examples in attribute docstrings (a string literal on the line after an assignment,
    at module or class level): mkdocstrings renders them, but ``__doc__`` does not hold
    them, so ``doctest.DocTestFinder`` alone would never run them."""
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return []
    filename = inspect.getsourcefile(module)
    parser = doctest.DocTestParser()
    tests = []

    def visit(body, prefix):
        for node, nxt in zip(body, body[1:], strict=False):
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
            if not isinstance(node, (ast.Assign, ast.AnnAssign)):
                continue
            if not (
                isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t.id for t in targets if isinstance(t, ast.Name)), "?")
            doc = inspect.cleandoc(nxt.value.value)
            test = parser.get_doctest(
                doc, dict(vars(module)), f"{module.__name__}.{prefix}{target}", filename, nxt.lineno
            )
            if test.examples:
                tests.append(test)

    visit(ast.parse(source).body, "")
    return tests


def _doctests(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    # Objects are found in the module that defines them (`__module__`), so an example
    # re-exported by a package's __init__ runs once, in its own module.
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    tests += _attribute_docstrings(module)
    return sorted((t for t in tests if t.examples), key=lambda t: t.name)


MODULES = _module_names()
WITH_EXAMPLES = [m for m in MODULES if _doctests(m)]


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_docstring_examples_run(module):
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS, verbose=False)
    report = io.StringIO()
    for test in _doctests(module):
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    if result.failed:
        pytest.fail(
            f"{result.failed} of {result.attempted} docstring examples of {module} failed:\n"
            + report.getvalue(),
            pytrace=False,
        )
