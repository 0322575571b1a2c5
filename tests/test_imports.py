"""The package's own import graph: no cycles, and no module takes another's private names.

Parsed with ``ast`` (nothing is imported), over ``jaxattr/`` and ``kernels/`` (installed as
``jaxattr.kernels``), function-level imports included.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# No exceptions: every runner reaches the engine through jaxattr._methods.resolve and the
# public functions of jaxattr._attribute.
ALLOWED_PRIVATE: set = set()


def _modules() -> dict[str, str]:
    """``{dotted module name: file}`` for every module of the package."""
    out = {}
    for base, top in (
        ("jaxattr", os.path.join(ROOT, "jaxattr")),
        ("jaxattr.kernels", os.path.join(ROOT, "kernels")),
    ):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith((".", "__"))
                and not (dirpath == top and base == "jaxattr" and d == "kernels")
            ]
            for f in filenames:
                if f.endswith(".py"):
                    parts = os.path.relpath(os.path.join(dirpath, f), top)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    out[".".join([base, *parts])] = os.path.join(dirpath, f)
    return out


MODULES = _modules()


def _imports(name: str, module_level: bool = False):
    """``(imported module, imported name or None)`` for every import statement of a module."""
    path = MODULES[name]
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body if module_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = base + ("." + node.module if node.module else "")
            else:
                target = node.module or ""
            for a in node.names:
                yield target, a.name


def _graph() -> dict[str, set[str]]:
    graph = {}
    for m in MODULES:
        deps = set()
        for target, name in _imports(m):
            sub = f"{target}.{name}"
            deps.add(sub if name and sub in MODULES else target)
        graph[m] = {d for d in deps if d in MODULES and d != m}
    return graph


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_graph_sees_the_package():
    graph = _graph()
    assert "jaxattr._cli" in graph and "jaxattr.kernels._ranks" in graph
    assert "jaxattr.kernels" in graph["jaxattr._core"]  # `from jaxattr import kernels`
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_kernels_import_nothing_of_jaxattr():
    graph = _graph()
    bad = {
        m: sorted(d for d in deps if not d.startswith("jaxattr.kernels"))
        for m, deps in graph.items()
        if m.startswith("jaxattr.kernels")
    }
    assert {m: d for m, d in bad.items() if d} == {}


def test_no_module_takes_another_modules_private_names():
    """``from x import _name`` (or ``x._name``) where ``_name`` is a function, class or
    constant of another module; private *modules* (``from . import _report``) are fine."""
    found = set()
    for m, path in MODULES.items():
        for target, name in _imports(m):
            if (
                name
                and name.startswith("_")
                and not name.startswith("__")
                and f"{target}.{name}" not in MODULES
                and target.startswith("jaxattr")
            ):
                found.add((m, f"{target}.{name}"))
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):  # jaxattr.io._open-style attribute access
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                chain, v = [node.attr], node.value
                while isinstance(v, ast.Attribute):
                    chain.append(v.attr)
                    v = v.value
                if isinstance(v, ast.Name) and v.id == "jaxattr":
                    dotted = ".".join(["jaxattr", *reversed(chain)])
                    owner = dotted.rpartition(".")[0]
                    if owner in MODULES and dotted not in MODULES:
                        found.add((m, dotted))
    assert found - ALLOWED_PRIVATE == set()
