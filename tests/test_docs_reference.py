"""Every public name has a reference entry, and its docstring the sections a user reads.

The public names are ``jaxattr.__all__`` and the ``__all__`` of each public subpackage.
For each name (one test per name, so a failure names the offender):

(a) it is rendered by a page of ``docs/api/``: a mkdocstrings directive of the name
    itself (``::: jaxattr.values.linear``), or of its package with the name in the
    directive's ``members`` list or with no ``members`` list (then mkdocstrings renders
    the package's ``__all__``);
(b) its docstring (``inspect.getdoc``; for a constant, its attribute docstring as griffe,
    the docs' own reader, sees it) has ``Args:`` naming every parameter when the callable
    or the class constructor takes any (for a class, fields named under ``Attributes:``
    count; parameters with a leading underscore are the package's own), ``Returns:``
    (``Yields:`` for a generator) for a function that returns something, ``Raises:`` for
    every callable that takes parameters (the errors its input can cause), and an
    ``Example:`` section with at least one ``>>>`` line (``test_doctests.py`` runs them).

A public name that is a module (``jaxattr.values`` in ``jaxattr.__all__``) must have its
own reference page instead.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"

# package -> its reference page
PAGES = {
    "jaxattr": "index.md",
    "jaxattr.values": "values.md",
    "jaxattr.methods": "methods.md",
    "jaxattr.io": "io.md",
    "jaxattr.plot": "plot.md",
    "jaxattr.shapley": "shapley.md",
    "jaxattr.kernels": "kernels.md",
    "jaxattr.deepset": "deepset.md",
    "jaxattr.data": "data.md",
    "jaxattr.scenarios": "scenarios.md",
    "jaxattr.study": "study.md",
    "jaxattr.scale": "scale.md",
}

_SECTION = re.compile(r"^(?P<name>[A-Z][A-Za-z ]*):\s*$", re.MULTILINE)


def _public_names() -> list[tuple[str, str]]:
    out = []
    for package in PAGES:
        module = importlib.import_module(package)
        out += [(package, name) for name in module.__all__]
    return out


NAMES = _public_names()


def _directives(page: Path) -> list[tuple[str, list[str] | None]]:
    """``(identifier, members or None)`` of each ``::: identifier`` block of a page."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^:::\s+(\S+)\s*$", line)
        if not m:
            continue
        block = []
        for nxt in lines[i + 1 :]:
            if nxt.strip() and not nxt.startswith((" ", "\t")):
                break
            block.append(nxt)
        options = (yaml.safe_load("\n".join(block)) or {}).get("options", {}) if block else {}
        members = options.get("members")
        out.append((m.group(1), members if isinstance(members, list) else None))
    return out


def _sections(doc: str) -> dict[str, str]:
    """Google-style sections of a docstring: title -> its text (up to the next title)."""
    found = list(_SECTION.finditer(doc))
    return {
        m.group("name"): doc[m.end() : found[k + 1].start() if k + 1 < len(found) else len(doc)]
        for k, m in enumerate(found)
    }


@pytest.fixture(scope="module")
def griffe_package():
    return griffe.load("jaxattr", search_paths=[str(ROOT)], resolve_aliases=True)


def _constructor_parameters(cls) -> list[str] | None:
    """The parameters of a class's own constructor, or None for one it inherits from
    the standard library (an enum's members, an exception's message)."""
    init = cls.__init__
    if issubclass(cls, enum.Enum) or getattr(init, "__module__", None) in (None, "builtins"):
        return None
    return _parameters(cls)


def _parameters(obj) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    # a leading underscore marks a parameter for the package's own use, not a user's
    return [p.name for p in sig.parameters.values() if p.name[:1] != "_" and p.name != "self"]


@pytest.mark.parametrize(("package", "name"), NAMES, ids=[f"{p}.{n}" for p, n in NAMES])
def test_public_name_is_documented(package, name, griffe_package):
    obj = getattr(importlib.import_module(package), name)
    qualified = f"{package}.{name}"

    if inspect.ismodule(obj):
        page = API / PAGES.get(obj.__name__, "")
        assert obj.__name__ in PAGES and page.is_file(), (
            f"{qualified} is a public module without its own page in docs/api/"
        )
        return

    # (a) a reference entry
    page = API / PAGES[package]
    assert page.is_file(), f"{qualified}: no reference page {page.relative_to(ROOT)}"
    # a package directive without a `members` list renders exactly the package's __all__
    # (mkdocstrings' default for a module that defines one)
    listed = any(
        ident == qualified or (ident == package and (members is None or name in members))
        for ident, members in _directives(page)
    )
    assert listed, (
        f"{qualified} is not rendered by {page.relative_to(ROOT)}: add it to the `members` "
        f"of the `::: {package}` directive, or give it its own `::: {qualified}`"
    )

    # (b) the docstring's sections
    if inspect.isclass(obj) or inspect.isroutine(obj) or callable(obj):
        doc = inspect.getdoc(obj) or ""
    else:  # a constant: its attribute docstring (a string literal after the assignment)
        doc = griffe_package[qualified[len("jaxattr.") :] if package != "jaxattr" else name]
        doc = doc.docstring.value if doc.docstring is not None else ""
    assert doc.strip(), f"{qualified} has no docstring"
    sections = _sections(doc)
    missing = []

    if inspect.isclass(obj):
        params = _constructor_parameters(obj)
        is_function = False
    elif callable(obj):
        params = _parameters(obj)
        is_function = inspect.isroutine(obj)
    else:
        params, is_function = None, False

    if params:
        args = sections.get("Args")
        if inspect.isclass(obj) and "Attributes" in sections:
            # a dataclass or Module: its fields are the constructor's parameters
            args = (args or "") + sections["Attributes"]
        if args is None:
            missing.append("Args:")
        else:
            undocumented = [p for p in params if not re.search(rf"\b{re.escape(p)}\b", args)]
            if undocumented:
                missing.append(f"Args: entries for {undocumented}")
    if is_function:
        generator = inspect.isgeneratorfunction(obj)
        title = "Yields" if generator else "Returns"
        returns_none = inspect.signature(obj).return_annotation in (None, "None")
        if not returns_none and title not in sections:
            missing.append(f"{title}:")
    if params and "Raises" not in sections:  # what a caller's input can make it raise
        missing.append("Raises:")
    example = sections.get("Example", sections.get("Examples"))
    if example is None or ">>>" not in example:
        missing.append("Example: with a >>> line")
    assert not missing, f"{qualified}: docstring lacks " + ", ".join(missing)
