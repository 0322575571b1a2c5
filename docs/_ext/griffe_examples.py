"""A griffe extension for the docs build: how the package's docstrings are read.

- The docstrings use Google style with an ``Example:`` section (singular) holding doctest
  lines. griffe reads only ``Examples:`` (plural) as an examples section, whose ``>>>``
  lines become highlighted code; a singular title is read as an admonition, whose ``>>>``
  lines would be Markdown (block quotes, and ``[a][b]`` read as reference links). The
  title is renamed before griffe parses the docstring.
- Cross-references written as Sphinx roles (``:class:`~jaxattr.Panel```, ``:func:`x```)
  render as code: the role is dropped (and a ``~`` prefix shortened to the last name),
  so the text does not show ``class:``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_TITLE = re.compile(r"^(\s*)Example:(\s*)$", re.MULTILINE)
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def _role(m: re.Match[str]) -> str:
    name = m.group(2).split(".")[-1] if m.group(1) else m.group(2)
    return f"`{name}`"


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section titles to ``Examples:`` in every docstring."""

    def _rename(self, obj: Any) -> None:
        doc = getattr(obj, "docstring", None)
        if doc is None:
            return
        value = _TITLE.sub(r"\1Examples:\2", doc.value)
        doc.value = _ROLE.sub(_role, value)

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        self._rename(obj)

    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        self._rename(obj)
